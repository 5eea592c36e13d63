-- Intercom conversations: POST /conversations/search sorted ascending on
-- updated_at (second precision), merged on id. The search cursor holds no
-- snapshot, so a conversation changed mid-walk may be missed; the stored
-- cursor minus the lookback makes the next run catch it. Its tags, contacts
-- and teammates come embedded whole: three link tables at no request,
-- replaced with the conversation's row. Intercom keeps no tombstone of a
-- conversation but GET /conversations/deleted (API 2.16): --reconcile reads
-- it (an id sweep over every conversation would cost a GET each).
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "conversations",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/conversations/search",
  children = { intercom.child "conversation_tags", intercom.child "conversation_contacts",
    intercom.child "conversation_teammates" },
  reconcile = { deleted = "/conversations/deleted" },
}
