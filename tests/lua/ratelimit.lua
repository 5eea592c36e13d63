-- icx.ratelimit: the Lua surface of the token bucket, with injected time
-- (the arithmetic itself is covered by tests/unit/tbucket.c).
local t = dofile "tests/lib/tap.lua"
local ratelimit = require "icx.ratelimit"

local b = ratelimit.bucket { limit = 4, window = 2, now = 100 }
t.like(tostring(b), "^icx%.ratelimit%.Bucket", "tostring names the type")
local granted = 0
while b:take(100) == 0 do granted = granted + 1 end
t.is(granted, 4, "burst: the limit is granted at once")
t.is(b:take(100), 0.5, "then one refill interval (2 s / 4)")
local wait, ticket = b:take(100.5)
t.is(wait, 0, "granted after the interval")
t.is(ticket, 5, "a grant returns its ticket (the fifth grant)")
t.is(select("#", b:take(100.5)), 1, "a refusal returns the wait only")

local s = b:state(100.5)
t.is(s.limit, 4, "state: limit")
t.is(s.window, 2, "state: window")
t.is(s.synced, false, "state: not synced before any header")

-- Headers: 1 left in a window that resets 3 s from now (wall 5000 -> 5003).
b = ratelimit.bucket { limit = 10, window = 10, now = 0 }
b:sync(10, 1, 5003, 5000, 0)
t.is(b:take(0), 0, "sync: the one remaining request goes")
t.is(b:take(0), 3, "sync: the next waits for the server's reset")
s = b:state(0)
t.is(s.synced, true, "state: synced")
t.is(s.remaining, 0, "state: remaining")
t.is(s.reset_in, 3, "state: reset_in")
b:sync(nil, nil, nil, 5000, 0)
t.is(b:state(0).remaining, 0, "sync with absent headers changes nothing")

-- Tickets: three requests in flight; the first one's response says 9 of 10
-- left, but the two granted after it are not in that count yet.
b = ratelimit.bucket { limit = 10, window = 10, now = 0 }
local _, first = b:take(0)
b:take(0)
b:take(0)
b:sync(10, 9, 5010, 5000, 0, first)
t.is(b:state(0).remaining, 7, "sync subtracts the grants made after the ticket")

-- A hold (a 429's Retry-After) pauses every grant for its length only.
b = ratelimit.bucket { limit = 10, window = 10, now = 0 }
b:hold(1, 0)
t.is(b:take(0), 1, "held: wait the whole second")
t.is(b:state(0.25).held, 0.75, "state says what is left of the hold")
t.is(b:take(1), 0, "after it, grants resume")
t.raises(function() b:hold(-1) end, "seconds >= 0", "a negative hold is refused")

-- Defaults and the real clock.
b = ratelimit.bucket()
t.is(b:state().limit, 166, "default limit 166")
t.is(b:state().window, 10, "default window 10 s")
t.is(b:take(), 0, "take() reads the monotonic clock")

t.raises(function() ratelimit.bucket { limit = 10, windwo = 1 } end, "unknown option 'windwo'",
  "unknown option is named")
t.raises(function() ratelimit.bucket { limit = 0 } end, "'limit' must be > 0", "limit must be positive")
t.raises(function() ratelimit.bucket { limit = "x" } end, "'limit' must be a number", "limit must be a number")
t.raises(function() b.take({}) end, "icx.ratelimit.Bucket expected", "methods check their object")

return t.done()
