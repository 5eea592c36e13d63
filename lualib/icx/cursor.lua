-- Where an incremental asset resumes. The cursor is the highest key below
-- which every record has landed; the next run reads from it minus the
-- asset's lookback. What may move it is the source's call (icx.source's
-- landed): an ascending walk moves it with every committed page, a sliced
-- walk to its watermark, an unordered walk only at its end.
--
--   cursor.new(stored [, ceiling]) -> Cursor   ceiling: the highest value it
--                                    may reach (a backfill window's end - 1)
--   Cursor:saw(max_key)              a page with keys up to max_key was read
--   Cursor:advance(landed) -> value | nil   what to store with this page
--   Cursor:stored(value)             that value committed
--   Cursor:final() -> value | nil    what to store when the walk completed
--   cursor.since(spec, stored [, given]) -> lower bound | nil   the stored
--                                    cursor minus the lookback, else `given`
--                                    (--since) for an incremental asset
-- The watermark of a sliced walk is icx.watermark's.
local M = {}

local Cursor = {}
Cursor.__index = Cursor
Cursor.__name = "icx.cursor.Cursor"

-- A stored cursor that is not an integer (a foreign value) counts as none.
-- A window read up to its end vouches for nothing past it, whatever keys
-- a source that cannot bound the walk (a scroll) reported.
function M.new(stored, ceiling)
  local v = math.tointeger(tonumber(stored))
  return setmetatable({ committed = v, best = v, ceiling = ceiling }, Cursor)
end

local function capped(self, v)
  if v and self.ceiling and v > self.ceiling then return self.ceiling end
  return v
end

function Cursor:saw(max_key)
  max_key = capped(self, max_key)
  if max_key and (not self.best or max_key > self.best) then self.best = max_key end
end

-- The cursor never moves back: only a value past the committed one is
-- worth a write.
function Cursor:advance(landed)
  landed = capped(self, landed)
  if landed and (not self.committed or landed > self.committed) then return landed end
  return nil
end

function Cursor:stored(v)
  if v then self.committed = v end
end

function Cursor:final() return self:advance(self.best) end

-- The lower bound of this run: the stored cursor minus the lookback; with
-- no cursor, `given` (--since bounds a first run, a backfill).
function M.since(spec, stored, given)
  if not spec.incremental then return nil end
  local n = stored ~= nil and math.tointeger(tonumber(stored))
  if not n then return given end
  return n - (spec.incremental.lookback or 0)
end

return M
