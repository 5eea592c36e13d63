-- icx.slices: the slice plan (ranges cover the whole walk, no gaps) and the
-- watermark (the cursor never passes a record that has not landed).
local t = dofile "tests/lib/tap.lua"
local slices = require "icx.slices"
local watermark = require "icx.watermark"
local sources = require "icx.intercom"

local src = sources.search "/tickets/search"
local now = 1800000000
local since = now - 100 * 86400

local plan = slices.plan(nil, src, { since = since }, now)
t.is(#plan, 4, "a 100-day range is walked as 4 slices")
local function bounds(sub)
  local q = sub:body_of({ since = since }).query
  local lo, hi
  for _, f in ipairs(q.operator == "AND" and q.value or { q }) do
    if f.operator == ">" then lo = f.value end
    if f.operator == "<" then hi = f.value end
  end
  return lo, hi
end
local lo1, hi1 = bounds(plan[1])
t.is(lo1, since - 1, "slice 1 keeps the run's own lower bound (since, inclusive)")
local prev_hi = hi1
for i = 2, 4 do
  local lo, hi = bounds(plan[i])
  t.is(lo + 1, prev_hi, ("slice %d starts where slice %d ends"):format(i, i - 1))
  prev_hi = hi
end
t.is(prev_hi, nil, "the last slice has no upper bound")
t.is(plan[2].slice, 2, "each slice knows its number")
t.is(plan[2].path, "/tickets/search", "and keeps the source's fields")

-- Day-granular contacts: each lower bound re-reads the day before the
-- previous slice's upper bound, so the day edge is covered twice, never missed.
local csrc = sources.search "/contacts/search"
local cplan = slices.plan(nil, csrc, { since = since }, now)
local _, c1hi = bounds(cplan[1])
local c2lo = cplan[2]:body_of({ since = since }).query.value[1].value
t.ok(c2lo < c1hi - 86400, "contacts: slice 2 starts more than a day before slice 1's '<' bound")

t.is(slices.plan(nil, src, { since = now - 3 * 86400 }, now), nil, "a short range is one walk")
t.is(slices.plan(nil, src, { since = since, jobs = 1 }, now), nil, "-j 1 means one walk")
t.is(#slices.plan(nil, src, { since = since, jobs = 2 }, now), 2, "-j 2 caps the slices at 2")
t.is(slices.plan(nil, sources.search("/tickets/search", { slices = 1 }), { since = since }, now), nil,
  "slices = 1 turns slicing off")
t.is(slices.plan(nil, sources.search("/tickets/search", { sort = { field = "created_at", order = "descending" } }),
  { since = since }, now), nil, "a sort other than ascending on the key is never sliced")

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
