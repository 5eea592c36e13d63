-- Backfill windows: `--since WHEN [--until WHEN]` re-reads that window of
-- an asset's incremental key and merges it, whatever the stored cursor
-- (contact search, which bounds by whole days, reads the window's first and
-- last days whole). With no cursor (a first run, --full-refresh) --since is where
-- the run starts. The cursor never moves back: a window that ends at or
-- before it leaves it where it is, one reaching past it lets it move to
-- what landed below the window's end (icx.cursor's ceiling).
--
--   backfill.check(specs, since)          refuses (usage, exit 2) an asset
--                                          that has no window to read: no
--                                          incremental key (replace, plain merge)
--   backfill.bounds(spec, stored, env) -> since, before, backfilling
--     the run's lower bound (the window's start, else the cursor minus the
--     lookback, else --since), its exclusive upper bound (--until or nil)
--     and whether this run is a backfill over a stored cursor
--   backfill.ceiling(ctx) -> key | nil   the highest cursor this run may
--     store: below the window's end, and none past the stored cursor when
--     the window starts after it (what lies between was not read)
--   backfill.describe(spec, stored, env) -> line | nil   what the run does
--     with the window and the cursor (the run's first line, icx plan)
--   backfill.announce(env, specs)          that line per asset, and a
--                                          `backfill` event
--   backfill.when(t) -> text               a bound as a date or ISO 8601 UTC
--   backfill.requests(src, ctx) -> text    what the walk costs, as icx plan
--                                          says it offline: a number where the
--                                          walk's shape fixes it, else per record
--                                          of the run's window
local cursor = require "icx.cursor"
local errors = require "icx.errors"
local log = require "icx.log"

local M = {}

function M.when(t)
  if t % 86400 == 0 then return os.date("!%Y-%m-%d", t) end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- A window is only a range of the incremental key: an asset without one
-- is read whole every run, and a --since it cannot honour would be the
-- silent no-op this module exists to end.
function M.check(specs, since)
  if not since then return end
  for _, spec in ipairs(specs) do
    if not spec.incremental then
      errors.raise("usage", ("--since: asset '%s' has no incremental key (mode %s: every run reads it whole), so "
        .. "it has no window to read; run it without --since"):format(spec.name, spec.mode))
    end
  end
end

-- The stored cursor as an integer, or nil.
local function int(stored)
  return stored ~= nil and math.tointeger(tonumber(stored)) or nil
end

function M.bounds(spec, stored, env)
  if not spec.incremental then return nil, nil, false end
  if env.since and int(stored) then return env.since, env.before, true end
  return cursor.since(spec, stored, env.since), env.before, false
end

function M.ceiling(ctx)
  local c = int(ctx.cursor)
  if ctx.backfill and c and ctx.since > c then return c end
  return ctx.before and ctx.before - 1 or nil
end

function M.describe(spec, stored, env)
  if not spec.incremental or not env.since then return nil end
  local key = spec.incremental.key
  local since, before, refill = M.bounds(spec, stored, env)
  local span = ("%s .. %s (%s)"):format(since and M.when(since) or "the beginning",
    before and M.when(before) or "now", key)
  if not refill and env.full_refresh then
    return ("%s: full refresh %s: stored cursors ignored"):format(spec.name, span)
  elseif not refill then
    return ("%s: first run %s: no stored cursor, the cursor starts from what lands"):format(spec.name, span)
  end
  local at = M.when(int(stored))
  if since > int(stored) then
    return ("%s: backfill %s; cursor stays at %s: the window starts after it, and the next run reads what "
      .. "lies between"):format(spec.name, span, at)
  end
  if before and before <= int(stored) + 1 then
    return ("%s: backfill %s; cursor stays at %s"):format(spec.name, span, at)
  end
  return ("%s: backfill %s reaches past the cursor at %s: the cursor moves to what lands%s"):format(spec.name,
    span, at, before and " below the window's end" or "")
end

-- A fixed number of requests, or nil when it depends on the records.
local function fixed(src)
  if src.style == "single" then return 1 end
  if src.style ~= "each" then return nil end
  local n = 0
  for _, part in ipairs(src.sources) do
    local k = fixed(part)
    if not k then return nil end
    n = n + k
  end
  return n
end

-- Plan sends nothing, and Intercom alone knows how many records a window
-- holds: where the count is not fixed, the rate per record and the range
-- it applies to (a search asks the server for exactly that range).
function M.requests(src, ctx)
  local n = fixed(src)
  if n then return tostring(n) end
  local range, note = "", ""
  if ctx.since or ctx.before then
    range = (" with %s in %s .. %s"):format(src.key or "the key", ctx.since and M.when(ctx.since) or "the beginning",
      ctx.before and M.when(ctx.before) or "now")
  end
  if src.style == "search" then
    -- The survey: the whole range's count, then one request per probe.
    note = ("; a window of 4 pages or more over a week adds a survey of up to %d requests, and the "
      .. "completeness check up to about 2%% more"):format(#require("icx.slices").PROBE_DAYS + 1)
  elseif src.since_filter and range ~= "" and not src.newest_first then
    range, note = "", ("; Intercom cannot bound this listing: the walk reads every record and keeps those%s")
      :format(range)
  end
  return ("at least 1: %s%s%s"):format(src:describe().cost, range, note)
end

function M.announce(env, specs)
  if not env.since then return end
  for _, spec in ipairs(specs) do
    local stored = spec.incremental and not env.full_refresh
      and env.dest:cursor_get(env.connection.name, spec.name) or nil
    local line = M.describe(spec, stored, env)
    if line then
      local since, before, refill = M.bounds(spec, stored, env)
      log.event("backfill", { connection = env.connection.name, asset = spec.name, since = since,
        ["until"] = before, cursor = int(stored), backfill = refill }, "info", (env.many
          and (env.connection.name .. "/") or "") .. line)
    end
  end
end

return M
