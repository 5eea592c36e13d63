-- The PostgreSQL destination: --dest postgresql://user:password@host:port/db
-- ?schema=NAME&sslmode=... (or postgres://). Records land through the typed
-- C writer (icx.pg): COPY into a temporary staging table, then one INSERT ...
-- ON CONFLICT per page, in the page's transaction with its child rows and
-- its cursor, exactly as with SQLite. merge upserts on the primary key;
-- replace fills a new table named with this connection's backend pid (two
-- processes replacing one table never share it) and swaps it in at finish
-- in one transaction: readers see the old table or the whole new one.
-- State lives in the destination schema: _icx_state, _icx_runs,
-- _icx_deleted, and _icx_columns (field -> column and declared kinds).
--
-- The password is a secret like the access token: registered for
-- redaction, scrubbed from every message, never echoed in the URI.
local errors = require "icx.errors"
local json = require "icx.json"
local log = require "icx.log"
local pg = require "icx.pg"

local M = {}

local Dest = {}
Dest.__index = Dest
Dest.__name = "icx.dest.Postgres"

local Table = {}
Table.__index = Table
Table.__name = "icx.dest.PostgresTable"

local quote = pg.quote

local function misuse(fmt, ...) errors.raise("internal", "icx.dest: " .. fmt:format(...)) end

local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

local function pct_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The URI with its password (userinfo or ?password=) shown as ****.
function M.mask_uri(uri)
  local scheme, rest = uri:match("^([%a][%w+.-]*://)(.*)$")
  if not scheme then return uri end
  local authority, tail = rest:match("^([^/?#]*)(.*)$")
  local at = authority:find("@[^@]*$")
  if at then
    local userinfo = authority:sub(1, at - 1)
    local user = userinfo:match("^([^:]*):")
    if user then authority = user .. ":****" .. authority:sub(at) end
  end
  tail = tail:gsub("([?&]password=)[^&#]*", "%1****")
  return scheme .. authority .. tail
end

