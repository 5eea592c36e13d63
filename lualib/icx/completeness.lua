-- Proves a search asset's load complete: for closed windows of its
-- incremental key, what Intercom counts there (a search for one record:
-- total_count) against the rows landed there. A window short of records
-- is healed in the same run: bisected by counts down to a short stretch,
-- walked again, and merged; what a re-walk cannot find is reported (a
-- JSON event, a line naming the asset, the window and how many) and makes
-- the run exit M.EXIT. Every window checked is a row of _icx_completeness.
--
-- Windows are closed: they end M.SETTLE before the walk started (and, for
-- icx verify, at the stored cursor), so a record changed or created after
-- the walk began (or indexed late) lies beyond them. A record that moved
-- forward leaves its old window with more rows landed than Intercom counts
-- there, which is not a loss. On day-granular contact search the windows
-- are whole days of the workspace's timezone (icx.tz), as the search is.
-- Their number is a share of the load's requests (M.SHARE on a first
-- load, at most M.INCREMENTAL on an incremental run): one request each,
-- plus what healing costs, all printed. A closed window a time slice of
-- the load walked exactly and alone is compared with the total_count of
-- that slice's first page instead, at no cost (reusable: why that proves
-- it).
--
--   completeness.applies(spec, src) -> boolean    a merge search asset with
--                                   no filter and no expansion
--   completeness.tally(spec) -> Tally             tally:page(page): the ids
--                                   and keys a walk landed
--   completeness.after_load(spec, env, ctx, src, t, tally) -> report
--                                   the check of a load that completed
--   completeness.verify(spec, env, src) -> report   icx verify: the stored
--                                   history, up to the stored cursor
--   completeness.listing(spec, src, ctx) -> List | nil   a listing whose
--                                   pages carry total_count (collections,
--                                   a first load of articles): list:page(page,
--                                   info) keeps its ids and the last total;
--                                   conversation parts: icx.partcheck's Tally
--   completeness.after_list(spec, env, ctx, src, t, list, stopped) -> report
--                                   distinct ids against total_count; short:
--                                   the listing walked once more, merged
--                                   (before a replaced table is swapped in)
--   completeness.verify_all(env, specs, named) -> exit code   each asset
--                                   that applies (named: say which do not)
--   completeness.line(asset, report) -> text;  completeness.EXIT
local errors = require "icx.errors"
local log = require "icx.log"
local partcheck = require "icx.partcheck"
local sched = require "icx.sched"
local shape = require "icx.shape"
local source = require "icx.source"
local sys = require "icx.sys"
local ctally = require "icx.tally"
local tz = require "icx.tz"
local walk = require "icx.walk"

local M = {}

