-- icx init (icx.init_cmd): the file it writes is a valid connections.yml
-- whose token is $INTERCOM_ACCESS_TOKEN's, it never overwrites a file, and
-- `icx init` through the command line says what to do next.
local t = dofile "tests/lib/tap.lua"
local config = require "icx.config"
local init = require "icx.init_cmd"

local ICX = t.sh("realpath " .. (os.getenv("ICX") or "./icx")):match("[^\n]+")
local env = { INTERCOM_ACCESS_TOKEN = "tok-123" }
local conns = config.parse(init.TEMPLATE, "connections.yml", function(k) return env[k] end)
t.is(#conns, 1, "the template holds one connection")
t.is(conns[1].access_token, "tok-123", "its token is $INTERCOM_ACCESS_TOKEN's")
t.is(conns[1].region, "us", "with a region")
t.is(conns[1].base_url, "https://api.intercom.io", "the region's host")
t.ok(init.TEMPLATE:find("{{ env_var('INTERCOM_ACCESS_TOKEN') }}", 1, true), "the token is a template, not a value")
t.raises(function() config.parse(init.TEMPLATE, "connections.yml", function() return nil end) end,
  "environment variable 'INTERCOM_ACCESS_TOKEN' is not set", "without $INTERCOM_ACCESS_TOKEN: the config error says so")
for _, key in ipairs { "destination", "rate_limit", "base_url" } do
  t.ok(init.TEMPLATE:find("# " .. key .. ":", 1, true), "the optional key " .. key .. " is there, commented")
end

local dir = t.tmpdir()
local path = dir .. "/connections.yml"
local out, rc = t.sh(("cd %s && %s init"):format(dir, ICX))
t.is(rc, 0, "icx init exits 0")
t.like(out, "wrote connections.yml; next:", "and says what it wrote")
t.like(out, "export INTERCOM_ACCESS_TOKEN=", "and what to do next")
local f = assert(io.open(path, "rb"))
t.is(f:read("a"), init.TEMPLATE, "the file is the template")
f:close()
t.write(path, "mine\n")
out, rc = t.sh(("cd %s && %s init"):format(dir, ICX))
t.is(rc, 2, "a second icx init exits 2")
t.like(out, "connections.yml already exists: icx init never overwrites a file", "naming the file")
f = assert(io.open(path, "rb"))
t.is(f:read("a"), "mine\n", "the file is untouched")
f:close()
out, rc = t.sh(("%s init %s/other.yml"):format(ICX, dir))
t.is(rc, 0, "icx init PATH writes elsewhere")
out = t.sh(("ICX_CONFIG=%s/env.yml %s init && test -s %s/env.yml && echo present"):format(dir,
  ICX, dir))
t.like(out, "present", "without PATH: $ICX_CONFIG")
out, rc = t.sh(("%s init %s/nodir/x.yml"):format(ICX, dir))
t.ok(rc == 2 and out:find("cannot write " .. dir .. "/nodir/x.yml: No such file or directory", 1, true),
  "a path that cannot be written: exit 2, naming it")
os.execute("rm -rf " .. dir)

os.exit(t.done())
