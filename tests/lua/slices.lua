-- icx.slices: the slice plan (ranges cover the whole walk, no gaps) and the
-- watermark (the cursor never passes a record that has not landed).
local t = dofile "tests/lib/tap.lua"
local slices = require "icx.slices"
local watermark = require "icx.watermark"
local sources = require "icx.intercom"

local cjson = require "cjson"
-- The survey's log line is for operators; the plans are checked below.
require("icx.log").level = 0
local now = 1800000000
local DAY = 86400

-- A fake Intercom search over a list of keys (UTC): `>`/`<` on seconds, or
-- by whole days on day-granular contacts, as the simulator and Intercom
-- match them. It answers per_page=1 surveys with total_count and counts them.
local function matches(day, q, k)
  for _, f in ipairs(q.operator == "AND" and q.value or { q }) do
    local v = f.value
    if day then
      if f.operator == ">" and k < (v // DAY + 1) * DAY then return false end
      if f.operator == "<" and k >= v // DAY * DAY then return false end
    else
      if f.operator == ">" and k <= v then return false end
      if f.operator == "<" and k >= v then return false end
    end
  end
  return true
end
local function fake(keys, day, ms)
  local c = { requests = 0, bucket = require("icx.ratelimit").bucket { limit = 166, window = 10 } }
  function c.request(_, req)
    c.requests = c.requests + 1
    local n, first = 0, nil
    for _, k in ipairs(keys) do
      if matches(day, req.body.query, k) then
        n = n + 1
        if not first or k < first then first = k end
      end
    end
    local list = req.path:match("^/(%w+)/")
    c.pages = c.pages or {}
    if req.body.pagination.per_page ~= 1 then c.pages[#c.pages + 1] = cjson.encode(req.body) end
    return { ms = ms or 150, body = cjson.encode { type = "list", total_count = n,
      [list == "contacts" and "data" or list] = first and { { id = "x", updated_at = first } } or {} } }
  end
  c.matches = function(q, k) return matches(day, q, k) end
  return c
end
-- Every key read by exactly one slice, and each slice's count.
local function coverage(c, plan, keys, ctx)
  local once, counts = true, {}
  for i = 1, #plan do counts[i] = 0 end
  for _, k in ipairs(keys) do
    local hits = 0
    for i, s in ipairs(plan) do
      if c.matches(s:body_of(ctx).query, k) then hits, counts[i] = hits + 1, counts[i] + 1 end
    end
    if hits ~= 1 then once = false end
  end
  return once, counts
end
local function max_of(t)
  local m = 0
  for _, v in ipairs(t) do m = math.max(m, v) end
  return m
end

-- Evenly spread tickets (second-granular): equal counts, every key once.
local even = {}
for i = 1, 3000 do even[i] = now - 100 * DAY + i * 2880 - 1000 end
local src = sources.search "/tickets/search"
local c = fake(even, false)
local plan = slices.plan(c, src, {}, now)
-- Each plan ends with a slice from the newest probe (a day back on
-- tickets), whose first page the survey fetched: it costs no request.
t.is(#plan, 5, "4 slices (the script's least): 5-page chains at 150 ms keep the budget's pace, and the newest day")
t.ok(plan[5]:first({}).answer and plan[5].lo == now - DAY, "whose first page the survey fetched")
local slow = slices.plan(fake(even, false, 600), src, {}, now)
t.is(#slow, 12, "at 600 ms a request, 11 slices: the fewest with the shortest chain (2 pages), and the newest day")
t.ok(c.requests <= 1 + #slices.PROBE_DAYS, ("the survey costs %d requests"):format(c.requests))
local once, counts = coverage(c, plan, even, {})
t.ok(once, "every ticket in exactly one slice")
t.ok(max_of(counts) <= 1.25 * 3000 / 4, "equal counts: " .. table.concat(counts, " "))
once, counts = coverage(c, slow, even, {})
t.ok(once and max_of(counts) <= 1.25 * 3000 / 11, "12 slices, each ticket once: " .. table.concat(counts, " "))
t.is(plan[2].slice, 2, "each slice knows its number")
t.is(plan[2].path, "/tickets/search", "and keeps the source's fields")
t.is(plan[#plan].hi, nil, "the last slice has no upper bound")
t.is(plan[1].lo, nil, "slice 1 keeps the run's own lower bound")

-- The real shape on day-granular contacts: 60% in the last 3 days, the
-- rest over two years. Equal spans would give the newest slice 60%.
local real = {}
local seed = 7
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
for i = 1, 6000 do
  if rnd(100) < 60 then real[i] = now - 60 - rnd(3 * DAY) else real[i] = now - 3 * DAY - rnd(727 * DAY) end
end
local csrc = sources.search "/contacts/search"
local cc = fake(real, true)
local cplan = slices.plan(cc, csrc, {}, now)
once, counts = coverage(cc, cplan, real, {})
t.ok(once, "contacts: every contact in exactly one day-granular slice")
t.ok(#cplan >= 4 and max_of(counts) <= 0.3 * 6000,
  ("real shape: %d slices, the largest %d of 6000 (%s)"):format(#cplan, max_of(counts), table.concat(counts, " ")))
for i = 2, #cplan do
  t.is(cplan[i].lo % DAY, 43200, ("contacts: cut %d at noon UTC, where day bounds meet exactly"):format(i - 1))
end

-- The newest probe asks for a whole page: the last slice, which starts
-- there, hands it to its walk instead of asking again, once.
t.is(#(cc.pages or {}), 1, "one survey request asked for a whole page")
local last = cplan[#cplan]
local req1 = last:first({})
t.is(cjson.encode(req1.body), cc.pages[1], "the last slice's first request is that survey request")
t.ok(req1.answer and req1.answer.body, "and carries its answer")
t.is(last:first({}).answer, nil, "only once")
t.is(cplan[1]:first({}).answer, nil, "other slices ask")

-- Few records: one survey request, one walk, whatever the span.
local sparse = { now - 400 * DAY, now - 200 * DAY, now - 10 }
local sc = fake(sparse, false)
t.is(slices.plan(sc, src, { since = now - 500 * DAY }, now), nil, "3 records over 500 days: one walk")
t.is(sc.requests, 1, "after one per_page=1 request")
local short = fake(even, false)
t.is(slices.plan(short, src, { since = now - 3 * DAY }, now), nil, "a short incremental range is one walk")
t.is(short.requests, 0, "without asking")
t.is(slices.plan(fake(even, false), src, { jobs = 1 }, now), nil, "-j 1 means one walk")
t.is(#slices.plan(fake(even, false), src, { jobs = 2 }, now), 2, "-j 2 caps the slices at 2")
t.is(slices.plan(fake(even, false), sources.search("/tickets/search", { slices = 1 }), {}, now), nil,
  "slices = 1 turns slicing off")
t.is(slices.plan(fake(even, false), sources.search("/tickets/search",
  { sort = { field = "created_at", order = "descending" } }), {}, now), nil,
  "a sort other than ascending on the key is never sliced")

local wm = watermark.new(3)
t.is(wm:value(), nil, "nothing landed: no watermark")
wm:page(2, 500)
t.is(wm:value(), nil, "slice 2's pages do not count while slice 1 has none")
wm:page(1, 100)
t.is(wm:value(), 100, "slice 1's progress counts")
wm:page(1, 90)
t.is(wm:value(), 100, "a lower page key never moves it back")
wm:finish(1)
t.is(wm:value(), 500, "slice 1 done: slice 2's progress counts")
wm:page(3, 900)
t.is(wm:value(), 500, "slice 3 waits for slice 2")
wm:finish(2)
t.is(wm:value(), 900, "slice 2 done: slice 3's progress counts")

-- A page counted while its transaction is built is taken back when the
-- commit fails, so no later page stores a cursor past it.
local wm2 = watermark.new(2)
wm2:page(1, 100)
local undo = wm2:undo_of(1)
wm2:page(1, 250)
t.is(wm2:value(), 250, "a page being committed counts")
undo()
t.is(wm2:value(), 100, "a failed commit takes it back")
wm2:finish(1)
wm2:page(2, 300)
t.is(wm2:value(), 300, "and the other slices go on from there")

return t.done()
