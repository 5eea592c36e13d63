-- The lake route against SQLite, in one run: contacts-like pages (150
-- records, ~2.3 KB each, as bench/record_path.lua) landed through icx.dest
-- as a run lands them (one transaction per page with its cursor, the run
-- lock held), into SQLite, DuckDB and Parquet (parquet:DIR: staged, then
-- published as one file at close). Prints records per CPU second
-- (os.clock: every thread of the process, DuckDB's included) and the bytes
-- on disk per 100,000 contacts (Parquet: the .parquet files); and the
-- floor of one DuckDB commit per page (pages appended, nothing else).
--
-- Then how a page best reaches DuckDB (--staging N pages, default 40): the
-- writer (DuckDB's appender, then the merge: docs/DUCKDB.md)
-- against one batched INSERT ... VALUES per page into a table of the
-- writer's types, as SQL literals (built before the clock starts) and as
-- bound parameters (a prepared statement per page, as db:query makes),
-- each page its own transaction in an in-memory database; the INSERTs do
-- no merge, which only favours them.
--
--   icx lua bench/lake.lua [--records N] [--dir DIR]
local dest = require "icx.dest"
local json = require "icx.json"

local opts = { records = 30000, dir = os.getenv("TMPDIR") or "/tmp", staging = 40 }
local args = { ... }
for i = 1, #args, 2 do
  local k = args[i]:match("^%-%-(%w+)$")
  if not k or opts[k] == nil or args[i + 1] == nil then error("usage: see the header of bench/lake.lua") end
  opts[k] = k == "dir" and args[i + 1] or math.tointeger(tonumber(args[i + 1]))
end

local PER_PAGE = 150

local function record(i)
  local empty = function() return setmetatable({}, json.array_mt) end
  return {
    type = "contact", id = ("6%023x"):format(i), workspace_id = "ecahpwf5", external_id = tostring(5000 + i),
    role = "user", email = ("user%d@example.com"):format(i), phone = json.null, name = "Zoë 😀 " .. i,
    owner_id = 7000000 + i, has_hard_bounced = false, unsubscribed_from_emails = false,
    created_at = 1690000000 + i, updated_at = 1700000000 + i, last_seen_at = 1700000000 + i,
    last_replied_at = json.null, browser = "chrome", browser_version = "120.0.1", os = "macOS",
    location = { type = "location", country = "Japan", region = "Tokyo", city = "東京",
                 country_code = "JPN", continent_code = "AS" },
    custom_attributes = { plan = "pro", seats = i % 500, big_number = 9007199254740993, ratio = 1e-07,
      labels = empty(), meta = setmetatable({}, json.object_mt), nickname = 'say "hi"\nline2',
      anything = { nested = { deep = { 1, 2.5, "三" } } } },
    tags = { type = "list", data = { { type = "tag", id = tostring(i % 15), url = "/tags/" .. i % 15 } },
             url = "/contacts/" .. i .. "/tags", total_count = 1, has_more = false },
    notes = { type = "list", data = empty(), url = "/contacts/" .. i .. "/notes", total_count = 0, has_more = false },
    companies = { type = "list", data = empty(), url = "/contacts/" .. i .. "/companies", total_count = 0,
                  has_more = false },
    utm_source = "bench", referrer = "https://example.com/pricing?ref=bench&x=" .. ("y"):rep(900),
    sms_consent = false, email_domain = "example.com",
  }
end

local bodies, nrec = {}, 0
while nrec < opts.records do
  local recs = setmetatable({}, json.array_mt)
  for j = 1, math.min(PER_PAGE, opts.records - nrec) do recs[j] = record(nrec + j) end
  nrec = nrec + #recs
  bodies[#bodies + 1] = json.encode { type = "list", data = recs }
end

local function size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- Lands every page into uri as a run does (holding the asset's run lock);
-- -> CPU seconds.
local function land(uri)
  local d = dest.open(uri)
  local lk = assert(d:lock("bench", "contacts"))
  local t = d:table { name = "contacts", primary_key = "id" }
  local t0 = os.clock()
  for i, body in ipairs(bodies) do
    local page = assert(json.page(body, "data"))
    d:transaction(function()
      t:write(page)
      d:cursor_set("bench", "contacts", "page", i)
    end)
  end
  lk:release()
  d:close()
  return os.clock() - t0
end

local per = 100000 / opts.records
local base = opts.dir .. "/icx-lake-bench-" .. require("icx.sys").pid()
os.remove(base .. ".db")
os.remove(base .. ".duckdb")
os.remove(base .. ".parquet")

local s_cpu = land(base .. ".db")
local d_cpu = land("duckdb:" .. base .. ".duckdb")
local p_cpu = land("parquet:" .. base .. "-lake")

-- The floor of one DuckDB transaction per page: the writer appending each
-- page straight into a table of a fresh file (no merge, no cursor, no run
-- lock), committed page by page.
local duckdb = require "icx.duckdb"
local function floor()
  local path = base .. "-floor.duckdb"
  local fdb = duckdb.open(path)
  assert(fdb:exec("CREATE TABLE _icx_columns (tbl VARCHAR NOT NULL, field VARCHAR NOT NULL, col VARCHAR NOT NULL, "
    .. "kind VARCHAR NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tbl, field))"))
  local fw = fdb:writer("contacts", { primary_key = "id", append = true })
  local t0 = os.clock()
  for _, body in ipairs(bodies) do
    local page = assert(json.page(body, "data"))
    assert(fdb:begin())
    assert(fw:write(page))
    assert(fdb:commit())
  end
  fdb:close()
  return os.clock() - t0
end
-- (An icx before the writer's append option measures no floor.)
local floored, f_cpu = pcall(floor)
os.remove(base .. "-floor.duckdb")
os.remove(base .. "-floor.duckdb.wal")
local db = duckdb.open(":memory:")
local p_bytes = 0
for _, r in ipairs(assert(db:query("SELECT file FROM glob(?)", base .. "-lake/contacts/*.parquet"))) do
  p_bytes = p_bytes + size(r.file)
end
db:close()

local rows = {
  { "SQLite", s_cpu, size(base .. ".db") + size(base .. ".db-wal") },
  { "DuckDB", d_cpu, size(base .. ".duckdb") + size(base .. ".duckdb.wal") },
  { "Parquet", p_cpu, p_bytes },
}
if floored then rows[#rows + 1] = { "DuckDB floor (append)", f_cpu, 0 } end
print(("%d records (%d pages of %d), DuckDB %s"):format(opts.records, #bodies, PER_PAGE, duckdb.version()))
print(("%-24s %14s %18s"):format("destination", "records/CPU-s", "bytes/100k contacts"))
for _, r in ipairs(rows) do
  print(("%-24s %14.0f %18.0f"):format(r[1], opts.records / r[2], r[3] * per))
end
for _, ext in ipairs({ ".db", ".db-wal", ".db-shm", ".db.lock", ".duckdb", ".duckdb.wal", ".duckdb.lock",
    ".parquet" }) do
  os.remove(base .. ext)
end
os.execute("rm -rf '" .. base .. "-lake'")

-- Appender against batched INSERT ... VALUES (see the header).
local cjson = require "cjson"
local npages = math.min(opts.staging, #bodies)
local mem = duckdb.open(":memory:")
assert(mem:exec("CREATE TABLE _icx_columns (tbl VARCHAR NOT NULL, field VARCHAR NOT NULL, col VARCHAR NOT NULL, "
  .. "kind VARCHAR NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tbl, field))"))
local w = mem:writer("appended", { primary_key = "id" })
local t0 = os.clock()
for i = 1, npages do
  assert(mem:begin())
  assert(w:write(assert(json.page(bodies[i], "data"))))
  assert(mem:commit())
end
local appender = os.clock() - t0
local TYPE = { id = "VARCHAR", boolean = "BOOLEAN", bigint = "BIGINT", double = "DOUBLE", text = "VARCHAR",
  numeric = "JSON", json = "JSON", null = "VARCHAR" }
local cols, defs = w:columns(), {}
for i, c in ipairs(cols) do defs[i] = duckdb.quote(c.column) .. " " .. TYPE[c.kind] end
assert(mem:exec("CREATE TABLE lit (" .. table.concat(defs, ", ") .. "); CREATE TABLE par ("
  .. table.concat(defs, ", ") .. ")"))
local function value(v, kind)
  if v == nil or v == cjson.null then return nil end
  if type(v) == "table" then return cjson.encode(v) end
  if (kind == "json" or kind == "numeric") and type(v) == "string" then return cjson.encode(v) end
  if kind == "id" or kind == "text" then return tostring(v) end
  return v
end
local literals, params = {}, {}
for i = 1, npages do
  local rows, marks, args = {}, {}, {}
  for r, rec in ipairs(cjson.decode(bodies[i]).data) do
    local vals, m = {}, {}
    for c, col in ipairs(cols) do
      local v = value(rec[col.field], col.kind)
      vals[c] = v == nil and "NULL" or type(v) == "string" and "'" .. v:gsub("'", "''") .. "'" or tostring(v)
      m[c] = "?"
      args[#args + 1] = v == nil and cjson.null or v
    end
    rows[r] = "(" .. table.concat(vals, ", ") .. ")"
    marks[r] = "(" .. table.concat(m, ", ") .. ")"
  end
  literals[i] = "INSERT INTO lit VALUES " .. table.concat(rows, ", ")
  params[i] = { "INSERT INTO par VALUES " .. table.concat(marks, ", "), args }
end
t0 = os.clock()
for i = 1, npages do
  assert(mem:begin())
  assert(mem:exec(literals[i]))
  assert(mem:commit())
end
local lit_cpu = os.clock() - t0
t0 = os.clock()
for i = 1, npages do
  local args = params[i][2]
  for k, v in ipairs(args) do if v == cjson.null then args[k] = nil end end
  assert(mem:begin())
  assert(mem:query(params[i][1], table.unpack(args, 1, #cols * PER_PAGE)))
  assert(mem:commit())
end
local par_cpu = os.clock() - t0
mem:close()
print(("\nstaging a page of %d records into DuckDB (%d pages, in memory)"):format(PER_PAGE, npages))
print(("%-44s %10s %14s"):format("how", "ms/page", "records/CPU-s"))
for _, r in ipairs({ { "appender + merge (icx's writer)", appender }, { "INSERT ... VALUES, literals", lit_cpu },
    { "INSERT ... VALUES, bound parameters", par_cpu } }) do
  print(("%-44s %10.2f %14.0f"):format(r[1], r[2] / npages * 1000, npages * PER_PAGE / r[2]))
end
