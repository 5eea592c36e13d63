-- icx.dest.pgstore: the Store of a PostgreSQL destination (icx.dest.base's
-- STORE list), kept in the destination schema: _icx_state, _icx_runs,
-- _icx_deleted, _icx_meta, _icx_seen, _icx_completeness, and _icx_columns (field -> column
-- and declared kinds, which icx.pg's writer keeps). One run per asset is a
-- session advisory lock, which PostgreSQL releases when the holding
-- connection ends, however its process died. The Store owns the connection
-- the Writer (icx.dest.postgres) shares, and its helpers: check (errors with
-- the password scrubbed), atomic, q, qualified.
--
--   pgstore.new(conn, schema, secrets) -> Store   takes conn (owned)
--   pgstore.application_name() -> the name icx's connections show in
--                                 pg_stat_activity: "icx pid PID on HOST"
--   store:init()                  the schema and the state tables
--   store:exists() -> boolean     whether icx has written this schema yet
--   store:patiently(name, f)      f() (a DDL on table name, in the open
--                                 transaction) retried while it runs out of
--                                 lock_timeout, each wait printed, bounded
--
-- No wait is silent or unbounded: a DDL (a replace's swap, a new or wider
-- column) waits DDL_LOCK_TIMEOUT for the table's lock and then steps out of
-- the lock queue, so readers that arrive meanwhile are not held behind it
-- for longer; it retries, saying who holds the table, for LOCK_WAIT_MAX.
-- A run lock held by the backend of an icx that is gone (killed while its
-- backend was busy, or behind a pooler) is taken back (see Store:lock).
local errors = require "icx.errors"
local json = require "icx.json"
local log = require "icx.log"
local pg = require "icx.pg"
local sys = require "icx.sys"

local quote = pg.quote

local M = {}

local Store = {}
Store.__index = Store
Store.__name = "icx.dest.PgStore"

M.Store = Store

-- Replaces every secret in s with ****.
function M.scrub(s, secrets)
  s = tostring(s)
  for _, sec in ipairs(secrets) do
    if #sec > 0 then
      local i = 1
      while true do
        local a, b = s:find(sec, i, true)
        if not a then break end
        s = s:sub(1, a - 1) .. "****" .. s:sub(b + 1)
        i = a + 4
      end
    end
  end
  return s
end

function M.new(conn, schema, secrets)
  return setmetatable({ conn = conn, schema = schema, secrets = secrets }, Store)
end

function Store:__tostring() return "icx.dest.PgStore(" .. self.schema .. ")" end

-- Raises a dest error for a failed icx.pg call; passes results through.
function Store:check(v, err, code, ...)
  if v == nil then errors.raise("dest", M.scrub(err, self.secrets), { code = code }) end
  return v, err, code, ...
end

function Store:q(sql, ...) return self:check(self.conn:query(sql, ...)) end

-- schema.name, quoted.
function Store:qualified(name) return quote(self.schema) .. "." .. quote(name) end

-- Runs f() in its own transaction unless one is open (the caller's page
-- transaction then carries the change).
function Store:atomic(f)
  local conn = self.conn
  if conn:in_transaction() then return f() end
  self:check(conn:begin())
  local ok, res = pcall(f)
  if not ok then
    conn:rollback()
    error(res, 0)
  end
  self:commit()
  return res
end

-- How long one DDL statement waits for its table's lock; how long all the
-- attempts of one may take before the asset fails.
M.DDL_LOCK_TIMEOUT = "2s"
M.LOCK_WAIT_MAX = tonumber(os.getenv("ICX_PG_LOCK_WAIT_MAX")) or 600

function M.application_name()
  return ("icx pid %d on %s"):format(sys.pid(), sys.hostname())
end

-- Who holds a backend: "backend 123 (icx pid 9 on h, user icx, from
-- 10.0.0.5, idle in transaction for 12 s)".
local function describe(r)
  return ("PostgreSQL backend %d (%s, user %s, from %s, %s for %d s)"):format(r.pid,
    r.app ~= "" and ("'" .. r.app .. "'") or "no application_name", r.usr, r.addr, r.state, r.secs or 0)
