-- Durations in asset specs and flags: a number of seconds, or text such as
-- "90s", "30 minutes", "1 hour", "2 days".
local M = {}

local UNITS = {
  s = 1, sec = 1, secs = 1, second = 1, seconds = 1,
  m = 60, min = 60, mins = 60, minute = 60, minutes = 60,
  h = 3600, hour = 3600, hours = 3600,
  d = 86400, day = 86400, days = 86400,
  w = 604800, week = 604800, weeks = 604800,
}

-- Seconds as an integer, or nil and a reason.
function M.parse(v)
  if math.type(v) == "integer" and v >= 0 then return v end
  if type(v) == "number" and v >= 0 and v == math.floor(v) then return math.tointeger(v) end
  if type(v) ~= "string" then return nil, "expected seconds or text like \"1 hour\"" end
  local n, unit = v:match("^%s*(%d+)%s*(%a*)%s*$")
  if not n then return nil, ("'%s' is not a duration (try \"1 hour\" or \"30 minutes\")"):format(v) end
  local mult = unit == "" and 1 or UNITS[unit:lower()]
  if not mult then return nil, ("unknown unit '%s' in '%s' (use s, minutes, hours, days)"):format(unit, v) end
  return tonumber(n) * mult
end

return M
