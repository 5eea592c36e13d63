-- The asset sandbox: strict globals, no io/os.execute/load, text only,
-- require limited to icx modules, errors reported as path:line.
local t = dofile "tests/lib/tap.lua"
local sandbox = require "icx.sandbox"

local dir = t.tmpdir()
local function script(name, text)
  local p = dir .. "/" .. name
  t.write(p, text)
  return p
end
local function err_of(path)
  local ok, e = pcall(sandbox.run_file, path)
  if ok then return "(no error)", nil end
  return tostring(e), e
end

local p = script("ok.lua", "local x = 41\nreturn { answer = x + 1 }")
t.is(sandbox.run_file(p).answer, 42, "a script runs and returns its value")

local msg, e = err_of(script("read.lua", "local a = 1\nreturn undefined_name"))
t.is(msg, dir .. "/read.lua:2: undeclared global 'undefined_name' (declare it with local)", "reading an undeclared global raises at its line")
t.is(e and e.kind, "script", "as a script error")

msg = err_of(script("write.lua", "\n\nprimary_kye = 'id'\nreturn {}"))
t.is(msg, dir .. "/write.lua:3: assignment to undeclared global 'primary_kye' (declare it with local)", "writing an undeclared global raises")

msg = err_of(script("io.lua", "return io.open('/etc/passwd')"))
t.like(msg, "undeclared global 'io'", "no io library")

msg = err_of(script("exec.lua", "return os.execute('true')"))
t.like(msg, "attempt to call a nil value %(field 'execute'%)", "no os.execute")
t.is(sandbox.run_file(script("time.lua", "return os.time() > 0")), true, "os.time is there")

msg = err_of(script("load.lua", "return load('return 1')"))
t.like(msg, "undeclared global 'load'", "no load")
msg = err_of(script("dofile.lua", "return dofile('/etc/passwd')"))
t.like(msg, "undeclared global 'dofile'", "no dofile")

msg = err_of(script("req.lua", "local m = require 'io'\nreturn m"))
t.like(msg, "req.lua:1: module 'io' is not available to asset scripts", "require limited to icx modules")
for _, m in ipairs({ "icx", "icx.intercom", "icx.json", "cjson", "cjson.safe" }) do
  t.ok(type(sandbox.run_file(script("req2.lua", ("return require '%s'"):format(m)))) == "table",
    m .. " is available to scripts")
end
-- Sandbox by subtraction: icx.sys could create, rename and delete files,
-- icx.budget lift the script's own instruction budget, icx.client and
-- icx.config reach the token; each is refused at load time, as a script error.
for _, m in ipairs({ "icx.sys", "icx.budget", "icx.client", "icx.config", "icx.duration", "icx.sqlite",
  "icx.http", "icx.dest" }) do
  msg, e = err_of(script("esc.lua", ("local x = 1\nlocal m = require '%s'\nreturn m"):format(m)))
  t.like(msg, "esc%.lua:2: module '" .. m:gsub("%p", "%%%0") .. "' is not available to asset scripts %(they may "
    .. "require icx, icx%.intercom, icx%.json, cjson, cjson%.safe%)", m .. " is refused at its line")
  t.is(e and e.kind, "script", m .. ": a script error (exit 2)")
end

-- Bytecode is refused even when it is valid.
local bc = string.dump(function() return 1 end)
local bp = dir .. "/bc.lua"
local f = assert(io.open(bp, "wb")); f:write(bc); f:close()
msg = err_of(bp)
t.is(msg, bp .. ": precompiled bytecode is not accepted; give the .lua source", "bytecode refused")

msg = err_of(script("syntax.lua", "return {\n  a = 1\n  b = 2 }"))
t.like(msg, "syntax.lua:3: '}' expected %(to close '{' at line 1%) near 'b'", "syntax errors name path:line")

msg = err_of(script("err.lua", "local x = nil\n\nerror('boom')"))
t.is(msg, dir .. "/err.lua:3: boom", "runtime errors name path:line")

msg = err_of(dir .. "/missing.lua")
t.like(msg, "missing.lua: cannot read the script", "missing script")

-- Scripts do not share globals: each gets a fresh environment.
msg = err_of(script("leak1.lua", "string.evil = true; return 1"))
t.like(msg, "leak1%.lua:1: this table of icx's is read%-only %(cannot set 'evil'%)", "the string library is read-only")
t.is(string.evil, nil, "a script cannot change the real string library")

