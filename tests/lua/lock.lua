-- icx.lock: one run per asset. A lock must hold for as long as its Lock
-- lives, whatever else the process does with the lock file: a `--wait`
-- run polls (a failed acquire) and asks who holds a byte (holder), and
-- each of those opened and closed the file, which used to drop every
-- POSIX lock the process held on it.
local t = dofile "tests/lib/tap.lua"
local lock = require "icx.lock"
local sys = require "icx.sys"

local ICX = os.getenv("ICX") or "./icx"
local dir = t.tmpdir()
local path = dir .. "/dest.lock"

-- Another process's view of byte `slot`: "held", or "free" when it could
-- take it.
local function other(slot)
  local probe = dir .. "/probe.lua"
  t.write(probe, ([[
local lk = require("icx.lock").acquire(%q, %d)
io.write(lk and "free" or "held")
]]):format(path, slot))
  local p = io.popen(("%s lua %s"):format(ICX, probe))
  local out = p:read("a")
  p:close()
  return out
end

local a = assert(lock.acquire(path, 5))
t.is(other(5), "held", "another process cannot take a held byte")
t.is(lock.holder(path, 5), nil, "our own lock is not someone else's")

-- What a --wait run does while it waits for its next asset: ask who holds
-- it, and fail to take it. Neither may drop the lock on byte 5.
local hold = dir .. "/hold.lua"
t.write(hold, ("local lk = require('icx.lock').acquire(%q, 9)\nio.read('l')\nlk:release()\n"):format(path))
local p = io.popen(("%s lua %s"):format(ICX, hold), "w")
local held
for _ = 1, 200 do
  held = lock.holder(path, 9)
  if held then break end
  sys.sleep(0.02)
end
t.ok(held and held > 0, "holder names the other process's pid: " .. tostring(held))
local none, _, code = lock.acquire(path, 9)
t.is(none, nil, "a byte another process holds is refused")
t.is(code, "locked", "as 'locked'")
t.is(other(5), "held", "byte 5 still held after a holder() query and a failed acquire")
local tmp = io.open(path, "rb"); tmp:close()
t.is(other(5), "held", "and after unrelated lock-file closes in this process")
p:write("\n")
p:close()

a:release()
t.is(other(5), "free", "released, another process takes it")
a:release()
t.like(tostring(a), "released", "release is idempotent")

-- Two bytes, released one at a time: the other stays held.
local b1, b2 = assert(lock.acquire(path, 11)), assert(lock.acquire(path, 12))
b1:release()
t.is(other(12), "held", "releasing one byte keeps the other")
t.is(other(11), "free", "and frees its own")
b2:release()
t.is(lock.holder(path, 12), nil, "nothing left held")

t.done()
