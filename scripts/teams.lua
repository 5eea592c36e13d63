-- Intercom teams: one GET /teams, no paging and no timestamps to filter on, so
-- the table is replaced whole each run (readers see the old or the new).
-- team_admins (team_id, admin_id) comes from each team's admin_ids, a plain
-- array of ids: replaced with the teams, at no extra request.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "teams",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/teams", { list_key = "teams" }),
  children = { intercom.child "team_admins" },
}
