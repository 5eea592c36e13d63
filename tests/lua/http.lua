-- icx.http hardening against a misbehaving local server (tests/lib/badhttpd.py):
-- a request curl refuses to set up completes at once as "setup" (a scheduler
-- waiting on it must never hang), a trickling server times out by
-- low_speed_time, an endless body is cut at max_bytes while streaming, and a
-- redirect is reported, never followed (the Authorization header stays home).
local t = dofile "tests/lib/tap.lua"
local http = require "icx.http"
local sys = require "icx.sys"

local srv = io.popen("exec /usr/bin/python3 tests/lib/badhttpd.py")
local port, pid = srv:read("n", "n")
if not port then
  print("Bail out! tests/lib/badhttpd.py did not start")
  os.exit(1)
end
local base = "http://127.0.0.1:" .. port

local m = http.multi()

-- Starts req and waits for its one completion; returns it and the seconds
-- the wait took.
local function run(req, max_wait)
  local id = m:start(req)
  local t0 = sys.now()
  local cs = m:wait(max_wait or 30)
  local c = cs[1] or {}
  t.is(c.id, id, "completion for the started id (" .. req.url:sub(1, 40) .. ")")
  return c, sys.now() - t0
end

-- Requests the server has seen; nil when the Multi cannot reach it any more.
local function count()
  return tonumber(run({ url = base .. "/count" }, 10).body)
end

---------------------------------------------------------------- setup failures
local c, took = run { url = "http://127.0.0.1:1/", ca_file = ("x"):rep(9000000), connect_timeout = 2 }
t.is(c.code, "setup", "an option curl refuses (ca_file past its 8 MB limit) fails as setup")
t.like(c.err, "^cannot start the transfer: ", "setup: the message says the transfer never started")
t.ok(took < 2, "setup: reported by the first wait, at once")
t.is(m:pending(), 0, "setup: nothing left pending")

c = run { url = base .. "/" .. ("u"):rep(9000000) }
t.is(c.code, "setup", "a URL curl refuses fails as setup")

local before = count()
c, took = run { url = base .. "/ok", headers = { "Authorization: Bearer " .. ("t"):rep(2 * 1024 * 1024) } }
t.is(c.code, "setup", "a 2 MiB token header fails as setup, not a retryable transport error")
t.like(c.err, "over the 1000000%-byte limit", "a 2 MiB header: the message names the limit")
t.ok(took < 5, "a 2 MiB header: the completion arrives promptly")
t.is(count(), before, "a 2 MiB header: nothing reached the server, and the host is still reachable")

c, took = run({ url = "http://127.0.0.1:1/", connect_timeout = 2,
  headers = { "Authorization: Bearer " .. ("t"):rep(2 * 1024 * 1024) } }, 10)
t.ok(c.code ~= nil and took < 5, "a 2 MiB header to a closed port: an error completion, promptly")

t.raises(function() m:start { url = base .. "/ok", low_speed_time = 0 } end,
  "icx.http: option 'low_speed_time' must be > 0", "low_speed_time must be positive")

---------------------------------------------------------------- slow and endless
c, took = run { url = base .. "/slow", low_speed_time = 2, timeout = 60 }
t.is(c.code, "timeout", "1 byte a second: a timeout completion by low_speed_time")
t.ok(took > 1.5 and took < 10, ("low_speed_time bounds the wait (%.1f s)"):format(took))

c, took = run { url = base .. "/endless", max_bytes = 1024 * 1024, timeout = 60 }
t.is(c.code, "too_large", "an endless body is cut at max_bytes")
t.ok(took < 10 and #c.body <= 1024 * 1024, ("cut while streaming (%.1f s, %d bytes kept)"):format(took, #c.body))

---------------------------------------------------------------- redirects
before = count()
c = run { url = base .. "/redirect", headers = { "Authorization: Bearer secret" } }
t.is(c.status, 302, "a redirect is the completion")
t.is(c.url, base .. "/redirect", "the effective URL is the one asked for")
t.is(count(), before + 1, "the Location was not followed (one request reached the server)")

---------------------------------------------------------------- deliveries
-- A wait hands over at most 8 completions (decoded as handed over); the
-- rest come with the next waits, none lost, none twice.
local want, got, most = {}, {}, 0
local function take(cs)
  most = math.max(most, #cs)
  for _, x in ipairs(cs) do
    if want[x.id] and x.body == "ok" then want[x.id], got[#got + 1] = nil, x.id end
  end
end
for _ = 1, 20 do want[m:start { url = base .. "/ok" }] = true end
-- Short waits send the requests; the answers then pile up unread, so one
-- later wait finds them all finished at once.
for _ = 1, 5 do
  take(m:wait(0))
  sys.sleep(0.2)
end
for _ = 1, 200 do
  if next(want) == nil then break end
  take(m:wait(5))
end
t.is(#got, 20, "20 transfers at once: every completion handed over once, body whole")
t.is(most, 8, "a wait hands over at most 8, and the pile-up reached that")

m:close()
os.execute("kill " .. math.tointeger(pid))
srv:close()
return t.done()
