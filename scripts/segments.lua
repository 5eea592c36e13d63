-- Intercom segments: one GET /segments?include_count=true (count is only
-- sent when asked for); no server filter, so replaced whole each run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "segments",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/segments", { query = { include_count = "true" }, list_key = "segments" }),
}
