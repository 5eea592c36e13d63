-- The command line as users meet it: exit codes, messages, config lookup,
-- and that the token is never printed.
local t = dofile "tests/lib/tap.lua"
local dir = t.tmpdir()
local ICX = t.sh("realpath " .. (os.getenv("ICX") or "./icx")):match("[^\n]+")
local TOKEN = "sekrit-token-abcdef123456"

local function icx(args, envs)
  return t.sh((envs or "") .. " " .. ICX .. " " .. args)
end

local out, rc = icx("")
t.is(rc, 2, "no command prints the usage, exit 2")
t.like(out, "usage: icx COMMAND", "help text")
t.like(out, "2  usage, configuration or script error", "help documents exit codes")
out, rc = icx("help")
t.is(rc, 0, "icx help exits 0")

out, rc = icx("version")
t.is(rc, 0, "version exits 0")
t.like(out, "^icx %d+%.%d+%.%d+", "version printed")

out, rc = icx("help run")
t.is(rc, 0, "help run")
t.like(out, "usage: icx run", "help for a command")

out, rc = icx("help frob")
t.is(rc, 2, "help for an unknown command is a usage error")

out, rc = icx("rnu x.lua")
t.is(rc, 2, "unknown command exits 2")
t.like(out, "unknown command 'rnu' %(did you mean 'run'%?%)", "with a suggestion")

out, rc = icx("run --dets x.db a.lua")
t.is(rc, 2, "unknown option exits 2")
t.like(out, "unknown option '%-%-dets' %(did you mean '%-%-dest'%?%)", "with a suggestion")

out, rc = icx("run")
t.is(rc, 2, "run without scripts exits 2")
out, rc = icx("run -j 0 a.lua")
t.is(rc, 2, "-j 0 exits 2")
out, rc = icx("run --config")
t.is(rc, 2, "option without value exits 2")
t.like(out, "option '%-%-config' needs a value", "says which option")
out, rc = icx("run -v -q a.lua")
t.is(rc, 2, "-v with -q exits 2")

-- Config lookup: --config, then $ICX_CONFIG, then ./connections.yml.
out, rc = icx("check", "cd " .. dir .. " && ICX_CONFIG=")
t.is(rc, 2, "missing ./connections.yml exits 2")
t.like(out, "connections.yml: cannot read the configuration", "names the file")

t.write(dir .. "/two.yml", ([[
connections:
  intercom:
    - name: prod
      access_token: %s
    - name: staging
      access_token: "{{ env_var('ICX_TEST_TOKEN') }}"
]]):format(TOKEN))
out, rc = icx("check --config " .. dir .. "/two.yml", "ICX_TEST_TOKEN=" .. TOKEN)
t.is(rc, 2, "several connections without --connection exits 2")
t.like(out, "choose one with %-%-connection NAME %(prod, staging%)", "lists the names")
t.ok(not out:find(TOKEN, 1, true), "token not printed")

out, rc = icx("check", "ICX_CONFIG=" .. dir .. "/two.yml ICX_TEST_TOKEN=x")
t.like(out, "two.yml holds 2 intercom connections", "$ICX_CONFIG is read")

t.write(dir .. "/bad.yml", ([[
connections:
  intercom:
    - name: prod
      access_token: %s
      regoin: eu
]]):format(TOKEN))
out, rc = icx("-v check --config " .. dir .. "/bad.yml")
t.is(rc, 2, "config error exits 2")
t.like(out, "bad.yml:5:7: unknown key 'regoin' in connection 'prod' %(did you mean 'region'%?%)", "file:line:col and hint")
t.ok(not out:find(TOKEN, 1, true), "token not printed at -v")

-- icx lua: errors exit 1 with a traceback; a returned integer is the code.
t.write(dir .. "/fail.lua", "error('broken on purpose')")
out, rc = icx("lua " .. dir .. "/fail.lua")
t.is(rc, 1, "icx lua: an error exits 1")
t.like(out, "broken on purpose", "and shows the message")
t.write(dir .. "/args.lua", "return #arg == 2 and arg[2] == '--x' and 0 or 5")
out, rc = icx("lua " .. dir .. "/args.lua a --x")
t.is(rc, 0, "icx lua passes arguments, options included, untouched")

t.write(dir .. "/hog.lua", "local t = {}\nfor i = 1, 1e7 do t[i] = ('x'):rep(100) .. i end")
out, rc = icx("plan --max-memory 8M " .. dir .. "/hog.lua")
t.is(rc, 1, "a script past --max-memory fails with exit 1")
t.like(out, "out of memory: the Lua heap reached %-%-max%-memory %(8388608 bytes%)", "and says which limit")
-- ICX_LUALIB serves lualib from a directory instead of the built-in copy.
os.execute("mkdir -p " .. dir .. "/lib/icx")
t.write(dir .. "/lib/icx/duration.lua", "return { from_disk = true }")
t.write(dir .. "/which.lua", "return require('icx.duration').from_disk and 0 or 7")
out, rc = icx("lua " .. dir .. "/which.lua", "ICX_LUALIB=" .. dir .. "/lib")
t.is(rc, 0, "ICX_LUALIB loads a module from disk")
out, rc = icx("lua " .. dir .. "/which.lua")
t.is(rc, 7, "without it the built-in lualib serves")

-- A script's runtime error: path:line always, the traceback only with -v.
t.write(dir .. "/c.yml", "connections:\n  intercom:\n    - {name: a, access_token: x}\n")
t.write(dir .. "/boom.lua", "local icx = require 'icx'\nlocal n = nil\nreturn n.field")
out, rc = icx("plan --config " .. dir .. "/c.yml " .. dir .. "/boom.lua")
t.is(rc, 2, "a script that raises while loading exits 2")
t.like(out, "boom.lua:3: attempt to index a nil value %(local 'n'%)", "the message names path:line")
t.ok(not out:find("stack traceback", 1, true), "no traceback without -v")
out = icx("plan -v --config " .. dir .. "/c.yml " .. dir .. "/boom.lua")
t.like(out, "stack traceback:", "-v adds the traceback")

out, rc = icx("--max-memory 1X version")
t.is(rc, 2, "bad --max-memory exits 2")

os.execute("rm -rf " .. dir)
os.exit(t.done())
