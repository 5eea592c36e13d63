-- `icx status`: per asset, what the destination holds and how fresh it is:
-- the stored cursor, the last run, the last success, the last failure with
-- its error text, the last completeness check and (--history N) the last N
-- runs. --max-age DURATION is the freshness alert: every asset whose last
-- success is older (or that never succeeded) is named, and icx exits
-- EXIT_STALE, so a cron job, a Kubernetes probe or an alert rule needs
-- nothing but the exit code.
--
--   status.EXIT_STALE                     6 (README's exit-code table)
--   status.seconds(text) -> Unix seconds | nil   a time as the Stores write
--                                         it ("2026-12-07T15:24:21.123Z")
--   status.collect(d, opts) -> rows       opts.history: N runs per asset
--   status.stale(rows, max_age, now) -> rows   older than max_age seconds
--   status.report(d, opts) -> exit code   prints the table or --json
local json = require "icx.json"
local log = require "icx.log"

local M = {}

M.EXIT_STALE = 6

-- Days since 1970-01-01 of a civil date, so times convert in UTC whatever
-- the machine's timezone (os.time is local).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

function M.seconds(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(%.?%d*)Z?$")
  if not y then return nil end
  local whole = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
    + tonumber(mi) * 60 + tonumber(s)
  local part = tonumber("0" .. frac) or 0
  return part == 0 and whole or whole + part
end

-- The fields of one asset's row, in the order --json documents them.
local FIELDS = { "cursor", "cursor_utc", "last_status", "last_run_at", "rows", "run_id", "icx_version",
  "last_success_at", "last_failure_at", "last_error", "last_check", "history" }

function M.collect(d, opts)
  local out, by = {}, {}
  local checks = {}
  for _, c in ipairs(d:completeness_last()) do checks[c.connection .. "\0" .. c.asset] = c end
  for _, r in ipairs(d:status()) do
    local status = r.last_status
    -- A run row left "running" whose lock is free: its process is gone.
    if status == "running" and d:lock_free(r.connection, r.asset) then status = "interrupted" end
    local n = math.tointeger(tonumber(r.cursor))
    local o = { connection = r.connection, asset = r.asset, cursor = r.cursor,
      cursor_utc = n and os.date("!%Y-%m-%dT%H:%M:%SZ", n) or nil, last_status = status,
      last_run_at = r.last_run_at, rows = r.rows, run_id = r.run_id, icx_version = r.icx_version,
      last_success_at = r.last_success_at, last_failure_at = r.last_failure_at, last_error = r.last_error }
    local c = checks[r.connection .. "\0" .. r.asset]
    if c then
      o.last_check = { checked_at = c.checked_at, windows = c.windows, expected = c.expected,
        landed = c.landed, healed = c.healed, missing = c.missing, complete = c.missing == 0 }
    end
    out[#out + 1] = o
    by[r.connection .. "\0" .. r.asset] = o
  end
  if opts.history then
    for _, r in ipairs(d:runs(opts.history)) do
      local o = by[r.connection .. "\0" .. r.asset]
      if o then
        o.history = o.history or setmetatable({}, json.array_mt)
        local added = r.columns_added and require("cjson.safe").decode(r.columns_added) or nil
        o.history[#o.history + 1] = { id = r.id, run_id = r.run_id or json.null,
          icx_version = r.icx_version or json.null, started_at = r.started_at,
          finished_at = r.finished_at or json.null, status = r.status, rows = r.rows or json.null,
          requests = r.requests or json.null, retries = r.retries or json.null,
          rate_limited = r.rate_limited or json.null, error = r.error or json.null,
          columns_added = added or {} }
      end
    end
  end
  return out
end

-- The assets whose last success is older than max_age seconds at now, or
-- that never succeeded: {asset row, age in seconds or nil}.
function M.stale(rows, max_age, now)
  local out = {}
  for _, o in ipairs(rows) do
    local at = M.seconds(o.last_success_at)
    if not at or now - at > max_age then out[#out + 1] = { row = o, age = at and now - at } end
  end
  return out
end

-- "3d 4h", "2h 5m", "45 s": an age an operator reads at a glance.
local function age_text(secs)
  secs = math.floor(secs)
  if secs >= 86400 then return ("%dd %dh"):format(secs // 86400, secs % 86400 // 3600) end
  if secs >= 3600 then return ("%dh %dm"):format(secs // 3600, secs % 3600 // 60) end
  if secs >= 60 then return ("%dm %ds"):format(secs // 60, secs % 60) end
  return ("%d s"):format(secs)
end

-- An error text on one line, cut to fit a terminal line or two.
local function one_line(s, max)
  s = tostring(s):gsub("%s+", " ")
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

local function print_table(rows, opts)
  log.out("%-14s %-20s %-12s %-21s %-12s %-24s %-8s %-24s %s", "CONNECTION", "ASSET", "CURSOR", "CURSOR (UTC)",
    "LAST STATUS", "LAST RUN", "ROWS", "LAST SUCCESS", "LAST CHECK")
  for _, o in ipairs(rows) do
    local c = o.last_check
    log.out("%-14s %-20s %-12s %-21s %-12s %-24s %-8s %-24s %s", o.connection, o.asset, tostring(o.cursor or "-"),
      o.cursor_utc or "-", o.last_status or "-", o.last_run_at or "-", tostring(o.rows or "-"),
      o.last_success_at or "never",
      c and (c.missing == 0 and "complete" or ("INCOMPLETE: %d missing"):format(c.missing))
        .. (" (%d windows, %d healed, %s)"):format(c.windows, c.healed, c.checked_at) or "-")
    -- The failure matters while no success came after it.
    local failed_after = o.last_failure_at and (not o.last_success_at or o.last_failure_at > o.last_success_at)
    if o.last_failure_at and (failed_after or opts.history) then
      log.out("    last failure %s: %s", o.last_failure_at, one_line(o.last_error or "(no message)", 300))
    end
    for _, h in ipairs(o.history or {}) do
      local err = h.error ~= json.null and (": " .. one_line(h.error, 200)) or ""
      log.out("    %-24s %-12s %8s rows %6s requests  %s%s", h.started_at, h.status, tostring(h.rows),
        tostring(h.requests), h.run_id ~= json.null and h.run_id or "-", err)
    end
  end
end

function M.report(d, opts)
  local rows = M.collect(d, opts)
  local now = require("icx.sys").time()
  local stale = opts.max_age and M.stale(rows, opts.max_age, now) or {}
  if opts.json then
    for _, o in ipairs(rows) do
      for _, k in ipairs(FIELDS) do
        if o[k] == nil then o[k] = k == "history" and opts.history and setmetatable({}, json.array_mt) or json.null end
      end
      if not opts.history then o.history = nil end
      if opts.max_age then
        local at = M.seconds(o.last_success_at)
        o.fresh = at ~= nil and now - at <= opts.max_age
      end
    end
    log.out("%s", json.encode(setmetatable(rows, json.array_mt)))
  else
    print_table(rows, opts)
  end
  if #stale == 0 then
    if opts.max_age and #rows == 0 then
      log.error("--max-age %s: this destination holds no asset yet", opts.max_age_text)
      return M.EXIT_STALE
    end
    return 0
  end
  -- On stderr, whatever the format: an alert rule's log shows which.
  local names = {}
  for _, s in ipairs(stale) do
    names[#names + 1] = s.row.connection .. "/" .. s.row.asset
    log.error("%s/%s: stale: %s (--max-age %s)", s.row.connection, s.row.asset,
      s.age and ("last success %s ago, at %s"):format(age_text(s.age), s.row.last_success_at)
        or "never succeeded", opts.max_age_text)
  end
  log.event("stale", { assets = setmetatable(names, json.array_mt), max_age = opts.max_age }, "error")
  return M.EXIT_STALE
end

return M
