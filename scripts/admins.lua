-- Intercom admins: one GET /admins, no paging and no timestamps to filter on, so
-- the table is replaced whole each run (readers see the old or the new).
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "admins",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/admins", { list_key = "admins" }),
}
