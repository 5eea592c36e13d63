-- Teams that have at least one admin, each with its admin count: the shape a
-- staffing dashboard wants, from one GET /teams. Shows `filter` (drop
-- records) and `transform` (add a field) on a small endpoint; the shipped
-- `teams` asset keeps every team as Intercom sends it.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "staffed_teams",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/teams", { list_key = "teams" }),
  filter = function(team) return #team.admin_ids > 0 end,
  transform = function(team)
    team.admin_count = #team.admin_ids
    return team
  end,
}