-- icx.asset errors name the offending field's line even though
-- `return icx.asset{...}` is a tail call.
msg = err_of(script("field.lua", [[
local icx = require "icx"
return icx.asset {
  name = "x",
  pages = require("icx.intercom").get "/tags",
  incremental = { key = "updated_at", lookbak = "1 hour" },
}]]))
t.is(msg, dir .. "/field.lua:5: icx.asset: 'incremental' has unknown key 'lookbak' (did you mean 'lookback'?)",
  "a bad field is reported at its own line")
msg = err_of(script("noname.lua", "local icx = require 'icx'\n\nreturn icx.asset { pages = require('icx.intercom').get '/tags' }"))
t.is(msg, dir .. "/noname.lua:3: icx.asset: 'name' is required", "a missing field is reported at icx.asset")

-- reconcile: shape and the merge/one-key rule, reported at the field's line.
local function asset_script(name, body)
  return script(name, "local icx = require 'icx'\nlocal intercom = require 'icx.intercom'\nreturn icx.asset {\n"
    .. "  name = 'x',\n  pages = intercom.scroll '/companies/scroll',\n" .. body .. "}\n")
end
msg = err_of(asset_script("rc1.lua", "  primary_key = 'id',\n  reconcile = { get = '/companies' },\n"))
t.is(msg, dir .. '/rc1.lua:7: icx.asset: \'reconcile\' must be {get = "/path/{id}", list = <a source walking '
  .. 'every record> (optional), key = <the column holding the listed id> (optional)}', "reconcile.get needs {id}")
msg = err_of(asset_script("rc2.lua", "  primary_key = 'id',\n  reconcile = { get = '/c/{id}', lst = 1 },\n"))
t.like(msg, "rc2%.lua:7: icx%.asset: 'reconcile' has unknown key 'lst' %(did you mean 'list'%?%)", "reconcile keys checked")
msg = err_of(asset_script("rc3.lua", "  mode = 'replace',\n  reconcile = { get = '/c/{id}' },\n"))
t.like(msg, "rc3%.lua:7: icx%.asset: 'reconcile' needs mode \"merge\" on a one%-field primary_key",
  "reconcile needs merge")
msg = err_of(asset_script("rc4.lua", "  primary_key = { 'a', 'b' },\n  reconcile = { get = '/c/{id}' },\n"))
t.like(msg, "'reconcile' needs mode \"merge\" on a one%-field primary_key", "reconcile needs a one-field key")
t.is(sandbox.run_file(asset_script("rc5.lua", "  primary_key = 'id',\n  reconcile = { get = '/c/{id}' },\n"))
  .reconcile.get, "/c/{id}", "a good reconcile is kept")

-- children entries are checked when the script loads, not mid-run.
local function child_script(name, entry)
  return script(name, "local icx = require 'icx'\nlocal intercom = require 'icx.intercom'\nreturn icx.asset {\n"
    .. "  name = 'x',\n  primary_key = 'id',\n  pages = intercom.scroll '/companies/scroll',\n"
    .. "  children = {\n    " .. entry .. ",\n  },\n}\n")
end
msg = err_of(child_script("ch1.lua", "{ table = 'x_tags', primary_key = { 'x_id', 'tag_id' }, parent_kye = 'x_id', "
  .. "rows = function() return {} end }"))
t.like(msg, "ch1%.lua:7: icx%.asset: 'children' entry 1 has unknown key 'parent_kye' %(did you mean 'parent_key'%?%)",
  "a misspelt children key fails at load with a suggestion")
msg = err_of(child_script("ch2.lua", "{ table = 'x_tags', primary_key = 'tag_id', parent_key = 'x_id' }"))
t.like(msg, "'children' entry 1 needs rows = function%(record, ctx%)", "a child without rows fails at load")
msg = err_of(child_script("ch3.lua", "{ table = '_icx_state', primary_key = 'k', parent_key = 'x_id', "
  .. "rows = function() return {} end }"))
t.like(msg, "'children' entry 1: table '_icx_state' is reserved", "a child cannot write icx's own tables")
t.ok(sandbox.run_file(child_script("ch4.lua", "intercom.contact_tags()")).children[1].table == "contact_tags",
  "a shipped child passes")
