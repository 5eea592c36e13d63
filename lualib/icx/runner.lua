-- Runs assets: pages from the asset's source into the destination, one
-- transaction per page holding the page's rows, its child rows and the
-- cursor it earns. Assets run as coroutines under icx.sched (at most -j at
-- once), share one client (one connection pool, one rate budget) and
-- commit independently.
--
--   runner.load_scripts(args) -> specs      asset names or script paths, every
--                                           one checked before any request
--   runner.run(env, specs) -> exit code     env: {dest=, connection=, client=,
--                                           full_refresh=, jobs=, reconcile=, verbose=}
--   runner.start(env, specs) -> finish      the same in two halves: workers spawned,
--                                           finish() -> code, summary after sched.run
--   runner.run_asset(spec, env) -> result   {asset, ok, error, rows, pages, stats, seconds, ...}
--   runner.lock_each(env, specs) -> locks, skipped   one run per asset: a
--                                           locked asset is skipped ({[name] =
--                                           {holder =, message =}}), the others run
--   runner.lock_all(env, specs) -> locks    every asset or none (exit 4)
--   runner.plan(env, specs) -> exit code    the first request of each, as the next run sends it
local backfill = require "icx.backfill"
local completeness = require "icx.completeness"
local cursor = require "icx.cursor"
local errors = require "icx.errors"
local exitcodes = require "icx.exitcodes"
local json = require "icx.json"
local lineage = require "icx.lineage"
local log = require "icx.log"
local reconcile = require "icx.reconcile"
local sandbox = require "icx.sandbox"
local sched = require "icx.sched"
local shape = require "icx.shape"
local source = require "icx.source"
local sys = require "icx.sys"
local totals = require "icx.totals"
local walk = require "icx.walk"

local M = {}

