-- What one record of a page does not hold in full, declared as sub-lists
-- (icx.expansion): a contact's tags and companies beyond the ten it embeds,
-- a conversation's parts, a company's segments; and the lists records embed
-- whole, landed as child tables of their parent's asset (a ticket's parts,
-- a company's tags, a conversation's tags, contacts and teammates). Each
-- declaration is data; the functions below attach one to a source (its rows
-- are then the asset's), or make it a child table of the parent's asset.
--
--   associations.SUBLISTS.<name>   the declarations
--   associations.CHILDREN.<table> -> the declaration a child table is made of
--   associations.child(table) -> child spec   ticket_parts, ticket_part_counts,
--     company_tags, conversation_tags, conversation_contacts,
--     conversation_teammates, team_admins: 0 requests, replaced with their
--     parent's row
--   associations.contact_pairs(kind, search_source [, first_load]) -> the
--     source, expanding kind "tags" | "companies": a page of contacts into
--     contact_tags (contact_id, tag_id) or contact_companies (contact_id,
--     company_id) rows; a first load of tags may walk the tags instead
--     (icx.tagwalk; first_load "auto", "tag walk" or "per contact")
--   associations.conversation_parts(search_source) -> the source, expanding
--     (its expansion's parts_check: what icx.partcheck compares)
--   associations.contact_tags(), associations.contact_companies() -> child spec
--
-- Request economy (icx.expansion): a contact unchanged since its pairs
-- landed costs nothing; a changed one with a complete embedded list no
-- request; a changed one whose list is truncated one GET (companies: one
-- per 50). A changed contact's pairs are replaced, so a removed tag leaves.
-- A conversation re-read (the lookback) with the updated_at it had when its
-- parts landed costs no request; a changed one one GET /conversations/{id}
-- (at most the 500 most recent parts), its count of parts recorded in
-- conversation_part_counts (truncated = 1 when more exist); one deleted
-- since the search (404) is skipped.
local expansion = require "icx.expansion"
local tagwalk = require "icx.tagwalk"

local M = {}

-- /contacts/{id}/tags has no paging; /contacts/{id}/companies does. The
-- 2.14 schema names the companies list `companies` while its example (and
-- the tags list) use `data`: either is accepted.
M.SUBLISTS = {
  tags = { parent = "contact", column = "contact_id", pair = "tag_id", replace = true, noun = "tags",
    embedded = { member = "tags", items = "data", holds = 10 },
    fetch = { path = "/contacts/{id}/tags", items = { "data", "companies" } } },
  companies = { parent = "contact", column = "contact_id", pair = "company_id", replace = true, noun = "companies",
    embedded = { member = "companies", items = "data", holds = 10 },
    fetch = { path = "/contacts/{id}/companies", items = { "data", "companies" }, per_page = 50 } },
  conversation_parts = { parent = "conversation", column = "conversation_id", noun = "parts",
    fetch = { path = "/conversations/{id}", items = { "conversation_parts.conversation_parts" } },
    counts = { table = "conversation_part_counts",
      total = { "conversation_parts.total_count", "statistics.count_conversation_parts" } } },
  -- Membership moves when a segment's rules change, and the company's
  -- updated_at stays: every company is asked every run.
  company_segments = { parent = "company", column = "company_id", pair = "segment_id", noun = "segments",
    every = true, fetch = { path = "/companies/{id}/segments", items = { "data", "segments" } } },
  -- A ticket of a search embeds its newest parts with total_count: past the
  -- cap nothing fetches the rest (GET /tickets/{id} embeds the same).
  ticket_parts = { parent = "ticket", column = "ticket_id", noun = "parts",
    embedded = { member = "ticket_parts", items = "ticket_parts" },
    counts = { table = "ticket_part_counts", total = { "ticket_parts.total_count" } } },
  company_tags = { parent = "company", column = "company_id", pair = "tag_id", noun = "tags",
    embedded = { member = "tags", items = "tags" } },
  -- GET /teams gives each team's members as a plain array of admin ids.
  team_admins = { parent = "team", column = "team_id", pair = "admin_id", noun = "admins",
    embedded = { member = "admin_ids", items = false } },
  conversation_tags = { parent = "conversation", column = "conversation_id", pair = "tag_id", noun = "tags",
    embedded = { member = "tags", items = "tags" } },
  conversation_contacts = { parent = "conversation", column = "conversation_id", pair = "contact_id",
    noun = "contacts", embedded = { member = "contacts", items = "contacts" } },
  conversation_teammates = { parent = "conversation", column = "conversation_id", pair = "admin_id",
    noun = "teammates", embedded = { member = "teammates", items = "teammates" } },
}

-- Child tables by name: the declaration each is made of, and whether it is
-- that declaration's counts table.
M.CHILDREN = {
  ticket_parts = { "ticket_parts" }, ticket_part_counts = { "ticket_parts", counts = true },
  company_tags = { "company_tags" }, conversation_tags = { "conversation_tags" }, team_admins = { "team_admins" },
  conversation_contacts = { "conversation_contacts" }, conversation_teammates = { "conversation_teammates" },
}

-- A copy of a declaration with fields added.
local function with(decl, more)
  local out = {}
  for k, v in pairs(decl) do out[k] = v end
  for k, v in pairs(more or {}) do out[k] = v end
  return out
end

function M.contact_pairs(kind, src, first_load)
  local decl = M.SUBLISTS[kind]
  if kind ~= "tags" and kind ~= "companies" then
    error("associations.contact_pairs: kind must be \"tags\" or \"companies\"", 2)
  end
  if kind == "tags" then
    -- A first load may walk the tags instead (icx.tagwalk): what that walk
    -- learns (ctx.tagwalk) lets the walk of contacts after it skip contacts.
    decl = with(decl, { first_load = { endpoint = "GET /tags (first load)", plan = function(c, s, ctx)
      local parts, w = tagwalk.plan(c, s, ctx, first_load)
      ctx.tagwalk = w
      if parts then return parts, false end
      return nil
    end } })
  end
  src.expansion = expansion.sublist(decl)
  return src
end

-- What icx.partcheck needs to prove a conversation's parts complete: the
-- GET's cap (Intercom returns the 500 most recent) and, through
-- ctx.parts_landed(page, rows, side) when the run asks, every page the
-- expansion gives (the parts and their counts rows, from one GET each).
M.PARTS_CHECK = { cap = 500, count = "statistics.count_conversation_parts" }

function M.conversation_parts(src)
  local e = expansion.sublist(M.SUBLISTS.conversation_parts)
  local expand = e.expand
  function e.expand(self, page, ctx)
    local rows, side, extra = expand(self, page, ctx)
    if ctx.parts_landed then ctx.parts_landed(page, rows, side) end
    return rows, side, extra
  end
  e.parts_check = M.PARTS_CHECK
  src.expansion = e
  return src
end

-- contact_tags (contact_id, tag_id) and contact_companies (contact_id,
-- company_id), complete even past ten: child tables of the contacts asset,
-- fetched inside the contacts walk for every truncated contact re-read.
-- scripts/contact_tags.lua and contact_companies.lua cost far less.
function M.child(name)
  local c = M.CHILDREN[name]
  if not c then
    local names = {}
    for k in pairs(M.CHILDREN) do names[#names + 1] = k end
    table.sort(names)
    error(("no child table '%s'; there are: %s"):format(tostring(name), table.concat(names, ", ")), 2)
  end
  local e = expansion.sublist(M.SUBLISTS[c[1]])
  if c.counts then return e:counts_child() end
  return e:child(name)
end

-- A company's segments, every company every run (see SUBLISTS).
function M.company_segments(src)
  src.expansion = expansion.sublist(M.SUBLISTS.company_segments)
  return src
end

function M.contact_tags() return expansion.sublist(M.SUBLISTS.tags):child("contact_tags") end
function M.contact_companies() return expansion.sublist(M.SUBLISTS.companies):child("contact_companies") end

return M
