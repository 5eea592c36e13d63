-- Intercom conversations: POST /conversations/search sorted ascending on
-- updated_at (second precision), merged on id. The search cursor holds no
-- snapshot, so a conversation changed mid-walk may be missed; the stored
-- cursor minus the lookback makes the next run catch it.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "conversations",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/conversations/search",
}
