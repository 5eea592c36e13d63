-- Intercom tags: one GET /tags, no paging and no timestamps to filter on, so
-- the table is replaced whole each run (readers see the old or the new).
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "tags",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/tags", { list_key = "data" }),
}
