-- Run bookkeeping every destination keeps in SQLite (the destination file
-- itself, or the JSONL state file): the incremental cursor of each asset in
-- _icx_state, written in the transaction of the page it describes, one
-- _icx_runs row per asset per run for ops tooling, and in _icx_deleted the
-- ids --reconcile found gone from Intercom. Only connection and asset
-- names, cursors and redacted messages land here; never a token. These are
-- functions of a SQLite handle; icx.dest.filestore makes them a Store, and
-- icx.dest.base checks its callers (inside a transaction, valid names and
-- statuses, redacted messages) before they reach here.
local errors = require "icx.errors"

local M = {}

-- value has no declared type so a cursor keeps its own (an integer stays an
-- integer, a starting_after token a string).
local SCHEMA = [[
CREATE TABLE IF NOT EXISTS _icx_state (
  connection TEXT NOT NULL,
  asset TEXT NOT NULL,
  key TEXT NOT NULL,
  value,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (connection, asset));
CREATE TABLE IF NOT EXISTS _icx_runs (
  id INTEGER PRIMARY KEY,
  connection TEXT NOT NULL,
  asset TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,
  rows INTEGER,
  requests INTEGER,
  retries INTEGER,
  rate_limited INTEGER,
  error TEXT,
  pid INTEGER,
  pid_start INTEGER,
  host TEXT,
  run_id TEXT,
  icx_version TEXT,
  columns_added TEXT);
CREATE TABLE IF NOT EXISTS _icx_deleted (
  connection TEXT NOT NULL,
  asset TEXT NOT NULL,
  id TEXT NOT NULL,
  detected_at TEXT NOT NULL,
  PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS _icx_columns (
  tbl TEXT NOT NULL,
  col TEXT NOT NULL,
  PRIMARY KEY (tbl, col)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _icx_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _icx_seen (
  connection TEXT NOT NULL,
  asset TEXT NOT NULL,
  id TEXT NOT NULL,
  updated_at INTEGER,
  PRIMARY KEY (connection, asset, id)) WITHOUT ROWID;
]]

-- Made with its first row, so a new file is no larger than before the
-- check existed (a destination on a nearly full disk still fails on an
-- asset's page, naming it).
local COMPLETENESS = [[
CREATE TABLE IF NOT EXISTS _icx_completeness (
  id INTEGER PRIMARY KEY,
  connection TEXT NOT NULL,
  asset TEXT NOT NULL,
  "window" TEXT NOT NULL,
  lo INTEGER,
  hi INTEGER,
  expected INTEGER NOT NULL,
  landed INTEGER NOT NULL,
  healed INTEGER NOT NULL,
  checked_at TEXT NOT NULL,
  run INTEGER);
]]

-- Columns added after the first release; older files gain them on open.
-- run_id and icx_version are the lineage of a row (the invocation that
-- wrote it, shared by its assets, and the icx that ran it); columns_added
-- is a JSON object {table: [column, ...]} of the columns that run added.
local RUNS_ADDED = { { "pid", "INTEGER" }, { "pid_start", "INTEGER" }, { "host", "TEXT" }, { "run_id", "TEXT" },
  { "icx_version", "TEXT" }, { "columns_added", "TEXT" } }

local NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

-- Raises a dest error for a failed icx.sqlite call; passes results through.
function M.check(v, err, code, ...)
  if v == nil then errors.raise("dest", err, { code = code }) end
  return v, err, code, ...
end
local check = M.check

-- Runs f(db) in its own write transaction unless one is already open (the
-- caller's page transaction then carries the change).
function M.atomic(db, f)
  if db:in_transaction() then return f(db) end
  check(db:begin())
  local ok, res = pcall(f, db)
  if not ok then
    db:rollback()
    error(res, 0)
  end
  M.commit(db)
  return res
end

-- Commits db's transaction; on failure rolls back (SQLite may have kept it
-- open) before raising, so nothing half-lands.
function M.commit(db)
  local done, err, code = db:commit()
  if not done then
    db:rollback()
    check(nil, err, code)
  end
end

-- Opens (creating if needed) the SQLite file that keeps state, with its
-- tables; `what` names it in the error ("the SQLite destination").
function M.open(path, what, opts)
  local db, err, code = require("icx.sqlite").open(path, { busy_timeout = opts and opts.busy_timeout })
  if not db then
    local hints = {
      cantopen = " (does its directory exist, and may icx write there?)",
      corrupt = " (--dest must name a SQLite file icx wrote, or a new path)",
      readonly = " (the file or its directory is read-only)",
    }
    -- Found before any request, like any bad --dest: exit 2.
    errors.raise("usage", ("cannot open %s '%s': %s%s"):format(what, path, err, hints[code] or ""), { code = code })
  end
  local ok, e = pcall(M.init, db)
  if not ok then
    db:close()
    error(e, 0)
  end
  return db
end

-- Creates the tables if missing, and adds columns older files lack.
function M.init(db)
  M.atomic(db, function()
    check(db:exec(SCHEMA))
    local have = {}
    for _, c in ipairs(check(db:query("PRAGMA table_info(_icx_runs)"))) do have[c.name] = true end
    for _, col in ipairs(RUNS_ADDED) do
      local name, decl = col[1], col[2]
      if not have[name] then check(db:exec(("ALTER TABLE _icx_runs ADD COLUMN %s %s"):format(name, decl))) end
    end
  end)
end

-- The stored cursor: value (nil when none) and its key name.
function M.cursor_get(db, connection, asset)
  local rows = check(db:query("SELECT key, value FROM _icx_state WHERE connection = ? AND asset = ?",
    connection, asset))
  if not rows[1] then return nil end
  return rows[1].value, rows[1].key
end

-- Stores the cursor; must run inside the page's transaction so the two
-- commit (or vanish) together.
function M.cursor_set(db, connection, asset, key, value)
  check(db:query("INSERT INTO _icx_state (connection, asset, key, value, updated_at) VALUES (?, ?, ?, ?, "
    .. NOW .. ") ON CONFLICT (connection, asset) DO UPDATE SET key = excluded.key, "
    .. "value = excluded.value, updated_at = excluded.updated_at", connection, asset, key, value))
end

-- Removes a state row (a sliced walk's progress once the walk completed);
-- inside the page's transaction.
function M.cursor_delete(db, connection, asset)
  check(db:query("DELETE FROM _icx_state WHERE connection = ? AND asset = ?", connection, asset))
end

-- _icx_seen: the updated_at of each parent record (a contact, a
-- conversation) whose sub-resources an asset last landed, so a parent
-- re-read unchanged costs no request. seen_get(ids) -> {[id] = updated_at}.
function M.seen_get(db, connection, asset, ids)
  local out = {}
  local CHUNK = 400
  for i = 1, #ids, CHUNK do
    local args, marks = {}, {}
    for j = i, math.min(i + CHUNK - 1, #ids) do
      args[#args + 1] = tostring(ids[j])
      marks[#marks + 1] = "?"
    end
    local rows = check(db:query("SELECT id, updated_at FROM _icx_seen WHERE connection = ? AND asset = ? AND id IN ("
      .. table.concat(marks, ",") .. ")", connection, asset, table.unpack(args)))
    for _, r in ipairs(rows) do out[r.id] = r.updated_at end
  end
  return out
end

-- Stores {[id] = updated_at} (false/nil: forget the id); inside the
-- transaction that lands the rows it vouches for.
function M.seen_set(db, connection, asset, map)
  local up = check(db:prepare("INSERT INTO _icx_seen (connection, asset, id, updated_at) VALUES (?, ?, ?, ?) "
    .. "ON CONFLICT (connection, asset, id) DO UPDATE SET updated_at = excluded.updated_at"))
  local del = check(db:prepare("DELETE FROM _icx_seen WHERE connection = ? AND asset = ? AND id = ?"))
  local ok, err = pcall(function()
    for id, at in pairs(map) do
      local st = at and up or del
      st:bind(1, connection):bind(2, asset):bind(3, tostring(id))
      if at then st:bind(4, at) end
      local r, e, code = st:step()
      if r == nil then check(nil, e, code) end
      st:reset()
    end
  end)
  up:close()
  del:close()
  if not ok then error(err, 0) end
end

-- Records the ids --reconcile found gone (Intercom answered 404); inside
-- the transaction that deletes their rows.
function M.deleted_add(db, connection, asset, ids)
  for _, id in ipairs(ids) do
    check(db:query("INSERT INTO _icx_deleted (connection, asset, id, detected_at) VALUES (?, ?, ?, " .. NOW
      .. ") ON CONFLICT DO NOTHING", connection, asset, tostring(id)))
  end
end

-- Whether the process that wrote a run row still runs. pid and its start
-- time name one process for good; without /proc, a live pid counts as
-- alive (a reused pid then hides a dead run, but never the reverse).
local function still_running(pid, start)
  local sys = require "icx.sys"
  local now_start = sys.process_start(pid)
  if start and sys.process_start(sys.pid()) then return now_start == start end
  return sys.alive(pid)
end

-- Closes the "running" rows of processes on this host that no longer exist
-- (killed with -9, a crash, a power loss), so ops tooling does not wait on
-- them forever. Another host's rows are left alone: their pids mean nothing
-- here.
local function close_abandoned(db, host)
  local rows = check(db:query("SELECT id, pid, pid_start FROM _icx_runs WHERE status = 'running' AND host = ?", host))
  for _, r in ipairs(rows) do
    local pid = math.tointeger(r.pid)
    if pid and pid > 0 and not still_running(pid, math.tointeger(r.pid_start)) then
      check(db:query("UPDATE _icx_runs SET status = 'interrupted', error = ? WHERE id = ?",
        ("icx (pid %d on %s) ended without finishing the run: killed or crashed"):format(pid, host), r.id))
    end
  end
end

-- Closes the "running" rows of an asset whose lock the caller now holds:
-- whatever host wrote them, their run is over (killed, evicted, crashed).
function M.close_stale(db, connection, asset)
  M.atomic(db, function()
    check(db:query("UPDATE _icx_runs SET status = 'interrupted', finished_at = " .. NOW .. ", error = "
      .. "'icx (pid ' || coalesce(pid, '?') || ' on ' || coalesce(host, '?') || ') ended without finishing "
      .. "the run: killed or crashed' WHERE status = 'running' AND connection = ? AND asset = ?",
      connection, asset))
  end)
end

-- A value of _icx_meta (what the destination holds: the workspace).
function M.meta_get(db, key)
  local rows = check(db:query("SELECT value FROM _icx_meta WHERE key = ?", key))
  return rows[1] and rows[1].value
end

function M.meta_set(db, key, value)
  M.atomic(db, function()
    check(db:query("INSERT INTO _icx_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
      .. "SET value = excluded.value", key, value))
  end)
end

-- _icx_completeness: a row per window a completeness check compared
-- (icx.completeness): what Intercom counts there, what had landed, how
-- many a re-walk healed. rows: {window =, lo =, hi =, expected =, landed =,
-- healed =, checked_at =}: one check's rows share checked_at, so the last
-- check is the rows of the latest one.
function M.completeness_add(db, connection, asset, run, rows)
  M.atomic(db, function()
    check(db:exec(COMPLETENESS))
    for _, r in ipairs(rows) do
      check(db:query("INSERT INTO _icx_completeness (connection, asset, \"window\", lo, hi, expected, landed, healed, "
        .. "checked_at, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", connection, asset, r.window, r.lo,
        r.hi, r.expected, r.landed, r.healed, r.checked_at, run))
    end
  end)
end

-- The last check of each (connection, asset): its time, windows, what was
-- expected, landed, healed, and still missing.
local LAST_CHECK = [[
  WITH last AS (SELECT connection, asset, max(checked_at) AS at FROM _icx_completeness GROUP BY connection, asset)
  SELECT c.connection, c.asset, l.at AS checked_at, count(*) AS windows, sum(c.expected) AS expected,
    sum(c.landed) AS landed, sum(c.healed) AS healed,
    sum(max(c.expected - c.landed, 0)) AS missing
  FROM _icx_completeness c JOIN last l ON l.connection = c.connection AND l.asset = c.asset
    AND c.checked_at = l.at
  GROUP BY c.connection, c.asset ORDER BY c.connection, c.asset]]

function M.completeness_last(db)
  if not check(db:query("SELECT 1 AS x FROM sqlite_master WHERE name = '_icx_completeness'"))[1] then return {} end
  return check(db:query(LAST_CHECK))
end

-- Per (connection, asset): the stored cursor, the last run, the last
-- success (when it finished) and the last failure (when, and its error),
-- for `icx status`; ordered by connection and asset.
function M.status(db)
  return check(db:query([[
    WITH last AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs GROUP BY connection, asset),
    good AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs WHERE status = 'ok' GROUP BY connection, asset),
    bad AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs WHERE status = 'failed' GROUP BY connection, asset),
    assets AS (
      SELECT connection, asset FROM _icx_state WHERE instr(asset, '/') = 0
      UNION SELECT connection, asset FROM _icx_runs)
    SELECT a.connection, a.asset, s.key AS cursor_key, s.value AS cursor, r.status AS last_status,
      r.started_at AS last_run_at, r.finished_at AS last_finished_at, r.rows AS rows, r.error AS error,
      r.pid AS pid, r.host AS host, r.run_id AS run_id, r.icx_version AS icx_version,
      g.finished_at AS last_success_at, b.finished_at AS last_failure_at, b.error AS last_error
    FROM assets a
    LEFT JOIN _icx_state s ON s.connection = a.connection AND s.asset = a.asset
    LEFT JOIN last l ON l.connection = a.connection AND l.asset = a.asset
    LEFT JOIN _icx_runs r ON r.id = l.id
    LEFT JOIN good gl ON gl.connection = a.connection AND gl.asset = a.asset
    LEFT JOIN _icx_runs g ON g.id = gl.id
    LEFT JOIN bad bl ON bl.connection = a.connection AND bl.asset = a.asset
    LEFT JOIN _icx_runs b ON b.id = bl.id
    ORDER BY a.connection, a.asset]]))
end

-- The last n run rows of each (connection, asset), newest first: what
-- `icx status --history N` lists.
function M.runs(db, n)
  return check(db:query([[
    SELECT id, connection, asset, run_id, icx_version, started_at, finished_at, status, rows, requests, retries,
      rate_limited, error, columns_added FROM (
      SELECT *, row_number() OVER (PARTITION BY connection, asset ORDER BY id DESC) AS nth FROM _icx_runs)
    WHERE nth <= ? ORDER BY connection, asset, id DESC]], n))
end

-- The columns icx made, per table (_icx_columns): a run compares them
-- before and after to name the columns it added.
function M.columns(db)
  return check(db:query("SELECT tbl, col FROM _icx_columns ORDER BY tbl, col"))
end

-- Deletes the stored cursors of an asset (every connection's when
-- connection is nil); returns how many.
function M.reset(db, connection, asset)
  return M.atomic(db, function()
    -- asset/slices: the progress of an interrupted sliced walk goes too.
    check(db:query("DELETE FROM _icx_state WHERE (asset = ? OR asset = ? || '/slices') "
      .. "AND (? IS NULL OR connection = ?)", asset, asset, connection, connection))
    return db:changes()
  end)
end

-- Inserts a "running" row with its lineage ({run_id =, version =});
-- returns its id.
function M.run_start(db, connection, asset, lineage)
  local sys = require "icx.sys"
  local pid, host = sys.pid(), sys.hostname()
  lineage = lineage or {}
  return M.atomic(db, function()
    close_abandoned(db, host)
    local rows = check(db:query("INSERT INTO _icx_runs (connection, asset, started_at, status, pid, pid_start, host, "
      .. "run_id, icx_version) VALUES (?, ?, " .. NOW .. ", 'running', ?, ?, ?, ?, ?) RETURNING id", connection,
      asset, pid, sys.process_start(pid), host, lineage.run_id, lineage.version))
    return rows[1].id
  end)
end

-- Closes a run row with its outcome and counters (t.error already
-- redacted; t.columns_added JSON text or nil).
function M.run_finish(db, id, t)
  M.atomic(db, function()
    check(db:query("UPDATE _icx_runs SET finished_at = " .. NOW .. ", status = ?, rows = ?, requests = ?, "
      .. "retries = ?, rate_limited = ?, error = ?, columns_added = ? WHERE id = ?", t.status, t.rows, t.requests,
      t.retries, t.rate_limited, t.error, t.columns_added, id))
  end)
end

-- The open run row of (connection, asset), newest first: pid, host,
-- started_at; nil when none.
function M.running(db, connection, asset)
  return check(db:query("SELECT pid, host, started_at FROM _icx_runs WHERE connection = ? "
    .. "AND asset = ? AND status = 'running' ORDER BY id DESC LIMIT 1", connection, asset))[1]
end

return M
