-- icx.tz: a workspace timezone's midnights from the system's zoneinfo,
-- against Python's zoneinfo for the same instants (a DST change included);
-- an unknown zone is UTC and says it is not known.
local t = dofile "tests/lib/tap.lua"
local tz = require "icx.tz"

local CASES = {
  { "Pacific/Auckland", 1775400000, 1775390400, 1775476800 },
  -- 2025-11-02: New York's day is 25 hours long.
  { "America/New_York", 1762081200, 1762056000, 1762146000 },
  { "Asia/Kolkata", 1700000000, 1699986600, 1700073000 },
  { "UTC", 1700000000, 1699920000, 1700006400 },
}
for _, c in ipairs(CASES) do
  local zone, known = tz.load(c[1])
  t.ok(known, c[1] .. ": known")
  t.is(zone:day_start(c[2]), c[3], c[1] .. ": the midnight that starts the day")
  t.is(zone:next_day(c[2]), c[4], c[1] .. ": the midnight that ends it")
  t.is(zone:day_start(c[3]), c[3], c[1] .. ": a midnight starts its own day")
end
local zone, known = tz.load("Nowhere/Atlantis")
t.ok(not known, "an unknown zone is said to be unknown")
t.is(zone:day_start(1700000000), 1699920000, "and counted as UTC")
t.ok(not select(2, tz.load("../../etc/passwd")), "a path is not a zone name")
os.exit(t.done())
