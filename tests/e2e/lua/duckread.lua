-- icx lua duckread.lua FILE rows TABLE
-- icx lua duckread.lua FILE landed TABLE CONNECTION
-- icx lua duckread.lua FILE tables PREFIX
-- icx lua duckread.lua DIR parquet TABLE [KEY,...]
-- Reads a DuckDB destination back for the e2e tests (Python has no DuckDB
-- module), printing one JSON document: rows: {"cols": [[field, kind], ...],
-- "rows": [[text | null, ...], ...]} with every value as DuckDB's text of
-- it; landed: {"cursor": text | null, "ids": [...]} read in one
-- transaction; tables: the names of tables starting with PREFIX; parquet:
-- a Parquet destination's table through its latest-per-key view (a merge
-- table: every file under DIR/TABLE/; a replace table: the files its table
-- manifest names), "cols" with DuckDB's types.
local duckdb = require "icx.duckdb"
local json = require "icx.json"

local path, what, name, connection = ...
local db = duckdb.open(what == "parquet" and ":memory:" or path)
local quote = duckdb.quote

local function tables_named(n)
  return assert(db:query("SELECT table_name AS t FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", n))
end

local out
if what == "rows" then
  out = { cols = {}, rows = {} }
  if #tables_named(name) > 0 then
    local cols = assert(db:query("SELECT field, col, kind FROM _icx_columns WHERE tbl = ? ORDER BY pos", name))
    local sel = {}
    for i, c in ipairs(cols) do
      out.cols[i] = { c.field, c.kind }
      sel[i] = "CAST(" .. quote(c.col) .. " AS VARCHAR) AS c" .. i
    end
    if #sel > 0 then
      for _, r in ipairs(assert(db:query("SELECT " .. table.concat(sel, ", ") .. " FROM " .. quote(name)))) do
        local row = {}
        for i = 1, #cols do row[i] = r["c" .. i] == nil and json.null or r["c" .. i] end
        out.rows[#out.rows + 1] = row
      end
    end
  end
elseif what == "landed" then
  assert(db:begin())
  out = { ids = {} }
  if #assert(db:query("SELECT 1 AS x FROM duckdb_tables() WHERE table_name = '_icx_state'")) > 0 then
    local r = assert(db:query("SELECT value FROM _icx_state WHERE connection = ? AND asset = ?", connection,
      name))[1]
    out.cursor = r and r.value or json.null
  end
  if #tables_named(name) > 0 then
    for _, r in ipairs(assert(db:query("SELECT CAST(id AS VARCHAR) AS id FROM " .. quote(name)))) do
      out.ids[#out.ids + 1] = r.id
    end
  end
  db:rollback()
elseif what == "parquet" then
  out = { cols = {}, rows = {} }
  local files = {}
  local f = io.open(path .. "/_icx/tables/" .. name .. ".json", "rb")
  if f then
    for _, k in ipairs(json.decode(f:read("a")).files) do files[#files + 1] = path .. "/" .. k end
    f:close()
  else
    for _, r in ipairs(assert(db:query("SELECT file FROM glob(?) ORDER BY 1", path .. "/" .. name .. "/*.parquet"))) do
      files[#files + 1] = r.file
    end
  end
  if #files > 0 then
    local key = {}
    for k in (connection or "id"):gmatch("[^,]+") do key[#key + 1] = quote(k) end
    local view = require("icx.dest.parquet").latest_sql(files, table.concat(key, ", "))
    local cols = assert(db:query("SELECT column_name AS name, column_type AS type FROM (DESCRIBE " .. view .. ")"))
    local sel = {}
    for i, c in ipairs(cols) do
      out.cols[i] = { c.name, c.type }
      sel[i] = "CAST(" .. quote(c.name) .. " AS VARCHAR) AS c" .. i
    end
    for _, r in ipairs(assert(db:query("SELECT " .. table.concat(sel, ", ") .. " FROM (" .. view .. ")"))) do
      local row = {}
      for i = 1, #cols do row[i] = r["c" .. i] == nil and json.null or r["c" .. i] end
      out.rows[#out.rows + 1] = row
    end
  end
elseif what == "tables" then
  out = {}
  for _, r in ipairs(assert(db:query("SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary "
      .. "AND starts_with(table_name, ?) ORDER BY 1", name))) do
    out[#out + 1] = r.t
  end
end
db:close()
io.write(json.encode(out), "\n")
