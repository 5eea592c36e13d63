-- The Parquet destination's publish order (icx.dest.parquetstore): the
-- files first, then the manifest, then the cursors that vouch for them. A
-- publish whose upload fails moves no stored cursor; the next publish
-- lands the rows and the cursor together. And icx.objstore.local's
-- interface.
local t = dofile "tests/lib/tap.lua"
local dest = require "icx.dest"
local json = require "icx.json"
local objstore = require "icx.objstore"

local dir = t.tmpdir()

-- icx.objstore.local
local s = objstore.open(dir .. "/objs")
s:put("a/b.json", "hi")
s:put("a/c/d.txt", "x")
t.is(s:get("a/b.json"), "hi", "objstore: put then get")
t.is(s:get("nope"), nil, "objstore: a missing key is nil")
t.is(table.concat(s:list("a/"), ","), "a/b.json,a/c/d.txt", "objstore: list is sorted, recursive, by prefix")
local f = assert(io.open(dir .. "/file.bin", "wb"))
f:write("data")
f:close()
s:put_file("z/file.bin", dir .. "/file.bin")
t.is(s:get("z/file.bin"), "data", "objstore: put_file")
s:delete("a/b.json")
t.is(table.concat(s:list(""), ","), "a/c/d.txt,z/file.bin", "objstore: delete")
t.is(s:shown(), dir .. "/objs", "objstore: shown is the directory")
t.ok(not pcall(objstore.open, "ftp://x/y"), "objstore: an unknown scheme is refused")

-- publish order
local d = dest.open("parquet:" .. dir .. "/lake?rows=1")
local items = d:table { name = "items", primary_key = "id" }
local real = d.objects.put_file
d.objects.put_file = function() error("upload failed", 0) end
local ok, e = pcall(d.transaction, d, function()
  items:write('[{"id":"1","v":1}]')
  d:cursor_set("c", "items", "page", 1)
end)
t.ok(not ok and tostring(e):find("upload failed", 1, true), "a failed upload fails the commit: " .. tostring(e))
t.is(d.store.shared:cursor_get("c", "items"), nil, "a failed upload moves no stored cursor")
t.is(#d.objects:list("items/"), 0, "and leaves no file")
d.objects.put_file = real
d:transaction(function() end)
t.is(d.store.shared:cursor_get("c", "items"), 1, "the next publish lands the rows and the cursor")
t.is(#d.objects:list("items/"), 1, "one file")
d:transaction(function()
  items:write('[{"id":"1","v":2}]')
  d:cursor_set("c", "items", "page", 2)
end)
local files = {}
for _, k in ipairs(d.objects:list("items/")) do files[#files + 1] = dir .. "/lake/" .. k end
local db = require("icx.duckdb").open(":memory:")
local rows = assert(db:query("SELECT id, v FROM (" .. require("icx.dest.parquet").latest_sql(files) .. ")"))
t.ok(#rows == 1 and rows[1].v == 2, "the latest-per-key view: one row per key, the latest")
local m = d.objects:list("_icx/manifests/")
t.is(#m, 2, "one manifest per publish")
local doc = json.decode(d.objects:get(m[2]))
t.ok(doc.files[1].rows == 1 and doc.files[1].table == "items" and #doc.files[1].schema >= 5,
  "the manifest names the file's table, rows and schema")
d:close()

-- Pages are appended to the staging; a publish keeps each key's last row,
-- so a file holds a key once.
d = dest.open("parquet:" .. dir .. "/lake2")
items = d:table { name = "items", primary_key = "id" }
d:transaction(function() items:write('[{"id":"1","v":1},{"id":"2","v":1},{"id":"1","v":2}]') end)
d:transaction(function() items:write('[{"id":"2","v":3},{"id":"3","v":4}]') end)
d:close()
files = {}
for _, k in ipairs(require("icx.objstore").open(dir .. "/lake2"):list("items/")) do
  files[#files + 1] = dir .. "/lake2/" .. k
end
t.is(#files, 1, "one publish, one file")
rows = assert(db:query("SELECT string_agg(id || '=' || v, ',' ORDER BY id) AS s, count(*) AS n FROM "
  .. "read_parquet(?)", files[1]))[1]
t.is(rows.s, "1=2,2=3,3=4", "the file holds each key once, its last record")
doc = json.decode(require("icx.objstore").open(dir .. "/lake2"):get(
  require("icx.objstore").open(dir .. "/lake2"):list("_icx/manifests/")[1]))
t.is(doc.files[1].rows, 3, "the manifest counts the rows of the file")
db:close()
os.execute("rm -rf '" .. dir .. "'")
os.exit(t.done())
