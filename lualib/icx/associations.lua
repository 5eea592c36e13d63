-- What one record of a page does not hold in full: a contact's tags and
-- companies beyond the ten it embeds, and a conversation's parts. Each
-- helper returns a piece of an asset spec: a source that expands a page of
-- walked records (contacts, conversations) into a page of rows of its own
-- asset, or (older, costlier) a child table of the contacts asset.
--
--   associations.contact_pairs(kind, search_source [, first_load]) -> the
--     source, expanding kind "tags" | "companies": a page of contacts into
--     contact_tags (contact_id, tag_id) or contact_companies (contact_id,
--     company_id) rows; a first load of tags may walk the tags instead
--     (icx.tagwalk; first_load "auto", "tag walk" or "per contact")
--   associations.conversation_parts(search_source) -> the source, expanding
--   associations.contact_tags(), associations.contact_companies() -> child spec
--
-- Request economy: an expansion asks ctx.seen(ids) for the updated_at each
-- parent had when its rows were last landed (_icx_seen) and spends requests
-- only on parents that changed since (all of them on --full-refresh); it
-- hands the runner {replace = {key =, ids =}, seen = {[id] = updated_at}},
-- written in the page's transaction: the changed parents' rows are
-- replaced, so a removed tag leaves, and their updated_at is recorded.
local client = require "icx.client"
local json = require "icx.json"
local log = require "icx.log"
local reflist = require "icx.reflist"
local tagwalk = require "icx.tagwalk"

local M = {}

-- Every response read here answers a GET.
local function decode(resp) return client.decoded(resp, "GET") end

