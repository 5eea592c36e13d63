-- icx.dest.parquetstore: the Store of the Parquet destination, and the
-- staging its Writer fills. Nothing a page commits is published at once:
-- its rows (appended: a key's earlier rows stay until publish keeps its
-- last) and its state (cursors, seen and deleted ids) commit together
-- into a private DuckDB staging file, and publish() (at a size threshold,
-- at a replace's finish, before a run record closes, at close) writes each
-- staged table as a Parquet file through the object store, then a
-- manifest, and only then applies the staged state to the shared state
-- beside the data (parquet:DIR: DIR/_icx/state.duckdb, icx.dest.duckstore;
-- s3://: the object _icx/state.duckdb, icx.dest.bucketstate: runs, locks,
-- status). A kill at any moment therefore loses only records whose
-- cursor never moved: the rerun reads them again (a file published just
-- before the kill may hold some twice; the latest-per-key view keeps one).
-- An object store's upload parks its task: while one publishes, no other
-- task of this process begins a page, so what it publishes and then
-- empties from the staging is exactly what it copied.
--
--   parquetstore.open(dir, store, opts) -> Store   dir: the local directory
--       of the staging (and of the shared state unless opts.shared);
--       store: an icx.objstore; opts: file_rows, busy_timeout, shared (a
--       Store of the shared state with mutate(f), as icx.dest.bucketstate)
--   Store.staging        the icx.duckdb staging handle (the Writer's)
--   Store:publish(final_table)   see above; final_table: a replace's name
local duckstore = require "icx.dest.duckstore"
local errors = require "icx.errors"
local json = require "icx.json"
local sched = require "icx.sched"
local sys = require "icx.sys"

local check, encode, decode = duckstore.check, duckstore.encode, duckstore.decode

local M = {}

local Store = {}
Store.__index = Store
Store.__name = "icx.dest.ParquetStore"
M.Store = Store

local PENDING = [[
CREATE TABLE IF NOT EXISTS _icx_p_state (connection VARCHAR, asset VARCHAR, key VARCHAR, value VARCHAR,
  vtype VARCHAR, gone BOOLEAN, PRIMARY KEY (connection, asset));
CREATE TABLE IF NOT EXISTS _icx_p_seen (connection VARCHAR, asset VARCHAR, id VARCHAR, updated_at BIGINT,
  gone BOOLEAN, PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS _icx_p_deleted (connection VARCHAR, asset VARCHAR, id VARCHAR,
  PRIMARY KEY (connection, asset, id));
CREATE TABLE IF NOT EXISTS _icx_p_tables (tbl VARCHAR PRIMARY KEY, name VARCHAR, mode VARCHAR, pk VARCHAR);
]] .. "CREATE TABLE IF NOT EXISTS _icx_columns (tbl VARCHAR NOT NULL, field VARCHAR NOT NULL, col VARCHAR NOT NULL, "
  .. "kind VARCHAR NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tbl, field));"

-- Staging files of processes that are gone: their rows were never
-- published and their cursors never moved; and their Parquet files
-- written aside for an upload that never finished.
local function drop_dead_staging(dir)
  local db = require("icx.duckdb").open(":memory:")
  local rows = db:query("SELECT file FROM glob(?) UNION ALL SELECT file FROM glob(?)", dir .. "/staging-*.duckdb*",
    dir .. "/out-*.parquet")
  db:close()
  for _, r in ipairs(rows or {}) do
    local pid = math.tointeger(tonumber(r.file:match("staging%-(%d+)%.duckdb") or r.file:match("out%-(%d+)%-")))
    if pid and pid ~= sys.pid() and not sys.alive(pid) then sys.remove(r.file) end
  end
end

function M.open(dir, store, opts)
  local ok, err = sys.mkdir(dir)
  if not ok then errors.raise("usage", ("cannot create '%s': %s"):format(dir, tostring(err))) end
  local shared = opts.shared or duckstore.open(dir .. "/state.duckdb", "the Parquet destination's state file", opts)
  drop_dead_staging(dir)
  local path = ("%s/staging-%d.duckdb"):format(dir, sys.pid())
  sys.remove(path)
  sys.remove(path .. ".wal")
  local staging = require("icx.duckdb").open(path)
  local self = setmetatable({ shared = shared, staging = staging, staging_path = path, dir = dir,
    objects = store, rows = opts.file_rows or 1000000, seq = 0, staged = 0,
    load_id = os.date("!%Y%m%dT%H%M%SZ") .. "-" .. sys.pid() }, Store)
  check(staging:exec(PENDING))
  return self
end

function Store:__tostring() return "icx.dest.ParquetStore(" .. self.dir .. ")" end

-- A task waits while another publishes (see the header).
local function wait_publish(self)
  while self.publishing do sched.sleep(0.005) end
end

function Store:begin()
  wait_publish(self)
  check(self.staging:begin())
end

-- The page is staged; once enough rows wait, they are published. A run
-- lock kept in the object store is renewed as pages commit.
function Store:commit()
  check(self.staging:commit())
  if self.shared.renew then self.shared:renew() end
  if self.staged >= self.rows then self:publish() end
end

function Store:rollback() check(self.staging:rollback()) end
function Store:in_transaction() return self.staging ~= nil and self.staging:in_transaction() end

function Store:close()
  if not self.staging then return end
  local ok, err = pcall(self.publish, self)
  self.staging:close()
  sys.remove(self.staging_path)
  sys.remove(self.staging_path .. ".wal")
  self.staging = nil
  self.shared:close()
  if not ok then error(err, 0) end
end

-- Staged state first (what this process will publish), then the shared.
function Store:cursor_get(connection, asset)
  local r = check(self.staging:query("SELECT key, value, vtype, gone FROM _icx_p_state WHERE connection = ? "
    .. "AND asset = ?", connection, asset))[1]
  if r then
    if r.gone then return nil end
    return decode(r.value, r.vtype), r.key
  end
  return self.shared:cursor_get(connection, asset)
end

-- An UPDATE first: a page's cursor almost always has its row already, and
-- DuckDB's INSERT OR REPLACE costs about three times an UPDATE.
local function pend_state(self, connection, asset, key, value, gone)
  local text, vtype = encode(value)
  local r = check(self.staging:query("UPDATE _icx_p_state SET key = ?, value = ?, vtype = ?, gone = ? "
    .. "WHERE connection = ? AND asset = ?", key, text, vtype, gone, connection, asset))[1]
  if not r or r.Count == 0 then
    check(self.staging:query("INSERT INTO _icx_p_state VALUES (?, ?, ?, ?, ?, ?)", connection, asset, key, text,
      vtype, gone))
  end
end

function Store:cursor_set(connection, asset, key, value) pend_state(self, connection, asset, key, value, false) end
function Store:cursor_delete(connection, asset) pend_state(self, connection, asset, "", nil, true) end

function Store:seen_get(connection, asset, ids)
  local out = self.shared:seen_get(connection, asset, ids)
  for _, id in ipairs(ids) do
    local r = check(self.staging:query("SELECT updated_at, gone FROM _icx_p_seen WHERE connection = ? AND "
      .. "asset = ? AND id = ?", connection, asset, tostring(id)))[1]
    if r then out[tostring(id)] = (not r.gone) and r.updated_at or nil end
  end
  return out
end

function Store:seen_set(connection, asset, map)
  for id, at in pairs(map) do
    check(self.staging:query("INSERT OR REPLACE INTO _icx_p_seen VALUES (?, ?, ?, ?, ?)", connection, asset,
      tostring(id), at and (math.tointeger(at) or at) or nil, not at))
  end
end

function Store:deleted_add(connection, asset, ids)
  for _, id in ipairs(ids) do
    check(self.staging:query("INSERT OR IGNORE INTO _icx_p_deleted VALUES (?, ?, ?)", connection, asset,
      tostring(id)))
  end
end

for _, name in ipairs({ "meta_get", "meta_set", "status", "reset", "close_stale", "lock", "holder",
    "lock_free", "run_start", "completeness_add", "completeness_last", "runs", "columns" }) do
  Store[name] = function(self, ...) return self.shared[name](self.shared, ...) end
end

-- A run record says what the run landed: its data is published first.
function Store:run_finish(id, t)
  self:publish()
  self.shared:run_finish(id, t)
end

local function quote(name) return require("icx.duckdb").quote(name) end

local function literal(s) return "'" .. s:gsub("'", "''") .. "'" end

-- The shared state catches up with what was published.
local function apply_state(self)
  local st = self.staging
  local states = check(st:query("SELECT * FROM _icx_p_state"))
  local seen = check(st:query("SELECT * FROM _icx_p_seen"))
  local deleted = check(st:query("SELECT * FROM _icx_p_deleted"))
  if #states + #seen + #deleted == 0 then return end
  local function apply(shared)
    for _, r in ipairs(states) do
      if r.gone then shared:cursor_delete(r.connection, r.asset)
      else shared:cursor_set(r.connection, r.asset, r.key, decode(r.value, r.vtype)) end
    end
    for _, r in ipairs(seen) do shared:seen_set(r.connection, r.asset, { [r.id] = (not r.gone) and r.updated_at }) end
    for _, r in ipairs(deleted) do shared:deleted_add(r.connection, r.asset, { r.id }) end
  end
  if self.shared.mutate then return self.shared:mutate(apply) end
  duckstore.atomic(self.shared, function() apply(self.shared) end)
end

-- Publishes every staged table (see the header): files, manifest, state,
-- then the staging emptied. A replace table's files are published like
-- any other; final_table names the replace whose files become current
-- (its table manifest, _icx/tables/NAME.json, names them).
function Store:publish(final_table)
  wait_publish(self)
  local st = self.staging
  if not st or st:in_transaction() then return end
  self.publishing = true
  local ok, err = pcall(self.publish_now, self, final_table)
  self.publishing = false
  if not ok then error(err, 0) end
end

function Store:publish_now(final_table)
  local st = self.staging
  local tables = check(st:query("SELECT t.tbl, t.name, t.mode, t.pk FROM _icx_p_tables t ORDER BY t.tbl"))
  local files = {}
  local loaded_at = os.date("!%Y-%m-%d %H:%M:%S", math.floor(sys.time())) .. (".%06d"):format(
    math.floor(sys.time() % 1 * 1e6))
  for _, t in ipairs(tables) do
    t.exists = #check(st:query("SELECT 1 AS x FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
      t.tbl)) > 0
    local n = t.exists and check(st:query("SELECT count(*) AS n FROM " .. quote(t.tbl)))[1].n or 0
    if n > 0 then
      self.seq = self.seq + 1
      local key = ("%s/%s-%04d.parquet"):format(t.name, self.load_id, self.seq)
      local tmp = ("%s/out-%d-%d.parquet"):format(self.dir, sys.pid(), self.seq)
      -- A column that held only NULL so far is left out (its type would
      -- be a guess): the view reads it as NULL, as any missing column.
      local cols = {}
      for _, c in ipairs(check(st:query("SELECT col FROM _icx_columns WHERE tbl = ? AND kind <> 'null' "
          .. "ORDER BY pos", t.tbl))) do
        cols[#cols + 1] = quote(c.col)
      end
      -- Pages were appended (parquet.lua): a key's last row is the one
      -- published, so a file holds each key once, as a merge would.
      local keys = {}
      for _, field in ipairs(json.decode(t.pk or "[]")) do
        local c = check(st:query("SELECT col FROM _icx_columns WHERE tbl = ? AND field = ?", t.tbl, field))[1]
        if c then keys[#keys + 1] = quote(c.col) end
      end
      -- The join costs a publish more than the check that skips it when no
      -- key repeats. (A join on the last row id, not QUALIFY ... ORDER BY
      -- rowid: DuckDB 1.5 answers that one with the first row.)
      local by = table.concat(keys, ", ")
      local last = ""
      if #keys > 0 and check(st:query(("SELECT count(*) AS n FROM (SELECT DISTINCT %s FROM %s)"):format(by,
          quote(t.tbl))))[1].n < n then
        last = ("SEMI JOIN (SELECT max(rowid) AS _icx_last FROM %s GROUP BY %s) l ON s._icx_row = l._icx_last")
          :format(quote(t.tbl), by)
      end
      n = check(st:query(("COPY (SELECT %s, %s AS _icx_load_id, TIMESTAMP %s AS _icx_loaded_at, "
        .. "CAST(row_number() OVER () AS BIGINT) AS _icx_seq FROM (SELECT *, rowid AS _icx_row "
        .. "FROM %s) s %s) TO %s (FORMAT parquet)"):format(table.concat(cols, ", "), literal(self.load_id),
        literal(loaded_at), quote(t.tbl), last, literal(tmp))))[1].Count
      local schema = check(st:query("SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * "
        .. "FROM read_parquet(?))", tmp))
      self.objects:put_file(key, tmp)
      sys.remove(tmp)
      files[#files + 1] = { table = t.name, mode = t.mode, key = key, rows = n, schema = schema }
      if t.mode == "replace" then
        local list = self.replace_files or {}
        self.replace_files = list
        list[t.name] = list[t.name] or {}
        table.insert(list[t.name], key)
      end
    end
  end
  if #files > 0 then
    self.objects:put(("_icx/manifests/%s-%04d.json"):format(self.load_id, self.seq), json.encode {
      load_id = self.load_id, loaded_at = loaded_at, files = files })
  end
  if final_table then
    local keys = (self.replace_files or {})[final_table] or {}
    self.objects:put("_icx/tables/" .. final_table .. ".json", json.encode {
      table = final_table, mode = "replace", load_id = self.load_id,
      files = setmetatable(keys, json.array_mt) })
    self.replace_files[final_table] = nil
  end
  apply_state(self)
  -- What is published leaves the staging (a replace's staging table is
  -- dropped by its writer at finish).
  check(st:begin())
  local ok, err = pcall(function()
    for _, t in ipairs(tables) do
      -- (an abandoned replace's table is dropped while an upload waits)
      if t.exists and #check(st:query("SELECT 1 AS x FROM duckdb_tables() WHERE table_name = ? AND NOT "
          .. "temporary", t.tbl)) > 0 then
        check(st:exec("DELETE FROM " .. quote(t.tbl)))
      end
    end
    check(st:exec("DELETE FROM _icx_p_state; DELETE FROM _icx_p_seen; DELETE FROM _icx_p_deleted"))
  end)
  if not ok then
    st:rollback()
    error(err, 0)
  end
  check(st:commit())
  self.staged = 0
end

return M
