-- The Parquet destination: parquet:DIR (or parquet:DIR?rows=N, rows per
-- file, default 1,000,000). Each run writes each table's records as
-- Parquet files written by DuckDB's Parquet writer, through an object
-- store (icx.objstore; a local directory here):
--   TABLE/LOADID-SEQ.parquet       records, each row with _icx_load_id,
--                                  _icx_loaded_at and _icx_seq
--   _icx/manifests/LOADID-SEQ.json what one publish wrote: files, rows, schema
--   _icx/tables/TABLE.json         a replace table's current files
--   _icx/state.duckdb              cursors, runs, locks (icx.dest.duckstore)
-- Pages are staged in a private DuckDB file and published at the size
-- threshold and at the end (icx.dest.parquetstore says why nothing is lost
-- to a kill). A merge table is append-only: its rows are every file under
-- TABLE/, read through the latest-per-key view (M.latest_sql, docs/LAKE.md);
-- a replace table is the files its table manifest names.
local base = require "icx.dest.base"
local errors = require "icx.errors"
local json = require "icx.json"
local parquetstore = require "icx.dest.parquetstore"

local M = {
  name = "parquet", title = "Parquet", schemes = { "parquet" }, form = "parquet:DIR",
  paths = false, state = false, reads_keys = false,
  shown = require("icx.url").masked,
}

local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

function M.target(uri)
  local rest = uri:match("^parquet:(.*)$")
  local dir, query = (rest or ""):match("^([^?]*)%??(.*)$")
  if not dir or dir == "" then usage("'%s': write parquet:DIR (a directory of Parquet files)", uri) end
  local rows
  for k, v in query:gmatch("([^&=]+)=?([^&]*)") do
    if k ~= "rows" or not math.tointeger(tonumber(v)) or tonumber(v) < 1 then
      usage("'%s': the only option is ?rows=N (rows per Parquet file)", uri)
    end
    rows = math.tointeger(tonumber(v))
  end
  return { dir = dir:gsub("(.)/+$", "%1"), rows = rows }
end

-- The SQL of the latest-per-key view over files (a list of paths or URLs):
-- the last row of each key by load time and position, icx's columns left
-- out. key: the primary key columns (default id).
function M.latest_sql(files, key)
  local quoted = {}
  for i, f in ipairs(files) do quoted[i] = "'" .. f:gsub("'", "''") .. "'" end
  return ("SELECT * EXCLUDE (_icx_load_id, _icx_loaded_at, _icx_seq) FROM read_parquet([%s], union_by_name = true) "
    .. "QUALIFY row_number() OVER (PARTITION BY %s ORDER BY _icx_loaded_at DESC, _icx_seq DESC) = 1")
    :format(table.concat(quoted, ", "), key or "id")
end

local Writer = {}
Writer.__index = Writer
Writer.__name = "icx.dest.ParquetWriter"
M.Store, M.Writer = parquetstore.Store, Writer

function M.open(target, opts)
  local duckstore = require "icx.dest.duckstore"
  duckstore.need("--dest parquet")
  if opts.existing then
    local f = io.open(target.dir .. "/_icx/state.duckdb", "rb")
    if not f then return nil end
    f:close()
  end
  local objects = require("icx.objstore").open(target.dir)
  local store = parquetstore.open(target.dir .. "/_icx", objects,
    { file_rows = target.rows, busy_timeout = opts.busy_timeout })
  local writer = setmetatable({ store = store, tables = {} }, Writer)
  return base.new(M, store, writer, { store = store, objects = objects, target = target.dir })
end

local check = require("icx.dest.duckstore").check

function Writer:open(name, pk, mode)
  local st = self.store.staging
  local t = { name = name, mode = mode, tbl = mode == "replace" and "_icx_r_" .. name or name }
  check(st:query("INSERT OR REPLACE INTO _icx_p_tables VALUES (?, ?, ?, ?)", t.tbl, name, mode,
    json.encode(setmetatable({ table.unpack(pk or {}) }, json.array_mt))))
  -- Pages are appended, a key's earlier rows kept: publish keeps each
  -- key's last (parquetstore), so a page costs no merge.
  t.writer = st:writer(t.tbl, { primary_key = pk, append = true })
  self.tables[#self.tables + 1] = t
  return t
end

function Writer:write(t, page)
  local n = check(t.writer:write(page))
  self.store.staged = self.store.staged + n
  return n
end

-- Files are append-only: nothing is deleted, keys cannot be read back.
function Writer.delete_where() return 0 end

function Writer:keys(t)
  errors.raise("usage", ("parquet: table '%s': Parquet files are append-only, so icx cannot read back which "
    .. "rows are gone; --reconcile needs a SQLite, PostgreSQL or DuckDB destination"):format(t.name))
end

function Writer.changes() return nil end

-- The files of table name under the store that no table manifest names
-- and this process did not write: a replace's earlier tables and a killed
-- run's unfinished ones.
local function stale_files(self, name, keep)
  local out = {}
  for _, key in ipairs(self.store.objects:list(name .. "/")) do
    if key:match("%.parquet$") and not keep[key] then out[#out + 1] = key end
  end
  return out
end

local function drop_stage(self, t)
  local st = self.store.staging
  t.writer:close()
  check(st:exec("DROP TABLE IF EXISTS " .. require("icx.duckdb").quote(t.tbl)))
  check(st:query("DELETE FROM _icx_columns WHERE tbl = ?", t.tbl))
  check(st:query("DELETE FROM _icx_p_tables WHERE tbl = ?", t.tbl))
end

-- replace: the staged rest is published and the table manifest names this
-- run's files; the files of earlier loads of the table go.
function Writer:finish(t)
  local st = self.store.staging
  check(st:begin())
  local ok, err = pcall(function() check(t.writer:write("[]")) end)
  if ok then check(st:commit()) else
    st:rollback()
    error(err, 0)
  end
  self.store:publish(t.name)
  local current = json.decode(self.store.objects:get("_icx/tables/" .. t.name .. ".json"))
  local keep = {}
  for _, k in ipairs(current.files) do keep[k] = true end
  for _, key in ipairs(stale_files(self, t.name, keep)) do self.store.objects:delete(key) end
  drop_stage(self, t)
end

-- replace: this run's files go; the table manifest still names the old.
function Writer:abandon(t)
  local files = (self.store.replace_files or {})[t.name] or {}
  for _, key in ipairs(files) do self.store.objects:delete(key) end
  if self.store.replace_files then self.store.replace_files[t.name] = nil end
  drop_stage(self, t)
end

base.writes_through(Writer)

return M
