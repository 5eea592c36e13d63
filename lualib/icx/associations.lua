-- What one record of a page does not hold in full: a contact's tags and
-- companies beyond the ten it embeds, and a conversation's parts. Each
-- helper returns a piece of an asset spec (a child table, or a source that
-- expands a page of conversations into a page of parts).
--
--   associations.contact_tags(), associations.contact_companies() -> child spec
--   associations.conversation_parts(search_source) -> the source, expanding
local json = require "icx.json"
local log = require "icx.log"

local M = {}

-- Decodes a response body losslessly, or raises a json error naming the URL.
local function decode(resp)
  local v, err = json.decode(resp.body)
  if v == nil then
    require("icx.errors").raise("json", ("icx.intercom: %s: malformed JSON: %s"):format(resp.url or "?", err))
  end
  return v
end

-- The full list behind an embedded reference list ({data, has_more,
-- total_count, url}): the embedded items when complete, else every page of
-- the sub-resource. The 2.14 schema names the companies list `companies`
-- while its example (and the tags list) use `data`: either is accepted.
local function full_list(ref, path, ctx, paged)
  if type(ref) ~= "table" or type(ref.data) ~= "table" then return {} end
  local complete = ref.has_more ~= true
    and (math.type(ref.total_count) ~= "integer" or ref.total_count <= #ref.data)
  if complete then return ref.data end
  local out, page = {}, 1
  while true do
    -- /contacts/{id}/tags has no paging; /contacts/{id}/companies does.
    local resp = ctx.client:request { method = "GET", path = path, stats = ctx.stats,
      query = paged and { page = page, per_page = 50 } or nil }
    local body = decode(resp)
    local list = body.data or body.companies or {}
    for _, item in ipairs(list) do out[#out + 1] = item end
    local pages = type(body.pages) == "table" and body.pages or {}
    local total = math.type(pages.total_pages) == "integer" and pages.total_pages or page
    if not paged or #list == 0 or page >= total or pages.next == nil or pages.next == json.null then break end
    page = page + 1
  end
  return out
end

-- contact_tags (contact_id, tag_id), complete even past ten tags.
function M.contact_tags()
  return {
    table = "contact_tags", primary_key = { "contact_id", "tag_id" }, parent_key = "contact_id",
    rows = function(contact, ctx)
      local rows = {}
      for _, tag in ipairs(full_list(contact.tags, "/contacts/" .. contact.id .. "/tags", ctx)) do
        rows[#rows + 1] = { contact_id = contact.id, tag_id = tag.id }
      end
      return rows
    end,
  }
end

-- contact_companies (contact_id, company_id), complete even past ten.
function M.contact_companies()
  return {
    table = "contact_companies", primary_key = { "contact_id", "company_id" }, parent_key = "contact_id",
    rows = function(contact, ctx)
      local rows = {}
      for _, c in ipairs(full_list(contact.companies, "/contacts/" .. contact.id .. "/companies", ctx, true)) do
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
-- the search (404) is skipped.
function M.conversation_parts(src)
  src.expand = function(_, page, ctx)
    local parts = setmetatable({}, json.array_mt)
    local counts = setmetatable({}, json.array_mt)
    local ids = {}
    for i = 1, page:count() do ids[#ids + 1] = page:get(i, "id") end
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
      end
    end
    return json.page(json.encode(parts), false), {
      { table = "conversation_part_counts", primary_key = { "conversation_id" },
        page = json.page(json.encode(counts), false) },
    }
  end
  return src
end

return M
