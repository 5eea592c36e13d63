-- e2e driver: walks one paginated source against the simulator and prints a
-- JSON report on the last stdout line.
--
--   icx lua walk.lua CONFIG --style S --path P [--list-key K] [--per-page N]
--     [--method M] [--query k=v]... [--body JSON] [--walks N] [--sequential]
--     [--break-after N] [--attempts N] [--retry-base S] [--retry-cap S]
--     [--max-bytes N] [--timeout S] [--scroll-wait S] [--verbose]
--     [--custom] [--after-page N PATH JSON] [--pause-after N SECONDS]
--
-- --custom walks --path with a Lua `next` function (page numbers, the
-- escape-hatch style). --after-page sends POST PATH JSON to the simulator
-- (its control API) right after page N of the first walk, so a fault or a
-- rate change lands at a known point of the walk. --pause-after idles
-- (blocking the process) after page N, e.g. to let a scroll expire.
--
-- Report: {ok, pages, records, ids, total_count, stats, connections (new
-- connections opened for the first walk's pages), restarted, walks=[{seconds,
-- pages, records}], wall, error={kind, code, message, status, url,
-- request_id}}. The token is never registered with icx.log here, so a leak
-- into any message would show unmasked.
local cjson = require "cjson"
local config = require "icx.config"
local intercom = require "icx.client"
local log = require "icx.log"
local paginate = require "icx.paginate"
local sched = require "icx.sched"
local sys = require "icx.sys"

local args = { ... }
local path = table.remove(args, 1)
local o = { query = {}, walks = 1 }
local i = 1
while i <= #args do
  local a = args[i]
  local function val() i = i + 1 return args[i] end
  if a == "--style" then o.style = val()
  elseif a == "--path" then o.path = val()
  elseif a == "--list-key" then o.list_key = val()
  elseif a == "--per-page" then o.per_page = math.tointeger(tonumber(val()))
  elseif a == "--method" then o.method = val()
  elseif a == "--query" then local k, v = val():match("^([^=]+)=(.*)$") o.query[k] = v
  elseif a == "--body" then o.body = require("icx.json").decode(val())
  elseif a == "--walks" then o.walks = math.tointeger(tonumber(val()))
  elseif a == "--sequential" then o.sequential = true
  elseif a == "--break-after" then o.break_after = math.tointeger(tonumber(val()))
  elseif a == "--attempts" then o.attempts = math.tointeger(tonumber(val()))
  elseif a == "--retry-base" then o.retry_base = tonumber(val())
  elseif a == "--retry-cap" then o.retry_cap = tonumber(val())
  elseif a == "--max-bytes" then o.max_bytes = math.tointeger(tonumber(val()))
  elseif a == "--timeout" then o.timeout = tonumber(val())
  elseif a == "--scroll-wait" then o.scroll_wait = tonumber(val())
  elseif a == "--verbose" then log.level = 2
  elseif a == "--custom" then o.custom = true
  elseif a == "--pause-after" then o.pause = { n = math.tointeger(tonumber(val())), seconds = tonumber(val()) }
  elseif a == "--after-page" then o.after = { n = math.tointeger(tonumber(val())), path = val(), body = val() }
  else error("walk.lua: unknown argument " .. a) end
  i = i + 1
end

local conn = config.select(config.load(path), nil, path)
local client = intercom.new(conn, { attempts = o.attempts, retry_base = o.retry_base or 0.05,
  retry_cap = o.retry_cap or 0.2, max_bytes = o.max_bytes, timeout = o.timeout })
local source = { style = o.style, path = o.path, list_key = o.list_key, per_page = o.per_page,
  method = o.method, query = o.query, body = o.body, scroll_wait = o.scroll_wait, scroll_poll = 0.5 }
if o.custom then
  -- Page numbers by hand: stop on a short page.
  local per = o.per_page or 5
  source = { style = "custom", list_key = o.list_key, next = function(prev)
    if prev and prev.page:count() < per then return nil end
    local n = prev and prev.request.query.page + 1 or 1
    return { method = "GET", path = o.path, query = { page = n, per_page = per } }
  end }
end

-- POST to the simulator's control API (no token: it is not Intercom).
local function control(p, body)
  local c = sched.request(sched.multi(), { method = "POST", url = conn.base_url .. p, body = body,
    headers = { "Content-Type: application/json" } })
  assert(c.status == 200, "control " .. p .. " failed: " .. tostring(c.status) .. " " .. tostring(c.err))
end

local report = { ok = true, pages = 0, records = 0, ids = {}, stats = { requests = 0, retries = 0,
  rate_limited = 0 }, walks = {} }

-- One walk; records ids of the first walk only (the others repeat it).
local function walk(n)
  local t0 = sys.now()
  local w = { pages = 0, records = 0 }
  report.walks[n] = w
  for page, info in paginate.pages(client, source, { stats = report.stats }) do
    w.pages = w.pages + 1
    w.records = w.records + page:count()
    if n == 1 then
      report.pages, report.records = w.pages, w.records
      report.total_count = report.total_count or info.total_count
      for k = 1, page:count() do report.ids[#report.ids + 1] = tostring(page:get(k, "id")) end
      if info.restarted then report.restarted = (report.restarted or 0) + 1 end
      if info.reused == false then report.connections = (report.connections or 0) + 1 end
    end
    if n == 1 and o.after and w.pages == o.after.n then control(o.after.path, o.after.body) end
    if n == 1 and o.pause and w.pages == o.pause.n then sys.sleep(o.pause.seconds) end
    if o.break_after and w.pages >= o.break_after then break end
  end
  w.seconds = sys.now() - t0
end

local t0 = sys.now()
local failure
if o.walks == 1 then
  local ok, e = pcall(walk, 1)
  if not ok then failure = e end
else
  if o.sequential then
    sched.spawn(function() for n = 1, o.walks do walk(n) end end)
  else
    for n = 1, o.walks do sched.spawn(walk, n) end
  end
  for _, r in ipairs(sched.run()) do
    if not r.ok and not failure then failure = r.error end
  end
end
report.wall = sys.now() - t0
if failure then
  report.ok = false
  if type(failure) == "table" then
    report.error = { kind = failure.kind, code = failure.code, message = failure.message,
      status = failure.status, url = failure.url, request_id = failure.request_id, text = tostring(failure) }
  else
    report.error = { text = tostring(failure) }
  end
end
if #report.ids == 0 then report.ids = nil end
print(cjson.encode(report))
return 0
