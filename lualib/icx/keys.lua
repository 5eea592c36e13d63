-- The one checker for keyed tables (asset fields, source and client
-- options, child tables, destination options): every key must be one the
-- caller names, and a stray key gets the closest valid one as a hint. Each
-- caller words its own message, since "unknown field" in an asset and
-- "unknown option" in a call read differently.
--
--   keys.unknown(t, allowed) -> key, hint | nil   the first stray key, sorted
--   keys.member(k, allowed) -> true | nil, hint
--   keys.check(t, allowed, what [, level])        raises "what: unknown option 'k' (did you mean ...)"
local errors = require "icx.errors"

local M = {}

-- `allowed` is a list of names; a set is built per call (these tables are
-- small and checked once per script or client, never per record).
local function set_of(allowed)
  local set = {}
  for _, a in ipairs(allowed) do set[a] = true end
  return set
end

-- Whether k is one of allowed; if not, the did-you-mean hint ("" if none).
function M.member(k, allowed)
  for _, a in ipairs(allowed) do if a == k then return true end end
  return nil, errors.did_you_mean(tostring(k), allowed)
end

-- The first key of t (in sorted order, so messages are stable) that is not
-- in allowed, and its hint; nil when every key is allowed.
function M.unknown(t, allowed)
  local set, bad = set_of(allowed), {}
  for k in pairs(t) do
    if not set[k] then bad[#bad + 1] = tostring(k) end
  end
  if #bad == 0 then return nil end
  table.sort(bad)
  return bad[1], errors.did_you_mean(bad[1], allowed)
end

-- Raises a plain error (a misuse by the calling code or script) at the
-- caller's caller, naming `what` and the key.
function M.check(t, allowed, what, level)
  local k, hint = M.unknown(t, allowed)
  if k then error(("%s: unknown option '%s'%s"):format(what, k, hint), (level or 1) + 1) end
end

return M