for _, name in ipairs({ "_icx_state", "_ICX_runs", "sqlite_master", "sqlite_sequence" }) do
  msg = err_of(script("res.lua", "local icx = require 'icx'\nreturn icx.asset {\n  name = 'x',\n  table = '"
    .. name .. "',\n  pages = require('icx.intercom').get '/tags',\n}"))
  t.like(msg, "res%.lua:4: icx%.asset: 'table' '" .. name .. "' is reserved", "table " .. name .. " is refused at load")
end

-- ctx.client is requests only: no token, nothing to change.
do
  local client = require("icx.client").new({ name = "c", access_token = "tok-secret-0123456789",
    base_url = "http://127.0.0.1:9" })
  local sc = client:for_scripts()
  t.is(sc.token, nil, "ctx.client has no token")
  t.is(sc.conn, nil, "nor the connection")
  t.is(sc.headers, nil, "nor the headers")
  t.is(getmetatable(sc), false, "nor a reachable metatable")
  t.ok(not pcall(function() sc.request = nil end), "and cannot be changed")
  t.is(type(sc.request), "function", "but can send requests")
end

-- An endless loop is stopped by the instruction budget at its own line,
-- at the top level and in a callback; a long wait is not charged.
local saved = sandbox.BUDGET
sandbox.BUDGET = 1000000
msg, e = err_of(script("spin.lua", "local n = 0\nwhile true do\n  n = n + 1\nend\nreturn n"))
t.like(msg, "^" .. dir:gsub("%p", "%%%0") .. "/spin%.lua:[2-4]: the script ran more than 1000000 Lua instructions "
  .. "without returning %(an endless loop%?%)$", "an endless top level is stopped, naming the line")
t.is(e and e.kind, "script", "as a script error")
local f = sandbox.run_file(script("cb.lua", "return function(k) local s = 0 for i = 1, k do s = s + i end return s end"))
t.is(sandbox.call(f, 1000), 500500, "a short callback returns its value")
local ok, cerr = pcall(sandbox.call, f, 10000000)
t.ok(not ok and tostring(cerr):find("cb.lua:1: the script ran more than 1000000", 1, true),
  "a callback past the budget raises at its line: " .. tostring(cerr))
local total = 0
for _ = 1, 5 do total = total + sandbox.call(f, 100000) end
t.is(total, 5 * 5000050000, "the budget is per call, not per process")
local co = coroutine.wrap(function() return sandbox.call(function()
  for _ = 1, 3 do coroutine.yield() end
  return "resumed"
end) end)
local got
repeat got = co() until got
t.is(got, "resumed", "a callback may yield (wait on a request) under the budget")
local n = 0
for i = 1, 3000000 do n = n + i end
t.ok(n > 0, "outside a callback nothing is counted")
sandbox.BUDGET = saved

-- Issue 22, item 1: nothing a script can reach holds a secret, and no
-- script can change what the engine or a later script calls.
local log = require "icx.log"
local SECRET = "tok-" .. ("s3cr3t"):rep(6)
log.add_secret(SECRET)
local env_script = script("getenv.lua", [[
return { home = os.getenv("HOME"), token = os.getenv("INTERCOM_ACCESS_TOKEN"),
  pg = os.getenv("PGPASSWORD"), dest = os.getenv("ICX_DEST"), any = os.getenv("ICX_T22_PLAIN") }]])