-- Every item of a contact's sub-resource (nil: the contact is gone, 404).
-- /contacts/{id}/tags has no paging; /contacts/{id}/companies does. The
-- 2.14 schema names the companies list `companies` while its example (and
-- the tags list) use `data`: either is accepted.
local function fetch_items(ctx, path, paged)
  local out, page = {}, 1
  while true do
    local resp = ctx.client:request { method = "GET", path = path, stats = ctx.stats, allow_404 = true,
      query = paged and { page = page, per_page = 50 } or nil }
    if resp.status == 404 then return nil end
    local body = decode(resp)
    local list = body.data or body.companies or {}
    if list == json.null then list = {} end
    for _, item in ipairs(list) do out[#out + 1] = item end
    local pages = type(body.pages) == "table" and body.pages or {}
    local total = math.type(pages.total_pages) == "integer" and pages.total_pages or page
    if not paged or #list == 0 or page >= total or pages.next == nil or pages.next == json.null then break end
    page = page + 1
  end
  return out
end

-- The full list behind an embedded reference list: the embedded items when
-- complete, else every item of the sub-resource ({} when the contact is
-- gone: it was deleted after the page that named it was read).
local function full_list(ref, ctx, path, paged)
  local items = reflist.items(ref) or fetch_items(ctx, path, paged)
  if not items then log.verbose("GET %s: 404, the contact is gone: no child rows", path) end
  return items or {}
end

local KINDS = {
  tags = { member = "tags", path = "/contacts/%s/tags", paged = false, column = "tag_id" },
  companies = { member = "companies", path = "/contacts/%s/companies", paged = true, column = "company_id" },
}

-- Pair rows (contact_id, tag_id | company_id) from a page of contacts. Only
-- each contact's id, updated_at and the one embedded list are read from
-- the page (page:get gives the list as its JSON text; that alone is
-- decoded). A contact unchanged since its pairs landed costs nothing; a
-- changed one with a complete embedded list no request; a changed one
-- whose list is truncated one GET (companies: one per 50).
function M.contact_pairs(kind, src, first_load)
  local k = KINDS[kind]
  if not k then error("associations.contact_pairs: kind must be \"tags\" or \"companies\"", 2) end
  src.expand = function(_, page, ctx)
    local n = page:count()
    local ids, stamps = {}, {}
    for i = 1, n do
      ids[i] = tostring(page:get(i, "id"))
      stamps[i] = page:get(i, "updated_at")
    end
    local seen = ctx.full_refresh and {} or ctx.seen(ids)
    local changed, lists, fetch, seen_out = {}, {}, {}, {}
    for i = 1, n do
      local at = stamps[i]
      -- A first load's tag walk (icx.tagwalk) may have landed the pairs.
      local walked
      if ctx.tagwalk then walked = ctx.tagwalk:trusted(ids[i], at) end
      if walked then
        seen_out[ids[i]] = at
      elseif math.type(at) ~= "integer" or seen[ids[i]] ~= at or walked == false then
        changed[#changed + 1] = i
        local text = page:get(i, k.member)
        local items = reflist.items(type(text) == "string" and json.decode(text) or nil)
        if items then lists[i] = items else fetch[#fetch + 1] = i end
      end
    end
    local got = ctx.map(fetch, function(i) return fetch_items(ctx, k.path:format(ids[i]), k.paged) or false end)
    local rows, replaced = setmetatable({}, json.array_mt), {}
    for j, i in ipairs(fetch) do
      lists[i] = got[j] or {}
      if not got[j] then
        log.verbose("%s: contact %s is gone (404): its pairs are removed", ctx.asset or "contact_" .. kind, ids[i])
        stamps[i] = false
      end
    end
    for _, i in ipairs(changed) do
      replaced[#replaced + 1] = ids[i]
      seen_out[ids[i]] = math.type(stamps[i]) == "integer" and stamps[i] or false
      for _, item in ipairs(lists[i]) do
        if type(item) == "table" and item.id ~= nil and item.id ~= json.null then
          rows[#rows + 1] = { contact_id = ids[i], [k.column] = item.id }
        end
      end
    end
    -- After a tag walk, the first page stamps what it gave whole.
    for id, at in pairs(ctx.tagwalk and ctx.tagwalk:stamps() or {}) do
      if seen_out[id] == nil then seen_out[id] = at end
    end
    return json.page(json.encode(rows), false), nil,
      { replace = { key = "contact_id", ids = replaced }, seen = seen_out }
  end
  if kind == "tags" then
    -- A first load may walk the tags instead (icx.tagwalk); slices and the
    -- walk of contacts after the tags plan as the search does.
    src.parts = function(self, c, ctx)
      if self.slice then return nil end
      local parts, w = tagwalk.plan(c, self, ctx, first_load)
      ctx.tagwalk = w
      if parts then return parts, false end
      return getmetatable(self).parts(self, c, ctx)
    end
  end
  return src
end

-- contact_tags (contact_id, tag_id), complete even past ten tags: a child
-- table of the contacts asset, fetched inside the contacts walk for every
-- truncated contact re-read. scripts/contact_tags.lua costs far less.
function M.contact_tags()
  return {
    table = "contact_tags", primary_key = { "contact_id", "tag_id" }, parent_key = "contact_id",
    rows = function(contact, ctx)
      local rows = {}
      for _, tag in ipairs(full_list(contact.tags, ctx, "/contacts/" .. contact.id .. "/tags")) do
        rows[#rows + 1] = { contact_id = contact.id, tag_id = tag.id }
      end
      return rows
    end,
  }
end

-- contact_companies (contact_id, company_id), complete even past ten (a
-- child table, as contact_tags above; scripts/contact_companies.lua is cheaper).
function M.contact_companies()
  return {
    table = "contact_companies", primary_key = { "contact_id", "company_id" }, parent_key = "contact_id",
    rows = function(contact, ctx)
      local rows = {}
      for _, c in ipairs(full_list(contact.companies, ctx, "/contacts/" .. contact.id .. "/companies", true)) do
        rows[#rows + 1] = { contact_id = contact.id, company_id = c.id }
      end
      return rows
    end,
  }
end

-- The true number of parts a conversation has, where Intercom says it.
local function parts_total(conv)
  local list = conv.conversation_parts
  local stats = conv.statistics
  local n = type(list) == "table" and math.type(list.total_count) == "integer" and list.total_count or 0
  if type(stats) == "table" and math.type(stats.count_conversation_parts) == "integer" then
    n = math.max(n, stats.count_conversation_parts)
  end
  return n
end

-- Conversation parts: walks conversations changed since the cursor and
-- expands each page into the parts of its conversations (GET
-- /conversations/{id}, at most the 500 most recent parts). Conversations
-- whose part count exceeds what came back are recorded in
-- conversation_part_counts with truncated = 1; a conversation deleted since
-- the search (404) is skipped. A conversation re-read (the lookback) with
-- the updated_at it had when its parts landed costs no request.
function M.conversation_parts(src)
  src.expand = function(_, page, ctx)
    local parts = setmetatable({}, json.array_mt)
    local counts = setmetatable({}, json.array_mt)
    local all, stamps = {}, {}
    for i = 1, page:count() do
      all[i] = tostring(page:get(i, "id"))
      stamps[all[i]] = page:get(i, "updated_at")
    end
    local seen = ctx.full_refresh and {} or ctx.seen(all)
    local ids, seen_out = {}, {}
    for _, id in ipairs(all) do
      local at = stamps[id]
      if math.type(at) ~= "integer" or seen[id] ~= at then ids[#ids + 1] = id end
    end
    local function fetch(id)
      local resp = ctx.client:request { method = "GET", path = "/conversations/" .. id,
        stats = ctx.stats, allow_404 = true }
      if resp.status == 404 then
        log.verbose("conversation_parts: conversation %s is gone (404), skipped", id)
        return false
      end
      return decode(resp)
    end
    local convs = ctx.map(ids, fetch)
    for i = 1, #ids do
      local conv = convs[i]
      if conv then
        local list = type(conv.conversation_parts) == "table" and conv.conversation_parts.conversation_parts or {}
        for _, part in ipairs(list) do
          part.conversation_id = conv.id
          parts[#parts + 1] = part
        end
        local total = parts_total(conv)
        counts[#counts + 1] = { conversation_id = conv.id, parts_returned = #list,
          parts_total = math.max(total, #list), truncated = total > #list }
        local at = stamps[ids[i]]
        seen_out[ids[i]] = math.type(at) == "integer" and at or false
      end
    end
    return json.page(json.encode(parts), false), {
      { table = "conversation_part_counts", primary_key = { "conversation_id" },
        page = json.page(json.encode(counts), false) },
    }, { seen = seen_out }
  end
  return src
end

return M
