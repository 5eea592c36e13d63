-- What icx tells people and programs, on stderr (stdout is reserved for
-- command output and `jsonl:-` data). Every line passes through redaction,
-- so a secret that slips into a message (a URL, an echoed header, a
-- fragment of it) is masked even at -v.
--
-- Two forms, one content (log.format):
--   "text"  lines for people; off a terminal each starts with an ISO 8601
--           UTC timestamp, so cron mail and CI logs say when
--   "json"  one JSON object per line, for ops tooling: every line has ts,
--           level and event; messages are event "log" with a message
-- Events are what a run reports (run_start, asset_start, page, retry,
-- rate_wait, asset_end, run_end): log.event writes them as JSON lines, or
-- as their text line (if any) in text mode, and hands them to listeners
-- (the live display).
--
--   log.level                        0 quiet, 1 normal, 2 verbose
--   log.format, log.timestamps       set by the CLI
--   log.stamp                        fields every JSON line carries (the
--                                    lineage: run_id, icx_version), set by the CLI
--   log.error/warn/info/verbose(fmt, ...)
--   log.event(name, fields [, level [, text]])
--   log.listen(fn) -> remove          fn(name, fields, level, text) for every event;
--                                     fn returning true shows the event itself
--   log.sink                          nil, or fn(line) writing text lines (the display)
--   log.out(fmt, ...)                 command output on stdout
--   log.add_secret(s), log.redact(line), log.mask(s)
local M = { level = 1, format = "text", timestamps = false, stamp = {} }

local listeners = {}

-- Masking is C (icx.redact): no Lua function, and so nothing a script did
-- to the string library, sees a secret on its way out.
local redact = require "icx.redact"

-- "****" and at most the last 4 characters: enough to tell tokens apart.
M.mask = redact.mask

-- Registers a secret to mask in every later line.
M.add_secret = redact.add

-- The line with every secret, and every long enough piece of one, masked.
M.redact = redact.line

local function now_iso()
  local t = require("icx.sys").time()
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. ("%.3fZ"):format(t % 1):sub(2)
end

-- One JSON line for an event; fields never override ts, level, event, nor
-- the stamp (a line's lineage is the process's).
local function json_line(name, fields, level)
  local obj = {}
  for k, v in pairs(fields or {}) do obj[k] = v end
  for k, v in pairs(M.stamp) do obj[k] = v end
  obj.ts, obj.level, obj.event = now_iso(), level, name
  local ok, text = pcall(require("icx.json").encode, obj)
  if not ok then text = require("cjson").encode(obj) end
  return text
end

-- M.sink, when set (the live display), writes each text line instead, so
-- it can clear its block, print the line and redraw.
local function write_line(line)
  line = M.redact(line)
  if M.sink then return M.sink(line) end
  io.stderr:write(line, "\n")
end

local function text_line(s)
  if M.timestamps then s = now_iso() .. " " .. s end
  write_line(s)
end

-- fields with every string value masked, so listeners (Lua) and the JSON
-- encoder (which escapes, so a secret with a quote would slip past the
-- line's own masking) see no secret either.
local function masked(fields)
  if fields == nil then return nil end
  local out = {}
  for k, v in pairs(fields) do out[k] = type(v) == "string" and redact.line(v) or v end
  return out
end

function M.event(name, fields, level, text)
  level = level or "info"
  fields = masked(fields)
  text = text and redact.line(text)
  -- A listener returning true has shown the event itself (the live
  -- display draws page events): its text line is not printed.
  local shown = false
  for _, fn in ipairs(listeners) do shown = fn(name, fields, level, text) == true or shown end
  if M.format == "json" then
    if level ~= "debug" or M.level >= 2 then write_line(json_line(name, fields, level)) end
  elseif text and not shown and (level == "error" or (level == "debug" and M.level >= 2)
      or (level ~= "debug" and M.level >= 1)) then
    text_line(text)
  end
end

function M.listen(fn)
  listeners[#listeners + 1] = fn
  return function()
    for i, f in ipairs(listeners) do if f == fn then table.remove(listeners, i) return end end
  end
end

local function message(level, prefix, fmt, ...)
  local msg = redact.line(select("#", ...) > 0 and fmt:format(...) or fmt)
  if M.format == "json" then
    M.event("log", { message = msg }, level)
  else
    for _, fn in ipairs(listeners) do fn("log", { message = msg }, level, prefix .. msg) end
    text_line(prefix .. msg)
  end
end

function M.error(fmt, ...) message("error", "icx: ", fmt, ...) end
function M.warn(fmt, ...) if M.level >= 1 then message("warn", "icx: warning: ", fmt, ...) end end
function M.info(fmt, ...) if M.level >= 1 then message("info", "", fmt, ...) end end
function M.verbose(fmt, ...) if M.level >= 2 then message("debug", "", fmt, ...) end end

-- Command output (check, plan, version): stdout, redacted too.
function M.out(fmt, ...)
  local line = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stdout:write(M.redact(line), "\n")
end

return M
