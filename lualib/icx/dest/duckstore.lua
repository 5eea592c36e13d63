-- icx.dest.duckstore: the Store of a DuckDB file (icx.dest.base's STORE
-- list), used by the DuckDB destination: cursors, runs, seen and deleted
-- ids, meta and the column registry live in the same file as the rows, so
-- a page, its child rows and its cursor commit in one DuckDB transaction.
-- The tables mirror icx.state's (SQLite's), in DuckDB's SQL: a cursor's
-- value is kept as text with its Lua type beside it, so an integer comes
-- back an integer. Run locks are fcntl locks on bytes of FILE.lock
-- (icx.lock, through filestore's slot), which the system drops when the
-- holder dies.
--
-- DuckDB lets one process at a time hold a database file, so the Store
-- holds it only while it works: while this process holds a run lock (a
-- run: reopening the file per page would cost ~100 ms each), else only
-- during a call or a transaction. Other processes (a second run, `icx
-- status`) wait for it (busy_timeout) instead of failing.
--
--   duckstore.open(path, opts) -> Store
--   duckstore.available() -> true | false, why   loads libduckdb.so
--   duckstore.need(what)       a usage error (exit 2) unless available
--   store.db                   the icx.duckdb handle (owned)
local errors = require "icx.errors"
local filestore = require "icx.dest.filestore"
local lock = require "icx.lock"
local sys = require "icx.sys"

local M = {}

local SCHEMA = [[
CREATE SEQUENCE IF NOT EXISTS _icx_runs_id;
CREATE TABLE IF NOT EXISTS _icx_state (
  connection VARCHAR NOT NULL, asset VARCHAR NOT NULL, key VARCHAR NOT NULL,
  value VARCHAR, vtype VARCHAR, updated_at VARCHAR NOT NULL,
  PRIMARY KEY (connection, asset));
CREATE TABLE IF NOT EXISTS _icx_runs (
  id BIGINT PRIMARY KEY DEFAULT nextval('_icx_runs_id'),
  connection VARCHAR NOT NULL, asset VARCHAR NOT NULL,
  started_at VARCHAR NOT NULL, finished_at VARCHAR, status VARCHAR NOT NULL,
  rows BIGINT, requests BIGINT, retries BIGINT, rate_limited BIGINT,
  error VARCHAR, pid BIGINT, pid_start BIGINT, host VARCHAR,
  run_id VARCHAR, icx_version VARCHAR, columns_added VARCHAR);
ALTER TABLE _icx_runs ADD COLUMN IF NOT EXISTS run_id VARCHAR;
ALTER TABLE _icx_runs ADD COLUMN IF NOT EXISTS icx_version VARCHAR;
ALTER TABLE _icx_runs ADD COLUMN IF NOT EXISTS columns_added VARCHAR;
CREATE TABLE IF NOT EXISTS _icx_deleted (
  connection VARCHAR NOT NULL, asset VARCHAR NOT NULL, id VARCHAR NOT NULL,
  detected_at VARCHAR NOT NULL, PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS _icx_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS _icx_seen (
  connection VARCHAR NOT NULL, asset VARCHAR NOT NULL, id VARCHAR NOT NULL,
  updated_at BIGINT, PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS _icx_columns (
  tbl VARCHAR NOT NULL, field VARCHAR NOT NULL, col VARCHAR NOT NULL,
  kind VARCHAR NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tbl, field));
]]

M.WITHOUT = "this icx was built without DuckDB: run `make deps` (or build with DUCKDB_PREFIX=DIR) and rebuild"

-- Whether DuckDB can be used: this icx was built with it and its library
-- loads (icx.duckdb loads libduckdb.so when first required, so this maps
-- it: ask only when about to use it); false and what to do when not.
function M.available()
  if not package.preload["icx.duckdb"] then return false, M.WITHOUT end
  local ok, err = pcall(require, "icx.duckdb")
  if not ok then return false, tostring(err) end
  return true
end

-- Raises a usage error (exit 2) for `what` (e.g. "--dest duckdb") unless
-- DuckDB can be used: the duckdb:, parquet: and s3:// destinations all
-- need it.
function M.need(what)
  local ok, why = M.available()
  if not ok then errors.raise("usage", what .. ": " .. why) end
end

-- Raises a dest error for a failed icx.duckdb call; passes results through.
local function check(v, err, code, ...)
  if v == nil then errors.raise("dest", err, { code = code }) end
  return v, err, code, ...
end
M.check = check

-- Wall-clock time as icx.state writes it (UTC, milliseconds).
local function now()
  local t = sys.time()
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. (".%03dZ"):format(math.floor(t % 1 * 1000))
end

local Store = {}
Store.__index = Store
Store.__name = "icx.dest.DuckStore"
M.Store = Store

-- Releases the file unless a run lock or a transaction needs it.
local function idle(self)
  if self.db and self.held == 0 and not self.db:in_transaction() then self.db:release() end
end

-- Runs f(db) in its own transaction unless one is open (the caller's page
-- transaction then carries the change); the file is released after.
local function atomic(self, f)
  local db = self.db
  if db:in_transaction() then return f(db) end
  check(db:begin())
  local ok, res = pcall(f, db)
  if not ok then
    db:rollback()
    idle(self)
    error(res, 0)
  end
  local done, err, code = db:commit()
  idle(self)
  check(done, err, code)
  return res
end
M.atomic = atomic

-- A read outside a transaction releases the file after.
local function read(self, sql, ...)
  local rows, err, code = self.db:query(sql, ...)
  idle(self)
  return check(rows, err, code)
end

-- Opens (creating if needed) the DuckDB file at path with icx's tables.
function M.open(path, what, opts)
  local db = require("icx.duckdb").open(path, { busy_timeout = opts and opts.busy_timeout })
  local self = setmetatable({ db = db, path = path, lock_path = path .. ".lock", held = 0 }, Store)
  local ok, err, code = db:exec(SCHEMA)
  db:release()
  if not ok then
    db:close()
    errors.raise("usage", ("cannot open %s '%s': %s"):format(what, path, err), { code = code })
  end
  return self
end

function Store:__tostring() return "icx.dest.DuckStore(" .. self.path .. ")" end

function Store:begin() check(self.db:begin()) end

function Store:commit()
  local ok, err, code = self.db:commit()
  idle(self)
  check(ok, err, code)
end

function Store:rollback()
  local ok, err, code = self.db:rollback()
  idle(self)
  check(ok, err, code)
end

-- What the Writer reads outside a transaction ends the same way.
M.idle = idle

function Store:in_transaction() return self.db and self.db:in_transaction() or false end

function Store:close()
  if self.db then self.db:close() end
  self.db = nil
end

-- Cursors keep their Lua type: integer, float or string.
local function encode(value)
  if math.type(value) == "integer" then return tostring(value), "integer" end
  if math.type(value) == "float" then return ("%.17g"):format(value), "float" end
  if value == nil then return nil, nil end
  return tostring(value), "string"
end

local function decode(text, vtype)
  if text == nil then return nil end
  if vtype == "integer" then return math.tointeger(tonumber(text)) end
  if vtype == "float" then return tonumber(text) end
  return text
end
M.encode, M.decode = encode, decode

function Store:cursor_get(connection, asset)
  local r = read(self, "SELECT key, value, vtype FROM _icx_state WHERE connection = ? AND asset = ?",
    connection, asset)[1]
  if not r then return nil end
  return decode(r.value, r.vtype), r.key
end

-- An UPDATE, and an INSERT only for a new cursor: DuckDB's ON CONFLICT
-- costs a page about three times the UPDATE (docs/MEASUREMENTS.md).
function Store:cursor_set(connection, asset, key, value)
  local text, vtype = encode(value)
  local at = now()
  local r = check(self.db:query("UPDATE _icx_state SET key = ?, value = ?, vtype = ?, updated_at = ? "
    .. "WHERE connection = ? AND asset = ?", key, text, vtype, at, connection, asset))[1]
  if not r or r.Count == 0 then
    check(self.db:query("INSERT INTO _icx_state (connection, asset, key, value, vtype, updated_at) "
      .. "VALUES (?, ?, ?, ?, ?, ?)", connection, asset, key, text, vtype, at))
  end
end

function Store:cursor_delete(connection, asset)
  check(self.db:query("DELETE FROM _icx_state WHERE connection = ? AND asset = ?", connection, asset))
end

function Store:seen_get(connection, asset, ids)
  local out = {}
  local CHUNK = 400
  for i = 1, #ids, CHUNK do
    local args, marks = {}, {}
    for j = i, math.min(i + CHUNK - 1, #ids) do
      args[#args + 1] = tostring(ids[j])
      marks[#marks + 1] = "?"
    end
    for _, r in ipairs(read(self, "SELECT id, updated_at FROM _icx_seen WHERE connection = ? AND asset = ? "
        .. "AND id IN (" .. table.concat(marks, ",") .. ")", connection, asset, table.unpack(args))) do
      out[r.id] = r.updated_at
    end
  end
  return out
end

function Store:seen_set(connection, asset, map)
  for id, at in pairs(map) do
    if at then
      check(self.db:query("INSERT INTO _icx_seen (connection, asset, id, updated_at) VALUES (?, ?, ?, ?) "
        .. "ON CONFLICT (connection, asset, id) DO UPDATE SET updated_at = excluded.updated_at",
        connection, asset, tostring(id), math.tointeger(at) or at))
    else
      check(self.db:query("DELETE FROM _icx_seen WHERE connection = ? AND asset = ? AND id = ?",
        connection, asset, tostring(id)))
    end
  end
end

function Store:deleted_add(connection, asset, ids)
  for _, id in ipairs(ids) do
    check(self.db:query("INSERT INTO _icx_deleted (connection, asset, id, detected_at) VALUES (?, ?, ?, ?) "
      .. "ON CONFLICT DO NOTHING", connection, asset, tostring(id), now()))
  end
end

function Store:meta_get(key)
  local r = read(self, "SELECT value FROM _icx_meta WHERE key = ?", key)[1]
  return r and r.value
end

function Store:meta_set(key, value)
  atomic(self, function(db)
    check(db:query("INSERT INTO _icx_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
      .. "SET value = excluded.value", key, value))
  end)
end

-- Whether the process that wrote a run row still runs (as icx.state).
local function still_running(pid, start)
  local now_start = sys.process_start(pid)
  if start and sys.process_start(sys.pid()) then return now_start == start end
  return sys.alive(pid)
end

function Store:run_start(connection, asset, lineage)
  local pid, host = sys.pid(), sys.hostname()
  lineage = lineage or {}
  return atomic(self, function(db)
    -- This host's "running" rows of processes gone (killed, crashed).
    for _, r in ipairs(check(db:query("SELECT id, pid, pid_start FROM _icx_runs WHERE status = 'running' "
        .. "AND host = ?", host))) do
      local p = math.tointeger(r.pid)
      if p and p > 0 and not still_running(p, math.tointeger(r.pid_start)) then
        check(db:query("UPDATE _icx_runs SET status = 'interrupted', error = ? WHERE id = ?",
          ("icx (pid %d on %s) ended without finishing the run: killed or crashed"):format(p, host), r.id))
      end
    end
    return check(db:query("INSERT INTO _icx_runs (connection, asset, started_at, status, pid, pid_start, host, "
      .. "run_id, icx_version) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?) RETURNING id", connection, asset, now(),
      pid, sys.process_start(pid), host, lineage.run_id, lineage.version))[1].id
  end)
end

function Store:run_finish(id, t)
  atomic(self, function(db)
    check(db:query("UPDATE _icx_runs SET finished_at = ?, status = ?, rows = ?, requests = ?, retries = ?, "
      .. "rate_limited = ?, error = ?, columns_added = ? WHERE id = ?", now(), t.status, t.rows, t.requests,
      t.retries, t.rate_limited, t.error, t.columns_added, id))
  end)
end

function Store:close_stale(connection, asset)
  atomic(self, function(db)
    check(db:query("UPDATE _icx_runs SET status = 'interrupted', finished_at = ?, error = 'icx (pid ' || "
      .. "coalesce(CAST(pid AS VARCHAR), '?') || ' on ' || coalesce(host, '?') || ') ended without finishing "
      .. "the run: killed or crashed' WHERE status = 'running' AND connection = ? AND asset = ?",
      now(), connection, asset))
  end)
end

function Store:status()
  local rows = read(self, [[
    WITH last AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs GROUP BY connection, asset),
    good AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs WHERE status = 'ok' GROUP BY connection, asset),
    bad AS (
      SELECT connection, asset, max(id) AS id FROM _icx_runs WHERE status = 'failed' GROUP BY connection, asset),
    assets AS (
      SELECT connection, asset FROM _icx_state WHERE strpos(asset, '/') = 0
      UNION SELECT connection, asset FROM _icx_runs)
    SELECT a.connection, a.asset, s.key AS cursor_key, s.value AS cursor, s.vtype AS vtype,
      r.status AS last_status, r.started_at AS last_run_at, r.finished_at AS last_finished_at,
      r.rows AS rows, r.error AS error, r.pid AS pid, r.host AS host, r.run_id AS run_id,
      r.icx_version AS icx_version, g.finished_at AS last_success_at, b.finished_at AS last_failure_at,
      b.error AS last_error
    FROM assets a
    LEFT JOIN _icx_state s ON s.connection = a.connection AND s.asset = a.asset
    LEFT JOIN last l ON l.connection = a.connection AND l.asset = a.asset
    LEFT JOIN _icx_runs r ON r.id = l.id
    LEFT JOIN good gl ON gl.connection = a.connection AND gl.asset = a.asset
    LEFT JOIN _icx_runs g ON g.id = gl.id
    LEFT JOIN bad bl ON bl.connection = a.connection AND bl.asset = a.asset
    LEFT JOIN _icx_runs b ON b.id = bl.id
    ORDER BY a.connection, a.asset]])
  for _, r in ipairs(rows) do
    r.cursor = decode(r.cursor, r.vtype)
    r.vtype = nil
  end
  return rows
end

function Store:runs(n)
  return read(self, [[
    SELECT id, connection, asset, run_id, icx_version, started_at, finished_at, status, rows, requests, retries,
      rate_limited, error, columns_added FROM (
      SELECT *, row_number() OVER (PARTITION BY connection, asset ORDER BY id DESC) AS nth FROM _icx_runs)
    WHERE nth <= ? ORDER BY connection, asset, id DESC]], n)
end

function Store:columns()
  return read(self, "SELECT tbl, col FROM _icx_columns ORDER BY tbl, col")
end

function Store:reset(connection, asset)
  return atomic(self, function(db)
    local rows = check(db:query("DELETE FROM _icx_state WHERE (asset = ? OR asset = ? || '/slices') "
      .. "AND (CAST(? AS VARCHAR) IS NULL OR connection = ?) RETURNING 1 AS x", asset, asset, connection,
      connection))
    return #rows
  end)
end

-- _icx_completeness: a row per window a completeness check compared
-- (icx.completeness; main's Store entry points completeness_add and
-- completeness_last), made with its first row as icx.state makes it.
local COMPLETENESS = [[
CREATE TABLE IF NOT EXISTS _icx_completeness (
  connection VARCHAR NOT NULL, asset VARCHAR NOT NULL, "window" VARCHAR NOT NULL, lo BIGINT, hi BIGINT,
  expected BIGINT NOT NULL, landed BIGINT NOT NULL, healed BIGINT NOT NULL, checked_at VARCHAR NOT NULL,
  run BIGINT)]]

function Store:completeness_add(connection, asset, run, rows)
  atomic(self, function(db)
    check(db:exec(COMPLETENESS))
    for _, r in ipairs(rows) do
      check(db:query("INSERT INTO _icx_completeness VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", connection, asset,
        r.window, r.lo, r.hi, r.expected, r.landed, r.healed, r.checked_at, run))
    end
  end)
end

function Store:completeness_last()
  if not read(self, "SELECT 1 AS x FROM duckdb_tables() WHERE table_name = '_icx_completeness'")[1] then
    return {}
  end
  return read(self, [[
    WITH last AS (SELECT connection, asset, max(checked_at) AS at FROM _icx_completeness GROUP BY connection, asset)
    SELECT c.connection, c.asset, l.at AS checked_at, count(*) AS windows,
      -- sum() of BIGINT is HUGEINT in DuckDB, which reaches Lua as text.
      CAST(sum(c.expected) AS BIGINT) AS expected, CAST(sum(c.landed) AS BIGINT) AS landed,
      CAST(sum(c.healed) AS BIGINT) AS healed, CAST(sum(greatest(c.expected - c.landed, 0)) AS BIGINT) AS missing
    FROM _icx_completeness c JOIN last l ON l.connection = c.connection AND l.asset = c.asset
      AND c.checked_at = l.at
    GROUP BY c.connection, c.asset, l.at ORDER BY c.connection, c.asset]])
end

function Store:holder(connection, asset)
  local pid = lock.holder(self.lock_path, filestore.slot(connection, asset))
  local r = read(self, "SELECT pid, host, started_at FROM _icx_runs WHERE connection = ? AND asset = ? "
    .. "AND status = 'running' ORDER BY id DESC LIMIT 1", connection, asset)[1]
  if r then return ("icx pid %s on %s, running since %s"):format(tostring(r.pid), tostring(r.host), r.started_at) end
  if pid then return ("pid %d"):format(pid) end
  return nil
end

-- A run lock keeps the file open until its release.
local Held = {}
Held.__index = Held
Held.__name = "icx.dest.DuckLock"

function Held:release()
  if self.done then return end
  self.done = true
  self.lock:release()
  self.store.held = self.store.held - 1
  idle(self.store)
end

Held.__close = Held.release
function Held:__tostring() return tostring(self.lock) end

function Store:lock(connection, asset)
  local lk, err, code = lock.acquire(self.lock_path, filestore.slot(connection, asset))
  if lk then
    self.held = self.held + 1
    return setmetatable({ lock = lk, store = self }, Held)
  end
  if code ~= "locked" then errors.raise("dest", err, { code = code }) end
  return nil, self:holder(connection, asset) or "another process"
end

function Store:lock_free(connection, asset)
  return lock.holder(self.lock_path, filestore.slot(connection, asset)) == nil
end

return M
