-- Open conversations assigned to one team (ICX_TEAM_ID), replaced whole on
-- each run: a work queue snapshot rather than a history. Shows a search with
-- AND filters of its own.
local icx = require "icx"
local intercom = require "icx.intercom"

-- team_assignee_id is an integer on conversations.
local team = math.tointeger(tonumber(os.getenv("ICX_TEAM_ID") or "")) or 0

return icx.asset {
  name = "team_open_conversations",
  primary_key = "id",
  mode = "replace",
  pages = intercom.search("/conversations/search", {
    query = {
      operator = "AND",
      value = {
        { field = "open", operator = "=", value = true },
        { field = "team_assignee_id", operator = "=", value = team },
      },
    },
  }),
}
