-- Logging to stderr: stdout is reserved for command output and `jsonl:-`
-- data. Every line passes through redaction, so a token that slips into a
-- message (a URL, an echoed header) is masked even at -v.
local M = { level = 1 } -- 0 quiet, 1 normal, 2 verbose

local secrets = {}

-- "****" and at most the last 4 characters: enough to tell tokens apart.
function M.mask(secret)
  if type(secret) ~= "string" or #secret == 0 then return "****" end
  if #secret <= 8 then return "****" end
  return "****" .. secret:sub(-4)
end

-- Registers a secret to mask in every later line.
function M.add_secret(s)
  if type(s) == "string" and #s >= 4 then secrets[#secrets + 1] = s end
end

function M.redact(line)
  for _, s in ipairs(secrets) do
    local i = 1
    while true do
      local a, b = line:find(s, i, true)
      if not a then break end
      local m = M.mask(s)
      line = line:sub(1, a - 1) .. m .. line:sub(b + 1)
      i = a + #m
    end
  end
  return line
end

local function emit(fmt, ...)
  local line = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stderr:write(M.redact(line), "\n")
end

function M.error(fmt, ...) emit("icx: " .. fmt, ...) end
function M.warn(fmt, ...) if M.level >= 1 then emit("icx: warning: " .. fmt, ...) end end
function M.info(fmt, ...) if M.level >= 1 then emit(fmt, ...) end end
function M.verbose(fmt, ...) if M.level >= 2 then emit(fmt, ...) end end

-- Command output (check, plan, version): stdout, redacted too.
function M.out(fmt, ...)
  local line = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stdout:write(M.redact(line), "\n")
end

return M