-- uri -> libpq conninfo (icx's own ?schema= removed), schema, secrets (the
-- password as written and percent-decoded, for scrubbing).
function M.parse(uri)
  local scheme, rest = uri:match("^(postgres[%a]*)://(.*)$")
  if scheme ~= "postgresql" and scheme ~= "postgres" then
    usage("'%s': write postgresql://user:password@host:port/dbname", M.mask_uri(uri))
  end
  local base, query = rest:match("^([^?#]*)%??([^#]*)")
  local authority = base:match("^([^/]*)")
  local secrets = {}
  local userinfo = authority:match("^(.*)@")
  local raw_pw = userinfo and userinfo:match("^[^:]*:(.*)$")
  if raw_pw and raw_pw ~= "" then
    secrets[#secrets + 1] = raw_pw
    secrets[#secrets + 1] = pct_decode(raw_pw)
  end
  local schema, kept = "public", {}
  for item in query:gmatch("[^&]+") do
    local k, v = item:match("^([^=]*)=(.*)$")
    if k == "schema" then
      schema = pct_decode(v)
    else
      if k == "password" then
        secrets[#secrets + 1] = v
        secrets[#secrets + 1] = pct_decode(v)
      end
      kept[#kept + 1] = item
    end
  end
  if schema == "" or #schema > 63 or schema:find("\0", 1, true) then
    usage("'%s': schema must be 1 to 63 bytes", M.mask_uri(uri))
  end
  local conninfo = scheme .. "://" .. base .. (#kept > 0 and ("?" .. table.concat(kept, "&")) or "")
  return conninfo, schema, secrets
end

-- Replaces every secret in s with ****.
local function scrub(s, secrets)
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

-- Raises a dest error for a failed icx.pg call; passes results through.
function Dest:check(v, err, code, ...)
  if v == nil then errors.raise("dest", scrub(err, self.secrets), { code = code }) end
  return v, err, code, ...
end

-- Runs f() in its own transaction unless one is open (the caller's page
-- transaction then carries the change).
function Dest:atomic(f)
  local conn = self.conn
  if conn:in_transaction() then return f() end
  self:check(conn:begin())
  local ok, res = pcall(f)
  if not ok then
    conn:rollback()
    error(res, 0)
  end
  self:commit_or_raise()
  return res
end

function Dest:commit_or_raise()
  local done, err, code = self.conn:commit()
  if not done then
    self.conn:rollback()
    self:check(nil, err, code)
  end
end

function Dest:q(sql, ...) return self:check(self.conn:query(sql, ...)) end

-- schema.name, quoted.
function Dest:qualified(name) return quote(self.schema) .. "." .. quote(name) end

-- The advisory lock key of a table, the one icx.pg's writer takes.
function Dest:lock(name) self:q("SELECT pg_advisory_xact_lock(hashtext($1))", "icx:" .. self.schema .. "." .. name) end

-- _icx_runs.value keeps a cursor's JSON type: an integer stays an integer.
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
  host text);
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
]]

-- Creates the schema (when missing: CREATE SCHEMA IF NOT EXISTS would
-- need the CREATE privilege even then) and the state tables, under a lock
-- so processes starting together do not race on the catalog.
function Dest:init()
  self:atomic(function()
    self:q("SELECT pg_advisory_xact_lock(hashtext('icx:init'))")
    if not self:q("SELECT 1 AS x FROM pg_namespace WHERE nspname = $1", self.schema)[1] then
      self:check(self.conn:exec("CREATE SCHEMA " .. quote(self.schema)))
    end
    self:check(self.conn:exec(SCHEMA:format(self:qualified("_icx_state"), self:qualified("_icx_runs"),
      self:qualified("_icx_deleted"), self:qualified("_icx_columns"))))
  end)
end

-- Opens the destination named by uri (postgresql:// or postgres://).
function M.open(uri, opts)
  if opts and opts.state ~= nil then
    errors.raise("usage", "--state applies to jsonl destinations only; a PostgreSQL destination keeps its "
      .. "state inside (see icx help)")
  end
  local conninfo, schema, secrets = M.parse(uri)
  local env_pw = os.getenv("PGPASSWORD")
  if env_pw and env_pw ~= "" then secrets[#secrets + 1] = env_pw end
  for _, s in ipairs(secrets) do log.add_secret(s) end
  local masked = M.mask_uri(uri)
  local conn, err, code = pg.connect(conninfo)
  if not conn then
    local kind = code == "conninfo" and "usage" or "dest"
    errors.raise(kind, ("cannot connect to the PostgreSQL destination '%s': %s"):format(masked,
      scrub(err, secrets)), { code = code })
  end
  local d = setmetatable({ kind = "postgresql", uri = masked, conn = conn, schema = schema, secrets = secrets,
    tables = {} }, Dest)
  local ok, e = pcall(d.init, d)
  if not ok then
    conn:close()
    error(e, 0)
  end
  return d
end

function Dest:__tostring() return "icx.dest.Postgres(" .. self.uri .. ")" end

function Dest:begin()
  if self.conn:in_transaction() then misuse("begin() inside a transaction") end
  self:check(self.conn:begin())
end

function Dest:commit()
  if not self.conn:in_transaction() then misuse("commit() outside a transaction") end
  self:commit_or_raise()
end

function Dest:rollback() self:check(self.conn:rollback()) end

-- Drops the new tables of replace runs whose backend is gone (killed
-- mid-run); a live backend's table is another run's work in progress.
function Dest:drop_stale(prefix)
  local rows = self:q([[SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind = 'r' AND left(c.relname, length($2)) = $2
    AND CASE WHEN substr(c.relname, length($2) + 1) ~ '^_[0-9]{1,9}$'
      THEN substr(c.relname, length($2) + 2)::int NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
      ELSE false END]], self.schema, prefix)
  for _, r in ipairs(rows) do
    self:check(self.conn:exec("DROP TABLE IF EXISTS " .. self:qualified(r.name)))
    self:q("DELETE FROM " .. self:qualified("_icx_columns") .. " WHERE tbl = $1", r.name)
  end
end

function Dest:table(spec)
  local name, pk, mode = require("icx.dest").table_spec(spec)
  local t = setmetatable({ dest = self, name = name, mode = mode, primary_key = pk, final = pg.ident(name) }, Table)
  t.target = t.final
  if mode == "replace" then
    local prefix = pg.ident("_icx_new_" .. name, 11)
    t.target = prefix .. "_" .. self.conn:pid()
    self:atomic(function()
      self:drop_stale(prefix)
      self:check(self.conn:exec("DROP TABLE IF EXISTS " .. self:qualified(t.target)))
      self:q("DELETE FROM " .. self:qualified("_icx_columns") .. " WHERE tbl = $1", t.target)
    end)
  end
  t.writer = self.conn:writer(self.schema, t.target, { primary_key = pk })
  self.tables[#self.tables + 1] = t
  return t
end

function Dest:close()
  if not self.conn then return end
  for _, t in ipairs(self.tables) do
    if t.writer then t.writer:close() end
  end
  self.conn:close()
  self.conn = nil
end
Dest.__close = Dest.close
Dest.__gc = Dest.close

-- State ------------------------------------------------------------------

function Dest:cursor_get(connection, asset)
  local r = self:q("SELECT key, value::text AS value FROM " .. self:qualified("_icx_state")
    .. " WHERE connection = $1 AND asset = $2", connection, asset)[1]
  if not r then return nil end
  local v = r.value and json.decode(r.value)
  if v == json.null then v = nil end
  return v, r.key
end

-- Stores the cursor inside the page's transaction, so the two commit (or
-- vanish) together.
function Dest:cursor_set(connection, asset, key, value)
  if not self.conn:in_transaction() then
    misuse("cursor_set outside a transaction (call d:begin() first)")
  end
  if type(key) ~= "string" then misuse("cursor key must be a string") end
  self:q("INSERT INTO " .. self:qualified("_icx_state") .. " (connection, asset, key, value, updated_at) "
    .. "VALUES ($1, $2, $3, $4::json, now()) ON CONFLICT (connection, asset) DO UPDATE SET key = excluded.key, "
    .. "value = excluded.value, updated_at = excluded.updated_at", connection, asset, key,
    value ~= nil and json.encode(value) or nil)
end

-- A Lua list of strings as a text[] literal.
local function text_array(values)
  local out = {}
  for i, v in ipairs(values) do
    if math.type(v) == "float" and math.tointeger(v) then v = math.tointeger(v) end
    out[i] = '"' .. tostring(v):gsub('[\\"]', "\\%0") .. '"'
  end
  return "{" .. table.concat(out, ",") .. "}"
end

function Dest:deleted_add(connection, asset, ids)
  if not self.conn:in_transaction() then
    misuse("deleted_add outside a transaction (call d:begin() first)")
  end
  if #ids == 0 then return end
  self:q("INSERT INTO " .. self:qualified("_icx_deleted") .. " (connection, asset, id, detected_at) "
    .. "SELECT $1, $2, x, now() FROM unnest($3::text[]) AS x ON CONFLICT DO NOTHING", connection, asset,
    text_array(ids))
end

-- Whether the process that wrote a run row still runs (as in icx.state).
local function still_running(pid, start)
  local sys = require "icx.sys"
  local now_start = sys.process_start(pid)
  if start and sys.process_start(sys.pid()) then return now_start == start end
  return sys.alive(pid)
end

function Dest:run_start(t)
  t = t or {}
  if type(t.connection) ~= "string" or type(t.asset) ~= "string" then
    misuse("run_start needs connection and asset names")
  end
  local sys = require "icx.sys"
  local pid, host = sys.pid(), sys.hostname()
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
    return self:q("INSERT INTO " .. runs .. " (connection, asset, started_at, status, pid, pid_start, host) "
      .. "VALUES ($1, $2, now(), 'running', $3, $4, $5) RETURNING id", t.connection, t.asset, pid,
      sys.process_start(pid), host)[1].id
  end)
end

local STATUS = { ok = true, failed = true, interrupted = true }

function Dest:run_finish(id, t)
  t = t or {}
  if not STATUS[t.status] then
    misuse("run status must be 'ok', 'failed' or 'interrupted', not '%s'", tostring(t.status))
  end
  local msg = t.error ~= nil and scrub(log.redact(tostring(t.error)), self.secrets) or nil
  self:atomic(function()
    self:q("UPDATE " .. self:qualified("_icx_runs") .. " SET finished_at = now(), status = $1, rows = $2, "
      .. "requests = $3, retries = $4, rate_limited = $5, error = $6 WHERE id = $7", t.status, t.rows or 0,
      t.requests or 0, t.retries or 0, t.rate_limited or 0, msg, id)
  end)
end

-- Tables -----------------------------------------------------------------

function Table:__tostring() return "icx.dest.PostgresTable(" .. self.name .. ")" end

local function live(t, what)
  if not t.writer then misuse("%s on table '%s' after finish() or abandon()", what, t.name) end
  if not t.dest.conn then misuse("%s on table '%s' after the destination closed", what, t.name) end
end

-- Writes a page (icx.json.Page, or JSON text of a record or a list of
-- them); returns the number of records.
function Table:write(page)
  live(self, "write()")
  local d = self.dest
  if not d.conn:in_transaction() then misuse("write() on table '%s' outside a transaction", self.name) end
  return d:check(self.writer:write(page))
end

-- The column a field landed in and its kind, or nil while it has none.
function Table:column_of(field)
  local d = self.dest
  local r = d:q("SELECT col, kind FROM " .. d:qualified("_icx_columns") .. " WHERE tbl = $1 AND field = $2 "
    .. "AND to_regclass($3) IS NOT NULL", self.target, field, d:qualified(self.target))[1]
  if r then return r.col, r.kind end
end

-- Deletes the rows whose column holds one of values (child rows of parents
-- about to be rewritten, or records --reconcile found gone).
function Table:delete_where(column, values)
  live(self, "delete_where()")
  local d = self.dest
  if not d.conn:in_transaction() then misuse("delete_where() on table '%s' outside a transaction", self.name) end
  if type(column) ~= "string" then misuse("delete_where() needs a column name") end
  if type(values) ~= "table" or #values == 0 then return 0 end
  local col, kind = self:column_of(column)
  if not col then return 0 end
  -- id columns are text: compare directly so the primary key index serves.
  local lhs = quote(col) .. (kind == "id" and "" or "::text")
  return d:q("WITH gone AS (DELETE FROM " .. d:qualified(self.target) .. " WHERE " .. lhs
    .. " = ANY($1::text[]) RETURNING 1) SELECT count(*)::int AS n FROM gone", text_array(values))[1].n
end

-- Every value of column as text, for --reconcile; empty when the table or
-- column does not exist yet.
function Table:keys(column)
  live(self, "keys()")
  local d = self.dest
  local col = self:column_of(column)
  if not col then return {} end
  local out = {}
  for _, r in ipairs(d:q("SELECT " .. quote(col) .. "::text AS k FROM " .. d:qualified(self.target) .. " WHERE "
      .. quote(col) .. " IS NOT NULL")) do
    out[#out + 1] = r.k
  end
  return out
end

-- replace: swaps the new table in, in one transaction: drop the old one,
-- rename the new one and its primary key, move its _icx_columns rows.
-- Views over the table block the DROP: icx then fails rather than drop
-- them (CASCADE); the old table stays.
function Table:finish()
  if self.mode ~= "replace" then return end
  live(self, "finish()")
  local d = self.dest
  if d.conn:in_transaction() then misuse("finish() on table '%s' inside a transaction", self.name) end
  d:atomic(function()
    d:check(self.writer:write("[]")) -- a run with no records still leaves the (empty) table
    d:lock(self.final)
    local pkey = d:q("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'",
      d:qualified(self.target))[1]
    d:check(d.conn:exec("DROP TABLE IF EXISTS " .. d:qualified(self.final) .. "; ALTER TABLE "
      .. d:qualified(self.target) .. " RENAME TO " .. quote(self.final)))
    if pkey then
      d:check(d.conn:exec("ALTER TABLE " .. d:qualified(self.final) .. " RENAME CONSTRAINT "
        .. quote(pkey.conname) .. " TO " .. quote(pg.ident(self.name, 5) .. "_pkey")))
    end
    local cols = d:qualified("_icx_columns")
    d:q("DELETE FROM " .. cols .. " WHERE tbl = $1", self.final)
    d:q("UPDATE " .. cols .. " SET tbl = $1 WHERE tbl = $2", self.final, self.target)
  end)
  self.writer:close()
  self.writer = nil
end

-- replace: drops the new table; the old one stays as it was.
function Table:abandon()
  if self.mode ~= "replace" or not self.writer then return end
  local d = self.dest
  if d.conn then
    pcall(function()
      if d.conn:in_transaction() then d.conn:rollback() end
      d:atomic(function()
        d:check(d.conn:exec("DROP TABLE IF EXISTS " .. d:qualified(self.target)))
        d:q("DELETE FROM " .. d:qualified("_icx_columns") .. " WHERE tbl = $1", self.target)
      end)
    end)
  end
  self.writer:close()
  self.writer = nil
end

return M
