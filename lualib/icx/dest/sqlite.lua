-- The SQLite destination (the default): icx.db, path/x.db, sqlite:///rel.db,
-- sqlite:////abs.db. Its Store is the file itself (icx.dest.filestore); its
-- Writer lands records through the typed C writer (icx.sqlite), in the
-- transaction of the page with its child rows and its cursor. merge upserts
-- on the primary key; replace fills _icx_stage_<pid>_<name> page by page
-- and swaps it in at finish, in one transaction, so readers see the old
-- table or the whole new one. The staging table is the process's own: two
-- runs replacing one table each swap in their own complete copy, never the
-- other's partial one. One connection serves every asset of the process
-- (writes never yield); the busy timeout covers other processes writing
-- the same file.
local base = require "icx.dest.base"
local errors = require "icx.errors"
local filestore = require "icx.dest.filestore"
local sqlite = require "icx.sqlite"
local state = require "icx.state"
local sys = require "icx.sys"

local check, quote = state.check, sqlite.quote

local M = {
  name = "sqlite", title = "SQLite", schemes = { "sqlite" }, form = "sqlite:///FILE",
  paths = true, state = false, reads_keys = true,
  shown = require("icx.url").masked,
}

local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

-- Targets that would accept writes and keep nothing, or keep them without
-- the locking every concurrent-run guarantee rests on. SQLite keeps in
-- memory ":memory:" and any URI whose path is ":memory:" (file::memory:,
-- with or without ?cache=shared), and in a temporary file deleted at close
-- an empty name (a file: URI with no path: file:, file:?cache=shared,
-- file://localhost). SQLite reads "file:" in any case.
local MEMORY = "'%s' is an in-memory or temporary database: everything would be lost at exit; give a file path"

local function refuse(uri, path)
  if path == ":memory:" or path == "" then usage(MEMORY, uri) end
  local rest = path:match("^[Ff][Ii][Ll][Ee]:(.*)$")
  if not rest then return end
  local p, q = rest:match("^([^?#]*)%??([^#]*)")
  p = p:gsub("^//[^/]*", "", 1):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if p == "" or p == ":memory:" then usage(MEMORY, uri) end
  for k, v in q:gmatch("([^&=]+)=?([^&]*)") do
    if (k == "mode" and v == "memory") or k == "vfs" and v == "memdb" then
      usage(MEMORY, uri)
    elseif k == "nolock" or k == "immutable" then
      usage("'%s': %s=%s turns SQLite's locking off, and with it the guarantees for concurrent runs; drop it",
        uri, k, v)
    end
  end
end

-- sqlite:///rel.db, sqlite:////abs.db or a plain path -> the file's path.
function M.target(uri)
  local rest = uri:match("^sqlite:(.*)$")
  if rest then
    local path = rest:match("^///(.+)$")
    if not path then usage("'%s': write sqlite:///relative.db or sqlite:////absolute/path.db", uri) end
    refuse(uri, path)
    return path
  end
  refuse(uri, uri)
  -- A plain path takes no query: x.db?nolock=1 would name a file of that
  -- name, not switch anything; SQLite's own URIs start with file:.
  if uri:match("%?[%w_]+=") and not uri:match("^[Ff][Ii][Ll][Ee]:") then
    usage("'%s' looks like a path with a query; a path takes none (SQLite URIs start with file:)", uri)
  end
  return uri
end

local Writer = {}
Writer.__index = Writer
Writer.__name = "icx.dest.SqliteWriter"

M.Store, M.Writer = filestore.Store, Writer

local STAGE = "_icx_stage_"

-- Opens (creating if needed) the database at path; nil with opts.existing
-- when there is no such file yet.
function M.open(path, opts)
  if opts.existing then
    local f = io.open(path, "rb")
    if not f then return nil end
    f:close()
  end
  local store = filestore.open(path, "the SQLite destination", opts)
  local writer = setmetatable({ db = store.db, tables = {} }, Writer)
  return base.new(M, store, writer, { db = store.db, path = path })
end

-- Staging tables of name left by processes that are gone (killed mid
-- replace): dropped, so they do not pile up. A live process's stays.
local function drop_stale_stages(db, name)
  local rows = check(db:query("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
    #STAGE, STAGE))
  for _, r in ipairs(rows) do
    local pid, of = r.name:sub(#STAGE + 1):match("^(%d+)_(.*)$")
    pid = math.tointeger(tonumber(pid))
    if pid and of == name and (pid == sys.pid() or not sys.alive(pid)) then
      check(db:exec("DROP TABLE IF EXISTS " .. quote(r.name)))
      check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", r.name))
    end
  end
end

function Writer:open(name, pk, mode, compare)
  local t = { name = name, target = name, compare = compare }
  if mode == "replace" then
    t.target = STAGE .. sys.pid() .. "_" .. name
    state.atomic(self.db, function(db) drop_stale_stages(db, name) end)
  end
  -- Counting new, changed and re-read records (icx.totals) needs the
  -- stored key of each: the writer looks it up before each upsert.
  t.writer = self.db:writer(t.target, { primary_key = pk, compare = compare })
  self.tables[#self.tables + 1] = t
  return t
end

function Writer:write(t, page) return check(t.writer:write(page)) end

-- Whether target has column (case-insensitive, as SQLite names are).
local function has_column(db, target, column)
  return check(db:query("SELECT 1 AS x FROM pragma_table_info(?) WHERE name = ? COLLATE NOCASE",
    target, column))[1] ~= nil
end

function Writer:delete_where(t, column, values)
  local db = self.db
  if not has_column(db, t.target, column) then return 0 end
  local st = check(db:prepare("DELETE FROM " .. quote(t.target) .. " WHERE " .. quote(column) .. " = ?"))
  local n = 0
  for _, v in ipairs(values) do
    if math.type(v) == "float" and math.tointeger(v) then v = math.tointeger(v) end
    if type(v) ~= "string" and math.type(v) ~= "integer" then v = tostring(v) end
    st:bind(1, v)
    local ok, err, code = st:step()
    if ok == nil then
      st:close()
      check(nil, err, code)
    end
    n = n + db:changes()
    st:reset()
  end
  st:close()
  return n
end

function Writer:changes(t)
  if not t.compare then return nil end
  return t.writer:counts()
end

function Writer:keys(t, column)
  local db = self.db
  if not has_column(db, t.target, column) then return {} end
  local out = {}
  for _, r in ipairs(check(db:query("SELECT CAST(" .. quote(column) .. " AS TEXT) AS k FROM "
      .. quote(t.target) .. " WHERE " .. quote(column) .. " IS NOT NULL"))) do
    out[#out + 1] = r.k
  end
  return out
end

-- replace: swaps the staging table in (DROP + RENAME in one transaction).
-- legacy_alter_table keeps the rename from re-checking views that name the
-- old table (they would fail to parse between the DROP and the RENAME) and
-- leaves them pointing at the new one.
function Writer:finish(t)
  local db = self.db
  state.atomic(db, function()
    check(t.writer:write("[]")) -- a run with no records still leaves the (empty) table
    check(db:exec("PRAGMA legacy_alter_table = ON"))
    local ok, err, code = db:exec("DROP TABLE IF EXISTS " .. quote(t.name) .. "; ALTER TABLE "
      .. quote(t.target) .. " RENAME TO " .. quote(t.name))
    -- The columns icx made are the staging table's now under its new name.
    if ok then
      ok, err, code = db:query("DELETE FROM _icx_columns WHERE tbl = ?", t.name)
      if ok then ok, err, code = db:query("UPDATE _icx_columns SET tbl = ? WHERE tbl = ?", t.name, t.target) end
    end
    db:exec("PRAGMA legacy_alter_table = OFF")
    check(ok, err, code)
  end)
  t.writer:close()
end

-- replace: drops the staging table; the old table stays as it was.
function Writer:abandon(t)
  local db = self.db
  t.writer:close()
  state.atomic(db, function()
    check(db:exec("DROP TABLE IF EXISTS " .. quote(t.target)))
    check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", t.target))
  end)
end

base.writes_through(Writer)

return M
