-- Slices of one long search walk, planned from record counts. A search walk
-- is sequential (each cursor comes from the page before), so one walk waits
-- on latency and uses a fraction of the rate budget; a range holding many
-- records is split into slices of the key's range walked at once. Each slice
-- is sorted ascending like the whole walk, so the cursor may still move page
-- by page, to the watermark (icx.cursor).
--
-- Equal spans of time are not equal work: a real workspace has most records
-- updated in the last days, and the slice holding them would be walked alone,
-- page after page. So the plan asks Intercom first (a survey: `per_page: 1`
-- searches, whose total_count says how many records a range holds) and cuts
-- slices of equal record counts, as many as keep the rate budget busy at the
-- latency the survey measured.
--
--   slices.plan(client, source, ctx [, now]) -> {slice source, ...} | nil
--     each slice is source:slice_of(i, watermark, lo, hi): a copy asking for
--     its own range, its progress in the watermark all slices share; nil:
--     walk the source whole (few records, one slice wanted, or not a
--     sliceable search)
--   ctx.resume_slices: a stored Watermark:state() of an interrupted walk;
--     the plan is then that walk's, each slice starting at its high-water
--     mark (records at the mark are read again: the merge absorbs them)
--     and slices that had ended left out
local log = require "icx.log"
local sched = require "icx.sched"
local watermark = require "icx.watermark"

local M = {}

