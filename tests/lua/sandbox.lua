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
script("leak1.lua", "string.evil = true; return 1")
sandbox.run_file(dir .. "/leak1.lua")
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

os.execute("rm -rf " .. dir)
os.exit(t.done())
