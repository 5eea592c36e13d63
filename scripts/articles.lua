-- Intercom articles: GET /articles pages come newest updated_at first, so an
-- incremental run stops paging once a whole page is older than the cursor.
-- The cursor moves when the walk ends: the newest article is on page one.
-- An article edited mid-walk jumps to page one, already passed: the hour of
-- lookback brings it in on the next run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "articles",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.list("/articles", { newest_first = true }),
  -- --reconcile: every page of the list, not only the new ones.
  reconcile = { list = intercom.list "/articles", get = "/articles/{id}" },
}
