-- libduckdb.so is loaded when DuckDB is first used, not by every icx
-- process (engine/duckapi.h: mapped, it dirties ~12 MB of every process,
-- docs/MEASUREMENTS.md): icx does not name it among its NEEDED libraries,
-- this process has not mapped it after starting, loading its modules and
-- landing a page in SQLite, and it has once a duckdb: destination opens.
local t = dofile "tests/lib/tap.lua"
if not package.preload["icx.duckdb"] then
  print("1..0 # SKIP this icx was built without DuckDB")
  os.exit(0)
end
local dest = require "icx.dest"
local json = require "icx.json"

local ICX = os.getenv("ICX") or "./icx"
local dir = t.tmpdir()

-- The lines of /proc/self/maps that map libduckdb.
local function mapped()
  local n = 0
  for line in io.lines("/proc/self/maps") do
    if line:find("libduckdb", 1, true) then n = n + 1 end
  end
  return n
end

local out, rc = t.sh("readelf -d " .. ICX)
t.is(rc, 0, "readelf -d reads " .. ICX)
t.like(out, "NEEDED.-libsqlite3", "readelf lists icx's NEEDED libraries")
t.ok(not out:find("libduckdb", 1, true), "icx does not name libduckdb.so as NEEDED")
t.like(out, "RUNPATH", "it keeps a RUNPATH, where it finds the library when it loads it")

t.is(mapped(), 0, "a started icx has not mapped libduckdb.so")
t.is(package.loaded["icx.duckdb"], nil, "nor loaded icx.duckdb")

local d = dest.open("sqlite:///" .. dir .. "/s.db")
local c = d:table { name = "items", primary_key = "id", mode = "merge" }
d:begin()
t.is(c:write(assert(json.page('[{"id":"1","a":1}]', false))), 1, "a page lands in SQLite")
d:commit()
d:close()
t.is(mapped(), 0, "a SQLite destination does not map libduckdb.so")

local duck = dest.open("duckdb:" .. dir .. "/d.duckdb")
t.ok(mapped() > 0, "a duckdb: destination maps libduckdb.so")
t.like(require("icx.duckdb").version(), "^v%d", "and calls DuckDB through it")
local dc = duck:table { name = "items", primary_key = "id", mode = "merge" }
duck:begin()
t.is(dc:write(assert(json.page('[{"id":"1","a":1}]', false))), 1, "a page lands in DuckDB")
duck:commit()
duck:close()

os.execute("rm -rf " .. dir)
os.exit(t.done())
