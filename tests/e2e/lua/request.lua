-- e2e driver: one Client:request against the simulator; prints a JSON report
-- on the last stdout line.
--
--   icx lua request.lua CONFIG METHOD PATH [--allow-404] [--body JSON]
--     [--attempts N] [--verbose]
--
-- Report: {ok, status, bytes, body_type, stats, error={kind, code, status,
-- url, request_id, text}}.
local cjson = require "cjson"
local config = require "icx.config"
local intercom = require "icx.client"
local log = require "icx.log"

local args = { ... }
local path, method, target = args[1], args[2], args[3]
local o = {}
local i = 4
while i <= #args do
  local a = args[i]
  if a == "--allow-404" then o.allow_404 = true
  elseif a == "--body" then i = i + 1 o.body = args[i]
  elseif a == "--attempts" then i = i + 1 o.attempts = math.tointeger(tonumber(args[i]))
  elseif a == "--verbose" then log.level = 2
  else error("request.lua: unknown argument " .. a) end
  i = i + 1
end

local conn = config.select(config.load(path), nil, path)
local client = intercom.new(conn, { attempts = o.attempts, retry_base = 0.05, retry_cap = 0.2 })
local stats = {}
local report = { stats = stats }
local ok, res = pcall(client.request, client, { method = method, path = target, body = o.body,
  allow_404 = o.allow_404, stats = stats })
report.ok = ok
if ok then
  report.status, report.bytes = res.status, res.bytes
  local v = require("cjson.safe").decode(res.body)
  report.body_type = type(v) == "table" and v.type or nil
else
  local e = res
  report.error = type(e) == "table" and { kind = e.kind, code = e.code, status = e.status, url = e.url,
    request_id = e.request_id, text = tostring(e) } or { text = tostring(e) }
end
print(cjson.encode(report))
return 0
