-- Intercom ticket states: one GET /ticket_states (the detailed states, each
-- with the ticket types it applies to), no paging and no timestamps, so
-- replaced whole each run. A ticket's ticket_state id decodes through it.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "ticket_states",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/ticket_states", { list_key = "data" }),
}
