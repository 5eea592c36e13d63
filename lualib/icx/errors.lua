-- Error objects raised across lualib. One shape for every failure, so the CLI
-- can pick the exit code and the runner can record the message in _icx_runs:
-- {kind, code, message, status, url, request_id}. `kind` decides the exit
-- code: usage and config errors, found before any request, and script
-- errors, also a script's code failing during the run (2); http, json, dest
-- and run errors mean the run failed (1); an asset another run holds is
-- "locked" (4); an error may carry its own `exit` (interrupted: 128 + the
-- signal's number). icx.exitcodes says which code wins.
local M = {}

local Error = {}
Error.__index = Error
Error.__name = "icx.Error"

function Error:__tostring()
  local s = self.message
  if self.request_id then s = s .. " (request_id " .. self.request_id .. ")" end
  return s
end

local EXIT = { usage = 2, config = 2, script = 2, internal = 3, locked = 4 }

-- Builds an error object; `fields` may carry code, status, url, request_id.
function M.new(kind, message, fields)
  local e = setmetatable({ kind = kind, message = message }, Error)
  for k, v in pairs(fields or {}) do e[k] = v end
  return e
end

-- Raises an error object (level-free: the message says where).
function M.raise(kind, message, fields)
  error(M.new(kind, message, fields), 0)
end

function M.is(v) return getmetatable(v) == Error end

-- The exit code for anything caught by the CLI: 3 for non-icx errors (bugs).
function M.exit_code(e)
  if not M.is(e) then return 3 end
  return e.exit or EXIT[e.kind] or 1
end

-- Levenshtein distance, for "did you mean" hints on keys, flags and names.
local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

-- " (did you mean 'x'?)" for the closest candidate within reach, else "".
function M.did_you_mean(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word:lower(), c:lower())
    if d <= math.max(2, #c // 3) and (not best_d or d < best_d) then best, best_d = c, d end
  end
  return best and (" (did you mean '" .. best .. "'?)") or ""
end

return M
