-- icx.expansion: sub-lists declared as data. The shipped declarations
-- (icx.associations) and one more, ticket parts as a ticket search embeds
-- them, run through the same code against a fake client.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local expansion = require "icx.expansion"
local associations = require "icx.associations"

local function same(got, want, name) t.is(json.encode(got), json.encode(want), name) end
local function arr(list) return setmetatable(list, json.array_mt) end
local function page_of(list, key)
  return json.page(json.encode({ type = "list", [key or "data"] = arr(list) }), key or "data")
end
local function rows(page)
  local out = {}
  for i = 1, page:count() do out[i] = page:record(i) end
  return out
end

-- answers: path -> body table, or 404. Records every request.
local function ctx_with(answers, seen)
  local c = { asked = {} }
  function c.request(_, req)
    local q = req.query and req.query.page and ("?page=" .. req.query.page) or ""
    c.asked[#c.asked + 1] = req.path .. q
    local a = answers[req.path .. q] or answers[req.path]
    if a == 404 then return { status = 404, body = "{}", url = req.path } end
    return { status = 200, body = json.encode(a), url = req.path }
  end
  return { stats = {}, asset = "test", client = c, seen = function() return seen or {} end,
    map = function(items, fn) local out = {} for i, x in ipairs(items) do out[i] = fn(x) end return out end }
end

---------------------------------------------------------- conversation parts
do
  local e = expansion.sublist(associations.SUBLISTS.conversation_parts)
  local ctx = ctx_with({
    ["/conversations/c2"] = { id = "c2", conversation_parts = { total_count = 600,
      conversation_parts = arr { { id = "p1", body = "hi" }, { id = "p2", body = "yo" } } } },
    ["/conversations/c3"] = 404,
  }, { c1 = 100 })
  local page = page_of { { id = "c1", updated_at = 100 }, { id = "c2", updated_at = 200 },
    { id = "c3", updated_at = 300 } }
  local out, side, extra = e:expand(page, ctx)
  same(ctx.client.asked, { "/conversations/c2", "/conversations/c3" }, "parts: one GET per changed conversation")
  same(rows(out), { { id = "p1", body = "hi", conversation_id = "c2" }, { id = "p2", body = "yo", conversation_id = "c2" } },
    "parts: each part with its conversation_id")
  t.is(side[1].table, "conversation_part_counts", "parts: the counts table")
  same(rows(side[1].page), { { conversation_id = "c2", parts_returned = 2, parts_total = 600, truncated = true } },
    "parts: a capped conversation is recorded as truncated")
  same(extra, { seen = { c2 = 200 } }, "parts: merged, not replaced; a gone conversation is not stamped")
  same(e:describe(), { tables = { "conversation_part_counts" }, endpoint = "GET /conversations/{id}",
    cost = "1 per changed conversation", records = "conversations" }, "parts: describe")
end

---------------------------------------------------------- contact pairs
do
  local function contact(id, at, n)
    local data = {}
    for i = 1, math.min(n, 10) do data[i] = { type = "tag", id = "t" .. i } end
    return { id = id, updated_at = at, tags = { type = "list", data = arr(data), total_count = n, has_more = n > 10 } }
  end
  local e = expansion.sublist(associations.SUBLISTS.tags)
  local ctx = ctx_with({ ["/contacts/b/tags"] = { type = "list", data = arr { { id = "x" } } },
    ["/contacts/c/tags"] = 404 })
  local out, side, extra = e:expand(page_of { contact("a", 1, 2), contact("b", 2, 12), contact("c", 3, 11) }, ctx)
  same(ctx.client.asked, { "/contacts/b/tags", "/contacts/c/tags" }, "pairs: a GET only for a truncated list")
  same(rows(out), { { contact_id = "a", tag_id = "t1" }, { contact_id = "a", tag_id = "t2" },
    { contact_id = "b", tag_id = "x" } }, "pairs: from the embedded list, or from the GET")
  t.is(side, nil, "pairs: no counts table")
  same(extra, { replace = { key = "contact_id", ids = { "a", "b", "c" } }, seen = { a = 1, b = 2, c = false } },
    "pairs: every changed contact's pairs replaced; a gone one unstamped")

  local companies = expansion.sublist(associations.SUBLISTS.companies)
  local cctx = ctx_with({
    ["/contacts/d/companies?page=1"] = { data = arr { { id = "k1" } }, pages = { page = 1, total_pages = 2, next = 2 } },
    ["/contacts/d/companies?page=2"] = { companies = arr { { id = "k2" } }, pages = { page = 2, total_pages = 2 } },
  })
  local rec = { id = "d", updated_at = 5, companies = { data = arr {}, total_count = 60, has_more = true } }
  out = companies:expand(page_of { rec }, cctx)
  same(rows(out), { { contact_id = "d", company_id = "k1" }, { contact_id = "d", company_id = "k2" } },
    "companies: every page of the sub-list")

  local child = associations.contact_tags()
  same({ child.table, child.primary_key, child.parent_key }, { "contact_tags", { "contact_id", "tag_id" }, "contact_id" },
    "the child table of the same declaration")
  local cx = ctx_with({ ["/contacts/b/tags"] = { data = arr { { id = "y" } } } })
  same(child.rows(json.decode(json.encode(contact("b", 2, 12))), cx), { { contact_id = "b", tag_id = "y" } },
    "the child table fetches a truncated list too")
  same(associations.contact_companies().primary_key, { "contact_id", "company_id" }, "its twin, for companies")
end

---------------------------------------------------------- ticket parts: one more declaration
-- POST /tickets/search embeds each ticket's parts (ticket_parts.ticket_parts
-- with total_count); a capped ticket is recorded like a capped conversation.
do
  local e = expansion.sublist { parent = "ticket", column = "ticket_id", noun = "parts",
    embedded = { member = "ticket_parts", items = "ticket_parts" },
    counts = { table = "ticket_part_counts", total = { "ticket_parts.total_count" } } }
  local function ticket(id, n, total)
    local parts = {}
    for i = 1, n do parts[i] = { id = id .. "-" .. i, part_type = "comment" } end
    return { id = id, updated_at = 10, ticket_parts = { type = "ticket_part.list", ticket_parts = arr(parts),
      total_count = total } }
  end
  local ctx = ctx_with({})
  local out, side, extra = e:expand(page_of({ ticket("k1", 2, 2), ticket("k2", 1, 3) }, "tickets"), ctx)
  same(ctx.client.asked, {}, "ticket parts: no request")
  same(rows(out), { { id = "k1-1", part_type = "comment", ticket_id = "k1" },
    { id = "k1-2", part_type = "comment", ticket_id = "k1" }, { id = "k2-1", part_type = "comment", ticket_id = "k2" } },
    "ticket parts: each embedded part with its ticket_id, a capped list's too")
  same(rows(side[1].page), { { ticket_id = "k1", parts_returned = 2, parts_total = 2, truncated = false },
    { ticket_id = "k2", parts_returned = 1, parts_total = 3, truncated = true } },
    "ticket parts: ticket_part_counts records the capped ticket")
  same(extra.seen, { k1 = 10, k2 = 10 }, "ticket parts: stamped")
  same(e:describe(), { tables = { "ticket_part_counts" }, records = "tickets" },
    "ticket parts: describe names the counts table, no request of its own")
