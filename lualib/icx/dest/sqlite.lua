-- The SQLite destination (the default): records land through the typed C
-- writer (icx.sqlite), one transaction per page holding the page's rows, its
-- child rows and its cursor. merge upserts on the primary key; replace fills
-- _icx_stage_<pid>_<name> page by page and swaps it in at finish, in one
-- transaction, so readers see the old table or the whole new one. The
-- staging table is the process's own: two runs replacing one table each
-- swap in their own complete copy, never the other's partial one. One
-- connection serves every asset of the process (writes never yield); the busy
-- timeout covers other processes writing the same file.
local base = require "icx.dest.base"
local errors = require "icx.errors"
local sqlite = require "icx.sqlite"
local state = require "icx.state"
local sys = require "icx.sys"

local check, quote = state.check, sqlite.quote

local M = {}

local Dest = base.class "icx.dest.Sqlite"

local Table = {}
Table.__index = Table
Table.__name = "icx.dest.SqliteTable"

local STAGE = "_icx_stage_"

local function misuse(fmt, ...) errors.raise("internal", "icx.dest: " .. fmt:format(...)) end

-- Opens (creating if needed) the database at path.
function M.open(path, opts)
  local db = state.open(path, "the SQLite destination", opts)
  return setmetatable({ kind = "sqlite", path = path, db = db, tables = {}, lock_path = path .. ".lock" }, Dest)
end

function Dest:__tostring() return "icx.dest.Sqlite(" .. self.path .. ")" end

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

function Dest:table(spec)
  local name, pk, mode = base.table_spec(spec)
  local t = setmetatable({ dest = self, name = name, mode = mode, primary_key = pk, target = name }, Table)
  if mode == "replace" then
    t.target = STAGE .. sys.pid() .. "_" .. name
    state.atomic(self.db, function(db) drop_stale_stages(db, name) end)
  end
  -- Counting new, changed and re-read records (icx.totals) needs the
  -- stored key of each: the writer looks it up before each upsert.
  local compare = mode == "merge" and #pk == 1 and spec.compare or nil
  t.writer = self.db:writer(t.target, { primary_key = pk, compare = compare })
  t.compare = compare
  self.tables[#self.tables + 1] = t
  return t
end

function Dest:close()
  if not self.db then return end
  for _, t in ipairs(self.tables) do
    if t.writer then t.writer:close() end
  end
  self.db:close()
  self.db = nil
end

function Table:__tostring() return "icx.dest.SqliteTable(" .. self.name .. ")" end

local function live(t, what)
  if not t.writer then misuse("%s on table '%s' after finish() or abandon()", what, t.name) end
  if not t.dest.db then misuse("%s on table '%s' after the destination closed", what, t.name) end
end

-- Writes a page (icx.json.Page, or JSON text of a record or a list of
-- them); returns the number of records.
function Table:write(page)
  live(self, "write()")
  if not self.dest.db:in_transaction() then misuse("write() on table '%s' outside a transaction", self.name) end
  return check(self.writer:write(page))
end

-- Deletes the rows whose column holds one of values (the child rows of
-- parents about to be rewritten). A table or column not created yet has
-- nothing to delete.
function Table:delete_where(column, values)
  live(self, "delete_where()")
  local db = self.dest.db
  if not db:in_transaction() then misuse("delete_where() on table '%s' outside a transaction", self.name) end
  if type(column) ~= "string" then misuse("delete_where() needs a column name") end
  if type(values) ~= "table" or #values == 0 then return 0 end
  local cols = check(db:query("SELECT 1 AS x FROM pragma_table_info(?) WHERE name = ? COLLATE NOCASE",
    self.target, column))
  if not cols[1] then return 0 end
  local st = check(db:prepare("DELETE FROM " .. quote(self.target) .. " WHERE " .. quote(column) .. " = ?"))
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

-- What the last write did: new, changed, same (records re-read unchanged),
-- by the stored value of the table's compare column; nil when it has none.
function Table:changes()
  live(self, "changes()")
  if not self.compare then return nil end
  return self.writer:counts()
end

-- Every value of column, as text (ids are TEXT), for --reconcile; empty
-- when the table or column does not exist yet.
function Table:keys(column)
  live(self, "keys()")
  local db = self.dest.db
  local cols = check(db:query("SELECT 1 AS x FROM pragma_table_info(?) WHERE name = ? COLLATE NOCASE",
    self.target, column))
  if not cols[1] then return {} end
  local out = {}
  for _, r in ipairs(check(db:query("SELECT CAST(" .. quote(column) .. " AS TEXT) AS k FROM "
      .. quote(self.target) .. " WHERE " .. quote(column) .. " IS NOT NULL"))) do
    out[#out + 1] = r.k
  end
  return out
end

-- replace: swaps the staging table in (DROP + RENAME in one transaction).
-- legacy_alter_table keeps the rename from re-checking views that name the
-- old table (they would fail to parse between the DROP and the RENAME) and
-- leaves them pointing at the new one. merge: nothing to do.
function Table:finish()
  if self.mode ~= "replace" then return end
  live(self, "finish()")
  local db = self.dest.db
  if db:in_transaction() then misuse("finish() on table '%s' inside a transaction", self.name) end
  state.atomic(db, function()
    check(self.writer:write("[]")) -- a run with no records still leaves the (empty) table
    check(db:exec("PRAGMA legacy_alter_table = ON"))
    local ok, err, code = db:exec("DROP TABLE IF EXISTS " .. quote(self.name) .. "; ALTER TABLE "
      .. quote(self.target) .. " RENAME TO " .. quote(self.name))
    -- The columns icx made are the staging table's now under its new name.
    if ok then
      ok, err, code = db:query("DELETE FROM _icx_columns WHERE tbl = ?", self.name)
      if ok then ok, err, code = db:query("UPDATE _icx_columns SET tbl = ? WHERE tbl = ?", self.name, self.target) end
    end
    db:exec("PRAGMA legacy_alter_table = OFF")
    check(ok, err, code)
  end)
  self.writer:close()
  self.writer = nil
end

-- replace: drops the staging table; the old table stays as it was.
function Table:abandon()
  if self.mode ~= "replace" or not self.writer then return end
  local db = self.dest.db
  if db then
    state.atomic(db, function()
      check(db:exec("DROP TABLE IF EXISTS " .. quote(self.target)))
      check(db:query("DELETE FROM _icx_columns WHERE tbl = ?", self.target))
    end)
  end
  self.writer:close()
  self.writer = nil
end

return M
