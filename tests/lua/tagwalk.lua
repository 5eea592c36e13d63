-- icx.tagwalk: the first-load choice between the tag walk and per-contact
-- fetches, and what the tag walk lets the walk of contacts skip. A fake
-- client answers GET /tags, the survey page and GET /contacts/{id}/tags.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local intercom = require "icx.intercom"

-- Deep equality through icx.json's encoder (keys sorted).
local function same(got, want, name)
  t.is(json.encode(got), json.encode(want), name)
end

-- A contact with n tags (the first min(n, 10) embedded).
local function contact(id, at, n)
  local data = {}
  for i = 1, math.min(n, 10) do data[i] = { type = "tag", id = tostring(i) } end
  return { type = "contact", id = id, updated_at = at,
    tags = { type = "list", data = setmetatable(data, json.array_mt), total_count = n, has_more = n > 10 } }
end

local function page_of(list)
  return json.page(json.encode({ type = "list", data = setmetatable(list, json.array_mt) }), "data")
end

-- The fake client: answers by path, and records what was asked.
local function client(ntags, sample, total)
  local c = { asked = {} }
  function c.request(_, req)
    c.asked[#c.asked + 1] = req.method .. " " .. req.path
    local body
    if req.path == "/tags" then
      local tags = {}
      for i = 1, ntags do tags[i] = { type = "tag", id = tostring(i) } end
      body = { type = "list", data = tags }
    elseif req.path == "/contacts/search" then
      body = { type = "list", data = sample, total_count = total }
    else
      local id = req.path:match("^/contacts/([^/]+)/tags$")
      body = { type = "list", data = { { type = "tag", id = "fetched-" .. id } } }
    end
    return { status = 200, body = json.encode(body), url = req.path }
  end
  return c
end

local function ctx_with(c, seen)
  return { stats = {}, asset = "contact_tags", client = c, seen = function() return seen or {} end,
    map = function(items, fn) local out = {} for i, x in ipairs(items) do out[i] = fn(x) end return out end }
end

-- Few tags, a fifth of contacts truncated: the tag walk is cheaper.
local sample = {}
for i = 1, 150 do sample[i] = contact("s" .. i, 100, i % 5 == 0 and 12 or 1) end
local src = intercom.contact_tag_pairs()
local c = client(3, sample, 20000)
local ctx = ctx_with(c)
local parts, together = src:parts(c, ctx)
t.ok(type(parts) == "table" and #parts == 2 and together == false,
  "a first load in this shape: the tag walk, then the walk of contacts")
same(c.asked, { "GET /tags", "POST /contacts/search", "POST /contacts/search" },
  "the survey costs three requests: the tags, the oldest and the newest contacts")
local group = parts[1]:parts()
t.is(#group, 3, "one search per tag")
same(group[2]:first(ctx).body.query, { field = "tag_id", operator = "=", value = "2" },
  "each searches contacts with its tag")
t.is(group[2]:landed(500, 500), nil, "a tag's walk never moves the cursor")
c.asked = {}
t.is(parts[2]:parts(c, { since = os.time() - 3600, stats = {} }), nil,
  "the walk of contacts plans as a search does (an hour: one walk)")
same(c.asked, {}, "and surveys nothing again")

-- Tag 1 meets a (truncated, updated_at 100), b (truncated) and p (plain).
local rows, _, extra = group[1]:expand(page_of { contact("a", 100, 12), contact("b", 100, 12),
  contact("p", 100, 2) }, ctx)
local got = {}
for i = 1, rows:count() do got[i] = rows:get(i, "contact_id") .. ":" .. rows:get(i, "tag_id") end
same(got, { "a:1", "b:1" }, "pairs of truncated contacts only")
same(extra.replace.ids, { "a", "b" }, "met first: their pairs are replaced")
same(extra.seen, { a = false, b = false }, "and their stamps forgotten, in the same transaction")
-- Tag 2 meets a again as it was, b changed since.
rows, _, extra = group[2]:expand(page_of { contact("a", 100, 12), contact("b", 150, 12) }, ctx)
t.is(rows:count(), 2, "a second tag adds its pairs")
same(extra.replace.ids, {}, "without replacing again")
t.is(ctx.tagwalk:trusted("a", 100), true, "a contact met the same each time is complete")
t.is(ctx.tagwalk:trusted("b", 150), false, "one met changed is not")
t.is(ctx.tagwalk:trusted("z", 100), nil, "one never met is unknown")

-- The walk of contacts: a skipped, b fetched, c (truncated, never met) fetched.
c.asked = {}
rows, _, extra = src:expand(page_of { contact("a", 100, 12), contact("b", 150, 12), contact("c", 90, 11),
  contact("p", 100, 2) }, ctx)
same(c.asked, { "GET /contacts/b/tags", "GET /contacts/c/tags" },
  "the walk of contacts fetches only what the tag walk did not give whole")
same(extra.replace.ids, { "b", "c", "p" }, "and replaces the pairs of those and of plain contacts")
t.is(extra.seen.a, 100, "a contact the tag walk gave whole is stamped as landed")
same(extra.seen, { a = 100, b = 150, c = 90, p = 100 },
  "the first page of contacts stamps all the tag walk gave whole, b and c as fetched")
rows, _, extra = src:expand(page_of { contact("q", 100, 1) }, ctx)
same(extra.seen, { q = 100 }, "once")

-- Many tags, few truncated: per contact; and never on a run with a cursor.
for i = 1, 150 do sample[i] = contact("s" .. i, 100, i == 1 and 12 or 1) end
src = intercom.contact_tag_pairs()
c = client(400, sample, 20000)
ctx = ctx_with(c)
parts = src:parts(c, ctx)
t.ok(parts == nil or parts[1].slice ~= nil, "this shape: per contact (the search's own plan)")
t.is(ctx.tagwalk, nil, "and no tag walk is remembered for the run")
c.asked = {}
src:parts(c, { cursor = 1700000000, since = 1700000000, stats = {} })
-- (The search may count what changed since an old cursor: icx.slices.)
t.is(table.concat(c.asked, ","):find("GET /tags", 1, true), nil, "a run with a cursor surveys no tags")

-- The script may decide: first_load = "tag walk" | "per contact" (no survey).
c = client(400, sample, 20000)
parts = intercom.contact_tag_pairs { first_load = "tag walk" }:parts(c, ctx_with(c))
t.ok(parts and #parts[1]:parts() == 400, "first_load = \"tag walk\": every tag walked, whatever the shape")
same(c.asked, { "GET /tags" }, "with no survey")
c.asked = {}
parts = intercom.contact_tag_pairs { first_load = "per contact" }:parts(c, ctx_with(c))
t.is(table.concat(c.asked, ","):find("GET /tags", 1, true), nil,
  "first_load = \"per contact\": no survey, no tag walk (the search plans its slices as ever)")
t.raises(function() intercom.contact_tag_pairs { first_load = "tagwalk" } end,
  "first_load must be \"auto\", \"tag walk\" or \"per contact\", not \"tagwalk\"", "a wrong first_load is refused")
t.done()
