-- Intercom conversation parts: the messages of every conversation changed
-- since the cursor, one GET /conversations/{id} each, merged on part id with
-- conversation_id added. Intercom returns at most the 500 most recent parts:
-- conversation_part_counts records returned vs total and flags truncated = 1
-- instead of cutting silently. A conversation deleted meanwhile (404) is
-- skipped; --reconcile removes the parts and counts of every conversation
-- GET /conversations/deleted (API 2.16) lists.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "conversation_parts",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.conversation_parts(),
  reconcile = { deleted = "/conversations/deleted", key = "conversation_id" },
}
