-- The retry policy every HTTP client of icx shares (the Intercom client,
-- the S3 object store): which statuses are momentary, how many attempts,
-- how long to back off. One home, so a change reaches both.
--
--   retry.STATUS                          {[status] = true}: retried with backoff
--   retry.DEFAULTS                        {attempts = 8, base = 1, cap = 60} (seconds)
--   retry.LASTING                         {[transfer code] = true}: failures no
--                                         retry mends: the request fails at once
--   retry.backoff(n, base, cap) -> seconds   full jitter for retry n (1 = the first)
local M = {}

-- 500, 502, 503, 504: what Intercom documents as momentary, and what S3
-- answers when it asks to slow down (503 SlowDown) or fails inside.
M.STATUS = { [500] = true, [502] = true, [503] = true, [504] = true }

-- A host name that does not resolve is a typo in base_url or a missing
-- DNS/proxy setting far more often than a resolver's blip, and 8 attempts
-- of backoff (36 s) only hide the message the user needs; a refused
-- connection is still retried (a restarting proxy or load balancer).
M.LASTING = { resolve = true }

M.DEFAULTS = { attempts = 8, base = 1, cap = 60 }

-- Full jitter (a random wait up to the exponential ceiling), so clients
-- that failed together do not retry together.
function M.backoff(n, base, cap)
  local ceiling = math.min(cap, base * 2 ^ (n - 1))
  return math.random() * ceiling
end

return M
