-- icx.dest.bucketstate against moto (tests/lib/s3server.py; no server is a
-- failure): processes that change one prefix's state at once lose none of
-- each other's changes (a conditional write per change, redone on the
-- newer version), and the run lock objects keep two runs of one asset
-- apart while letting runs of other assets go.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local sys = require "icx.sys"

local ICX = os.getenv("ICX") or "./icx"
if ICX:sub(1, 1) ~= "/" then ICX = os.getenv("PWD") .. "/" .. ICX end
local dir = t.tmpdir()

local srv = io.popen("exec /usr/bin/python3 tests/lib/s3server.py --bucket state")
local port, _, pid = (srv:read("l") or ""):match("^(%d+) (%d+) (%d+) ")
if not port then
  print("Bail out! tests/lib/s3server.py did not start (is moto_server installed?)")
  os.exit(1)
end
local URI = ("s3://state/p?endpoint_url=http://127.0.0.1:%s&access_key_id=AKIDTEST&secret_access_key=s3cr3t&"
  .. "cache=%s/cache"):format(port, dir)

-- Each child writes N run records and N meta keys of its own, one change each.
local N = 8
local CHILD = dir .. "/child.lua"
t.write(CHILD, [==[
local dest = require "icx.dest"
local uri, name, n, go = ...
while not io.open(go) do require("icx.sys").sleep(0.01) end
local d = dest.open(uri)
for i = 1, tonumber(n) do
  local id = d:run_start { connection = name, asset = "a" }
  d:run_finish(id, { status = "ok", rows = i })
  d:meta_set(name .. "/" .. i, "x")
end
d:close()
]==])

local go = dir .. "/go"
local kids = {}
for i = 1, 3 do
  kids[i] = io.popen(("'%s' lua '%s' '%s' w%d %d '%s' 2>&1"):format(ICX, CHILD, URI, i, N, go), "r")
end
t.write(go, "")
local outs = {}
for i, k in ipairs(kids) do
  outs[i] = k:read("a")
  k:close()
end
t.is(table.concat(outs), "", "three processes changed the state at once, none failed")

local d = require("icx.dest").open(URI)
local runs, metas = 0, 0
for _, r in ipairs(d:status()) do
  if r.asset == "a" and r.last_status == "ok" and r.rows == N then runs = runs + 1 end
end
for i = 1, 3 do
  for j = 1, N do
    if d:meta_get(("w%d/%d"):format(i, j)) == "x" then metas = metas + 1 end
  end
end
t.is(runs, 3, "each process's last run record is there")
t.is(metas, 3 * N, "every meta key of every process is there: no change lost to a race")

-- Locks: held across "hosts" by the object, other assets free.
local lk = d:lock("c", "one")
t.ok(lk ~= nil, "a run lock taken")
local body = d.objects:get("_icx/locks/" .. require("icx.dest.filestore").slot("c", "one") .. ".json")
local h = body and json.decode(body) or {}
t.ok(h.pid == sys.pid() and h.connection == "c" and h.asset == "one", "the lock object names its holder")
local other = d:lock("c", "two")
t.ok(other ~= nil, "another asset's lock is free")
other:release()
lk:release()
t.is(#d.objects:list("_icx/locks/"), 0, "released locks leave no object")

-- A lock object of a live run on another host (no local lock): refused
-- with its holder named until its lease runs out.
local key = "_icx/locks/" .. require("icx.dest.filestore").slot("c", "far") .. ".json"
d.objects:put(key, json.encode { connection = "c", asset = "far", pid = 77, host = "elsewhere",
  since = "2026-01-01T00:00:00Z", renewed = sys.time() })
local no, holder = d:lock("c", "far")
t.ok(no == nil and holder == "icx pid 77 on elsewhere, running since 2026-01-01T00:00:00Z",
  "a lock object of a live run elsewhere refuses, naming it: " .. tostring(holder))
t.is(d:lock_free("c", "far"), false, "lock_free: false")
d.objects:put(key, json.encode { connection = "c", asset = "far", pid = 77, host = "elsewhere",
  since = "2026-01-01T00:00:00Z", renewed = sys.time() - 3600 })
t.is(d:lock_free("c", "far"), true, "a lease not renewed for an hour is over")
local taken = d:lock("c", "far")
t.ok(taken ~= nil, "and taken over")
h = json.decode(d.objects:get(key))
t.is(h.host, sys.hostname(), "the lock object names the new holder")
taken:release()
d:close()

os.execute("kill " .. pid)
srv:close()
os.execute("rm -rf '" .. dir .. "'")
os.exit(t.done())