end

local ACTIVITY = [[SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(a.usename::text, '?') AS usr,
  coalesce(a.state, '?') AS state, coalesce(host(a.client_addr), 'a local socket') AS addr,
  greatest(0, floor(extract(epoch FROM now() - coalesce(a.state_change, a.backend_start))))::int AS secs
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid]]

-- The backends that hold a lock on table name, described.
function Store:table_holders(name)
  local out = {}
  for _, r in ipairs(self:q(ACTIVITY .. " WHERE l.relation = to_regclass($1) AND l.granted "
      .. "AND l.pid <> pg_backend_pid() ORDER BY a.pid", self:qualified(name))) do
    out[#out + 1] = describe(r)
  end
  return #out > 0 and table.concat(out, "; ") or "a session that has since let go"
end

function Store:patiently(name, f)
  local started, pause, said = sys.now(), 0.25, -math.huge
  while true do
    self:check(self.conn:exec("SAVEPOINT icx_wait"))
    local ok, res = pcall(f)
    if ok then
      self:check(self.conn:exec("RELEASE SAVEPOINT icx_wait"))
      return res
    end
    if not (errors.is(res) and res.code == "lock_timeout") then error(res, 0) end
    self:check(self.conn:exec("ROLLBACK TO SAVEPOINT icx_wait"))
    local waited = sys.now() - started
    if waited >= M.LOCK_WAIT_MAX then
      errors.raise("dest", ("table %s.%s: gave up after waiting %d s for its lock, held by %s; end that "
        .. "session (or its transaction) and run again"):format(self.schema, name, math.floor(waited),
        self:table_holders(name)), { code = "lock_timeout" })
    end
    -- One line on the first wait, then one every 10 s.
    if waited - said >= 10 then
      said = waited
      log.warn("table %s.%s: waiting for its lock, held by %s (%d s so far; readers are not held "
        .. "behind the wait; icx gives up at %d s)", self.schema, name, self:table_holders(name),
        math.floor(waited), M.LOCK_WAIT_MAX)
    end
    sys.sleep(pause)
    pause = math.min(pause * 2, 2)
  end
end

function Store:begin() self:check(self.conn:begin()) end

-- A failed COMMIT is rolled back before raising, so nothing half-lands.
function Store:commit()
  local done, err, code = self.conn:commit()
  if not done then
    self.conn:rollback()
    self:check(nil, err, code)
  end
end

function Store:rollback() self:check(self.conn:rollback()) end
function Store:in_transaction() return self.conn ~= nil and self.conn:in_transaction() end

function Store:close()
  if self.conn then self.conn:close() end
  self.conn = nil
end

-- _icx_state.value keeps a cursor's JSON type: an integer stays an integer.
local SCHEMA = [[
CREATE TABLE IF NOT EXISTS %s (
  connection text NOT NULL,
  asset text NOT NULL,
  key text NOT NULL,
  value json,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (connection, asset));
CREATE TABLE IF NOT EXISTS %s (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  connection text NOT NULL,
  asset text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  status text NOT NULL,
  rows bigint,
  requests bigint,
  retries bigint,
  rate_limited bigint,
  error text,
  pid integer,
  pid_start bigint,
  host text,
  run_id text,
  icx_version text,
  columns_added text);
CREATE TABLE IF NOT EXISTS %s (
  connection text NOT NULL,
  asset text NOT NULL,
  id text NOT NULL,
  detected_at timestamptz NOT NULL,
  PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS %s (
  tbl text NOT NULL,
  field text NOT NULL,
  col text NOT NULL,
  kind text NOT NULL,
  pos integer NOT NULL,
  PRIMARY KEY (tbl, field));
CREATE TABLE IF NOT EXISTS %s (
  key text PRIMARY KEY,
  value text NOT NULL);
CREATE TABLE IF NOT EXISTS %s (
  connection text NOT NULL,
  asset text NOT NULL,
  id text NOT NULL,
  updated_at bigint,
  PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS %s (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  connection text NOT NULL,
  asset text NOT NULL,
  "window" text NOT NULL,
  lo bigint,
  hi bigint,
  expected bigint NOT NULL,
  landed bigint NOT NULL,
  healed bigint NOT NULL,
  checked_at text NOT NULL,
  run bigint);
]]

-- Creates the schema (when missing: CREATE SCHEMA IF NOT EXISTS would
-- need the CREATE privilege even then) and the state tables, under a lock
-- so processes starting together do not race on the catalog.
function Store:init()
  self:atomic(function()
    self:q("SELECT pg_advisory_xact_lock(hashtext('icx:init'))")
    if not self:q("SELECT 1 AS x FROM pg_namespace WHERE nspname = $1", self.schema)[1] then
      self:check(self.conn:exec("CREATE SCHEMA " .. quote(self.schema)))
    end
    self:check(self.conn:exec(SCHEMA:format(self:qualified("_icx_state"), self:qualified("_icx_runs"),
      self:qualified("_icx_deleted"), self:qualified("_icx_columns"), self:qualified("_icx_meta"),
      self:qualified("_icx_seen"), self:qualified("_icx_completeness"))))
    -- A schema an older icx made gains the lineage columns of _icx_runs;
    -- asked first, so an up-to-date schema takes no ACCESS EXCLUSIVE lock.
    local have = {}
    for _, r in ipairs(self:q("SELECT column_name::text AS c FROM information_schema.columns WHERE table_schema = $1 "
        .. "AND table_name = '_icx_runs'", self.schema)) do
      have[r.c] = true
    end
    for _, col in ipairs({ "run_id", "icx_version", "columns_added" }) do
      if not have[col] then
        self:check(self.conn:exec(("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s text"):format(
          self:qualified("_icx_runs"), col)))
      end
    end
  end)
end

function Store:exists()
  local have = self.conn:query("SELECT to_regclass($1) IS NOT NULL AS x", quote(self.schema) .. "._icx_runs")
  return have and have[1] and have[1].x or false
end

-- Cursors ---------------------------------------------------------------------

function Store:cursor_get(connection, asset)
  local r = self:q("SELECT key, value::text AS value FROM " .. self:qualified("_icx_state")
    .. " WHERE connection = $1 AND asset = $2", connection, asset)[1]
  if not r then return nil end
  local v = r.value and json.decode(r.value)
  if v == json.null then v = nil end
  return v, r.key
end

function Store:cursor_set(connection, asset, key, value)
  self:q("INSERT INTO " .. self:qualified("_icx_state") .. " (connection, asset, key, value, updated_at) "
    .. "VALUES ($1, $2, $3, $4::json, now()) ON CONFLICT (connection, asset) DO UPDATE SET key = excluded.key, "
    .. "value = excluded.value, updated_at = excluded.updated_at", connection, asset, key,
    value ~= nil and json.encode(value) or nil)
end

function Store:cursor_delete(connection, asset)
  self:q("DELETE FROM " .. self:qualified("_icx_state") .. " WHERE connection = $1 AND asset = $2", connection, asset)
end

-- A Lua list of strings as a text[] literal.
function M.text_array(values)
  local out = {}
  for i, v in ipairs(values) do
    if math.type(v) == "float" and math.tointeger(v) then v = math.tointeger(v) end
    out[i] = '"' .. tostring(v):gsub('[\\"]', "\\%0") .. '"'
  end
  return "{" .. table.concat(out, ",") .. "}"
end
local text_array = M.text_array

function Store:deleted_add(connection, asset, ids)
  self:q("INSERT INTO " .. self:qualified("_icx_deleted") .. " (connection, asset, id, detected_at) "
    .. "SELECT $1, $2, x, now() FROM unnest($3::text[]) AS x ON CONFLICT DO NOTHING", connection, asset,
    text_array(ids))
end

function Store:seen_get(connection, asset, ids)
  local out = {}
  for _, r in ipairs(self:q("SELECT id, updated_at FROM " .. self:qualified("_icx_seen")
      .. " WHERE connection = $1 AND asset = $2 AND id = ANY($3::text[])", connection, asset, text_array(ids))) do
    out[r.id] = r.updated_at
  end
  return out
end

function Store:seen_set(connection, asset, map)
  local up_ids, up_at, del = {}, {}, {}
  for id, at in pairs(map) do
    if at then
      up_ids[#up_ids + 1], up_at[#up_at + 1] = tostring(id), tostring(at)
    else
      del[#del + 1] = tostring(id)
    end
  end
  local seen = self:qualified("_icx_seen")
  if #up_ids > 0 then
    self:q("INSERT INTO " .. seen .. " (connection, asset, id, updated_at) SELECT $1, $2, i, a::bigint "
      .. "FROM unnest($3::text[], $4::text[]) AS u(i, a) ON CONFLICT (connection, asset, id) DO UPDATE "
      .. "SET updated_at = excluded.updated_at", connection, asset, text_array(up_ids), text_array(up_at))
  end
  if #del > 0 then
    self:q("DELETE FROM " .. seen .. " WHERE connection = $1 AND asset = $2 AND id = ANY($3::text[])",
      connection, asset, text_array(del))
  end
end

-- Runs ------------------------------------------------------------------------

-- Whether the process that wrote a run row still runs (as in icx.state).
local function still_running(pid, start)
  local now_start = sys.process_start(pid)
  if start and sys.process_start(sys.pid()) then return now_start == start end
  return sys.alive(pid)
end

function Store:run_start(connection, asset, lineage)
  local pid, host = sys.pid(), sys.hostname()
  lineage = lineage or {}
  local runs = self:qualified("_icx_runs")
  return self:atomic(function()
    -- Close the rows of processes on this host that died mid-run.
    for _, r in ipairs(self:q("SELECT id, pid, pid_start FROM " .. runs
        .. " WHERE status = 'running' AND host = $1", host)) do
      if r.pid and r.pid > 0 and not still_running(r.pid, r.pid_start) then
        self:q("UPDATE " .. runs .. " SET status = 'interrupted', error = $1 WHERE id = $2",
          ("icx (pid %d on %s) ended without finishing the run: killed or crashed"):format(r.pid, host), r.id)
      end
    end
    return self:q("INSERT INTO " .. runs .. " (connection, asset, started_at, status, pid, pid_start, host, run_id, "
      .. "icx_version) VALUES ($1, $2, now(), 'running', $3, $4, $5, $6, $7) RETURNING id", connection, asset, pid,
      sys.process_start(pid), host, lineage.run_id, lineage.version)[1].id
  end)
end

function Store:run_finish(id, t)
  local msg = t.error ~= nil and M.scrub(t.error, self.secrets) or nil
  self:atomic(function()
    self:q("UPDATE " .. self:qualified("_icx_runs") .. " SET finished_at = now(), status = $1, rows = $2, "
      .. "requests = $3, retries = $4, rate_limited = $5, error = $6, columns_added = $7 WHERE id = $8", t.status,
      t.rows, t.requests, t.retries, t.rate_limited, msg, t.columns_added, id)
  end)
end

function Store:close_stale(connection, asset)
  self:atomic(function()
    self:q("UPDATE " .. self:qualified("_icx_runs") .. " SET status = 'interrupted', finished_at = now(), "
      .. "error = 'icx (pid ' || coalesce(pid::text, '?') || ' on ' || coalesce(host, '?') || ') ended without "
      .. "finishing the run: killed or crashed' WHERE status = 'running' AND connection = $1 AND asset = $2",
      connection, asset)
  end)
end

-- Locks -----------------------------------------------------------------------

-- The two-key form keeps these apart from the single-key locks around DDL.
local RUN_LOCK = "hashtext('icx-run:' || $1), hashtext($2 || '/' || $3)"

-- The backend holding the run lock of (connection, asset), if any.
function Store:lock_holder(connection, asset)
  return self:q(ACTIVITY .. " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    .. "AND l.pid <> pg_backend_pid() "
    .. "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    .. "AND l.classid = hashtext('icx-run:' || $1)::oid AND l.objid = hashtext($2 || '/' || $3)::oid",
    self.schema, connection, asset)[1]
end

-- A run lock whose holder is an icx process of this host that is gone:
-- its backend outlived it (killed mid-statement, a pooler, a frozen
-- network). That backend is ended, and its lock with it. true when done.
function Store:reclaim(asset, r)
  local pid, host = r.app:match("^icx pid (%d+) on (.*)$")
  pid = math.tointeger(tonumber(pid))
  local me = sys.hostname()
  if not pid or host == "" or me:sub(1, #host) ~= host or sys.alive(pid) then return false end
  log.warn("%s: its run lock is held by %s, left by icx pid %d, which is gone: ending that backend", asset,
    describe(r), pid)
  local ok = self.conn:query("SELECT pg_terminate_backend($1) AS x", r.pid)
  if not ok then return false end
  for _ = 1, 50 do
    if not self:q("SELECT 1 AS x FROM pg_stat_activity WHERE pid = $1", r.pid)[1] then return true end
    sys.sleep(0.1)
  end
  return false
end

function Store:lock(connection, asset)
  local function try()
    return self:q("SELECT pg_try_advisory_lock(" .. RUN_LOCK .. ") AS ok", self.schema, connection, asset)[1].ok
  end
  local got = try()
  if not got then
    local r = self:lock_holder(connection, asset)
    if r and self:reclaim(asset, r) then got = try() end
  end
  if got then
    local s = self
    return setmetatable({}, { __index = { release = function(lk)
      if lk.done or not s.conn then return end
      lk.done = true
      -- A lost connection has released it with the session: nothing to
      -- raise, and the run's summary must still be written.
      s.conn:query("SELECT pg_advisory_unlock(" .. RUN_LOCK .. ")", s.schema, connection, asset)
    end } })
  end
  return nil, self:holder(connection, asset) or "another session"
end

function Store:holder(connection, asset)
  local r = self:q("SELECT pid, host, started_at::text AS started_at FROM " .. self:qualified("_icx_runs")
    .. " WHERE connection = $1 AND asset = $2 AND status = 'running' ORDER BY id DESC LIMIT 1",
    connection, asset)[1]
  local b = self:lock_holder(connection, asset)
  if r then
    return ("icx pid %s on %s, running since %s%s"):format(tostring(r.pid), tostring(r.host), r.started_at,
      b and ("; " .. describe(b)) or "")
  end
  -- Before the holder's run row exists (it takes the lock first): the
  -- backend that holds it.
  return b and describe(b) or nil
end

function Store:lock_free(connection, asset)
  local lk = self:lock(connection, asset)
  if not lk then return false end
  lk:release()
  return true
end

-- Meta, status, reset ---------------------------------------------------------

function Store:meta_get(key)
  local r = self:q("SELECT value FROM " .. self:qualified("_icx_meta") .. " WHERE key = $1", key)[1]
  return r and r.value
end

function Store:meta_set(key, value)
  self:atomic(function()
    self:q("INSERT INTO " .. self:qualified("_icx_meta") .. " (key, value) VALUES ($1, $2) ON CONFLICT (key) "
      .. "DO UPDATE SET value = excluded.value", key, value)
  end)
end

-- Times as icx.state writes them (UTC, milliseconds), so status reads alike.
local function utc(col)
  return ("to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"):format(col)
end

function Store:status()
  local runs = self:qualified("_icx_runs")
  local rows = self:q(([[
    WITH last AS (SELECT connection, asset, max(id) AS id FROM %s GROUP BY connection, asset),
    good AS (SELECT connection, asset, max(id) AS id FROM %s WHERE status = 'ok' GROUP BY connection, asset),
    bad AS (SELECT connection, asset, max(id) AS id FROM %s WHERE status = 'failed' GROUP BY connection, asset),
    assets AS (SELECT connection, asset FROM %s WHERE strpos(asset, '/') = 0
      UNION SELECT connection, asset FROM %s)
    SELECT a.connection, a.asset, s.key AS cursor_key, s.value::text AS cursor, r.status AS last_status,
      %s AS last_run_at, r.rows AS rows, r.run_id, r.icx_version,
      %s AS last_success_at, %s AS last_failure_at, b.error AS last_error
    FROM assets a
    LEFT JOIN %s s ON s.connection = a.connection AND s.asset = a.asset
    LEFT JOIN last l ON l.connection = a.connection AND l.asset = a.asset
    LEFT JOIN %s r ON r.id = l.id
    LEFT JOIN good gl ON gl.connection = a.connection AND gl.asset = a.asset
    LEFT JOIN %s g ON g.id = gl.id
    LEFT JOIN bad bl ON bl.connection = a.connection AND bl.asset = a.asset
    LEFT JOIN %s b ON b.id = bl.id
    ORDER BY a.connection, a.asset]]):format(runs, runs, runs, self:qualified("_icx_state"), runs,
    utc("r.started_at"), utc("g.finished_at"), utc("b.finished_at"), self:qualified("_icx_state"), runs, runs, runs))
  for _, r in ipairs(rows) do
    local v = r.cursor and json.decode(r.cursor)
    r.cursor = v ~= json.null and v or nil
  end
  return rows
end

function Store:runs(n)
  return self:q(([[
    SELECT id, connection, asset, run_id, icx_version, %s AS started_at, %s AS finished_at, status, rows, requests,
      retries, rate_limited, error, columns_added FROM (
      SELECT *, row_number() OVER (PARTITION BY connection, asset ORDER BY id DESC) AS nth FROM %s) r
    WHERE nth <= $1 ORDER BY connection, asset, id DESC]]):format(utc("started_at"), utc("finished_at"),
    self:qualified("_icx_runs")), n)
end

function Store:columns()
  return self:q("SELECT tbl, col FROM " .. self:qualified("_icx_columns") .. " ORDER BY tbl, col")
end

-- Completeness checks (as in icx.state): one check's rows share checked_at.
function Store:completeness_add(connection, asset, run, rows)
  local t = self:qualified("_icx_completeness")
  self:atomic(function()
    for _, r in ipairs(rows) do
      self:q("INSERT INTO " .. t .. " (connection, asset, \"window\", lo, hi, expected, landed, healed, checked_at, "
        .. "run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", connection, asset, r.window, r.lo, r.hi,
        r.expected, r.landed, r.healed, r.checked_at, run)
    end
  end)
end

function Store:completeness_last()
  local t = self:qualified("_icx_completeness")
  return self:q(([[
    WITH last AS (SELECT connection, asset, max(checked_at) AS at FROM %s GROUP BY connection, asset)
    SELECT c.connection, c.asset, l.at AS checked_at, count(*)::int AS windows, sum(c.expected)::bigint AS expected,
      sum(c.landed)::bigint AS landed, sum(c.healed)::bigint AS healed,
      sum(greatest(c.expected - c.landed, 0))::bigint AS missing
    FROM %s c JOIN last l ON l.connection = c.connection AND l.asset = c.asset AND c.checked_at = l.at
    GROUP BY c.connection, c.asset, l.at ORDER BY c.connection, c.asset]]):format(t, t))
end

function Store:reset(connection, asset)
  return self:atomic(function()
    return #self:q("DELETE FROM " .. self:qualified("_icx_state") .. " WHERE (asset = $1 OR asset = $1 || "
      .. "'/slices') AND ($2::text IS NULL OR connection = $2) RETURNING 1 AS x", asset, connection)
  end)
end

return M
