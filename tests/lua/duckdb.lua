-- icx.duckdb's writer keeps a table's columns and its staging table from
-- page to page (engine/duckwriter.c): these cases are the ones where what
-- it kept goes stale, and must be read again (a rollback, another writer
-- of the table, SQL over _icx_columns, the file released), and the values
-- it converts in C rather than by SQL casts.
local t = dofile "tests/lib/tap.lua"
if not package.preload["icx.duckdb"] then
  print("1..0 # SKIP this icx was built without DuckDB")
  os.exit(0)
end
local duckdb = require "icx.duckdb"

local dir = t.tmpdir()
local db = duckdb.open(dir .. "/w.duckdb")
assert(db:exec("CREATE TABLE _icx_columns (tbl VARCHAR NOT NULL, field VARCHAR NOT NULL, col VARCHAR NOT NULL, "
  .. "kind VARCHAR NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tbl, field))"))

local function write(w, text)
  assert(db:begin())
  local n, err, code = w:write(text)
  if n then assert(db:commit()) else db:rollback() end
  return n, err, code
end

local function rows(sql) return assert(db:query(sql)) end

local w = db:writer("items", { primary_key = "id" })
t.is(write(w, '[{"id":"1","a":1}]'), 1, "a first page lands")

-- A rolled-back page that added and widened columns: the writer must not
-- keep what the rollback undid.
assert(db:begin())
assert(w:write('[{"id":"2","a":"text","b":true}]'))
assert(db:rollback())
t.is(write(w, '[{"id":"3","a":2,"b":false}]'), 1, "after a rollback, a page adds the column again")
local r = rows("SELECT typeof(a) AS ta, typeof(b) AS tb FROM items WHERE id = '3'")[1]
t.is(r.ta, "BIGINT", "the rolled-back widening is gone")
t.is(r.tb, "BOOLEAN", "the rolled-back column was added again")
t.is(#rows("SELECT * FROM items WHERE id = '2'"), 0, "the rolled-back row is gone")

-- Another writer of the same table changes its columns.
local w2 = db:writer("items", { primary_key = "id" })
t.is(write(w2, '[{"id":"4","a":1.5,"c":"x"}]'), 1, "a second writer widens a and adds c")
t.is(write(w, '[{"id":"5","a":7,"c":"y"}]'), 1, "the first writer sees the second's columns")
r = rows("SELECT CAST(a AS VARCHAR) AS a, c FROM items WHERE id = '5'")[1]
t.is(r.a, "7", "a, widened to JSON by the other writer, holds 7")
t.is(r.c, "y", "c, added by the other writer, is written")

-- SQL over _icx_columns and the table (as a replace's finish does).
assert(db:exec("DROP TABLE items"))
assert(db:query("DELETE FROM _icx_columns WHERE tbl = ?", "items"))
t.is(write(w, '[{"id":"6","z":1}]'), 1, "after the table was dropped, the writer makes it again")
t.is(#rows("SELECT * FROM items"), 1, "the new table holds the page")

-- The file released between pages: the staging table was the connection's.
db:release()
t.is(write(w, '[{"id":"7","z":2}]'), 1, "after a release, the writer stages on the new connection")
t.is(#rows("SELECT * FROM items"), 2, "both pages landed")

-- A key twice in a page keeps the last; a page after it without repeats
-- keeps each.
t.is(write(w, '[{"id":"8","z":1},{"id":"8","z":2},{"id":"9","z":3}]'), 3, "a page repeating a key")
t.is(rows("SELECT z FROM items WHERE id = '8'")[1].z, 2, "the last occurrence wins")
t.is(write(w, '[{"id":"8","z":5},{"id":"10","z":6}]'), 2, "a page merging an existing key")
t.is(#rows("SELECT * FROM items WHERE id = '8'"), 1, "one row per key")
t.is(rows("SELECT z FROM items WHERE id = '8'")[1].z, 5, "the merged row is the latest")
t.is(write(w, '[{"id":1,"z":7},{"id":"1","z":8}]'), 2, "a number and a string that are one key")
t.is(rows("SELECT z FROM items WHERE id = '1'")[1].z, 8, "the key's text decides: the last wins")

-- Values converted in C: exact.
local v = db:writer("vals", { primary_key = "id" })
t.is(write(v, '[{"id":"a","i":9223372036854775807,"j":-9223372036854775808,"f":0.1,"g":1e-7,"b":true,'
  .. '"s":"caf\\u00e9 \\"q\\""}]'), 1, "a page of every converted kind")
r = rows("SELECT CAST(i AS VARCHAR) AS i, CAST(j AS VARCHAR) AS j, f, g, b, s, typeof(f) AS tf FROM vals")[1]
t.is(r.i, "9223372036854775807", "int64 max exact")
t.is(r.j, "-9223372036854775808", "int64 min exact")
t.is(r.f, 0.1, "0.1 as strtod gives it")
t.is(r.tf, "DOUBLE", "a float column is DOUBLE")
t.is(r.g, 1e-7, "1e-7 exact")
t.is(r.b, true, "a boolean")
t.is(r.s, 'café "q"', "a string unescaped")

-- A page longer than one of DuckDB's chunks (2,048 rows): the writer fills
-- a chunk's vectors itself, NULLs in its validity masks.
local big = {}
for i = 1, 2500 do
  big[i] = i % 3 == 0 and ('{"id":"%d","n":null,"d":%d.5}'):format(i, i)
    or ('{"id":"%d","n":%d,"s":"s%d","ok":%s}'):format(i, i, i, i % 2 == 0)
end
local wb = db:writer("big", { primary_key = "id" })
t.is(write(wb, "[" .. table.concat(big, ",") .. "]"), 2500, "a page of 2,500 records")
r = rows("SELECT count(*) AS n, count(n) AS nn, CAST(sum(n) AS BIGINT) AS sn, count(s) AS ns, count(d) AS nd, "
  .. "count(ok) AS nok, CAST(sum(CASE WHEN ok THEN 1 ELSE 0 END) AS BIGINT) AS yes FROM big")[1]
t.ok(r.n == 2500 and r.nn == 1667 and r.sn == 2084167 and r.ns == 1667 and r.nd == 833 and r.nok == 1667
  and r.yes == 834, "every value and every NULL where it belongs, across chunks")
r = rows("SELECT n, s, d, ok FROM big WHERE id = '2500'")[1]
t.ok(r.n == 2500 and r.s == "s2500" and r.d == nil and r.ok == true, "a row of the second chunk")
t.is(rows("SELECT d FROM big WHERE id = '2499'")[1].d, 2499.5, "a double of the second chunk")

-- A key of two fields merges through the staging table.
local w2k = db:writer("two", { primary_key = { "a", "b" } })
t.is(write(w2k, '[{"a":"1","b":"x","v":1},{"a":"1","b":"y","v":2}]'), 2, "a page keyed by two fields")
t.is(write(w2k, '[{"a":"1","b":"x","v":3}]'), 1, "a page updating one of them")
t.is(rows("SELECT string_agg(b || v, ',' ORDER BY b) AS s FROM two")[1].s, "x3,y2", "one row per key, the latest")

-- append: rows go straight in, a key's earlier rows stay (the Parquet
-- staging, which publish dedupes).
local wa = db:writer("app", { primary_key = "id", append = true })
t.is(write(wa, '[{"id":"1","v":1},{"id":"1","v":2}]'), 2, "append: a page repeating a key")
t.is(write(wa, '[{"id":"1","v":3}]'), 1, "append: the key again")
t.is(rows("SELECT string_agg(CAST(v AS VARCHAR), ',' ORDER BY rowid) AS s FROM app")[1].s, "1,2,3",
  "append: every row kept, in order")

db:close()
os.execute("rm -rf '" .. dir .. "'")
os.exit(t.done())
