-- Intercom help center collections (and their sections: parent_id names
-- another collection): GET /help_center/collections by page and per_page.
-- Replaced, not merged: the list comes newest updated_at first, so a merge
-- could stop early like articles, but Intercom keeps no tombstones and a
-- deleted collection would stay forever. A workspace has tens of
-- collections, so the whole list costs a request or two per run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "collections",
  primary_key = "id",
  mode = "replace",
  pages = intercom.list "/help_center/collections",
}
