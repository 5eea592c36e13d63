-- icx.totals and the live display's asset line (icx.display): the
-- progress of every asset kind counts what is counted (rows of the main
-- table; an expansion's parents walked of their total), never goes back,
-- and never shows done above the total.
local t = dofile "tests/lib/tap.lua"
local display = require "icx.display"
local totals = require "icx.totals"

-- Plain records walked as two slices at once: the total is their sum,
-- rows of the main table (children not counted).
local est = totals.new()
local a, b = {}, {}
est:page(a, 300, 150, 150)
local fig, text = est:progress(150)
t.is(fig.total, 300, "one slice reported: its total")
t.is(text, " of about 300", "the text line")
est:page(b, 200, 150, 150)
t.is(est:progress(300).total, 500, "both slices: the sum")
est:page(a, 300, 150, 150)
est:page(b, 200, 50, 50)
t.is(est:progress(500).total, 500, "the walk ended: exact")
t.is(fig.parents, nil, "plain records have no parents")

-- A script's filter drops more as the walk goes on: the estimate would
-- fall (600 -> 450); the total shown stays, and rows never pass it.
est = totals.new()
est:page(a, 600, 100, 100)
t.is(est:progress(100).total, 600, "no record dropped yet: 600")
est:page(a, 600, 100, 50)
t.is(est:progress(150).total, 600, "an estimate that falls keeps the total shown")
local prev, monotone, bounded = 0, true, true
local rows = 150
for _ = 1, 4 do
  est:page(a, 600, 100, 100)
  rows = rows + 100
  local total = est:progress(rows).total
  if total < prev then monotone = false end
  if rows > total then bounded = false end
  prev = total
end
t.ok(monotone and bounded, "then: never backwards, never below rows (" .. prev .. ")")
t.is(est:progress(900).total, 900, "rows past every estimate raise the total with them")

-- No total_count (a scroll): unknown until something is counted.
est = totals.new()
est:page(a, nil, 50, 50)
fig, text = est:progress(50)
t.is(fig.total, nil, "no total_count: no total")
t.is(text, "", "and no 'of about'")

-- An expansion: parents walked of their total; rows are beside it, and a
-- parent re-read unchanged (no rows) does not shrink anything.
local parts = { expansion = { parent = "conversation" } }
local slice2 = { expansion = { parent = "conversation" } }
est = totals.new()
est:page(parts, 40, 20, 900)
fig, text = est:progress(900)
t.is(fig.parents, 20, "parents walked")
t.is(fig.parents_total, 40, "of the conversations' total_count")
t.is(fig.parent, "conversations", "named in the plural")
t.is(fig.total, nil, "no rows total: a sub-list's size is not known ahead")
t.is(text, " (20 of about 40 conversations)", "the text line")
est:page(slice2, 10, 10, 0)
est:page(parts, 40, 20, 0)
fig = est:progress(900)
t.is(fig.parents, 50, "unchanged parents count as walked")
t.is(fig.parents_total, 50, "across slices")
t.is(est:total(), nil, "Totals:total() is nil for an expansion")
est = totals.new()
est:page({ expansion = { parent = "company" } }, nil, 50, 10)
fig, text = est:progress(10)
t.is(fig.parent, "companies", "company -> companies")
t.is(text, " (50 companies)", "no total_count: the parents walked")
est = totals.new()
est:page({ expansion = {} }, 5, 5, 1)
t.is(est:progress(1).parent, "records", "an expansion naming no parent: records")

-- The display's line for each kind.
local null = assert(io.open("/dev/null", "w"))
local stderr = io.stderr
io.stderr = null -- luacheck: ignore 122
local d = display.start { budget = 166 }
d.frame = function() end
d:event("run_start", { assets = { "contacts", "conversation_parts" } })
d:event("asset_start", { asset = "contacts" })
d:event("asset_start", { asset = "conversation_parts" })
d:event("page", { asset = "contacts", rows = 150, total = 500, requests = 1 })
d:event("page", { asset = "conversation_parts", rows = 900, requests = 21, parents = 20, parents_total = 40,
  parent = "conversations" })
local lines = d:lines(200, 24)
t.like(lines[2], "^contacts +%[[#-]+%]  150/500 rows  ", "contacts: rows of the total, with a bar")
t.like(lines[3], "^conversation_parts +%[[#-]+%]  20/40 conversations  900 rows  ",
  "conversation_parts: conversations walked of their total, and the rows")
t.like(lines[3], "%[" .. ("#"):rep(12) .. ("-"):rep(12) .. "%]", "the bar is the parents' half")
d:event("page", { asset = "conversation_parts", rows = 905, requests = 22, parents = 35, parents_total = 40,
  parent = "conversations" })
t.like(d:lines(200, 24)[3], "35/40 conversations  905 rows", "the next page")
d:stop()
io.stderr = stderr -- luacheck: ignore 122
null:close()

os.exit(t.done())
