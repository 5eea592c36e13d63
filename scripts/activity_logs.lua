-- Intercom admin activity logs: GET /admins/activity_logs, newest first,
-- page numbers through pages.next. created_at_after is required and, like
-- created_at_before, exclusive, and logs share seconds: the run's lower
-- bound goes in created_at_after one second early (since_exclusive; 0 on a
-- first load unless --since gives one), so the logs of the cursor's own
-- second are read again and the merge absorbs them. The route has no
-- per_page: Intercom sends 20 a page. No order is promised beyond newest
-- first, so the cursor moves only when the walk has ended.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "activity_logs",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "created_at", lookback = "1 hour" },
  pages = intercom.list("/admins/activity_logs", {
    list_key = "activity_logs", key = "created_at", per_page = 20, newest_first = true,
    since_param = "created_at_after", since_default = 0, since_exclusive = true,
  }),
}