end

-- The same declaration from a script, and what `icx list` says of it.
do
  local icx, intercom, assets = require "icx", require "icx.intercom", require "icx.assets"
  local spec = icx.asset { name = "ticket_parts", primary_key = "id", incremental = { key = "updated_at" },
    pages = intercom.expand(intercom.search "/tickets/search", { parent = "ticket", column = "ticket_id",
      noun = "parts", embedded = { member = "ticket_parts", items = "ticket_parts" },
      counts = { table = "ticket_part_counts", total = { "ticket_parts.total_count" } } }) }
  local d = assets.describe(spec)
  same({ d.tables, d.endpoint, d.cost }, { "ticket_parts, ticket_part_counts", "POST /tickets/search",
    "1 request per 150 tickets" }, "a script's sub-list: icx list asks it")
  t.ok(not pcall(intercom.expand, intercom.search "/tickets/search", { parent = "ticket", column = "ticket_id",
    embedded = { member = "ticket_parts" }, first_load = {} }), "a script cannot plan a first load")
end


---------------------------------------------------------- children of embedded lists
do
  local ctx = ctx_with({})
  local tp = associations.child "ticket_parts"
  same({ tp.table, tp.primary_key, tp.parent_key, tp.cost }, { "ticket_parts", { "id" }, "ticket_id", "" },
    "ticket_parts: a child keyed by the part's id, no request")
  local capped = json.decode(json.encode { id = "k2", ticket_id = "77", ticket_parts = { type = "ticket_part.list",
    ticket_parts = arr { { id = "p9" } }, total_count = 3 } })
  same(tp.rows(capped, ctx), { { id = "p9", ticket_id = "k2" } },
    "ticket_parts: a capped ticket's embedded parts, under its id (not its display ticket_id)")
  same(associations.child("ticket_part_counts").rows(capped, ctx),
    { { ticket_id = "k2", parts_returned = 1, parts_total = 3, truncated = true } },
    "ticket_part_counts: the capped ticket recorded truncated")
  same(ctx.client.asked, {}, "ticket children: no request")
  local conv = json.decode(json.encode { id = "c1", tags = { type = "tag.list", tags = arr { { id = "t1" }, { id = "t2" } } },
    contacts = { type = "contact.list", contacts = arr { { id = "u1", external_id = "x" } } },
    teammates = { type = "admin.list", teammates = arr {} } })
  same(associations.child("conversation_tags").rows(conv, ctx),
    { { conversation_id = "c1", tag_id = "t1" }, { conversation_id = "c1", tag_id = "t2" } }, "conversation_tags")
  same(associations.child("conversation_contacts").rows(conv, ctx), { { conversation_id = "c1", contact_id = "u1" } },
    "conversation_contacts: Intercom's id, not the external_id")
  same(associations.child("conversation_teammates").rows(conv, ctx), {}, "conversation_teammates: none")
  same(associations.child("company_tags").primary_key, { "company_id", "tag_id" }, "company_tags: keyed by the pair")
  t.ok(not pcall(associations.child, "conversation_tag"), "an unknown child table is refused")
  same(associations.child("ticket_part_counts").members, { "id", "ticket_parts", "ticket_parts" },
    "a child names the members it reads")
  local pg = page_of { { id = "c9", title = "big", tags = { type = "tag.list", tags = arr { { id = "t3" } } } } }
  local part = expansion.partial(pg, 1, associations.child("conversation_tags").members)
  t.is(part.title, nil, "partial: a member not named is not decoded")
  same(associations.child("conversation_tags").rows(part, ctx), { { conversation_id = "c9", tag_id = "t3" } },
    "a child's rows from the members it names")
end

---------------------------------------------------------- every: company segments
do
  local e = expansion.sublist(associations.SUBLISTS.company_segments)
  local ctx = ctx_with({ ["/companies/a/segments"] = { type = "list", data = arr { { id = "s1" } } },
    ["/companies/b/segments"] = { type = "list", data = arr {} } }, { a = 1, b = 2 })
  local out, _, extra = e:expand(page_of { { id = "a", updated_at = 1 }, { id = "b", updated_at = 2 } }, ctx)
  same(ctx.client.asked, { "/companies/a/segments", "/companies/b/segments" },
    "segments: every company asked, unchanged or not")
  same(rows(out), { { company_id = "a", segment_id = "s1" } }, "segments: the pairs")
  same(extra, { seen = {} }, "segments: nothing stamped")
  t.is(e:describe().cost, "1 per company", "segments: describe says every company")
end

t.ok(not pcall(expansion.sublist, { parent = "x", column = "x_id" }), "a sub-list with nowhere to read from is refused")
t.ok(not pcall(expansion.sublist, { parent = "x", column = "x_id", fetch = { path = "/x" } }),
  "a fetch path without {id} is refused")

os.exit(t.done())
