-- Intercom admin activity logs: GET /admins/activity_logs, newest first,
-- page numbers through pages.next. created_at_after is required and, like
-- created_at_before, exclusive, and logs share seconds: the bound is the
-- run's lower bound minus one second (0 on a first load unless --since
-- gives one), so the logs of the cursor's own second are read again and
-- the merge absorbs them. The route has no per_page: Intercom sends 20 a
-- page. No order is promised beyond newest first, so the cursor moves only
-- when the walk has ended. The bound goes in the query string, hence a
-- pages function: `icx list` cannot show this asset's endpoint and cost.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "activity_logs",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "created_at", lookback = "1 hour" },
  pages = function(ctx)
    local after = ctx.since and math.max(ctx.since - 1, 0) or 0
    return intercom.list("/admins/activity_logs", { query = { created_at_after = tostring(after) },
      list_key = "activity_logs", key = "created_at", per_page = 20, newest_first = true })
  end,
}
