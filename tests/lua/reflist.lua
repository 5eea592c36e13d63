-- icx.reflist: when a record's embedded reference list is complete, and
-- what the child tables of contacts (icx.associations) fetch because of it.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local reflist = require "icx.reflist"
local intercom = require "icx.intercom"

local function same(got, want, name) t.is(json.encode(got), json.encode(want), name) end

local function items(n) -- n tags as Intercom embeds them
  local out = {}
  for i = 1, n do out[i] = { type = "tag", id = tostring(i) } end
  return out
end

---------------------------------------------------------------- the rule
local got, total = reflist.items { type = "list", data = items(3), total_count = 3, has_more = false }
t.is(#got, 3, "a complete list: its items")
t.is(total, 3, "and its total")
got, total = reflist.items { type = "list", data = items(10), total_count = 12, has_more = true }
t.is(got, nil, "has_more: the rest must be fetched")
t.is(total, 12, "and the total is total_count")
got, total = reflist.items { type = "list", data = items(10), total_count = 12 }
t.is(got, nil, "a total_count past the items, without has_more, is truncated too")
t.is(total, 12, "(total 12)")
got, total = reflist.items { type = "list", data = items(10), has_more = true }
t.is(got, nil, "has_more without a total_count is truncated")
t.is(total, 10, "and counts at least the items embedded")
got, total = reflist.items { type = "list", data = items(2) }
t.is(#got, 2, "no total_count, no has_more: complete")
t.is(total, 2, "(total 2)")
for _, c in ipairs { { "an absent list" }, { "a null list", json.null }, { "a null data", { data = json.null } },
  { "a list without data", { type = "list" } }, { "a string", "tags" } } do
  got, total = reflist.items(c[2])
  t.ok(type(got) == "table" and #got == 0 and total == 0, c[1] .. ": complete and empty")
end
t.is(reflist.items { data = json.null, total_count = 3 }, nil, "a null data with a total_count: truncated")

----------------------------------------- the child tables of contacts
-- A fake client: /contacts/{id}/tags answers two tags; contact "gone"
-- answers 404 (deleted after the search page that named it), which raises
-- unless the request allows it, as icx.client does.
local asked = {}
local client = {}
function client.request(_, req)
  asked[#asked + 1] = req.path
  if req.path:find("/gone/", 1, true) then
    if not req.allow_404 then error("HTTP 404 from GET " .. req.path, 0) end
    return { status = 404, body = '{"type":"error.list"}', url = req.path }
  end
  return { status = 200, url = req.path,
    body = json.encode { type = "list", data = { { type = "tag", id = "a" }, { type = "tag", id = "b" } } } }
end
local ctx = { client = client, stats = {} }
local tags = intercom.contact_tags()

local function contact(id, n, more)
  return { id = id, tags = { type = "list", data = items(math.min(n, 10)), total_count = n, has_more = more } }
end

same(tags.rows(contact("c1", 2, false), ctx),
  { { contact_id = "c1", tag_id = "1" }, { contact_id = "c1", tag_id = "2" } }, "a complete list lands as embedded")
same(asked, {}, "without a request")
same(tags.rows(contact("c2", 12, true), ctx),
  { { contact_id = "c2", tag_id = "a" }, { contact_id = "c2", tag_id = "b" } }, "a truncated list is fetched whole")
same(asked, { "/contacts/c2/tags" }, "with one GET")
asked = {}
local ok, rows = pcall(tags.rows, contact("gone", 12, true), ctx)
t.ok(ok, "a contact deleted since its page (404) does not fail the walk")
if not ok then print("#   " .. tostring(rows)) end
same(ok and rows or nil, {}, "and has no pairs")
same(asked, { "/contacts/gone/tags" }, "after one GET")

t.done()