do
  local run = ([[INTERCOM_ACCESS_TOKEN=%s PGPASSWORD=pw-%s ICX_DEST=postgresql://u:p@h/db ICX_T22_PLAIN=%s]])
    :format(SECRET, SECRET, SECRET)
  local probe = script("getenv_probe.lua", ([[
require("icx.log").add_secret(%q)
local r = require("icx.sandbox").run_file(%q)
io.write(tostring(r.home ~= nil), " ", tostring(r.token), " ", tostring(r.pg), " ", tostring(r.dest), " ",
  tostring(r.any))
]]):format(SECRET, env_script))
  local out = t.sh(("%s %s lua %s"):format(run, os.getenv("ICX") or "./icx", probe))
  t.is(out, "true nil nil nil nil", "os.getenv: no token, no password, no destination, no value holding a secret")
end

msg = err_of(script("strmt.lua", "local mt = getmetatable('')\nreturn mt"))
t.is(sandbox.run_file(dir .. "/strmt.lua"), nil, "getmetatable on a string is nil")
msg = err_of(script("strsub.lua", "string.sub = function() end\nreturn 1"))
t.like(msg, "strsub%.lua:1: this table of icx's is read%-only", "string.sub cannot be replaced")
local masked = log.redact("token " .. SECRET)
t.is(masked, "token ****" .. SECRET:sub(-4), "the log still masks after a script tried")

for _, case in ipairs({
  { "json.lua", "local json = require 'icx.json'\njson.encode = function() return '{}' end\nreturn 1" },
  { "search.lua", "local ic = require 'icx.intercom'\nic.search = function() end\nreturn 1" },
  { "icx.lua", "local icx = require 'icx'\nicx.asset = function(s) return s end\nreturn 1" },
  { "rawset.lua", "local json = require 'icx.json'\nrawset(json, 'encode', print)\nreturn 1" },
  { "arraymt.lua", "local json = require 'icx.json'\njson.array_mt.__index = function() end\nreturn 1" },
  { "getmt.lua", "local json = require 'icx.json'\nlocal mt = getmetatable(json.decode('[1]'))\nmt.__index = print\n"
    .. "return 1" },
}) do
  msg = err_of(script(case[1], case[2]))
  t.like(msg, case[1]:gsub("%p", "%%%0") .. ":[23]: .*read%-only", case[1] .. ": an engine table is read-only")
end
t.is(type(require("icx.json").encode), "function", "icx.json.encode is intact")
t.is(require("icx.json").array_mt.__index, nil, "and array_mt")
t.is(sandbox.run_file(script("json2.lua", "return require('icx.json').encode({ a = 1 })")), '{"a":1}',
  "a later script gets the real encoder")
t.is(sandbox.run_file(script("arr.lua", [[
local json = require 'icx.json'
local a = setmetatable({}, json.array_mt)
return { json.encode(a), getmetatable(json.decode('[1]')) == json.array_mt }]]))[1], "[]",
  "json.array_mt still tags a table as an array")

-- A source's engine-facing methods: not replaceable on the object, nor
-- through its class.
local spec = sandbox.run_file(script("parts.lua", [[
local icx, ic = require 'icx', require 'icx.intercom'
local src = ic.search('/contacts/search', { key = 'updated_at' })
local tries = {}
tries[1] = pcall(function() src.parts = function(self, client) return client.token end end)
tries[2] = pcall(function() getmetatable(src).parts = function() end end)
tries[3] = pcall(function() getmetatable(src).__index.parts = function() end end)
tries[4] = pcall(rawset, src, 'parts', print)
return icx.asset { name = 'p', primary_key = 'id', pages = src,
  transform = function(r) r.tries = tries return r end }]]))
local src = spec.pages
t.is(rawget(src, "parts"), nil, "the source the engine walks has no parts of the script's")
local tries = sandbox.call(spec.transform, require('icx.json').decode('{}')).tries
t.is(("%s %s %s %s"):format(table.unpack(tries)), "false false false false",
  "each way of replacing parts (field, class, class __index, rawset) raised")
t.ok(getmetatable(spec) ~= nil and require("icx").is_asset(spec), "the engine gets its own Asset back")

-- ctx: the asset's own; what a script stores stays in it.
do
  local ctx = { asset = "a", connection = "c", client = require("icx.client").new({ name = "c",
    access_token = SECRET, base_url = "http://127.0.0.1:9" }):for_scripts(), since = 5 }
  local fn = sandbox.run_file(script("ctx.lua", [[
return function(rec, ctx) ctx.since = 0; ctx.client = nil; ctx.mine = (ctx.mine or 0) + 1
  return { since = ctx.since, mine = ctx.mine, token = ctx.client and ctx.client.token } end]]))
  local r1, r2 = sandbox.call(fn, {}, ctx), sandbox.call(fn, {}, ctx)
  t.is(ctx.since, 5, "the engine's ctx is unchanged by a script's writes")
  t.ok(ctx.mine == nil and ctx.client ~= nil, "nothing was added to it, nothing removed")
  t.is(r2.mine, 2, "the script's own ctx keeps what it stored")
  t.is(r1.token, nil, "no token")
end

-- The engine's own client or connection handed to a script function (as
-- walk.run hands a source's parts() the client) arrives without its token.
do
  local conn = { name = "c", access_token = SECRET, base_url = "http://127.0.0.1:9" }
  local client = require("icx.client").new(conn)
  local peek = sandbox.run_file(script("peek.lua", [[
return function(client, conn)
  return { token = client.token, conn = client.conn and client.conn.access_token,
    has_request = type(client.request) == "function", conn_arg = conn and conn.access_token }
end]]))
  local seen = sandbox.call(peek, client, conn)
  t.ok(seen.token == nil and seen.conn == nil and seen.conn_arg == nil, "a script function gets no token from a client")
  t.ok(seen.has_request, "but a client it can send requests with")
end

-- Issue 22, item 2: every way a script used to hang icx ends in an error
-- naming the script and its line.
sandbox.BUDGET = 1000000
local function stops(name, text, pattern, what)
  local started = require("icx.sys").now()
  local m = err_of(script(name, text))
  t.like(m, pattern, what)
  t.ok(require("icx.sys").now() - started < 5, what .. ": within seconds")
end
stops("pcall.lua", "local n = 0\nwhile true do\n  pcall(function() while true do n = n + 1 end end)\nend",
  "pcall%.lua:%d: the script ran more than 1000000 Lua instructions", "a loop inside pcall")
stops("pcall2.lua", "while true do\n  pcall(function() while true do end end)\n  pcall(error, 'x')\nend",
  "pcall2%.lua:%d: the script ran more than", "pcall in a loop cannot keep swallowing the budget")
stops("xpcall.lua", "while true do xpcall(function() while true do end end, function(e) return e end) end",
  "xpcall%.lua:1: the script ran more than", "a loop inside xpcall")
stops("cowrap.lua", "local co = coroutine.create(function() while true do end end)\nwhile true do coroutine.resume(co) end",
  "cowrap%.lua:%d: the script ran more than", "a loop inside a coroutine of the script")
stops("gc.lua", "setmetatable({}, { __gc = function() while true do end end })\nreturn 1",
  "gc%.lua:1: setmetatable: __gc finalizers are not available to asset scripts", "a __gc finalizer is refused")
stops("tostr.lua", "error(setmetatable({}, { __tostring = function() while true do end end }))",
  "tostr%.lua:1: the script ran more than", "an error object whose __tostring loops")
local tsf = sandbox.run_file(script("tostr2.lua",
  "return function() return setmetatable({}, { __index = function() while true do end end }) end"))
local looping = sandbox.call(tsf)
local ok2, e2 = pcall(function() return looping.id end)
t.ok(not ok2 and tostring(e2):find("tostr2.lua:1: the script ran more than", 1, true),
  "a metamethod the engine triggers later runs under a budget too: " .. tostring(e2))
sandbox.BUDGET = saved

msg, e = err_of(script("yield.lua", "local x = 1\ncoroutine.yield()\nreturn x"))
t.like(msg, "yield%.lua:2: coroutine%.yield%(%) outside a coroutine the script created", "a yield out of icx's task")
t.is(e and e.kind, "script", "is a script error (exit 2), not an internal one")
t.is(sandbox.run_file(script("yield2.lua", [[
local co = coroutine.wrap(function() coroutine.yield(1) return 2 end)
return co() + co()]])), 3, "a coroutine the script made may yield")

-- A coroutine a script keeps between calls runs on the budget of the call
-- that resumes it, not on the one that made it (long over by then).
do
  local savedsec = sandbox.SECONDS
  sandbox.SECONDS = 1
  local gen = sandbox.run_file(script("gen.lua", [[
local co = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield(i) end end)
return function() return co() end]]))
  local first = sandbox.call(gen)
  require("icx.sys").sleep(1.3)
  local ok3, second = pcall(sandbox.call, gen)
  t.ok(first == 1 and ok3 and second == 2, "a kept coroutine is charged to the call resuming it: " .. tostring(second))
  sandbox.SECONDS = savedsec
end

local savedmem = sandbox.MEMORY
sandbox.MEMORY = 32 * 1024 * 1024
msg = err_of(script("mem.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end"))
t.like(msg, "the script used more than 32 MB of memory", "a runaway table meets the heap cap")
sandbox.MEMORY = savedmem
collectgarbage()

os.execute("rm -rf " .. dir)
os.exit(t.done())
