-- The watermark of a walk split into slices (icx.slices): slices are
-- ranges of the key walked at once, each ascending, so the cursor may move
-- to the highest key below which every slice has landed. It is stored with
-- every page, so an interrupted walk resumes each slice where it stopped.
--
--   watermark.new(n [, bounds]) -> Watermark    (n slices walked at once)
--   Watermark:page(i, max_key); Watermark:finish(i); Watermark:value()
--   Watermark:undo_of(i) -> fn    takes back the next page(i) (failed commit)
--   Watermark:state() -> {bounds=, best=, done=}   every slice's progress,
--                                    stored with each page (resume)
--   watermark.restore(state) -> Watermark | nil    from a stored state
local M = {}

local Watermark = {}
Watermark.__index = Watermark
Watermark.__name = "icx.watermark.Watermark"

-- What has landed across n slices of one walk; bounds[i] = {lo, hi} (nil
-- ends as false) is slice i's range, kept so a resumed run walks the same.
function M.new(n, bounds)
  return setmetatable({ n = n, done = {}, best = {}, bounds = bounds or {} }, Watermark)
end

-- Every slice's range, high-water mark and whether it ended, as plain
-- tables (JSON arrays with false for none).
function Watermark:state()
  local best, done, bounds = {}, {}, {}
  for i = 1, self.n do
    best[i] = self.best[i] or false
    done[i] = self.done[i] or false
    local b = self.bounds[i] or {}
    bounds[i] = { b[1] or false, b[2] or false }
  end
  return { bounds = bounds, best = best, done = done }
end

-- A watermark from Watermark:state(), or nil when st is not one.
function M.restore(st)
  if type(st) ~= "table" or type(st.bounds) ~= "table" or type(st.best) ~= "table"
    or type(st.done) ~= "table" or #st.bounds < 2 then
    return nil
  end
  local n = #st.bounds
  local wm = M.new(n)
  for i = 1, n do
    local b = st.bounds[i]
    if type(b) ~= "table" then return nil end
    wm.bounds[i] = { math.tointeger(b[1]) or nil, math.tointeger(b[2]) or nil }
    wm.best[i] = math.tointeger(st.best[i]) or nil
    wm.done[i] = st.done[i] == true or nil
  end
  return wm
end

-- A page of slice i committed with keys up to max_key.
function Watermark:page(i, max_key)
  if max_key and (not self.best[i] or max_key > self.best[i]) then self.best[i] = max_key end
end

-- What takes back slice i's next page(): a page is counted in the
-- watermark while its transaction is built, so a commit that fails (a full
-- disk) must uncount it, or other slices' later pages would store a cursor
-- (and a resume point) past records that never landed.
function Watermark:undo_of(i)
  local b = self.best[i]
  return function() self.best[i] = b end
end

-- Slice i has been walked to its end.
function Watermark:finish(i) self.done[i] = true end

-- Slices are ordered by key, so everything below the best key of the first
-- unfinished slice (or of any finished slice before it) has landed.
function Watermark:value()
  local v
  for i = 1, self.n do
    local b = self.best[i]
    if b and (not v or b > v) then v = b end
    if not self.done[i] then break end
  end
  return v
end

return M
