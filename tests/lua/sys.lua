-- icx.sys: the process protections main() sets before any secret is loaded
-- (no core file, not dumpable), the clocks and the file helpers.
local t = dofile "tests/lib/tap.lua"
local sys = require "icx.sys"

---------------------------------------------------------------- core dumps
local f = io.open("/proc/self/limits")
if f then
  local limits = f:read("a")
  f:close()
  local soft, hard = limits:match("Max core file size%s+(%S+)%s+(%S+)")
  t.is(soft, "0", "RLIMIT_CORE soft limit is 0: no core file can hold the token")
  t.is(hard, "0", "RLIMIT_CORE hard limit is 0: a child cannot raise it again")
  t.is(sys.dumpable(), false, "the process is not dumpable (no core, no ptrace by the same user)")
else
  t.ok(true, "# SKIP no /proc/self/limits on this system")
end

---------------------------------------------------------------- clocks
local a = sys.now()
sys.sleep(0.05)
local d = sys.now() - a
t.ok(d >= 0.045 and d < 5, ("sleep(0.05) advances the monotonic clock (%.3f s)"):format(d))
t.ok(math.abs(sys.time() - os.time()) < 2, "time() is the wall clock")

---------------------------------------------------------------- files
local dir = t.tmpdir()
t.is(sys.mkdir(dir .. "/a/b/c"), true, "mkdir makes parents")
t.is(sys.mkdir(dir .. "/a/b/c"), true, "mkdir of an existing directory is fine")
t.write(dir .. "/a/x", "1")
t.is(sys.rename(dir .. "/a/x", dir .. "/a/y"), true, "rename")
local ok, err, code = sys.rename(dir .. "/a/missing", dir .. "/a/z")
t.ok(ok == nil and code == "io" and err:find("cannot rename", 1, true) ~= nil, "rename of a missing file: nil, err, io")
t.is(sys.remove(dir .. "/a/y"), true, "remove")
t.is(sys.remove(dir .. "/a/y"), true, "remove of a missing file is fine")
os.execute("rm -rf '" .. dir .. "'")
return t.done()
