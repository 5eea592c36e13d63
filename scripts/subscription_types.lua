-- Intercom subscription types: one GET /subscription_types, no paging and
-- no timestamps to filter on, so replaced whole each run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "subscription_types",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/subscription_types", { list_key = "data" }),
}
