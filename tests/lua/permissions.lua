-- icx.permissions: README's permissions table is the module's table, every
-- endpoint a shipped asset calls has a row, and a 403 names the row's
-- permission (or the plan, for api_plan_restricted).
local t = dofile "tests/lib/tap.lua"
local permissions = require "icx.permissions"
local client = require "icx.client"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

---------------------------------------------------------------- README
local readme = read("README.md")
local section = readme:match("\n### Token permissions\n(.-)\n##") or ""
local rows = {}
for method, route, permission in section:gmatch("\n| `(%u+) ([^`]+)` | ([^|]-) |") do
  rows[#rows + 1] = ("%s %s: %s"):format(method, route, permission)
end
local want = {}
for i, e in ipairs(permissions.ROUTES) do want[i] = ("%s %s: %s"):format(e.method, e.route, e.permission) end
t.ok(#rows > 0, ("README's Token permissions section has a table (%d rows)"):format(#rows))
t.is(table.concat(rows, "\n"), table.concat(want, "\n"),
  "README's permissions table is icx.permissions.ROUTES, row by row and in order")

---------------------------------------------------------------- coverage
-- Every endpoint literal of the shipped assets and of the sources they
-- call, and the client's GET /me.
local routes = {}
for _, e in ipairs(permissions.ROUTES) do routes[e.route] = true end
local files = { "lualib/icx/intercom.lua", "lualib/icx/associations.lua", "lualib/icx/tagwalk.lua" }
local listing = io.popen("ls scripts/*.lua")
for p in listing:lines() do files[#files + 1] = p end
listing:close()
local missing, seen = {}, 0
for _, p in ipairs(files) do
  for line in read(p):gmatch("[^\n]+") do
    local code = line:gsub("%-%-.*$", "")
    for path in code:gmatch('"(/[%w_/{}]+)"') do
      seen = seen + 1
      if not routes[path] then missing[#missing + 1] = p .. ": " .. path end
    end
  end
end
t.ok(seen >= 25, ("endpoint literals found in the shipped assets (%d)"):format(seen))
t.is(table.concat(missing, ", "), "", "every endpoint a shipped asset calls has a permission")
t.ok(routes["/me"], "GET /me (every run's preflight) has a permission")

---------------------------------------------------------------- lookup
t.is(permissions.of("POST", "/tickets/search").permission, "Read tickets", "an exact route")
t.is(permissions.of("GET", "/conversations/deleted?page=2&per_page=60").route, "/conversations/deleted",
  "a query string is ignored, and an exact route wins over /conversations/{id}")
t.is(permissions.of("GET", "/conversations/123").route, "/conversations/{id}", "an id segment")
t.is(permissions.of("GET", "/companies/abc/segments").route, "/companies/{id}/segments", "an id inside a route")
t.is(permissions.of("GET", "/contacts/1/tags/2"), nil, "an id matches one segment only")
t.is(permissions.of("POST", "/tags"), nil, "the method counts")
t.is(permissions.of("GET", "/nowhere"), nil, "an endpoint icx does not call")

---------------------------------------------------------------- messages
local c = client.new({ name = "perm", access_token = "tok", base_url = "http://127.0.0.1:1" })
local function body(code, message)
  return ('{"type":"error.list","request_id":"r1","errors":[{"code":"%s","message":"%s"}]}'):format(code, message)
end
local function message(status, code, method, shown)
  local e = c:status_error({ status = status, body = body(code, "nope"), headers = {}, url = "" }, method, shown)
  return e.message, e
end
local m, e = message(403, "forbidden", "POST", "/tickets/search")
t.like(m, 'lacks Intercom\'s "Read tickets" permission, which POST /tickets/search needs', "403: the permission")
t.is(e.code, "forbidden", "403: Intercom's code is the error's")
m = message(403, "forbidden", "GET", "/companies/5f1/segments")
t.like(m, '"Read and list users and companies" permission, which GET /companies/{id}/segments needs',
  "403 on a route with an id: the route's permission")
m = message(403, "forbidden", "GET", "/admins/activity_logs?created_at_after=0")
t.like(m, '"Read admin activity logs"', "403 with a query string")
m = message(403, "forbidden", "GET", "/custom/thing")
t.like(m, "lacks a permission this endpoint needs", "403 on an endpoint icx does not know: said without a name")
m, e = message(403, "api_plan_restricted", "GET", "/help_center/collections?page=1")
t.like(m, "plan does not include GET /help_center/collections: no token permission grants it",
  "api_plan_restricted: the plan, not a permission")
t.ok(not m:find("Read and list articles", 1, true), "api_plan_restricted names no permission")
t.is(e.code, "api_plan_restricted", "api_plan_restricted: the code is kept")
m = message(401, "unauthorized", "GET", "/tags")
t.ok(not m:find("permission", 1, true), "401 says the token was rejected, not a permission")

t.done()
