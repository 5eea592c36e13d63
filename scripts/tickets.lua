-- Intercom tickets: POST /tickets/search (tickets have no list endpoint),
-- sorted ascending on updated_at, merged on id. Each ticket embeds its
-- newest parts with their total_count: ticket_parts (ticket_id is the
-- ticket's id, not its display ticket_id) and ticket_part_counts land from
-- the same walk at no request, replaced with their ticket; a ticket with
-- more parts than it embeds is recorded truncated, as nothing serves the rest.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "tickets",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/tickets/search",
  children = { intercom.child "ticket_parts", intercom.child "ticket_part_counts" },
  -- --reconcile: every id from a search with no lower bound.
  reconcile = { list = intercom.search "/tickets/search", get = "/tickets/{id}" },
}