M.EXIT = 5
M.SETTLE = 3600      -- windows end this long before the walk began
M.SHARE = 0.02       -- of a first load's requests
M.INCREMENTAL = 2    -- windows on an incremental run
M.VERIFY_MAX = 500   -- windows icx verify asks at most
M.WALK_AT = 300      -- a short window expecting at most this many is walked again whole
M.VERIFY_ROWS = 1500 -- stored rows per window of icx verify (a tenth of a reload's requests)

function M.applies(spec, src)
  return spec.incremental ~= nil and spec.mode == "merge" and not spec.filter and src.expansion == nil
    and type(src.count) == "function" and src:sliceable() and src.ascending == true
end

-- The first index of sorted ks whose key is >= v.
local function lower(ks, v)
  local a, b = 1, #ks + 1
  while a < b do
    local m = (a + b) // 2
    if ks[m] < v then a = m + 1 else b = m end
  end
  return a
end

-- The records a walk landed: id -> key (the last read wins: a record that
-- moved mid-walk counts where it was last seen), in an icx.tally: ids as
-- 64-bit hashes, packed in C with their keys, about 22 bytes a record (a
-- Lua table and a sorted copy of its keys, made as the check began, took
-- 53 at 100,000), sorted in place to count. Two ids sharing a
-- hash can only make a window look short, and a short window is counted
-- again from the destination's stored keys (run_check), so the verdict
-- stays exact.
--
-- Tally and Stored answer the check alike: count(lo, hi), how many keys
-- lie in [lo, hi); span(lo, hi) -> first, n, where they start among the
-- sorted keys; at(i), the key at rank i.
local Tally = {}
Tally.__index = Tally

function M.tally(spec)
  -- Made as the walk starts: windows close SETTLE before then.
  return setmetatable({ pk = spec.primary_key[1], key = spec.incremental.key, landed = ctally.new(), firsts = {},
    started = math.floor(sys.time()) }, Tally)
end

-- The `>` and `<` values a search query bounds key with (nil: absent),
-- and whether it holds anything else (the source's `where`).
local function bounds_of(q, key)
  local parts = type(q) == "table" and (q.operator == "AND" and q.value or { q }) or {}
  local gt, lt, other = nil, nil, false
  for _, p in ipairs(parts) do
    if type(p) == "table" and p.field == key and p.operator == ">" and math.type(p.value) == "integer" and not gt then
      gt = p.value
    elseif type(p) == "table" and p.field == key and p.operator == "<" and math.type(p.value) == "integer"
      and not lt then
      lt = p.value
    else
      other = true
    end
  end
  return gt, lt, other
end

-- info: the walk's (icx.paginate); a heal's pages come without. The first
-- page of each of the load's walks (a slice) says how many records its
-- query matched as it was answered: kept with the query's bounds, which
-- run_check may take as a window's count (see reusable).
function Tally:page(page, info)
  page:tally(self.pk, self.key, self.landed)
  local req = info and info.number == 1 and info.request
  local body = req and type(req.body) == "table" and req.body
  if body and info.total_count then
    local gt, lt, other = bounds_of(body.query, self.key)
    self.firsts[#self.firsts + 1] = { gt = gt, lt = lt, other = other, total = info.total_count }
  end
end

-- The keys are sorted in place once per check rather than a pass over
-- every id per window (at 100,000 contacts that pass per window was a
-- seventh of the load's CPU); a page landed since sorts them again.
function Tally:count(lo, hi) return self.landed:count(lo, hi) end

function Tally:span(lo, hi) return self.landed:span(lo, hi) end

function Tally:at(i) return self.landed:at(i) end

-- A listing: the distinct ids it walked, the last total_count reported.
local List = {}
List.__index = List

function M.listing(spec, src, ctx)
  -- A conversation's parts against its count (icx.partcheck).
  if partcheck.applies(spec, src) then return partcheck.tally(spec, src, ctx) end
  if src.count or src.expansion or spec.filter or #spec.primary_key ~= 1 or ctx.since or ctx.before
    or src.style == "each" or src.style == "custom" or src.style == "search" then
    return nil
  end
  return setmetatable({ pk = spec.primary_key[1], ids = {}, n = 0 }, List)
end

function List:page(page, info)
  if math.type(info and info.total_count) == "integer" then self.total = info.total_count end
  for i = 1, page:count() do
    local id = page:get(i, self.pk)
    if id ~= nil and not self.ids[tostring(id)] then
      self.ids[tostring(id)] = true
      self.n = self.n + 1
    end
  end
end

-- Stored rows of a table (icx verify): their keys, read again after a heal.
local Stored = {}
Stored.__index = Stored

local function stored(t, key)
  local s = setmetatable({ t = t, key = key }, Stored)
  s:reload()
  return s
end

function Stored:reload()
  local ks = {}
  for _, v in ipairs(self.t:keys(self.key)) do
    local n = math.tointeger(tonumber(v))
    if n then ks[#ks + 1] = n end
  end
  table.sort(ks)
  self.all = ks
end

function Stored:count(lo, hi) return lower(self.all, hi) - lower(self.all, lo) end

function Stored:span(lo, hi)
  local first = lower(self.all, lo)
  return first, lower(self.all, hi) - first
end

function Stored:at(i) return self.all[i] end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- How window edges fall: midnights of the workspace on day-granular
-- search, any second elsewhere; and, where the windows are exact
-- (second-granular search, or a zone the system knows), the zone or true.
local function aligner(src, env)
  if src.granularity ~= "day" then return function(t) return t end, true end
  local zone, known = tz.load(env.timezone)
  if not known and not env.tz_warned then
    env.tz_warned = true
    log.warn("workspace timezone %s is not in the system's zoneinfo: contact windows are UTC days, so a "
      .. "window's count may differ by the records of its edge days", tostring(env.timezone))
  end
  return function(t) return zone:day_start(t) end, known and zone
end

-- The keys [a, b) a walk's query matched (b nil: no `<`, open above), as
-- the search reads them: `> v` from v + 1, on day-granular search from
-- the midnight after v's day; `< w` below w, or below w's midnight. `> 0`
-- is taken as from 0, as window_body sends the window from 0.
local function window_of(f, exact)
  local v, w = f.gt or 0, f.lt
  if exact == true then return { a = v > 0 and v + 1 or 0, b = w, f = f } end
  return { a = v > 0 and exact:next_day(v) or 0, b = w and exact:day_start(w), f = f }
end

-- The closed windows in [lo, hi) whose count the load's own walks took
-- with their first page, ascending. Such a count proves its window
-- without asking again, where the window is closed (it ends SETTLE
-- before the walk began) and no other walk of the load read keys in it:
-- a record only leaves a closed window (an update moves it past the
-- walk's start, a delete removes it; one created or indexed late lands
-- past the window, SETTLE covers the indexing lag), so whatever the walk
-- of that query landed there after its first page, it held there when
-- that page was answered: landed there is a subset of the N the page
-- counted. Landed N of them, it landed all N, and any later count of the
-- window is a subset of those N: nothing Intercom holds there from that
-- page on was missed. (That holds for the rows this load read, the
-- tally, not for rows an earlier run stored: a stored row may have left
-- the window since.) The proof needs the very query the count was of,
-- and every read of its keys after the count: windows overlapping another
-- walk's (a day read by two slices where noon UTC is the workspace's
-- midnight, UTC+12 or UTC-12: see Search:edge) or holding more than the
-- query's bounds are counted as before, and so is every window where the
-- zone is not known. (Intercom moves updated_at only forward, to the
-- time of the change; the proof rests on that.)
local function reusable(tally, lo, hi, exact, where)
  if not exact or not tally.firsts then return {} end
  local ws = {}
  for _, f in ipairs(tally.firsts) do ws[#ws + 1] = window_of(f, exact) end
  local out = {}
  for i, w in ipairs(ws) do
    local ok = w.b and w.a >= lo and w.b <= hi and w.a < w.b and w.f.other == where
      and tally:count(w.a, w.b) == w.f.total
    for j, o in ipairs(ws) do
      if ok and j ~= i and o.a < w.b and w.a < (o.b or math.huge) then ok = false end
    end
    if ok then out[#out + 1] = w end
  end
  table.sort(out, function(x, y) return x.a < y.a end)
  return out
end

-- Edges lo < e1 < ... < hi cutting the keys in [lo, hi) (landed's
-- sorted keys from rank first, rows of them: span) into at most n windows
-- of about equal rows, on aligned edges.
local function edges(landed, first, rows, lo, hi, n, align)
  local out = { lo }
  for i = 1, n - 1 do
    local k = rows > 0 and landed:at(first + (rows * i) // n)
    local e = k and align(k)
    if e and e > out[#out] and e < hi then out[#out + 1] = e end
  end
  out[#out + 1] = hi
  return out
end

-- A point inside (lo, hi) on an aligned edge, or nil when the window
-- cannot be cut (one day, one second).
local function middle(lo, hi, align)
  local m = align(lo + (hi - lo) // 2)
  if m > lo and m < hi then return m end
  m = align(hi - 1)
  if m > lo and m < hi then return m end
  return nil
end

-- The page writer of a heal: each page merged in its own transaction.
local function writer(spec, env, t, tally)
  return function(page, _, from)
    if tally then tally:page(page) end
    local shaped = shape.page(page, from, spec, env.ctx)
    env.dest:transaction(function() t:write(shaped) end)
  end
end

-- A check in progress: the counts asked, the requests spent.
local Check = {}
Check.__index = Check

function Check:count(lo, hi)
  self.counts = self.counts + 1
  return self.src:count(self.env.client, lo, hi, self.ctx.stats)
end

-- Walks [lo, hi) again, merging what it reads.
function Check:rewalk(lo, hi)
  self.rewalks = self.rewalks + 1
  local sub = self.src:slice_of(0, nil, lo > 0 and lo or nil, hi)
  local ctx = setmetatable({ since = false }, { __index = self.ctx })
  walk.run(self.env.client, sub, ctx, self.write)
  if self.landed.reload then self.landed:reload() end
end

-- Heals a window Intercom counts `expected` in: halves counted (one
-- request per cut, the other half by difference) down to a stretch short
-- enough to walk, or that cannot be cut.
function Check:heal(lo, hi, expected)
  if expected <= self.landed:count(lo, hi) then return end
  local mid = middle(lo, hi, self.align)
  if expected <= M.WALK_AT or not mid then
    self:rewalk(lo, hi)
    return
  end
  local left = self:count(lo, mid)
  self:heal(lo, mid, left)
  self:heal(mid, hi, expected - left)
end

-- The windows to compare, ascending: the proven ones (w.f.total: their
-- count; those where this load landed as many as the walk counted), and
-- the stretches between them, asked: n requests in all, as many as with
-- nothing proven (the largest stretch takes what one each leaves over).
-- More stretches than n: nothing proven is taken.
local function windows(landed, lo, hi, n, align, proven)
  local gaps, at = {}, lo
  for _, w in ipairs(proven) do
    if w.a > at then gaps[#gaps + 1] = { a = at, b = w.a } end
    at = w.b
  end
  if hi > at then gaps[#gaps + 1] = { a = at, b = hi } end
  if #gaps > n then proven, gaps = {}, { { a = lo, b = hi } } end
  local big = gaps[1]
  for _, g in ipairs(gaps) do
    g.k = 1
    if landed:count(g.a, g.b) > landed:count(big.a, big.b) then big = g end
  end
  if big then big.k = n - #gaps + 1 end
  local out = {}
  for _, g in ipairs(gaps) do
    local first, rows = landed:span(g.a, g.b)
    local cut = edges(landed, first, rows, g.a, g.b, g.k, align)
    for i = 1, #cut - 1 do out[#out + 1] = { a = cut[i], b = cut[i + 1] } end
  end
  table.move(proven, 1, #proven, #out + 1, out)
  table.sort(out, function(x, y) return x.a < y.a end)
  return out
end

-- Compares each window, heals the short ones, records and reports.
local function run_check(spec, env, ctx, src, landed, lo, hi, n, why)
  local started = ctx.stats.requests
  local align, exact = aligner(src, env)
  local c = setmetatable({ env = env, ctx = ctx, src = src, landed = landed, counts = 0, rewalks = 0,
    align = align }, Check)
  c.write = env.write
  local rep = { asset = spec.name, windows = 0, expected = 0, landed = 0, healed = 0, missing = 0, rows = {},
    short = {}, why = why, walk_counts = 0 }
  if hi <= lo then
    rep.requests = 0
    return rep
  end
  local at = iso(sys.time())
  for _, w in ipairs(windows(landed, lo, hi, n, align, reusable(landed, lo, hi, exact, src.where ~= nil))) do
    local a, b = w.a, w.b
    -- The walk's count, where this load landed exactly that many there
    -- (reusable says why that proves the window); else asked now. (A heal
    -- of another window reads only keys of that window.)
    local reuse = w.f and landed:count(a, b) == w.f.total
    local expected = reuse and w.f.total or c:count(a, b)
    if reuse then rep.walk_counts = rep.walk_counts + 1 end
    local before = landed:count(a, b)
    -- Short by what this walk read: rows earlier runs landed count too,
    -- when the destination can say (one read of the key column).
    if expected > before and env.stored then
      landed, env.stored = env.stored(), nil
      c.landed = landed
      before = landed:count(a, b)
    end
    if expected > before then c:heal(a, b, expected) end
    local after = landed:count(a, b)
    local row = { window = iso(a) .. "/" .. iso(b), lo = a, hi = b, expected = expected, landed = after,
      healed = math.max(0, after - before), checked_at = at }
    rep.rows[#rep.rows + 1] = row
    rep.windows = rep.windows + 1
    rep.expected, rep.landed, rep.healed = rep.expected + expected, rep.landed + math.min(after, expected),
      rep.healed + row.healed
    if expected > after then
      rep.missing = rep.missing + expected - after
      rep.short[#rep.short + 1] = row
    end
  end
  rep.requests = ctx.stats.requests - started
  rep.counts, rep.rewalks = c.counts, c.rewalks
  return rep
end

-- Records the windows, says what the check found (events and lines).
local function report(spec, env, rep, load_requests)
  env.dest:completeness_add(env.connection.name, spec.name, env.run_id, rep.rows)
  for _, r in ipairs(rep.short) do
    local missing = r.expected - r.landed
    log.event("incomplete", { asset = spec.name, window = r.window, lo = r.lo, hi = r.hi, expected = r.expected,
      landed = r.landed, missing = missing }, "error",
      ("icx: %s: INCOMPLETE: %d record%s missing in window %s: Intercom counts %d, %d landed, and walking the "
        .. "window again did not find %s"):format(spec.name, missing, missing == 1 and "" or "s", r.window,
        r.expected, r.landed, missing == 1 and "it" or "them"))
  end
  log.event("completeness", { asset = spec.name, complete = rep.missing == 0, windows = rep.windows,
    expected = rep.expected, landed = rep.landed, healed = rep.healed, missing = rep.missing,
    requests = rep.requests, load_requests = load_requests, walk_counts = rep.walk_counts },
    rep.missing == 0 and "info" or "error", M.line(spec.name, rep, load_requests))
end

-- One line: the verdict, the windows, what healing did, what it cost.
function M.line(asset, rep, load_requests)
  local cost = ("%d request%s"):format(rep.requests, rep.requests == 1 and "" or "s")
  if load_requests and load_requests > 0 then
    cost = cost .. (" (%.1f%% of the load's %d)"):format(100 * rep.requests / load_requests, load_requests)
  end
  if rep.windows == 0 then
    return ("%s: completeness: no closed window to check yet (%s); the check cost 0 requests"):format(asset,
      rep.why or "every record is newer than the settle time")
  end
  local healed = rep.healed > 0 and ("; %d missing record%s found by walking short windows again and landed")
    :format(rep.healed, rep.healed == 1 and " was" or "s were") or ""
  if rep.missing > 0 then
    return ("icx: %s: INCOMPLETE: %d record%s missing in %d of %d windows%s; the check cost %s"):format(asset,
      rep.missing, rep.missing == 1 and "" or "s", #rep.short, rep.windows, healed, cost)
  end
  local walked = (rep.walk_counts or 0) > 0 and (" (%d counted by the load's own first page%s)"):format(
    rep.walk_counts, rep.walk_counts == 1 and "" or "s") or ""
  return ("%s: complete: %d window%s%s, Intercom counts %d records there and all landed%s; the check cost %s")
    :format(asset, rep.windows, rep.windows == 1 and "" or "s", walked, rep.expected, healed, cost)
end

-- A listing that reported total_count and was walked to its end: the ids
-- it landed against the count; short, the listing is walked once more (a
-- record can move between pages while a listing is walked) and merged.
function M.after_list(spec, env, ctx, src, t, list, stopped)
  if list.parts then return partcheck.after_load(spec, env, ctx, src, t, list) end
  if stopped or not list.total then return nil end
  local started, before = ctx.stats.requests, list.n
  local expected = list.total
  if list.n < expected then
    local write = writer(spec, { dest = env.dest, ctx = ctx }, t)
    walk.run(env.client, src, ctx, function(page, info, from)
      list:page(page, info)
      write(page, info, from)
    end)
    expected = list.total
  end
  local row = { window = "all", expected = expected, landed = math.min(list.n, expected),
    healed = math.max(0, list.n - before), checked_at = iso(sys.time()) }
  local rep = { asset = spec.name, windows = 1, expected = expected, landed = row.landed, healed = row.healed,
    missing = expected - row.landed, rows = { row }, short = {}, requests = ctx.stats.requests - started }
  if rep.missing > 0 then rep.short[1] = row end
  report(spec, env, rep, ctx.stats.requests - rep.requests)
  return rep
end

-- The check after a load that completed: windows from the run's lower
-- bound (everything on a first load) to SETTLE before the walk began.
function M.after_load(spec, env, ctx, src, t, tally)
  local align = aligner(src, env)
  local lo = ctx.since and align(math.max(ctx.since, 0)) or 0
  -- A backfill window is checked, not more: what lies past its end was not read.
  local hi = align(math.min(tally.started - M.SETTLE, ctx.before and src:upper(ctx.before) or math.huge))
  local load_requests = ctx.stats.requests
  local n = math.max(1, math.floor(load_requests * M.SHARE))
  if ctx.since then n = math.min(n, M.INCREMENTAL) end
  local cenv = setmetatable({ write = writer(spec, { dest = env.dest, ctx = ctx }, t, tally),
    stored = function()
      local ok, rows = pcall(stored, t, spec.incremental.key)
      return ok and rows or tally
    end }, { __index = env })
  local rep = run_check(spec, cenv, ctx, src, tally, lo, hi, n)
  report(spec, env, rep, load_requests)
  -- Freed now: an old object by then, only a major collection would
  -- find it, and the next asset's walk would run beside its slots.
  tally.landed:close()
  return rep
end

-- icx verify: the stored rows, windows from the oldest to the stored
-- cursor (what it vouches for), one request each up to VERIFY_MAX.
function M.verify(spec, env, src)
  local d, key = env.dest, spec.incremental.key
  local stats = { requests = 0, retries = 0, rate_limited = 0, asset = spec.name }
  local ctx = { connection = env.connection.name, asset = spec.name, stats = stats, client = env.client,
    map = function(items, fn) return require("icx.sched").map(items, fn, 8) end }
  local t = d:table { name = spec.table, primary_key = spec.primary_key, mode = "merge", compare = key }
  local rows = stored(t, key)
  local cur = math.tointeger(tonumber((d:cursor_get(env.connection.name, spec.name))))
  if not cur then
    errors.raise("usage", ("%s: nothing stored to verify in this destination (run it first)"):format(spec.name))
  end
  local align = aligner(src, env)
  local hi = align(math.min(cur, math.floor(sys.time()) - M.SETTLE))
  local lo = rows.all[1] and align(rows.all[1]) or hi
  local cenv = setmetatable({ write = writer(spec, { dest = d, ctx = ctx }, t) }, { __index = env })
  local n = math.min(M.VERIFY_MAX, math.max(1, -(-#rows.all // M.VERIFY_ROWS)))
  local rep = run_check(spec, cenv, ctx, src, rows, lo, hi, n, "nothing stored before the cursor")
  report(spec, env, rep)
  return rep
end

function M.verify_all(env, specs, named)
  local code, cost, n = 0, 0, 0
  sched.spawn(function()
    for _, spec in ipairs(specs) do
      local src = source.is(spec.pages) and spec.pages
      if src and M.applies(spec, src) then
        local rep = M.verify(spec, env, src)
        cost, n = cost + rep.requests, n + 1
        if rep.missing > 0 then code = M.EXIT end
      elseif src and partcheck.applies(spec, src) then
        local rep = partcheck.verify(spec, env, src)
        cost, n = cost + rep.requests, n + 1
        if rep.missing > 0 then code = M.EXIT end
      elseif named then
        log.warn("%s: not verified: only merge search assets (contacts, conversations, tickets) and "
          .. "conversation_parts have counts to compare", spec.name)
      end
    end
  end)
  for _, r in ipairs(sched.run()) do
    if not r.ok then error(r.error, 0) end
  end
  if n == 0 then
    log.info("nothing to verify: no search asset (contacts, conversations, tickets) in this destination")
  end
  if n > 1 then log.info("verify: %d assets, %d requests", n, cost) end
  return code
end

return M
