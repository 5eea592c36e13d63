-- Runs assets: pages from icx.paginate into a destination, one transaction
-- per page holding the page's rows, its child rows and the cursor it earns.
-- Assets run as coroutines under icx.sched (at most -j at once), share one
-- client (one connection pool, one rate budget) and commit independently.
local errors = require "icx.errors"
local log = require "icx.log"
local json = require "icx.json"
local sandbox = require "icx.sandbox"
local slices = require "icx.slices"
local sources = require "icx.sources"
local reconcile = require "icx.reconcile"

local M = {}

-- Loads and validates every script before any request (exit 2 on error).
function M.load_scripts(paths)
  local specs, tables = {}, {}
  for _, path in ipairs(paths) do
    local spec = sandbox.run_file(path)
    if not require("icx").is_asset(spec) then
      errors.raise("script", path .. ": the script must return icx.asset{...}")
    end
    if tables[spec.table] then
      errors.raise("script", ("%s: table '%s' is also written by %s"):format(path, spec.table, tables[spec.table]))
    end
    tables[spec.table] = path
    spec.path = path
    specs[#specs + 1] = spec
  end
  return specs
end

-- The source an asset walks: data, or what its pages function returns.
local function source_of(spec, ctx)
  if type(spec.pages) == "function" then return sandbox.call(spec.pages, ctx) end
  return spec.pages
end

-- Lower bound for this run: the stored cursor minus the lookback.
local function since_of(spec, cursor)
  if not spec.incremental or cursor == nil then return nil end
  local n = math.tointeger(tonumber(cursor))
  if not n then return nil end
  return n - (spec.incremental.lookback or 0)
end

-- Applies since_filter and transform to a page; returns the page to write
-- (possibly a new one built from kept records) and the page's highest key.
local function shape_page(page, source, spec, ctx)
  local key = spec.incremental and spec.incremental.key or source.key
  local n = page:count()
  local max_key, oldest
  local keep_all = not (source.since_filter and ctx.since) and not spec.transform and not spec.filter
  local kept = keep_all and nil or {}
  for i = 1, n do
    local v = key and page:get(i, key)
    if math.type(v) == "integer" then
      if not max_key or v > max_key then max_key = v end
      if not oldest or v < oldest then oldest = v end
    end
    if kept then
      local keep = true
      if source.since_filter and ctx.since and math.type(v) == "integer" and v < ctx.since then keep = false end
      if keep and (spec.transform or spec.filter) then
        local rec = page:record(i)
        if spec.filter and not sandbox.call(spec.filter, rec, ctx) then keep = false end
        if keep and spec.transform then
          rec = sandbox.call(spec.transform, rec, ctx)
          if rec == nil then keep = false end
        end
        if keep then kept[#kept + 1] = json.encode(rec) end
      elseif keep then
        kept[#kept + 1] = page:raw(i)
      end
    end
  end
  if kept and #kept ~= n or spec.transform then
    page = json.page("[" .. table.concat(kept, ",") .. "]", false)
  end
  return page, max_key, oldest
end

-- Child rows of a page (contact_tags ...): decoded records go to each
-- child's rows(record, ctx); requests made there yield like any other.
local function child_pages(page, spec, ctx)
  local children = spec.children or {}
  if #children == 0 then return {} end
  -- Decoded once for every child; each record's children are computed in
  -- one task, so every sub-resource fetch of the page runs side by side.
  local records = {}
  for i = 1, page:count() do records[i] = page:record(i) end
  local per_record = ctx.map(records, function(rec)
    local lists = {}
    for ci, child in ipairs(children) do lists[ci] = sandbox.call(child.rows, rec, ctx) or {} end
    return lists
  end)
  local out = {}
  for ci, child in ipairs(children) do
    local rows, parents = setmetatable({}, json.array_mt), {}
    for i, rec in ipairs(records) do
      parents[i] = rec[child.parent_field or "id"]
      for _, row in ipairs(per_record[i][ci]) do rows[#rows + 1] = row end
    end
    out[ci] = { page = json.page(json.encode(rows), false), parents = parents }
  end
  return out
end

-- Walks a source (or a list of them, style "each") calling on_page(page,
-- info, src). A long search range is walked as time slices at once; then
-- progress.watermark tells what has landed (see icx.slices).
local function walk(client, source, ctx, on_page, progress)
  if source.style == "each" then
    for _, s in ipairs(source.sources) do
      if walk(client, s, ctx, on_page, progress) == "stop" then return "stop" end
    end
    return
  end
  local paginate = require "icx.paginate"
  local plan = source.style == "search" and slices.plan(client, source, ctx) or nil
  if plan then
    local wm = slices.watermark(#plan)
    progress.watermark = wm
    log.verbose("%s: walking %d time slices at once", ctx.asset, #plan)
    ctx.map(plan, function(sub)
      for page, info in paginate.pages(client, sub, ctx) do on_page(page, info, sub) end
      wm:finish(sub.slice)
    end, #plan)
    return
  end
  for page, info in paginate.pages(client, source, ctx) do
    if on_page(page, info, source) == "stop" then return "stop" end
  end
end

-- Runs one asset to completion; returns a result record for the summary.
function M.run_asset(spec, env)
  local d, conn, client = env.dest, env.connection, env.client
  local stats = { requests = 0, retries = 0, rate_limited = 0 }
  local res = { asset = spec.name, rows = 0, pages = 0, stats = stats, started = require("icx.sys").now() }
  local run_id = d:run_start { connection = conn.name, asset = spec.name }
  local t = d:table { name = spec.table, primary_key = spec.primary_key, mode = spec.mode }
  local children = {}
  for i, c in ipairs(spec.children or {}) do
    children[i] = d:table { name = c.table, primary_key = c.primary_key, mode = spec.mode == "replace" and "replace" or "merge" }
  end
  local in_txn = false
  local ok, err = xpcall(function()
    local cursor = nil
    if spec.incremental and not env.full_refresh then cursor = d:cursor_get(conn.name, spec.name) end
    local ctx = { connection = conn.name, client = client, stats = stats, asset = spec.name,
      cursor = cursor, since = since_of(spec, cursor), full_refresh = env.full_refresh, jobs = env.jobs,
      map = function(items, fn) return require("icx.sched").map(items, fn, env.fanout or 8) end }
    local source = source_of(spec, ctx)
    -- committed: the cursor as stored; best: the highest key seen, stored
    -- when the walk completes; per page, only what has surely landed moves
    -- the cursor (the page's key on one ascending walk, the watermark of
    -- sliced ones).
    local committed = math.tointeger(tonumber(cursor))
    local best = committed
    local progress = {}
    local key = spec.incremental and spec.incremental.key
    local last_progress = require("icx.sys").now()
    local side_tables = {}
    -- --reconcile without its own listing: this walk reads every record, so
    -- its ids (taken before any filtering) are the listing.
    local listed
    if env.reconcile and spec.reconcile and not spec.reconcile.list then
      if not reconcile.walk_lists_all(source) then
        errors.raise("script", ("%s: reconcile has no 'list' and the asset's pages do not read every record; "
          .. "give reconcile.list a source that does"):format(spec.path or spec.name))
      end
      listed = {}
    end
    local function write_children(kids)
      for ci, kid in ipairs(kids) do
        if spec.mode ~= "replace" then children[ci]:delete_where(spec.children[ci].parent_key, kid.parents) end
        children[ci]:write(kid.page)
      end
    end
    walk(client, source, ctx, function(page, info, src)
      if listed then reconcile.collect(listed, page, spec.primary_key[1]) end
      local side, shaped, max_key, oldest
      if src.expand then
        -- The cursor follows the walked records (conversations), not the
        -- expanded ones (their parts).
        _, max_key, oldest = shape_page(page, src, { incremental = spec.incremental }, ctx)
        page, side = src.expand(page, ctx)
        shaped = shape_page(page, {}, spec, ctx)
      else
        shaped, max_key, oldest = shape_page(page, src, spec, ctx)
      end
      local kids = child_pages(shaped, spec, ctx)
      if max_key and (not best or max_key > best) then best = max_key end
      for _, s in ipairs(side or {}) do
        side_tables[s.table] = side_tables[s.table] or d:table { name = s.table, primary_key = s.primary_key, mode = "merge" }
      end
      d:begin()
      in_txn = true
      res.rows = res.rows + t:write(shaped)
      write_children(kids)
      for _, s in ipairs(side or {}) do side_tables[s.table]:write(s.page) end
      local landed
      if src.slice then
        progress.watermark:page(src.slice, max_key)
        landed = progress.watermark:value()
      elseif src.cursor == "page" then
        landed = best
      end
      if key and landed and (not committed or landed > committed) then
        d:cursor_set(conn.name, spec.name, key, landed)
      else
        landed = nil
      end
      d:commit()
      in_txn = false
      committed = landed or committed
      res.pages = res.pages + 1
      local now = require("icx.sys").now()
      if now - last_progress >= 5 then
        last_progress = now
        log.info("%s: %d rows%s", spec.name, res.rows,
          info and info.total_count and (" of about " .. info.total_count) or "")
      end
      if src.stop_past_since and ctx.since and oldest and oldest < ctx.since then return "stop" end
    end, progress)
    if spec.mode == "replace" then
      t:finish()
      for _, c in ipairs(children) do c:finish() end
    end
    if env.reconcile and spec.reconcile then
      local seen = listed or reconcile.list_ids(walk, client, spec.reconcile.list, ctx, spec.primary_key[1])
      local gone, back = reconcile.check(client, spec, ctx, t, seen)
      if #gone > 0 or back then
        local shaped = back and shape_page(back, {}, spec, ctx)
        local kids = shaped and child_pages(shaped, spec, ctx) or {}
        d:begin()
        in_txn = true
        if shaped then res.rows = res.rows + t:write(shaped) end
        write_children(kids)
        t:delete_where(spec.primary_key[1], gone)
        for ci, c in ipairs(children) do c:delete_where(spec.children[ci].parent_key, gone) end
        d:deleted_add(conn.name, spec.name, gone)
        d:commit()
        in_txn = false
      end
      res.reconciled = { gone = #gone, back = back and back:count() or 0 }
    end
    if key and best and (not committed or best > committed) then
      d:begin()
      in_txn = true
      d:cursor_set(conn.name, spec.name, key, best)
      d:commit()
      in_txn = false
    end
  end, function(e)
    if errors.is(e) then return e end
    return errors.new("run", tostring(e), { traceback = require("icx.sys").traceback(nil, 2) })
  end)
  if in_txn then d:rollback() end
  if not ok and spec.mode == "replace" then
    pcall(t.abandon, t)
    for _, c in ipairs(children) do pcall(c.abandon, c) end
  end
  res.ok, res.error = ok, not ok and err or nil
  res.interrupted = not ok and err.kind == "interrupted"
  res.seconds = require("icx.sys").now() - res.started
  d:run_finish(run_id, { status = ok and "ok" or res.interrupted and "interrupted" or "failed",
    rows = res.rows, requests = stats.requests,
    retries = stats.retries, rate_limited = stats.rate_limited, error = not ok and tostring(err) or nil })
  return res
end

-- `icx run`: exit 0 when every asset landed, 1 when any failed.
function M.run(opts, paths)
  local specs = M.load_scripts(paths)
  local conn = require("icx.cli").connection(opts)
  local dest_kind = require("icx.dest").parse(opts.dest or "icx.db")
  if opts.reconcile and dest_kind ~= "sqlite" and dest_kind ~= "postgresql" then
    errors.raise("usage", "--reconcile needs a SQLite destination (or PostgreSQL): it reads the ids that landed, and "
      .. "JSONL files are append-only (see icx help run)")
  end
  local d = require("icx.dest").open(opts.dest or "icx.db", { state = opts.state })
  local sched = require "icx.sched"
  local client = require("icx.intercom").client(conn, { verbose = opts.verbose,
    attempts = conn.max_attempts, retry_base = conn.retry_base, retry_cap = conn.retry_cap })
  local env = { dest = d, connection = conn, client = client, full_refresh = opts.full_refresh,
    jobs = opts.jobs, reconcile = opts.reconcile }
  local jobs = math.min(opts.jobs or math.min(#specs, 8), #specs)
  local results = {}
  local next_i = 0
  local sys = require "icx.sys"
  -- SIGINT/SIGTERM from here on stop the run between pages: what committed
  -- stays, each asset's run row says "interrupted", the exit code is 128+N.
  sys.trap_signals()
  -- A fixed pool of workers pulling assets keeps at most `jobs` running.
  for _ = 1, jobs do
    sched.spawn(function()
      while next_i < #specs and not sys.caught_signal() do
        next_i = next_i + 1
        local i = next_i
        results[i] = M.run_asset(specs[i], env)
      end
    end)
  end
  sched.run()
  d:close()
  local failed, not_started = 0, {}
  for i = 1, #specs do
    local r = results[i]
    if not r then
      not_started[#not_started + 1] = specs[i].name
    elseif r.ok then
      log.info("%s: %d rows, %d pages, %d requests (%d retries, %d rate-limited) in %.1f s%s", r.asset, r.rows,
        r.pages, r.stats.requests, r.stats.retries, r.stats.rate_limited, r.seconds, r.reconciled
          and (("; reconciled: %d gone from Intercom, %d skipped by the walks and landed")
            :format(r.reconciled.gone, r.reconciled.back)) or "")
    elseif r.interrupted then
      log.error("%s: interrupted after %d rows in %d committed pages", r.asset, r.rows, r.pages)
    else
      failed = failed + 1
      log.error("%s: failed: %s", specs[i].path, tostring(r.error))
      if opts.verbose and r.error.traceback then log.error("%s", r.error.traceback) end
    end
  end
  local name, num = sys.caught_signal()
  if name then
    if #not_started > 0 then log.error("not started: %s", table.concat(not_started, ", ")) end
    log.error("interrupted by %s: every committed page is kept; run again to resume", name)
    return 128 + num
  end
  return failed == 0 and 0 or 1
end

-- `icx plan`: validates and prints the first request of each script.
function M.plan(opts, paths)
  local specs = M.load_scripts(paths)
  local conn = require("icx.cli").connection(opts)
  local cjson = require "cjson"
  for _, spec in ipairs(specs) do
    local ctx = { connection = conn.name, since = nil, plan = true }
    local req = sources.first_request(source_of(spec, ctx), ctx)
    local q = {}
    for k, v in pairs(req.query or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
    table.sort(q)
    log.out("%s -> table %s (%s%s)", spec.path, spec.table, spec.mode,
      spec.incremental and (", incremental on " .. spec.incremental.key) or "")
    log.out("  %s %s%s%s", req.method, conn.base_url .. req.path, #q > 0 and "?" or "", table.concat(q, "&"))
    if req.body then log.out("  %s", cjson.encode(req.body)) end
  end
  return 0
end

return M
