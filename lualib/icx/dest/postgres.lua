-- The PostgreSQL destination: --dest postgresql://user:password@host:port/db
-- ?schema=NAME&sslmode=... (or postgres://). Its Store keeps icx's state in
-- the destination schema (icx.dest.pgstore); its Writer lands records
-- through the typed C writer (icx.pg): COPY into a temporary staging table,
-- then one INSERT ... ON CONFLICT per page, in the page's transaction with
-- its child rows and its cursor, exactly as with SQLite. merge upserts on
-- the primary key; replace fills a new table named with this connection's
-- backend pid (two processes replacing one table never share it) and swaps
-- it in at finish in one transaction: readers see the old table or the
-- whole new one.
--
-- The password is a secret like the access token: registered for
-- redaction, scrubbed from every message, never echoed in the URI.
local base = require "icx.dest.base"
local errors = require "icx.errors"
local log = require "icx.log"
local pg = require "icx.pg"
local pgstore = require "icx.dest.pgstore"

local M = {
  name = "postgresql", title = "PostgreSQL", schemes = { "postgresql", "postgres" },
  form = "postgresql://...", paths = false, state = false,
  reads_keys = true,
}

local Writer = {}
Writer.__index = Writer
Writer.__name = "icx.dest.PostgresWriter"

M.Store, M.Writer = pgstore.Store, Writer

local quote, text_array = pg.quote, pgstore.text_array

local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

local function pct_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The URI with its password (userinfo or ?password=) shown as ****.
M.shown = require("icx.url").masked

-- The URI is the target: libpq reads it (see parse).
function M.target(uri)
  M.parse(uri)
  return uri
end

-- uri -> libpq conninfo (icx's own ?schema= removed), schema, secrets (the
-- password as written and percent-decoded, for scrubbing).
function M.parse(uri)
  local scheme, rest = uri:match("^(postgres[%a]*)://(.*)$")
  if scheme ~= "postgresql" and scheme ~= "postgres" then
    usage("'%s': write postgresql://user:password@host:port/dbname", M.shown(uri))
  end
  local head, query = rest:match("^([^?#]*)%??([^#]*)")
  local authority = head:match("^([^/]*)")
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
    usage("'%s': schema must be 1 to 63 bytes", M.shown(uri))
  end
  local conninfo = scheme .. "://" .. head .. (#kept > 0 and ("?" .. table.concat(kept, "&")) or "")
  return conninfo, schema, secrets
end

-- Opens the destination named by uri; nil with opts.existing when icx has
-- not written its schema yet (nothing is created then).
function M.open(uri, opts)
  local conninfo, schema, secrets = M.parse(uri)
  local env_pw = os.getenv("PGPASSWORD")
  if env_pw and env_pw ~= "" then secrets[#secrets + 1] = env_pw end
  for _, s in ipairs(secrets) do log.add_secret(s) end
  local conn, err, code = pg.connect(conninfo, { application_name = pgstore.application_name() })
  if not conn then
    local kind = code == "conninfo" and "usage" or "dest"
    errors.raise(kind, ("cannot connect to the PostgreSQL destination '%s': %s"):format(M.shown(uri),
      pgstore.scrub(err, secrets)), { code = code })
  end
  local store = pgstore.new(conn, schema, secrets)
  if opts.existing and not store:exists() then
    store:close()
    return nil
  end
  local ok, e = pcall(store.init, store)
  if not ok then
    store:close()
    error(e, 0)
  end
  local writer = setmetatable({ store = store, tables = {} }, Writer)
  return base.new(M, store, writer, { conn = conn, uri = M.shown(uri), schema = schema })
end

-- The advisory lock key of a table, the one icx.pg's writer takes.
local function ddl_lock(s, name)
  s:q("SELECT pg_advisory_xact_lock(hashtext($1))", "icx:" .. s.schema .. "." .. name)
end

-- Drops the new tables of replace runs whose backend is gone (killed
-- mid-run); a live backend's table is another run's work in progress.
local function drop_stale(s, prefix)
  local rows = s:q([[SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind = 'r' AND left(c.relname, length($2)) = $2
    AND CASE WHEN substr(c.relname, length($2) + 1) ~ '^_[0-9]{1,9}$'
      THEN substr(c.relname, length($2) + 2)::int NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
      ELSE false END]], s.schema, prefix)
  for _, r in ipairs(rows) do
    s:check(s.conn:exec("DROP TABLE IF EXISTS " .. s:qualified(r.name)))
    s:q("DELETE FROM " .. s:qualified("_icx_columns") .. " WHERE tbl = $1", r.name)
  end
end

function Writer:open(name, pk, mode)
  local s = self.store
  local t = { name = name, final = pg.ident(name) }
  t.target = t.final
  if mode == "replace" then
    local prefix = pg.ident("_icx_new_" .. name, 11)
    t.target = prefix .. "_" .. s.conn:pid()
    s:atomic(function()
      drop_stale(s, prefix)
      s:check(s.conn:exec("DROP TABLE IF EXISTS " .. s:qualified(t.target)))
      s:q("DELETE FROM " .. s:qualified("_icx_columns") .. " WHERE tbl = $1", t.target)
    end)
  end
  t.writer = s.conn:writer(s.schema, t.target, { primary_key = pk })
  self.tables[#self.tables + 1] = t
  return t
end

-- A page that adds or widens a column waits for the table's lock at most
-- pgstore.DDL_LOCK_TIMEOUT a time (the C writer sets it around its DDL).
function Writer:write(t, page)
  local s = self.store
  return s:patiently(t.target, function() return s:check(t.writer:write(page)) end)
end

-- The column a field landed in and its kind, or nil while it has none.
local function column_of(s, t, field)
  local r = s:q("SELECT col, kind FROM " .. s:qualified("_icx_columns") .. " WHERE tbl = $1 AND field = $2 "
    .. "AND to_regclass($3) IS NOT NULL", t.target, field, s:qualified(t.target))[1]
  if r then return r.col, r.kind end
end

function Writer:delete_where(t, column, values)
  local s = self.store
  local col, kind = column_of(s, t, column)
  if not col then return 0 end
  -- id columns are text: compare directly so the primary key index serves.
  local lhs = quote(col) .. (kind == "id" and "" or "::text")
  return s:q("WITH gone AS (DELETE FROM " .. s:qualified(t.target) .. " WHERE " .. lhs
    .. " = ANY($1::text[]) RETURNING 1) SELECT count(*)::int AS n FROM gone", text_array(values))[1].n
end

function Writer:keys(t, column)
  local s = self.store
  local col = column_of(s, t, column)
  if not col then return {} end
  local out = {}
  for _, r in ipairs(s:q("SELECT " .. quote(col) .. "::text AS k FROM " .. s:qualified(t.target) .. " WHERE "
      .. quote(col) .. " IS NOT NULL")) do
    out[#out + 1] = r.k
  end
  return out
end

-- The COPY writer does not look rows up before it merges them.
function Writer:changes() return nil end

-- The swap itself, one attempt (see finish).
local function swap(s, t)
  s:check(s.conn:exec("SET LOCAL lock_timeout = '" .. pgstore.DDL_LOCK_TIMEOUT .. "'"))
  ddl_lock(s, t.final)
  local pkey = s:q("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'",
    s:qualified(t.target))[1]
  s:check(s.conn:exec("DROP TABLE IF EXISTS " .. s:qualified(t.final) .. "; ALTER TABLE "
    .. s:qualified(t.target) .. " RENAME TO " .. quote(t.final)))
  if pkey then
    s:check(s.conn:exec("ALTER TABLE " .. s:qualified(t.final) .. " RENAME CONSTRAINT "
      .. quote(pkey.conname) .. " TO " .. quote(pg.ident(t.name, 5) .. "_pkey")))
  end
  local cols = s:qualified("_icx_columns")
  s:q("DELETE FROM " .. cols .. " WHERE tbl = $1", t.final)
  s:q("UPDATE " .. cols .. " SET tbl = $1 WHERE tbl = $2", t.final, t.target)
  s:check(s.conn:exec("SET LOCAL lock_timeout = DEFAULT"))
end

-- replace: swaps the new table in, in one transaction: drop the old one,
-- rename the new one and its primary key, move its _icx_columns rows.
-- Views over the table block the DROP: icx then fails rather than drop
-- them (CASCADE); the old table stays. The swap waits for readers of the
-- old table a bounded time per attempt (pgstore.patiently), so readers
-- arriving meanwhile queue behind it for seconds, not for the wait.
function Writer:finish(t)
  local s = self.store
  s:atomic(function()
    s:check(t.writer:write("[]")) -- a run with no records still leaves the (empty) table
    s:patiently(t.final, function() swap(s, t) end)
  end)
  t.writer:close()
end


-- replace: drops the new table; the old one stays as it was. Best effort:
-- a table left behind is dropped by the next run once this backend is gone.
function Writer:abandon(t)
  local s = self.store
  t.writer:close()
  pcall(function()
    if s.conn:in_transaction() then s.conn:rollback() end
    s:atomic(function()
      s:check(s.conn:exec("DROP TABLE IF EXISTS " .. s:qualified(t.target)))
      s:q("DELETE FROM " .. s:qualified("_icx_columns") .. " WHERE tbl = $1", t.target)
    end)
  end)
end

base.writes_through(Writer)

return M
