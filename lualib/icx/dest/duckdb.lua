-- The DuckDB destination: duckdb:PATH, one DuckDB database file. Its Store
-- is the file itself (icx.dest.duckstore); its Writer lands records through
-- the typed C writer (icx.duckdb, engine/duckwriter.c: DuckDB's appender
-- into a staging table, then one merge per page), in the transaction of the
-- page with its child rows and its cursor. merge keeps one row per key, the
-- latest record; replace fills _icx_stage_<pid>_<name> page by page and
-- swaps it in at finish, in one transaction, so readers see the old table
-- or the whole new one. Types, names and widening: docs/DUCKDB.md.
local base = require "icx.dest.base"
local duckstore = require "icx.dest.duckstore"
local errors = require "icx.errors"
local sys = require "icx.sys"

local M = {
  name = "duckdb", title = "DuckDB", schemes = { "duckdb" }, form = "duckdb:FILE",
  paths = false, state = false, reads_keys = true,
  shown = require("icx.url").masked,
}


local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

function M.target(uri)
  local path = uri:match("^duckdb:(.*)$")
  if not path or path == "" or path == ":memory:" then
    usage("'%s': write duckdb:FILE (a database file; DuckDB's :memory: would keep nothing)", uri)
  end
  return (path:gsub("^//(/.)", "%1"))
end


local Writer = {}
Writer.__index = Writer
Writer.__name = "icx.dest.DuckdbWriter"
M.Store, M.Writer = duckstore.Store, Writer

local STAGE = "_icx_stage_"

-- Opens (creating if needed) the DuckDB file at path; nil with
-- opts.existing when there is no such file yet.
function M.open(path, opts)
  duckstore.need("--dest duckdb")
  if opts.existing then
    local f = io.open(path, "rb")
    if not f then return nil end
    f:close()
  end
  local store = duckstore.open(path, "the DuckDB destination", opts)
  local writer = setmetatable({ store = store, db = store.db, tables = {} }, Writer)
  return base.new(M, store, writer, { db = store.db, path = path })
end

local check = duckstore.check
local function quote(name) return require("icx.duckdb").quote(name) end
local function atomic(self, f) return duckstore.atomic(self.store, f) end

-- Staging tables of name left by processes that are gone (killed mid
-- replace), and this process's own from an earlier try: dropped.
local function drop_stale_stages(db, name)
  local rows = check(db:query("SELECT table_name AS name FROM duckdb_tables() WHERE NOT temporary "
    .. "AND starts_with(table_name, ?)", STAGE))
  for _, r in ipairs(rows) do
    local pid, of = r.name:sub(#STAGE + 1):match("^(%d+)_(.*)$")
    pid = math.tointeger(tonumber(pid))
    if pid and of == name and (pid == sys.pid() or not sys.alive(pid)) then
      check(db:exec("DROP TABLE IF EXISTS " .. quote(r.name)))
      check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", r.name))
    end
  end
end

function Writer:open(name, pk, mode)
  local t = { name = name, target = name }
  if mode == "replace" then
    t.target = STAGE .. sys.pid() .. "_" .. name
    atomic(self, function(db) drop_stale_stages(db, name) end)
  end
  t.writer = self.db:writer(t.target, { primary_key = pk })
  self.tables[#self.tables + 1] = t
  return t
end

function Writer:write(t, page) return check(t.writer:write(page)) end

-- The column that holds field in target (names match without case, as
-- DuckDB's do), or nil.
local function column(self, target, field)
  local r = check(self.db:query("SELECT col FROM _icx_columns WHERE tbl = ? AND lower(field) = lower(?)",
    target, field))[1]
  return r and r.col
end

function Writer:delete_where(t, field, values)
  local col = column(self, t.target, field)
  if not col then return 0 end
  local n = 0
  for _, v in ipairs(values) do
    if math.type(v) == "float" and math.tointeger(v) then v = math.tointeger(v) end
    n = n + #check(self.db:query("DELETE FROM " .. quote(t.target) .. " WHERE CAST(" .. quote(col)
      .. " AS VARCHAR) = ? RETURNING 1 AS x", tostring(v)))
  end
  return n
end

function Writer:keys(t, field)
  local db = self.db
  local out = {}
  local ok, err = pcall(function()
    local col = column(self, t.target, field)
    if not col then return end
    for _, r in ipairs(check(db:query("SELECT CAST(" .. quote(col) .. " AS VARCHAR) AS k FROM "
        .. quote(t.target) .. " WHERE " .. quote(col) .. " IS NOT NULL"))) do
      out[#out + 1] = r.k
    end
  end)
  duckstore.idle(self.store)
  if not ok then error(err, 0) end
  return out
end

-- The writer cannot tell new from changed rows: icx.totals counts rows.
function Writer.changes() return nil end

-- replace: swaps the staging table in (DROP + RENAME in one transaction).
function Writer:finish(t)
  atomic(self, function(db)
    check(t.writer:write("[]")) -- a run with no records still leaves the (empty) table
    check(db:exec("DROP TABLE IF EXISTS " .. quote(t.name) .. "; ALTER TABLE " .. quote(t.target)
      .. " RENAME TO " .. quote(t.name)))
    check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", t.name))
    check(db:query("UPDATE _icx_columns SET tbl = ? WHERE tbl = ?", t.name, t.target))
  end)
  t.writer:close()
end

-- replace: drops the staging table; the old table stays as it was.
function Writer:abandon(t)
  t.writer:close()
  atomic(self, function(db)
    check(db:exec("DROP TABLE IF EXISTS " .. quote(t.target)))
    check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", t.target))
  end)
end

base.writes_through(Writer)

return M
