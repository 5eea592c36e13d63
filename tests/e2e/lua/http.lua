-- e2e driver: icx.http on its own against the simulator. Prints one JSON
-- line: a list of {name, ok, got} checks for 0112-http.t to report.
--
--   icx lua http.lua CONFIG
local cjson = require "cjson"
local config = require "icx.config"
local http = require "icx.http"

local path = ...
local conn = config.select(config.load(path), nil, path)
local base = conn.base_url
local auth = "Authorization: Bearer " .. conn.access_token
local checks = {}

local function check(name, ok, got)
  checks[#checks + 1] = { name = name, ok = not not ok, got = got ~= nil and tostring(got) or nil }
end

-- Runs f expecting an error containing `want`.
local function raises(name, want, f)
  local ok, err = pcall(f)
  check(name, not ok and tostring(err):find(want, 1, true), err)
end

-- Waits for one completion.
local function one(m, req)
  local id = m:start(req)
  local c = m:wait(30)[1]
  return c, id
end

local m = http.multi { max_host_connections = 4 }
check("tostring names the type", tostring(m):find("^icx%.http%.Multi") ~= nil, tostring(m))
check("user_agent is icx/<version>", http.user_agent == "icx/" .. http.version, http.user_agent)

raises("unknown request option is named", "unknown option 'bogus'", function()
  m:start { url = base .. "/me", bogus = 1 }
end)
raises("unknown multi option is named", "unknown option 'max_conns'", function() http.multi { max_conns = 1 } end)
raises("url is required", "needs a 'url'", function() m:start {} end)
raises("only http and https", "must start with https:// or http://", function() m:start { url = "file:///etc/passwd" } end)
raises("header injection is refused", "must look like 'Name: value'", function()
  m:start { url = base .. "/me", headers = { "X-A: b\r\nX-Evil: 1" } }
end)
raises("GET cannot have a body", "cannot have a body", function() m:start { url = base .. "/me", body = "{}" } end)
raises("timeouts must be positive", "'timeout' must be > 0", function() m:start { url = base .. "/me", timeout = 0 } end)
raises("max_bytes must be an integer", "'max_bytes' must be an integer", function()
  m:start { url = base .. "/me", max_bytes = 1.5 }
end)
check("nothing started by the failed calls", m:pending() == 0, m:pending())

local t0 = require("icx.sys").now()
local empty = m:wait(5)
check("wait with nothing in flight returns {} at once", #empty == 0 and require("icx.sys").now() - t0 < 4, #empty)

local c, id = one(m, { url = base .. "/me", headers = { auth, "Accept: application/json" } })
check("completion has the id start returned", c.id == id, c.id)
check("status 200", c.status == 200, c.status)
check("headers by lower-case name", c.headers["x-ratelimit-limit"] ~= nil and c.headers["content-type"] ~= nil,
  cjson.encode(c.headers))
check("gzip is undone (sim gzips when offered)", c.headers["content-encoding"] == "gzip" and c.body:sub(1, 1) == "{",
  c.headers["content-encoding"])
check("bytes is the decoded body length", c.bytes == #c.body, c.bytes)
local raw = one(m, { url = base .. "/me", headers = { auth, "Accept-Encoding: gzip" } })
check("a request naming its own Accept-Encoding gets the body as it came (gzip bytes)",
  raw.status == 200 and raw.headers["content-encoding"] == "gzip" and raw.body:sub(1, 2) == "\31\139",
  raw.body:sub(1, 2))
check("ms and url are reported", type(c.ms) == "number" and c.url == base .. "/me", c.url)
check("no err on success", c.err == nil and c.code == nil, c.err)

c = one(m, { method = "POST", url = base .. "/companies/list?per_page=1", headers = { auth } })
check("a bodiless POST goes out", c.status == 200, c.status)
c = one(m, { method = "POST", url = base .. "/contacts/search", headers = { auth, "Content-Type: application/json" },
  body = '{"query":{"field":"updated_at","operator":">","value":1}}' })
check("a POST with a body", c.status == 200, c.status)

c = one(m, { url = base .. "/me", headers = { auth }, max_bytes = 10 })
check("max_bytes: code too_large", c.code == "too_large" and c.err:find("larger than 10 bytes", 1, true), c.err)

c = one(m, { url = "http://127.0.0.1:1/", connect_timeout = 2 })
check("refused connection: code connect", c.code == "connect" and c.status == 0, c.err)

c = one(m, { url = base:gsub("^http:", "https:") .. "/me", connect_timeout = 2 })
check("https to a plain-HTTP port fails as transport (a handshake that never happened)",
  c.code == "transport", c.err)
c = one(m, { url = base:gsub("^http:", "https:") .. "/me", ca_file = "/nonexistent/ca.pem", connect_timeout = 2 })
check("an unreadable ca_file is a tls error (not retried)", c.code == "tls" and c.err:find("/nonexistent/ca.pem", 1, true),
  c.err)

-- A delayed response (fault queued by the test) for timeout and cancel.
c = one(m, { url = base .. "/tags", headers = { auth }, timeout = 0.3 })
check("timeout: code timeout", c.code == "timeout", c.err)
local slow = m:start { url = base .. "/teams", headers = { auth } }
local fast = m:start { url = base .. "/admins", headers = { auth } }
check("pending counts both", m:pending() == 2, m:pending())
check("cancel of an in-flight transfer", m:cancel(slow) == true, nil)
check("cancel of an unknown id", m:cancel(9999) == false, nil)
local got = {}
while m:pending() > 0 do for _, x in ipairs(m:wait(10)) do got[#got + 1] = x.id end end
check("only the uncancelled transfer is reported", #got == 1 and got[1] == fast, cjson.encode(got))

-- Plain http:// never multiplexes: requests started together each get a
-- connection instead of waiting behind the first one's slow headers.
do
  local m2 = http.multi { max_host_connections = 4 }
  local first = m2:start { url = base .. "/segments", headers = { auth }, timeout = 20 }
  m2:start { url = base .. "/admins", headers = { auth }, timeout = 20 }
  m2:start { url = base .. "/data_attributes", headers = { auth }, timeout = 20 }
  local order = {}
  while m2:pending() > 0 do
    for _, x in ipairs(m2:wait(30)) do order[#order + 1] = (x.id == first and "slow " or "") .. tostring(x.status) end
  end
  check("http://: two requests complete before the slow first one they started with",
    table.concat(order, ",") == "200,200,slow 200", table.concat(order, ","))
  m2:close()
end

m:close()
m:close()
check("close is idempotent", tostring(m):find("closed", 1, true) ~= nil, tostring(m))
raises("a closed Multi refuses use", "closed Multi", function() m:wait(0) end)
do
  local scoped <close> = http.multi()
  scoped:start { url = base .. "/me", headers = { auth } }
end
check("a Multi closes as a to-be-closed value with a transfer in flight", true)

print(cjson.encode(checks))
return 0
