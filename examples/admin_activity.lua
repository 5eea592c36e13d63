-- Admin activity since the last run: an endpoint whose lower bound is a
-- query parameter (GET /admins/activity_logs?created_at_after=UNIX), kept
-- incrementally on created_at. The template for any `created_at_after`-style
-- endpoint (docs/SCRIPTING.md, "The cursor as a query parameter"):
--
--   since_param      the parameter the run's lower bound goes in: the
--                    stored cursor minus the lookback (or --since), as Unix
--                    seconds
--   since_default    what a first run sends (no cursor, no --since): 0 here,
--                    everything Intercom keeps; leave it out to send nothing
--   since_exclusive  the endpoint reads `created_at > value`, so icx sends a
--                    second less: logs sharing the cursor's second are read
--                    again and the merge absorbs them, none is skipped
--
-- The list comes newest first with page numbers (20 a page), so the cursor
-- moves when the walk ends; `icx plan` shows the request the next run sends.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "admin_activity",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "created_at", lookback = "10 minutes" },
  pages = intercom.list("/admins/activity_logs", {
    list_key = "activity_logs",
    key = "created_at",
    newest_first = true,
    since_param = "created_at_after",
    since_default = 0,
    since_exclusive = true,
  }),
}
