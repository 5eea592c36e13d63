-- Time slices of one search walk. A search walk is sequential (each cursor
-- comes from the page before), so one walk waits on latency and uses a
-- fraction of the rate budget; a first run or a full refresh over years of
-- records is split into slices of the key's range walked at once. Each slice
-- is sorted ascending like the whole walk, so the cursor may still move page
-- by page, to the watermark (icx.cursor).
--
--   slices.plan(client, source, ctx [, now]) -> {slice source, ...} | nil
--     each slice is source:slice_of(i, watermark, lo, hi): a copy asking for
--     its own range, its progress in the watermark all slices share
--   ctx.resume_slices: a stored Watermark:state() of an interrupted walk;
--     the plan is then that walk's, each slice starting at its high-water
--     mark (records at the mark are read again: the merge absorbs them)
--     and slices that had ended left out
local errors = require "icx.errors"
local json = require "icx.json"
local watermark = require "icx.watermark"

local M = {}

-- Ranges shorter than this are walked whole: incremental runs stay one walk.
M.MIN_SPAN = 7 * 86400

-- The oldest key the search holds (one request for one record), or nil.
local function oldest(client, source, ctx)
  local body = source:body_of(ctx)
  body.pagination = { per_page = 1 }
  local resp = client:request { method = source.method, path = source.path, body = body, stats = ctx.stats }
  local page, err = json.page(resp.body, source.list_key)
  if not page then
    errors.raise("json", ("malformed JSON from %s %s: %s"):format(source.method, resp.url or source.path, err))
  end
  local v = page:count() > 0 and page:get(1, source.key) or nil
  return math.type(v) == "integer" and v or nil
end

-- The slices of an interrupted walk still to do, from their marks.
local function resume(source, st)
  local wm = watermark.restore(st)
  if not wm then return nil end
  local out = {}
  for i = 1, wm.n do
    if not wm.done[i] then
      local a, b = wm.bounds[i][1], wm.bounds[i][2]
      out[#out + 1] = source:slice_of(i, wm, wm.best[i] or a, b)
    end
  end
  return out
end

function M.plan(client, source, ctx, now)
  if not source:sliceable() then return nil end
  if ctx.resume_slices then
    local out = resume(source, ctx.resume_slices)
    if out then return out end
  end
  -- An explicit -j bounds the walks of one asset too.
  local n = math.min(source.slices or 1, ctx.jobs or math.huge)
  if n < 2 then return nil end
  local lo = ctx.since or oldest(client, source, ctx)
  now = now or os.time()
  if not lo or now - lo < M.MIN_SPAN then return nil end
  local step = (now - lo) // n
  local bounds = {}
  for i = 1, n do
    -- Slice 1 keeps the run's own bound (nil: ctx.since, or none).
    bounds[i] = { i > 1 and lo + (i - 1) * step or nil, i < n and lo + i * step or nil }
  end
  -- Slice 1 keeps the run's own lower bound, the last has no upper bound,
  -- so together they cover exactly what the whole walk would (overlapping
  -- at day edges on day-granular search, never leaving a gap).
  local wm = watermark.new(n, bounds)
  local out = {}
  for i = 1, n do out[i] = source:slice_of(i, wm, bounds[i][1], bounds[i][2]) end
  return out
end

return M