-- Loads and validates every script before any request (exit 2 on error).
function M.load_scripts(paths)
  local specs, tables = {}, {}
  -- Keyed folded: SQLite and PostgreSQL (icx's columns, the lock's asset)
  -- would make Foo and foo one table, and lose one's rows.
  local function claim(name, path, what)
    local k = (what or "table") .. ":" .. name:lower()
    if tables[k] then
      errors.raise("script", ("%s: %s '%s' is also %s by %s%s"):format(path, what or "table", name,
        what and "named" or "written", tables[k].path, tables[k].name ~= name
          and (" as '" .. tables[k].name .. "' (names that differ only by case are one)") or ""))
    end
    tables[k] = { path = path, name = name }
  end
  for _, arg in ipairs(paths) do
    -- A built-in asset's name or a script's path (icx.assets).
    local spec, path = require("icx.assets").load(arg)
    if not require("icx").is_asset(spec) then
      errors.raise("script", path .. ": the script must return icx.asset{...}")
    end
    claim(spec.table, path)
    claim(spec.name, path, "asset")
    for _, c in ipairs(spec.children or {}) do claim(c.table, path) end
    spec.path = path
    specs[#specs + 1] = spec
  end
  return specs
end

-- The context an asset's callbacks see (ctx): names, the cursor, the
-- lower bound, a capped map and a client that can only send requests.
local function context(spec, env, stored, stats)
  -- A backfill window (icx.backfill): since .. before, whatever the cursor.
  local since, before, refill = backfill.bounds(spec, stored, env)
  return { connection = env.connection.name, client = env.client:for_scripts(), stats = stats,
    asset = spec.name, cursor = stored, full_refresh = env.full_refresh,
    since = since, before = before, backfill = refill,
    jobs = env.jobs, map = function(items, fn) return sched.map(items, fn, env.fanout or 8) end,
    -- The updated_at each parent id had when this asset last landed its
    -- sub-resources (_icx_seen), so expansions skip parents re-read
    -- unchanged; a backfill re-reads its window's whole, repairing rows.
    seen = function(ids)
      if refill then return {} end
      return env.dest:seen_get(env.connection.name, spec.name, ids)
    end }
end

-- request economy: a sliced walk's progress lives in its own _icx_state
-- row (asset name + SLICES), so the asset's row keeps its integer cursor.
local SLICES = "/slices"

-- The source an asset walks: data, or what its pages function returns.
local function source_of(spec, ctx)
  if type(spec.pages) == "function" then return source.from(sandbox.call(spec.pages, ctx)) end
  return spec.pages
end

-- The tables one asset writes: its own, its children's, and side tables an
-- expansion names (conversation_part_counts), opened on first use.
local Tables = {}
Tables.__index = Tables

local function tables_of(d, spec, conn)
  local ts = setmetatable({ d = d, spec = spec, conn = conn, side = {}, children = {} }, Tables)
  ts.main = d:table { name = spec.table, primary_key = spec.primary_key, mode = spec.mode,
    compare = spec.incremental and spec.incremental.key }
  for i, c in ipairs(spec.children or {}) do
    ts.children[i] = d:table { name = c.table, primary_key = c.primary_key,
      mode = spec.mode == "replace" and "replace" or "merge" }
  end
  return ts
end

-- Writes one shaped page with its child rows and side pages (inside the
-- page's transaction); returns the rows written to the asset's table.
-- extra (from an expansion): replace = {key =, ids =} deletes the asset's
-- rows of those parents first; seen = {[id] = updated_at} goes to _icx_seen.
function Tables:write(page, kids, side, extra)
  if extra and extra.replace then self.main:delete_where(extra.replace.key, extra.replace.ids) end
  if extra and extra.seen and next(extra.seen) then self.d:seen_set(self.conn, self.spec.name, extra.seen) end
  local n = page and self.main:write(page) or 0
  for ci, kid in ipairs(kids or {}) do
    if self.spec.mode ~= "replace" then
      self.children[ci]:delete_where(self.spec.children[ci].parent_key, kid.parents)
    end
    self.children[ci]:write(kid.page)
  end
  for _, s in ipairs(side or {}) do
    self.side[s.table] = self.side[s.table] or self.d:table { name = s.table, primary_key = s.primary_key }
    self.side[s.table]:write(s.page)
  end
  return n
end

-- Removes records (and their child rows, and the side rows of src's
-- expansion: conversation_part_counts) Intercom no longer has.
function Tables:remove(ids, src)
  self.main:delete_where(reconcile.key(self.spec), ids)
  for ci, c in ipairs(self.children) do c:delete_where(self.spec.children[ci].parent_key, ids) end
  local e = src and src.expansion
  for _, name in ipairs(e and e.column and e:describe().tables or {}) do
    self.side[name] = self.side[name] or self.d:table { name = name, primary_key = { e.column } }
    self.side[name]:delete_where(e.column, ids)
  end
end

-- replace: swap the new tables in (finish) or drop them (abandon).
function Tables:close(ok)
  if self.spec.mode ~= "replace" then return end
  for _, t in ipairs({ self.main, table.unpack(self.children) }) do
    if ok then t:finish() else pcall(t.abandon, t) end
  end
end

-- A page event per committed page (JSON logs, the live display); the
-- text line at most every 5 s. The total is the whole walk's, every slice
-- counted; an expansion's progress is its parents (icx.totals).
local function progress(spec, res, est)
  local last = sys.now()
  return function()
    local now = sys.now()
    local fig, said = est:progress(res.rows)
    local text
    if now - last >= 5 then
      last = now
      text = ("%s%s: %d rows%s"):format(res.prefix, spec.name, res.rows, said)
    end
    log.event("page", { connection = res.connection, asset = spec.name, rows = res.rows, pages = res.pages,
      requests = res.stats.requests, total = fig.total, parents = fig.parents, parents_total = fig.parents_total,
      parent = fig.parent }, "info", text)
  end
end

-- The walk completed: the cursor moves to the best key seen (or to the
-- watermark of slices an earlier, interrupted run finished), and the
-- slices' progress row goes.
local function finish_cursor(d, conn, spec, cur, wm, resumed)
  local key = spec.incremental and spec.incremental.key
  if not key then return end
  if wm then cur:saw(wm:value()) end
  local to = cur:final()
  if to or wm or resumed then
    d:transaction(function()
      if to then d:cursor_set(conn, spec.name, key, to) end
      if wm or resumed then d:cursor_delete(conn, spec.name .. SLICES) end
    end)
  end
end

-- Everything an asset does between its run row's start and finish.
local function land(spec, env, res)
  local d, conn = env.dest, env.connection
  local ts = tables_of(d, spec, conn.name)
  res.tables = ts
  local stored = spec.incremental and not env.full_refresh and d:cursor_get(conn.name, spec.name) or nil
  local ctx = context(spec, env, stored, res.stats)
  -- An interrupted sliced walk resumes every slice where it stopped; a
  -- backfill walks its own window and leaves that walk's resume point.
  local resumed = spec.incremental and not env.full_refresh and not ctx.backfill
    and d:cursor_get(conn.name, spec.name .. SLICES)
  ctx.resume_slices = resumed and require("cjson.safe").decode(resumed) or nil
  local wm
  local src = source_of(spec, ctx)
  local cur, key = cursor.new(stored, backfill.ceiling(ctx)), spec.incremental and spec.incremental.key
  local listed = env.reconcile and spec.reconcile and reconcile.listing(spec, src)
  local est = totals.new()
  local tick = progress(spec, res, est)
  -- The completeness check counts what this walk landed (icx.completeness).
  local tally = completeness.applies(spec, src) and completeness.tally(spec)
  local list = not tally and completeness.listing(spec, src, ctx)
  local stopped = walk.run(env.client, src, ctx, function(page, info, from)
    if listed then reconcile.collect(listed, page, spec.primary_key[1]) end
    if tally or list then (tally or list):page(page, info) end
    local shaped, max_key, oldest, side, extra = shape.page(page, from, spec, ctx)
    local kids = shape.children(shaped, spec, ctx)
    cur:saw(max_key)
    wm = from.watermark or wm
    local n
    local undo = from.watermark and from.watermark:undo_of(from.slice)
    local ok, to = pcall(d.transaction, d, function()
      n = ts:write(shaped, kids, side, extra)
      totals.changes(ts.main, res)
      res.rows = res.rows + n
      -- A slice's page counts in the watermark as its transaction is built
      -- (taken back by undo when the commit fails); then the source says
      -- where the cursor may move.
      if key and from.watermark then from.watermark:page(from.slice, max_key) end
      local to = key and cur:advance(from:landed(max_key, cur.best))
      if to then d:cursor_set(conn.name, spec.name, key, to) end
      if key and from.watermark and not ctx.backfill then
        d:cursor_set(conn.name, spec.name .. SLICES, "slices", require("cjson").encode(from.watermark:state()))
      end
      return to
    end)
    if not ok then
      if undo then undo() end
      error(to, 0)
    end
    cur:stored(to)
    res.pages = res.pages + 1
    est:page(from, info.total_count, page:count(), n)
    tick()
    if from:past(oldest, ctx) then return "stop" end
  end)
  if list then
    res.completeness = completeness.after_list(spec, setmetatable({ run_id = res.run_id }, { __index = env }), ctx,
      src, ts.main, list, stopped)
  end
  ts:close(true)
  if env.reconcile and spec.reconcile then res.reconciled = reconcile.land(env, spec, ctx, ts, src, listed, res) end
  finish_cursor(d, conn.name, spec, cur, not ctx.backfill and wm or nil, resumed)
  if tally then
    res.completeness = completeness.after_load(spec, setmetatable({ run_id = res.run_id }, { __index = env }), ctx,
      src, ts.main, tally)
  end
end

-- An error object for anything raised while an asset runs.
local function as_error(e)
  if errors.is(e) then return e end
  return errors.new("run", tostring(e), { traceback = sys.traceback(nil, 2) })
end

-- The tables an asset wrote: its own, its children's, the side tables its
-- expansion opened.
local function tables_written(spec, ts)
  local names = { spec.table }
  for _, c in ipairs(spec.children or {}) do names[#names + 1] = c.table end
  local side = {}
  for name in pairs(ts and ts.side or {}) do side[#side + 1] = name end
  table.sort(side)
  table.move(side, 1, #side, #names + 1, names)
  return names
end

-- The columns this run added to tables that existed before it (a new
-- table's are not news): in res.columns_added, and an event and a line
-- per table, so a new field in Intercom's records never lands unsaid.
local function columns_added(d, res, before, names)
  local ok, after = pcall(lineage.columns, d)
  if not ok then return end
  res.columns_added = lineage.added(before, after, names)
  for _, name in ipairs(names) do
    local cols = res.columns_added[name]
    if cols then
      log.event("columns_added", { connection = res.connection, asset = res.asset, table = name,
        columns = setmetatable(table.move(cols, 1, #cols, 1, {}), json.array_mt) }, "info",
        ("%s%s: %d new column%s in %s: %s"):format(res.prefix, res.asset, #cols, #cols == 1 and "" or "s", name,
          table.concat(cols, ", ")))
    end
  end
end

-- Runs one asset to completion; returns a result record for the summary.
-- Every failure (the run row, the tables, the walk, the swap, the run
-- row's close) fails this asset with its message: none is silent.
function M.run_asset(spec, env)
  local d = env.dest
  -- Several workspaces in one process (icx run --connection A --connection
  -- B): events and text lines name the workspace too.
  local res = { asset = spec.name, rows = 0, pages = 0, started = sys.now(), connection = env.connection.name,
    prefix = env.many and (env.connection.name .. "/") or "",
    stats = { requests = 0, retries = 0, rate_limited = 0, asset = spec.name } }
  log.event("asset_start", { connection = res.connection, asset = spec.name, table = spec.table, mode = spec.mode })
  local run_id, before
  local ok, err = xpcall(function()
    run_id = d:run_start { connection = env.connection.name, asset = spec.name, run_id = lineage.run_id(),
      version = lineage.version() }
    res.run_id = run_id
    before = lineage.columns(d)
    land(spec, env, res)
  end, as_error)
  local names = tables_written(spec, res.tables)
  if not ok and res.tables then res.tables:close(false) end
  res.tables = nil
  -- Pages that committed before a failure keep the columns they added.
  if before then columns_added(d, res, before, names) end
  res.ok, res.error = ok, not ok and err or nil
  res.interrupted = not ok and err.kind == "interrupted"
  res.seconds = sys.now() - res.started
  if run_id then
    local fok, ferr = xpcall(d.run_finish, as_error, d, run_id, {
      status = ok and "ok" or res.interrupted and "interrupted" or "failed", rows = res.rows,
      requests = res.stats.requests, retries = res.stats.retries, rate_limited = res.stats.rate_limited,
      error = not ok and tostring(err) or nil, columns_added = res.columns_added })
    if not fok and ok then res.ok, res.error = false, ferr end
  end
  if spec.incremental then
    local cok, stored = pcall(d.cursor_get, d, env.connection.name, spec.name)
    res.cursor = cok and stored or nil
  end
  res.status = res.ok and "ok" or res.interrupted and "interrupted" or "failed"
  log.event("asset_end", M.summary_of(res), res.ok and "info" or "error")
  return res
end

-- What the summary and the asset_end event say about one asset.
function M.summary_of(r)
  return { connection = r.connection, asset = r.asset, status = r.status, rows = r.rows, pages = r.pages,
    requests = r.stats.requests,
    retries = r.stats.retries, rate_limited = r.stats.rate_limited, seconds = r.seconds,
    cursor = r.cursor == nil and json.null or r.cursor, new = r.new, changed = r.changed, unchanged = r.unchanged,
    error = r.error and { kind = r.error.kind, code = r.error.code, message = log.redact(tostring(r.error)) }
      or json.null, columns_added = r.columns_added or {},
    reconciled = r.reconciled, completeness = r.completeness and { complete = r.completeness.missing == 0,
      windows = r.completeness.windows, expected = r.completeness.expected, landed = r.completeness.landed,
      healed = r.completeness.healed, missing = r.completeness.missing, requests = r.completeness.requests } }
end

-- Says how each asset ended; returns the number that failed, the names
-- of those not started and of those skipped.
local function report(specs, results, verbose)
  local failed, not_started, skipped = 0, {}, {}
  for i = 1, #specs do
    local r = results[i]
    if not r then
      not_started[#not_started + 1] = specs[i].name
    elseif r.skipped then
      skipped[#skipped + 1] = r.asset
      log.error("%s%s; run it again when that one ends%s", r.prefix, r.message,
        r.waited and "" or ", or pass --wait")
    elseif r.ok then
      log.info("%s%s: %d rows%s, %d pages, %d requests (%d retries, %d rate-limited) in %.1f s%s", r.prefix, r.asset,
        r.rows, r.new and (" (%d new, %d changed, %d re-read unchanged)"):format(r.new, r.changed, r.unchanged) or "",
        r.pages, r.stats.requests, r.stats.retries, r.stats.rate_limited, r.seconds, r.reconciled
          and (("; reconciled: %d gone from Intercom, %d skipped by the walks and landed%s")
            :format(r.reconciled.gone, r.reconciled.back,
              r.reconciled.feed == "unavailable" and " (the delete feed is not served: see the warning)" or ""))
          or "")
    elseif r.interrupted then
      log.error("%s%s: interrupted after %d rows in %d committed pages", r.prefix, r.asset, r.rows, r.pages)
    else
      failed = failed + 1
      log.error("%s%s: failed: %s", r.prefix, specs[i].path, tostring(r.error))
      if verbose and r.error.traceback then log.error("%s", r.error.traceback) end
    end
  end
  return failed, not_started, skipped
end

-- One run per asset per destination: takes each asset's lock before any
-- request. A locked asset is skipped (said at once, exit 4 at the end)
-- while the others run; env.wait (true: as long as it takes, or seconds)
-- waits for it instead, and a limited wait that runs out skips it. With
-- strict (icx verify), one locked asset releases every lock taken and
-- raises. A "running" row of an asset whose lock was free is from a run
-- that died: it is closed as interrupted.
function M.lock_each(env, specs, strict)
  local d, conn, locks, skipped = env.dest, env.connection.name, {}, {}
  local prefix = env.many and (conn .. "/") or ""
  local limit = type(env.wait) == "number" and env.wait or nil
  local started = sys.now()
  -- One order for every run (by name): two --wait runs of the same assets
  -- given in different orders would otherwise each hold what the other
  -- waits for, forever (or, with a limit, until both give up).
  local ordered = table.move(specs, 1, #specs, 1, {})
  table.sort(ordered, function(a, b) return a.name < b.name end)
  for _, spec in ipairs(ordered) do
    local lk, holder = d:lock(conn, spec.name)
    local said = false
    while not lk and env.wait and not sys.caught_signal() do
      local left = limit and limit - (sys.now() - started)
      if left and left <= 0 then break end
      if not said then
        said = true
        log.info("%s%s: waiting for the run that holds it (%s)%s", prefix, spec.name, holder,
          limit and (", at most %d s more"):format(math.ceil(left)) or "")
      end
      sched.sleep(math.min(0.5, left or 0.5))
      lk, holder = d:lock(conn, spec.name)
    end
    if lk then
      locks[#locks + 1] = lk
      d:close_stale(conn, spec.name)
    else
      local msg = ("%s: another run holds it on this destination (%s)%s"):format(spec.name, holder,
        said and (", still after waiting %d s (--wait=%s)"):format(math.floor(sys.now() - started), env.wait_text)
          or "")
      if strict then
        for _, held in ipairs(locks) do held:release() end
        errors.raise("locked", msg .. "; it was not started. Run again when that one ends, or pass --wait",
          { code = "locked", asset = spec.name })
      end
      skipped[spec.name] = { holder = holder, message = msg, waited = said }
      log.event("asset_skipped", { connection = conn, asset = spec.name, holder = holder, message = msg },
        "warn", ("%s%s; skipped, the other assets run"):format(prefix, msg))
    end
  end
  return locks, skipped
end

function M.lock_all(env, specs) return (M.lock_each(env, specs, true)) end

-- `icx run`: exit 0 when every asset landed, 1 when any failed, 128+N on
-- a signal; and the run's summary (see README, "For ops").
function M.run(env, specs)
  local finish = M.start(env, specs)
  for _, r in ipairs(sched.run()) do
    if not r.ok then error(r.error, 0) end
  end
  return finish()
end

-- The run's first half: locks, run_start and the workers, spawned but not
-- driven; returns finish() -> exit code, summary, to call once sched.run
-- has run them. Several workspaces in one process start each, then drive
-- them all in one sched.run.
function M.start(env, specs)
  local started = sys.now()
  -- Each page leaves its body and its rows as young garbage; generational
  -- collection frees them young instead of letting the heap double over
  -- what a long walk keeps (at 100,000 contacts, with the completeness
  -- tally still a Lua table, the heap peaked at 19.5 MB incremental, 12.8
  -- MB generational; the tally is C memory now, icx.tally).
  collectgarbage("generational")
  -- SIGINT/SIGTERM from here on stop the run between pages: what committed
  -- stays, each asset's run row says "interrupted", the exit code is 128+N.
  sys.trap_signals()
  local locks, skipped = env.locks, env.skipped
  if not locks then locks, skipped = M.lock_each(env, specs) end
  local results, todo, names = {}, {}, {}
  for i, spec in ipairs(specs) do
    local s = skipped and skipped[spec.name]
    if s then
      results[i] = { asset = spec.name, connection = env.connection.name, skipped = true, ok = false,
        status = "skipped", message = s.message, holder = s.holder, waited = s.waited, rows = 0, pages = 0, seconds = 0,
        started = started, prefix = env.many and (env.connection.name .. "/") or "",
        error = errors.new("locked", s.message, { code = "locked" }),
        stats = { requests = 0, retries = 0, rate_limited = 0 } }
    else
      todo[#todo + 1] = i
      names[#names + 1] = spec.name
    end
  end
  local jobs = math.min(env.jobs or math.min(#todo, 8), #todo)
  log.event("run_start", { connection = env.connection.name, assets = setmetatable(names, json.array_mt),
    jobs = jobs, dest = env.dest_shown })
  local next_i = 0
  -- A fixed pool of workers pulling assets keeps at most `jobs` running.
  for _ = 1, jobs do
    sched.spawn(function()
      while next_i < #todo and not sys.caught_signal() do
        next_i = next_i + 1
        local i = todo[next_i]
        results[i] = M.run_asset(specs[i], env)
      end
    end)
  end
  return function() return M.finish(env, specs, locks, results, started) end
end

-- The run's second half: releases the locks, reports each asset and
-- returns the exit code and the summary.
function M.finish(env, specs, locks, results, started)
  for _, lk in ipairs(locks) do lk:release() end
  local failed, not_started, skipped = report(specs, results, env.verbose)
  local name, num = sys.caught_signal()
  -- A failed asset's own code (a script's error is 2, icx.exitcodes).
  local code = 0
  for _, r in pairs(results) do
    if not r.ok and not r.interrupted then code = exitcodes.worst(code, errors.exit_code(r.error)) end
  end
  -- Records Intercom counts that no walk found: a distinct exit code.
  for _, r in pairs(results) do
    if code == 0 and r.ok and r.completeness and r.completeness.missing > 0 then code = completeness.EXIT end
  end
  -- A skipped asset (locked by another run) is the mildest failure.
  if code == 0 and #skipped > 0 then code = errors.exit_code(errors.new("locked", "")) end
  if name then
    if #not_started > 0 then log.error("not started: %s", table.concat(not_started, ", ")) end
    log.error("interrupted by %s: every committed page is kept; run again to resume", name)
    code = 128 + num
  end
  -- Until its last asset ended: with several workspaces, finish runs once
  -- all of them have.
  local ended = sys.now()
  if env.many then
    ended = started
    for _, r in pairs(results) do ended = math.max(ended, r.started + r.seconds) end
  end
  local summary = { exit_code = code, seconds = ended - started, requests = 0, assets = {},
    run_id = lineage.run_id(), icx_version = lineage.version() }
  for i, spec in ipairs(specs) do
    local r = results[i]
    local item = r and M.summary_of(r) or { connection = env.connection.name, asset = spec.name,
      status = "not_started", rows = 0, pages = 0,
      requests = 0, retries = 0, rate_limited = 0, seconds = 0, cursor = json.null, error = json.null,
      columns_added = {} }
    summary.requests = summary.requests + item.requests
    summary.assets[i] = item
  end
  summary.assets = setmetatable(summary.assets, json.array_mt)
  summary.connection = env.connection.name
  -- Each asset's last success, this run's or an earlier one's: what a
  -- freshness alert on the summary or the metrics file compares with now.
  local sok, rows = pcall(env.dest.status, env.dest)
  local last = {}
  for _, r in ipairs(sok and rows or {}) do
    if r.connection == env.connection.name then last[r.asset] = r.last_success_at end
  end
  for _, item in ipairs(summary.assets) do item.last_success_at = last[item.asset] or json.null end
  summary.status = name and "interrupted" or failed == 0 and (code == completeness.EXIT and "incomplete"
    or #skipped == 0 and "ok" or #skipped == #specs and "skipped" or "partial")
    or failed == #specs and "failed" or "partial"
  summary.failed = setmetatable({}, json.array_mt)
  summary.skipped = setmetatable(skipped, json.array_mt)
  for _, item in ipairs(summary.assets) do
    if item.status == "failed" then summary.failed[#summary.failed + 1] = item.asset end
  end
  log.event("run_end", { connection = env.connection.name, status = summary.status, exit_code = code,
    requests = summary.requests,
    seconds = summary.seconds, failed = summary.failed, skipped = summary.skipped }, code == 0 and "info" or "error")
  return code, summary
end

-- `icx plan`: the first request of each script, from the stored cursor
-- when env.dest is given (what the next run will ask for), else as a first
-- run, within env.since .. env.before (a backfill window), and what the
-- walk costs (icx.backfill.requests). No request is sent. The body is
-- printed by icx.json, the encoder the client sends with: its keys are
-- sorted, so two plans of one script print the same text (cjson's order
-- follows the hash seed, which changes per run).
function M.plan(env, specs)
  local conn = env.connection
  for _, spec in ipairs(specs) do
    local stored = env.dest and spec.incremental and not env.full_refresh
      and env.dest:cursor_get(conn.name, spec.name) or nil
    local since, before, refill = backfill.bounds(spec, stored, env)
    local ctx = { connection = conn.name, asset = spec.name, cursor = stored, since = since, before = before,
      backfill = refill, full_refresh = env.full_refresh, plan = true }
    local src = source_of(spec, ctx)
    local req = src:first(ctx)
    local q = {}
    for k, v in pairs(req.query or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
    table.sort(q)
    log.out("%s -> table %s (%s%s)", spec.path, spec.table, spec.mode,
      spec.incremental and (", incremental on " .. spec.incremental.key) or "")
    if spec.incremental then
      log.out("  cursor: %s", stored ~= nil and (("%s (%s UTC), reading from %s"):format(tostring(stored),
        os.date("!%Y-%m-%d %H:%M:%S", math.tointeger(tonumber(stored)) or 0), tostring(ctx.since)))
        or "none (a first run reads everything)")
      local line = backfill.describe(spec, stored, env)
      if line then log.out("  window: %s", line:gsub("^[^:]*: ", "")) end
    end
    local path = req.path:match("^https?://") and req.path or conn.base_url .. req.path
    log.out("  %s %s%s%s", req.method or "GET", path, #q > 0 and "?" or "", table.concat(q, "&"))
    if req.body then log.out("  %s", type(req.body) == "string" and req.body or json.encode(req.body)) end
    log.out("  requests: %s", backfill.requests(src, ctx))
  end
  return 0
end

return M
