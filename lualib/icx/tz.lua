-- Day boundaries in a workspace's timezone. Contact search matches dates by
-- whole day in the workspace's timezone (GET /me's app.timezone, an IANA
-- name), so a count over contacts is only exact on that zone's midnights.
-- The offsets come from the system's zoneinfo file (TZif, its 32-bit
-- block, enough up to 2037); a zone the system does not have is UTC, said
-- once by the caller.
--
--   tz.load(name) -> Zone, known      known: whether the zone file was read
--   zone:offset(t) -> seconds east of UTC at Unix time t
--   zone:day_start(t) -> the Unix time of the midnight that starts t's day
--   zone:next_day(t) -> the midnight that ends t's day
local M = {}

local Zone = {}
Zone.__index = Zone

M.DIRS = { "/usr/share/zoneinfo/", "/usr/lib/zoneinfo/", "/usr/share/lib/zoneinfo/" }

-- The transitions and offsets of a TZif file's first (32-bit) block.
local function parse(data)
  if data:sub(1, 4) ~= "TZif" or #data < 44 then return nil end
  local _, _, _, timecnt, typecnt = (">i4i4i4i4i4"):unpack(data, 21)
  local pos = 45
  local times, idx, offs = {}, {}, {}
  for i = 1, timecnt do times[i], pos = (">i4"):unpack(data, pos) end
  for i = 1, timecnt do idx[i], pos = (">B"):unpack(data, pos) end
  for i = 1, typecnt do
    offs[i - 1] = (">i4"):unpack(data, pos)
    pos = pos + 6
  end
  if typecnt == 0 then return nil end
  return { times = times, idx = idx, offs = offs }
end

function M.load(name)
  if type(name) == "string" and name ~= "" and not name:find("..", 1, true) and name ~= "UTC" then
    for _, dir in ipairs(M.DIRS) do
      local f = io.open(dir .. name, "rb")
      if f then
        local z = parse(f:read("a"))
        f:close()
        if z then return setmetatable(z, Zone), true end
      end
    end
  end
  return setmetatable({ times = {}, idx = {}, offs = { [0] = 0 } }, Zone), name == "UTC" or name == "Etc/UTC"
end

function Zone:offset(t)
  local times = self.times
  -- Before the first transition the zone keeps its first type.
  local lo, hi = 1, #times
  if hi == 0 or t < times[1] then return self.offs[0] end
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if times[mid] <= t then lo = mid else hi = mid - 1 end
  end
  return self.offs[self.idx[lo]]
end

function Zone:day_start(t)
  local loc = t + self:offset(t)
  local mid = loc - loc % 86400
  -- The midnight's own offset (a DST change between it and t).
  local s = mid - self:offset(t)
  return mid - self:offset(s)
end

-- A day is 23 to 25 hours: 36 hours on lands in the next day whatever it was.
function Zone:next_day(t) return self:day_start(self:day_start(t) + 36 * 3600) end

return M
