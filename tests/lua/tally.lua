-- icx.tally: the Lua surface of the packed tally, filled by page:tally
-- (the table itself, hash collisions included, is covered by
-- tests/unit/tally.c).
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local tally = require "icx.tally"

local function page(text) return assert(json.page(text, false)) end

-- Repeated ids: one record each, the last read wins, within a page and
-- across pages, also after a count sorted the keys.
local tl = tally.new()
t.like(tostring(tl), "^icx%.tally%.Tally %(0 records%)", "tostring names the type and the records")
t.is(#tl, 0, "a new tally is empty")
t.is(tl:count(0, math.huge), 0, "an empty tally counts nothing")
t.is(tl:at(1), nil, "an empty tally has no rank 1")
page([[ [{"id": "a", "k": 10}, {"id": "b", "k": 20}, {"id": "a", "k": 30}, {"id": "c", "k": 40}] ]])
  :tally("id", "k", tl)
t.is(#tl, 3, "a repeated id within a page is one record")
t.is(tl:count(10, 11), 0, "the first read of a repeated id is not counted")
t.is(tl:count(30, 31), 1, "the last read is")
page([[ [{"id": "c", "k": 5}, {"id": "d", "k": 20}] ]]):tally("id", "k", tl)
t.is(#tl, 4, "an id read again on a later page is one record")
t.is(tl:count(40, 41), 0, "it left its earlier key")
t.is(tl:count(5, 6), 1, "it counts at its last key")
page([[ [{"id": "d", "k": 50}] ]]):tally("id", "k", tl)
t.is(tl:count(20, 21), 1, "after a count, a page landed moves its records")
t.is(tl:count(50, 51), 1, "and counts them at their new key")

-- Counts at the edges: [lo, hi), float bounds as the integers they admit.
-- The keys are now 5, 20, 30, 50.
t.is(tl:count(20, 30), 1, "lo counts, hi does not")
t.is(tl:count(5, 50), 3, "from the least key up to the greatest, excluded")
t.is(tl:count(5, 51), 4, "all four")
t.is(tl:count(19.5, 30.5), 2, "float bounds: 20 and 30 lie in [19.5, 30.5)")
t.is(tl:count(20.5, 30), 0, "float bounds: 20 lies below 20.5")
t.is(tl:count(-math.huge, math.huge), 4, "infinite bounds: all")
t.is(tl:count(50, 5), 0, "an empty window counts nothing")
t.raises(function() tl:count(0 / 0, 1) end, "NaN", "a NaN bound raises")

-- span and at: where a window's keys start among the sorted keys.
local first, n = tl:span(20, 50)
t.is(first, 2, "span: 20 is the second key")
t.is(n, 2, "span: 20 and 30")
t.is(tl:at(first), 20, "at: the first key of the window")
t.is(tl:at(first + n - 1), 30, "at: its last")
t.is(tl:at(4), 50, "at: the greatest key")
t.is(tl:at(5), nil, "at: past the last rank, nil")
t.is(tl:at(0), nil, "at: rank 0, nil")
first, n = tl:span(60, 70)
t.is(first, 5, "span past every key: one past the last rank")
t.is(n, 0, "span past every key: none")

-- Closed: every method raises, closing again does nothing.
tl:close()
tl:close()
t.like(tostring(tl), "%(closed%)", "tostring says closed")
t.raises(function() return #tl end, "closed", "a closed tally raises")
t.raises(function() page([[ [{"id": 1, "k": 1}] ]]):tally("id", "k", tl) end, "closed",
  "page:tally into a closed tally raises")
t.raises(function() page("[]"):tally("id", "k", {}) end, "icx.tally.Tally expected",
  "page:tally takes a Tally, not a table")

-- Many records: ids of every spelling and keys with ties, against a Lua
-- model of the last key per id.
do
  local big, model = tally.new(), {}
  math.randomseed(20261207)
  for _ = 1, 40 do
    local recs = {}
    for j = 1, 150 do
      local id, k = math.random(6000), math.random(0, 999)
      model[tostring(id)] = k
      recs[j] = ('{"id": %s, "k": %d}'):format(math.random(2) == 1 and id or ('"' .. id .. '"'), k)
    end
    page("[" .. table.concat(recs, ",") .. "]"):tally("id", "k", big)
  end
  local ks = {}
  for _, k in pairs(model) do ks[#ks + 1] = k end
  table.sort(ks)
  t.is(#big, #ks, "many: one record per id")
  local ok = true
  for i = 1, #ks do ok = ok and big:at(i) == ks[i] end
  t.ok(ok, "many: the sorted keys are the model's")
  local inside = 0
  for _, k in ipairs(ks) do inside = inside + ((k >= 250 and k < 750) and 1 or 0) end
  t.is(big:count(250, 750), inside, "many: a window counts as the model")
end

-- Memory: 100,000 records in at most 24 bytes each, counted with the Lua
-- heap's (the state's allocator); counting sorts in place, adding nothing;
-- close gives it all back.
do
  local sys = require "icx.sys"
  local big = tally.new()
  collectgarbage()
  local before = sys.memory()
  for p = 0, 99 do
    local recs = {}
    for j = 1, 1000 do recs[j] = ('{"id": "%d", "k": %d}'):format(p * 1000 + j, (p * 7919 + j) % 5000) end
    local pg = page("[" .. table.concat(recs, ",") .. "]")
    pg:tally("id", "k", big)
    pg:close()
  end
  collectgarbage()
  local filled = sys.memory()
  t.is(#big, 100000, "memory: 100,000 records")
  t.ok(filled - before <= 24 * 100000, ("memory: %.1f bytes a record, at most 24"):format((filled - before) / 1e5))
  local n = big:count(0, 5000)
  local counted = sys.memory()
  t.is(n, 100000, "memory: all counted")
  t.ok(counted - filled < 4096, ("memory: counting allocates nothing (%d bytes)"):format(counted - filled))
  big:close()
  t.ok(sys.memory() < filled - 16 * 100000, "memory: close frees the slots")
end
t.done()
