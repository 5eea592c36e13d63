-- Proves a conversation's parts complete: the parts landed in
-- conversation_parts against statistics.count_conversation_parts, the
-- count Intercom gives with the conversation. After a load, each
-- conversation whose parts this run fetched is compared with the count of
-- the same GET answer (one snapshot: a conversation that changes during
-- the walk is never short by its own count); icx verify compares every
-- stored conversation whose parts landed for the version Intercom's search
-- shows now (_icx_seen holds the updated_at they landed for; a changed one
-- is the next run's). A short conversation is fetched again (GET
-- /conversations/{id}) and its parts merged, in the same run; what the
-- fetch cannot find is reported (an `incomplete` event and a line naming
-- the asset, the conversations and the parts missing) and makes the run
-- exit 5 (icx.completeness.EXIT).
--
-- No false alarms from Intercom's own limits: the GET returns at most the
-- 500 most recent parts (the source's parts_check.cap), so a conversation
-- expects min(count, cap) parts; a longer one is truncated, flagged in
-- conversation_part_counts, not a loss. Parts landed by earlier runs count
-- (a merge keeps them), and a conversation gone (404) when fetched again
-- is not missing.
--
-- One row of _icx_completeness per check: window "parts of N
-- conversations" (lo, hi: their oldest and newest updated_at), expected
-- the parts counted, landed those landed (each conversation's at most its
-- count), healed what fetching again added.
--
--   partcheck.applies(spec, src) -> boolean   a merge asset, no filter or
--                                   transform, whose source's expansion
--                                   declares parts_check
--   partcheck.tally(spec, src, ctx) -> Tally  what the walk's GETs landed
--                                   (it listens on ctx.parts_landed)
--   partcheck.after_load(spec, env, ctx, src, t, tally) -> report
--   partcheck.verify(spec, env, src) -> report   the stored history, up to
--                                   the stored cursor: the search walked
--                                   for the counts (one request per page)
--   partcheck.with_parts(names, dest, connection) -> names   icx verify
--                                   conversations also verifies the parts
--                                   stored beside them (COMPANIONS)
local errors = require "icx.errors"
local json = require "icx.json"
local log = require "icx.log"
local shape = require "icx.shape"
local sys = require "icx.sys"
local walk = require "icx.walk"

local M = {}

-- An asset whose records count the parts another asset lands.
M.COMPANIONS = { conversations = "conversation_parts" }

-- A script's filter or transform may drop parts on purpose: no count
-- says what should land then.
function M.applies(spec, src)
  local e = src.expansion
  return spec.mode == "merge" and #spec.primary_key == 1 and not spec.filter and not spec.transform
    and type(e) == "table" and e.parts_check ~= nil
end

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end
local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- Conversations and what their last GET gave: id -> {at = updated_at,
-- total = the count, expected = min(count, cap), n = the distinct parts
-- it returned}. Only numbers are kept: a first load checks every
-- conversation of the workspace.
local Tally = {}
Tally.__index = Tally

local function new_tally(src)
  return setmetatable({ parts = true, cap = src.expansion.parts_check.cap, convs = {} }, Tally)
end

function M.tally(_, src, ctx)
  local tally = new_tally(src)
  ctx.parts_landed = function(page, rows, side) tally:landed(page, rows, side) end
  return tally
end

-- The runner hands every walked page of conversations; the GET answers
-- come through ctx.parts_landed.
function Tally:page() end

function Tally:conv(id)
  local c = self.convs[id]
  if not c then
    c = { n = 0 }
    self.convs[id] = c
  end
  return c
end

-- One expanded page: the conversations it fetched (a counts row each,
-- parts_total the largest count the GET gave) and their parts. Each
-- answer is compared with its own count: a conversation fetched twice in
-- a run (it changed during the walk) counts by its last answer.
function Tally:landed(page, rows, side)
  local at, n, seen = {}, {}, {}
  for i = 1, page:count() do at[tostring(page:get(i, "id"))] = page:get(i, "updated_at") end
  for i = 1, rows:count() do
    local cid, pid = tostring(rows:get(i, "conversation_id")), rows:get(i, "id")
    -- A part an answer repeats lands as one row.
    if pid ~= nil and not seen[cid .. "/" .. tostring(pid)] then
      seen[cid .. "/" .. tostring(pid)] = true
      n[cid] = (n[cid] or 0) + 1
    end
  end
  local counts = side and side[1] and side[1].page
  for i = 1, counts and counts:count() or 0 do
    local id, total = tostring(counts:get(i, "conversation_id")), counts:get(i, "parts_total")
    if math.type(total) == "integer" then
      local c = self:conv(id)
      c.at, c.total, c.expected, c.n = at[id], total, math.min(total, self.cap), n[id] or 0
    end
  end
end

-- Conversations with a count, in id order.
function Tally:counted()
  local out = {}
  for id, c in pairs(self.convs) do
    if c.expected then out[#out + 1] = id end
  end
  table.sort(out)
  return out
end

-- Parts stored per conversation (one read of the column), or nil when the
-- destination cannot read its rows back (JSONL).
local function stored(t)
  local ok, vals = pcall(t.keys, t, "conversation_id")
  if not ok then return nil end
  local n = {}
  for _, v in ipairs(vals) do n[v] = (n[v] or 0) + 1 end
  return n
end

-- Fetches the conversations again (as the walk does, every one whatever
-- _icx_seen says) and merges their parts and counts rows, a transaction
-- per BATCH as a walk's page; returns what the fetches gave (a Tally).
local BATCH = 150

local function refetch(spec, env, ctx, src, t, tally, ids)
  local got = new_tally(src)
  local hctx = setmetatable({ full_refresh = true, since = false,
    parts_landed = function(page, rows, side) got:landed(page, rows, side) end }, { __index = ctx })
  local d, sides = env.dest, {}
  for first = 1, #ids, BATCH do
    local recs = {}
    for i = first, math.min(#ids, first + BATCH - 1) do
      recs[#recs + 1] = { id = ids[i], updated_at = tally.convs[ids[i]].at }
    end
    local shaped, _, _, side, extra = shape.page(json.page(json.encode(recs), false), src, spec, hctx)
    d:transaction(function()
      t:write(shaped)
      for _, s in ipairs(side or {}) do
        sides[s.table] = sides[s.table] or d:table { name = s.table, primary_key = s.primary_key }
        sides[s.table]:write(s.page)
      end
      if extra and extra.seen and next(extra.seen) then d:seen_set(env.connection.name, spec.name, extra.seen) end
    end)
  end
  return got
end

-- Compares, heals the short conversations, sums. landed(id) -> parts
-- landed before the heal; after(counts) -> landed(id) once it is done.
local function check(spec, env, ctx, src, t, tally, landed, after)
  local started = ctx.stats.requests
  local ids = tally:counted()
  local short, before = {}, {}
  for _, id in ipairs(ids) do
    before[id] = landed(id)
    if before[id] < tally.convs[id].expected then short[#short + 1] = id end
  end
  local fetched = #short
  if #short > 0 then
    local got = refetch(spec, env, ctx, src, t, tally, short)
    local now = after(got)
    for _, id in ipairs(short) do
      local c, g = tally.convs[id], got.convs[id]
      if g and g.expected then
        -- The fresh answer's count: the conversation may have moved on.
        c.expected, c.total = g.expected, g.total
      else
        c.gone = true
      end
    end
    landed = now
  end
  local rep = { asset = spec.name, windows = 0, conversations = 0, expected = 0, landed = 0, healed = 0,
    missing = 0, rows = {}, short = {}, fetched = fetched, truncated = 0 }
  local lo, hi
  for _, id in ipairs(ids) do
    local c = tally.convs[id]
    if not c.gone then
      local n = landed(id)
      rep.conversations = rep.conversations + 1
      rep.expected = rep.expected + c.expected
      rep.landed = rep.landed + math.min(n, c.expected)
      rep.healed = rep.healed + math.max(0, math.min(n, c.expected) - math.min(before[id], c.expected))
      if c.total > c.expected then rep.truncated = rep.truncated + 1 end
      if n < c.expected then
        rep.missing = rep.missing + c.expected - n
        rep.short[#rep.short + 1] = { id = id, expected = c.expected, landed = n }
      end
      if math.type(c.at) == "integer" then lo, hi = math.min(lo or c.at, c.at), math.max(hi or c.at, c.at) end
    end
  end
  if rep.conversations > 0 then
    rep.windows = 1
    rep.rows[1] = { window = ("parts of %s"):format(plural(rep.conversations, "conversation")), lo = lo, hi = hi,
      expected = rep.expected, landed = rep.landed, healed = rep.healed, checked_at = iso(sys.time()) }
  end
  rep.requests = ctx.stats.requests - started
  return rep
end

-- "215 (Intercom counts 12, 9 landed), 301 (...)", the first ten.
local function named(short)
  local out = {}
  for i = 1, math.min(#short, 10) do
    local s = short[i]
    out[i] = ("%s (Intercom counts %d, %d landed)"):format(s.id, s.expected, s.landed)
  end
  if #short > 10 then out[#out + 1] = ("and %d more"):format(#short - 10) end
  return table.concat(out, ", ")
end

-- One line: the verdict, the conversations, what healing did, the cost.
local function line(rep, load_requests, verifying)
  local cost = plural(rep.requests, "request")
  if load_requests and load_requests > 0 then
    cost = cost .. (" (%.1f%% of the load's %d)"):format(100 * rep.requests / load_requests, load_requests)
  end
  if rep.conversations == 0 then
    return ("%s: completeness: no conversation's parts %s; the check cost %s"):format(rep.asset,
      verifying and "stored for the version Intercom shows now" or "landed in this run", cost)
  end
  local healed = rep.healed > 0 and ("; %s found by fetching %s again and landed"):format(
    plural(rep.healed, "missing part") .. (rep.healed == 1 and " was" or " were"),
    plural(rep.fetched, "conversation")) or ""
  local capped = rep.truncated > 0 and (" (%s past Intercom's %d-part cap: only the newest expected)"):format(
    plural(rep.truncated, "conversation"), rep.cap) or ""
  if rep.missing > 0 then
    return ("icx: %s: INCOMPLETE: %s missing from %d of %s%s; the check cost %s"):format(rep.asset,
      plural(rep.missing, "part"), #rep.short, plural(rep.conversations, "conversation"), healed, cost)
  end
  return ("%s: complete: parts of %s, Intercom counts %d parts there%s and all landed%s; the check cost %s")
    :format(rep.asset, plural(rep.conversations, "conversation"), rep.expected, capped, healed, cost)
end

-- Records the check's row, says what it found.
local function report(spec, env, rep, load_requests, verifying)
  if #rep.rows > 0 then env.dest:completeness_add(env.connection.name, spec.name, env.run_id, rep.rows) end
  if #rep.short > 0 then
    local ids = {}
    for i, s in ipairs(rep.short) do ids[i] = s.id end
    log.event("incomplete", { asset = spec.name, window = rep.rows[1].window, expected = rep.expected,
      landed = rep.landed, missing = rep.missing, conversations = ids }, "error",
      ("icx: %s: INCOMPLETE: %s missing from %s: %s; fetching %s again did not find them"):format(spec.name,
        plural(rep.missing, "part"), plural(#rep.short, "conversation"), named(rep.short),
        #rep.short == 1 and "it" or "them"))
  end
  log.event("completeness", { asset = spec.name, complete = rep.missing == 0, windows = rep.windows,
    conversations = rep.conversations, expected = rep.expected, landed = rep.landed, healed = rep.healed,
    missing = rep.missing, requests = rep.requests, load_requests = load_requests }, rep.missing == 0 and "info"
    or "error", line(rep, load_requests, verifying))
end

-- See the header. The run's own rows first; a conversation short by them
-- is read in the destination (earlier runs' parts count) before it is
-- fetched again.
function M.after_load(spec, env, ctx, src, t, tally)
  local load_requests = ctx.stats.requests
  local dest_n
  local function landed(id)
    local c = tally.convs[id]
    if c.n >= c.expected then return c.n end
    if dest_n == nil then dest_n = stored(t) or false end
    return dest_n and math.max(dest_n[id] or 0, c.n) or c.n
  end
  local function after(got)
    local now = stored(t)
    return function(id)
      local g = got.convs[id]
      -- Without a destination to read: what the better answer gave.
      local n = math.max(tally.convs[id].n, g and g.n or 0)
      return now and math.max(now[id] or 0, n) or n
    end
  end
  local rep = check(spec, env, ctx, src, t, tally, landed, after)
  rep.cap = tally.cap
  report(spec, env, rep, load_requests)
  return rep
end

-- The conversations of one page of search whose parts landed for the
-- version it shows: their count, from the record.
local function survey(tally, page, seen)
  for i = 1, page:count() do
    local id, at = tostring(page:get(i, "id")), page:get(i, "updated_at")
    local st = page:get(i, "statistics")
    if type(st) == "string" then st = json.decode(st) end
    local total = type(st) == "table" and st.count_conversation_parts
    if math.type(total) == "integer" and math.type(at) == "integer" and seen[id] == at then
      local c = tally:conv(id)
      c.at, c.total, c.expected = at, total, math.min(total, tally.cap)
    end
  end
end

function M.verify(spec, env, src)
  local d, conn = env.dest, env.connection.name
  local stats = { requests = 0, retries = 0, rate_limited = 0, asset = spec.name }
  local ctx = { connection = conn, asset = spec.name, stats = stats, client = env.client,
    map = function(items, fn) return require("icx.sched").map(items, fn, 8) end }
  local cur = math.tointeger(tonumber((d:cursor_get(conn, spec.name))))
  if not cur then
    errors.raise("usage", ("%s: nothing stored to verify in this destination (run it first)"):format(spec.name))
  end
  local t = d:table { name = spec.table, primary_key = spec.primary_key, mode = "merge" }
  local have = stored(t) or {}
  local tally = new_tally(src)
  walk.run(env.client, src:slice_of(0, nil, nil, cur + 1), ctx, function(page)
    local ids = {}
    for i = 1, page:count() do ids[i] = tostring(page:get(i, "id")) end
    survey(tally, page, d:seen_get(conn, spec.name, ids))
  end)
  local walked = stats.requests
  local rep = check(spec, env, ctx, src, t, tally,
    function(id) return have[id] or 0 end,
    function()
      local now = stored(t) or {}
      return function(id) return now[id] or 0 end
    end)
  rep.requests, rep.cap = rep.requests + walked, tally.cap
  report(spec, env, rep, nil, true)
  return rep
end

function M.with_parts(names, dest, connection)
  local out, have = {}, {}
  for i, n in ipairs(names) do
    out[i], have[n] = n, true
  end
  for _, n in ipairs(names) do
    local parts = M.COMPANIONS[n]
    if parts and not have[parts] and dest:cursor_get(connection, parts) ~= nil then
      out[#out + 1], have[parts] = parts, true
    end
  end
  return out
end

return M
