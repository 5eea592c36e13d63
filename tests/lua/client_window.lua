-- icx.client feeding X-RateLimit-Remaining to its bucket when the server
-- counted requests in another order than they were granted (it counts each
-- as it answers, and answers come back in any order): the window's count
-- must end where the server's does, not lower.
local t = dofile "tests/lib/tap.lua"
local client = require "icx.client"
local ratelimit = require "icx.ratelimit"

local now = 1000
local bucket = ratelimit.bucket { limit = 166, window = 10, now = now }
local c = client.new({ name = "w", access_token = "tok", base_url = "http://127.0.0.1:1" }, { bucket = bucket })
local reset = math.floor(require("icx.sys").time()) + 8
local tickets = {}
for i = 1, 20 do
  local wait, ticket = bucket:take(now)
  t.is(wait, 0, "grant " .. i)
  c.last_ticket = ticket
  tickets[i] = ticket
end
-- All 20 in flight; answered newest first, each counted as it is answered.
c.in_flight = 20
for k = 20, 1, -1 do
  c.in_flight = c.in_flight - 1
  c:observe({ ["x-ratelimit-limit"] = "166", ["x-ratelimit-remaining"] = tostring(166 - (21 - k)),
    ["x-ratelimit-reset"] = tostring(reset) }, tickets[k], 200)
end
t.is(math.floor(bucket:state().remaining + 0.5), 146,
  "after 20 answered in reverse order the window has 146 left, as the server says")
t.done()