-- A range given by the run (an incremental run's cursor) shorter than this
-- is walked whole without asking: incremental runs stay one request when
-- little changed.
M.MIN_SPAN = 7 * 86400
-- Fewer pages than this are walked whole: the survey and each slice's
-- partial last page would cost more than the chain they shorten.
M.MIN_PAGES = 4
-- Where the survey counts, in days before now: the first few days at day
-- resolution (where a real workspace keeps most of its updates), then
-- coarser toward the oldest record. At most this many requests, sent at
-- once after the first, so the survey costs one more round trip. The
-- newest (a day further back where its edge is still ahead: see survey)
-- asks for a whole page: the last slice starts at it, so that page is the
-- slice's first and the count cost nothing. Between two
-- points the counts are read as spread evenly: a 30-day probe moved the
-- real shape's plan by nothing and cost a request, and so did a 1-day
-- one (benchmark 1: the same six slices without it; the cuts are whole
-- days, and between 3 days back and today the real shape is even).
M.PROBE_DAYS = { 0, 3 }
-- The plan takes the fewest slices (each costs about half a request: its
-- partial last page) whose longest chain of pages, estimated from the
-- survey, takes at most this share of the time the budget needs for all
-- pages, so the budget, not a chain, sets the pace.
M.CHAIN_SHARE = 0.75
-- Never more slices than requests the client keeps on the wire.
M.MAX_SLICES = 16

-- One search of the source from lo on (nil: the run's own bound), of
-- per_page records (default 1): {total=, first=, ms=, resp=}, first being
-- the oldest key in the range, resp the answer (a first page when per_page
-- is the walk's).
local function count(client, source, ctx, lo, per_page)
  local total, first, ms, resp = source:probe(client, source:slice_of(nil, nil, lo, nil):body_of(ctx), ctx.stats,
    per_page)
  return { total = total, first = first, ms = ms, resp = resp }
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

-- Requests per second the client's budget allows.
local function budget_rate(client)
  local ok, st = pcall(function() return client.bucket:state() end)
  if ok and type(st) == "table" and st.limit and st.window then return st.limit / st.window end
  return 16.6
end

-- The median of the survey's round trips, in seconds.
local function latency(answers)
  local ms = {}
  for _, a in ipairs(answers) do ms[#ms + 1] = a.ms end
  table.sort(ms)
  return (ms[(#ms + 1) // 2] or 0) / 1000
end

-- Records at or after t, from points {t, above} ascending in t, read
-- between two points as spread evenly.
local function above_at(points, t)
  if t <= points[1].t then return points[1].above end
  for j = 1, #points - 1 do
    local a, b = points[j], points[j + 1]
    if t <= b.t then return a.above + (b.above - a.above) * (t - a.t) / (b.t - a.t) end
  end
  return 0
end

-- Boundaries of n slices of about equal counts, each snapped to an edge
-- the search cuts exactly and kept only when it moves forward, and the
-- largest slice's estimated count.
local function cut(source, points, total, n, oldest, now)
  local bounds, prev = {}, oldest
  for k = 1, n - 1 do
    local target = total * (n - k) / n
    local t
    for j = 1, #points - 1 do
      local a, b = points[j], points[j + 1]
      if a.above >= target and target > b.above then
        t = a.t + (b.t - a.t) * (a.above - target) / (a.above - b.above)
        break
      end
    end
    t = t and source:edge(math.floor(t))
    if t and t > prev and t < now then
      bounds[#bounds + 1] = t
      prev = t
    end
  end
  local largest, from = 0, total
  for i = 1, #bounds + 1 do
    local to = bounds[i] and above_at(points, bounds[i]) or 0
    largest = math.max(largest, from - to)
    from = to
  end
  return bounds, largest
end

-- The survey and the cut: nil when the range is best walked whole.
local function survey(client, source, ctx, now)
  local jobs = math.min(ctx.jobs or math.huge, M.MAX_SLICES)
  local first = count(client, source, ctx, nil)
  local per_page = source.per_page or 150
  local total, oldest = first.total, first.first
  local pages = total and (total + per_page - 1) // per_page or 0
  if not oldest or pages < M.MIN_PAGES or now - oldest < 86400 then
    log.verbose("%s: %d records to read (one per_page=1 search): one walk", ctx.asset or source.path, total or 0)
    return nil
  end
  local probes = {}
  for _, d in ipairs(M.PROBE_DAYS) do
    local p = source:edge(now - d * 86400)
    -- The newest is the newest edge already passed (before noon UTC on
    -- day-granular search, and always on second-granular, a day back).
    if #probes == 0 and p >= now then p = source:edge(now - (d + 1) * 86400) end
    if p > oldest and p < now and (#probes == 0 or probes[#probes] ~= p) then probes[#probes + 1] = p end
  end
  local answers = sched.map(probes, function(p, i) return count(client, source, ctx, p, i == 1 and per_page or 1) end,
    #probes)
  answers[#answers + 1] = first
  local points = { { t = oldest, above = total } }
  for i = #probes, 1, -1 do
    points[#points + 1] = { t = probes[i], above = math.min(answers[i].total or 0, total) }
  end
  points[#points + 1] = { t = now, above = 0 }
  local lat = latency(answers)
  -- The budget's time for every page, and the fewest slices whose longest
  -- chain keeps within CHAIN_SHARE of it (at least the source's slices).
  local budget_s = pages / budget_rate(client)
  local cap = math.min(jobs, pages)
  -- Where edges are whole days, more slices stop shortening the longest
  -- chain once it is one day: past that they only add partial pages, so
  -- the plan takes the fewest slices that reach the shortest chain.
  local plans, best = {}, math.huge
  for n = math.min(math.max(source.slices or 1, 2), cap), cap do
    local c, largest = cut(source, points, total, n, oldest, now)
    local chain = (math.ceil(largest) + per_page - 1) // per_page
    plans[#plans + 1] = { cuts = c, chain = chain }
    best = math.min(best, chain)
    if chain * lat <= M.CHAIN_SHARE * budget_s then break end
  end
  local cuts
  for _, p in ipairs(plans) do
    if p.chain <= best then
      cuts = p.cuts
      break
    end
  end
  if not cuts then return nil end
  -- The newest probe's page is paid for: a plan that slices ends with a
  -- slice from there, whose first page it is. Never more requests:
  -- ceil(a / p) + ceil(b / p) - 1 <= ceil((a + b) / p), and the chain
  -- only shortens.
  if #cuts > 0 and probes[1] and cuts[#cuts] < probes[1] and #cuts + 2 <= cap then cuts[#cuts + 1] = probes[1] end
  log.info("%s: survey of %d requests (per_page=1, the newest a page): %d records, %d slices of %d"
    .. " (%.0f ms a request)", ctx.asset or source.path, #probes + 1, total, #cuts + 1, total // (#cuts + 1),
    lat * 1000)
  if #cuts == 0 then return nil end
  return cuts, cuts[#cuts] == probes[1] and answers[1].resp or nil
end

function M.plan(client, source, ctx, now)
  if not source:sliceable() then return nil end
  if ctx.resume_slices then
    local out = resume(source, ctx.resume_slices)
    if out then return out end
  end
  -- An explicit -j bounds the walks of one asset too; slices = 1 turns
  -- slicing off.
  if (source.slices or 1) < 2 or (ctx.jobs or 2) < 2 then return nil end
  -- A backfill window ends at ctx.before: the survey counts up to there.
  now = now or os.time()
  if ctx.before and source:upper(ctx.before) < now then now = source:upper(ctx.before) end
  if ctx.since and now - ctx.since < M.MIN_SPAN then return nil end
  local cuts, last_page = survey(client, source, ctx, now)
  if not cuts then return nil end
  local n = #cuts + 1
  local bounds = {}
  for i = 1, n do bounds[i] = { cuts[i - 1], cuts[i] } end
  -- Slice 1 keeps the run's own lower bound (nil: ctx.since, or none), the
  -- last has no upper bound, so together they cover exactly what the whole
  -- walk would (at a cut a slice's `>` bound starts where the one before's
  -- `<` ends: see Search:edge).
  local wm = watermark.new(n, bounds)
  local out = {}
  for i = 1, n do out[i] = source:slice_of(i, wm, bounds[i][1], bounds[i][2]) end
  out[n].answer = last_page
  return out
end

return M
