-- Intercom tickets: POST /tickets/search (tickets have no list endpoint),
-- sorted ascending on updated_at, merged on id.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "tickets",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/tickets/search",
  -- --reconcile: every id from a search with no lower bound.
  reconcile = { list = intercom.search "/tickets/search", get = "/tickets/{id}" },
}
