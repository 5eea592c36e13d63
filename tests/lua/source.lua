-- icx.source: what the walk asks a source's class. A fake client answers
-- each request with a page and headers.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local paginate = require "icx.paginate"
local source = require "icx.source"
local intercom = require "icx.intercom"

-- bodies: one response body per request, in order.
local function client(bodies)
  local c, n = { asked = {} }, 0
  function c.request(_, req)
    n = n + 1
    c.asked[#c.asked + 1] = req
    return { status = 200, body = json.encode(bodies[n]), url = req.path, headers = { ["x-page"] = tostring(n) } }
  end
  return c
end

-- after sees the response headers (a custom source's prev.headers).
do
  local seen = {}
  local src = intercom.custom(function(prev)
    if not prev then return { method = "GET", path = "/x" } end
    seen[#seen + 1] = prev.headers and prev.headers["x-page"]
    if prev.number < 2 then return { method = "GET", path = "/x", query = { n = prev.number } } end
    return nil
  end)
  local empty = setmetatable({}, json.array_mt)
  local c = client { { data = empty }, { data = empty } }
  local pages = 0
  for _ in paginate.pages(c, src, {}) do pages = pages + 1 end
  t.is(pages, 2, "custom: two pages")
  t.is(table.concat(seen, ","), "1,2", "custom: next(prev) sees each response's headers")
end

-- The loop guard is the class's: a server handing back the cursor it was given.
do
  local src = intercom.cursor "/contacts"
  local page = { data = { { id = "1" } }, pages = { next = { starting_after = "A" } } }
  local c = client { page, page }
  local ok, err = pcall(function() for _ in paginate.pages(c, src, {}) do end end)
  t.ok(not ok and tostring(err):find("same next page", 1, true), "cursor: a repeated cursor stops the walk")
  t.is(src:repeats({ path = "/c", query = { starting_after = "A" } }, { path = "/c", query = { starting_after = "A" } }),
    true, "cursor: the same starting_after repeats")
  t.is(intercom.scroll("/companies/scroll"):repeats({ path = "/s", query = { scroll_param = "p" } },
    { path = "/s", query = { scroll_param = "p" } }), false, "scroll: one scroll_param throughout is no loop")
end

-- landed only asks: the watermark moves when the runner counts a page.
do
  local src = intercom.search "/tickets/search"
  local now = 1800000000
  local cut = now - 50 * 86400
  local s1 = src:slice_of(1, require("icx.watermark").new(2, { { nil, cut }, { cut, nil } }), nil, cut)
  t.is(s1:landed(500, 500), nil, "a slice with no page counted: nowhere to move")
  t.is(s1:landed(500, 500), nil, "asking again changes nothing")
  s1.watermark:page(1, 500)
  t.is(s1:landed(500, 500), 500, "once the page is counted, the watermark")
  t.is(intercom.search("/tickets/search"):landed(700, 800), 800, "an ascending walk: the best key")
  t.is(intercom.scroll("/companies/scroll"):landed(700, 800), nil, "a scroll: not before the end")
end

-- The search body and its lower bound are the class's.
do
  local day = intercom.search "/contacts/search"
  local sec = intercom.search("/tickets/search", { query = { field = "state", operator = "=", value = "open" } })
  t.is(day:first({ since = 1000000 }).body.query.value, 1000000 - 86400 - 3600,
    "contacts: the bound re-reads since's whole day")
  local q = sec:first({ since = 1000000 }).body.query
  t.is(q.operator .. " " .. q.value[1].value .. " " .. q.value[2].field, "AND 999999 state",
    "tickets: since inclusive, ANDed with the script's filter")
  t.is(sec:first({}).body.query.value[1].value, 0, "no since: everything")
  t.ok(not pcall(source.from, { style = "search", path = "/x/search" }), "a plain search needs its body")
end

-- A day-granular incremental run walks newest first and stops past its bound.
do
  local c = intercom.search "/contacts/search"
  local ctx = { cursor = 1700000000, since = 1699990000 }
  local nf = c:newest_first_of(ctx)
  t.is(nf and nf:first(ctx).body.sort.order, "descending", "contacts, incremental: newest first")
  t.is(nf:landed(5, 5), nil, "its cursor moves when the walk completes, not per page")
  t.ok(nf:past(1699989999, ctx) and not nf:past(1699990000, ctx), "it stops at a page reaching below its bound")
  t.is(c:newest_first_of({ since = 1699990000 }), nil, "a first load (no cursor) walks ascending")
  t.is(intercom.search("/tickets/search"):newest_first_of(ctx), nil,
    "second-granular search starts at the cursor itself: ascending")
end

os.exit(t.done())
