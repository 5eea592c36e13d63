-- contact_tags' first load, the cheaper of two ways. A contact embeds at
-- most ten tags; the rest of a truncated list costs either one
-- GET /contacts/{id}/tags per truncated contact (per-contact), or a walk of
-- POST /contacts/search with tag_id = T for every tag of GET /tags (the tag
-- walk: one request per 150 contacts holding T, at least one per tag, on
-- every run). Later runs only look at contacts that changed, and one GET per
-- changed truncated contact beats re-walking every tag by far (docs/MEASUREMENTS.md,
-- the request economy); a first load has every truncated contact to read, and
-- there the shape of the workspace decides. So a first load surveys it (three
-- requests: GET /tags and two pages of contacts, first and last by email)
-- and estimates
--   per contact ~ truncated share of the sample x total contacts
--   tag walk    ~ tags + (mean tags per contact x total contacts) / 150
-- and takes the tag walk only when it comes out cheaper.
--
-- The tag walk lands the pairs of truncated contacts only, and remembers the
-- updated_at each was read with (a contact read twice with different ones
-- changed in between: remembered as changed). The usual walk of contacts
-- follows in the same run: a truncated contact whose remembered updated_at
-- is the one it has now costs nothing (its pairs are complete), any other
-- goes the per-contact way, and complete lists land from the page as ever.
-- Crash safety: the first time the tag walk meets a contact it replaces
-- that contact's pairs and forgets its _icx_seen stamp, in the page's
-- transaction, so a walk cut short leaves contacts that the next run fetches
-- one by one (or walks again), never a partial list taken for complete; no
-- cursor moves before the walk of contacts. Once the tag walk is over, the
-- first page of contacts to land also stamps every contact the walk gave
-- whole (_icx_seen, as if fetched), so a load cut short after that resumes
-- its slices as ever and fetches none of them.
--
--   tagwalk.plan(client, contacts_source, ctx [, how]) -> parts, Walk | nil
--     how: "auto" (the default), "tag walk" or "per contact" (the script's
--     first_load option: no survey)
--     parts: {group of tag sources walked at once, the contacts source as
--     planned without this}, walked in order; nil: per contact (not a first
--     load, or not cheaper). The Walk is what the tag walk learns, for this
--     run only (the runner's ctx keeps it: ctx.tagwalk)
--   Walk:trusted(id, updated_at) -> true | false | nil
--     true: the tag walk landed this contact's complete pairs as of
--     updated_at; false: it met the contact but not as it is now (fetch it);
--     nil: it did not meet it
--   Walk:stamps() -> {[id] = updated_at} | nil   the contacts it gave whole,
--     once (nil after the first call)
local client = require "icx.client"
local expansion = require "icx.expansion"
local json = require "icx.json"
local log = require "icx.log"
local reflist = require "icx.reflist"

local M = {}

-- met: the updated_at each truncated contact had when the tag walk met it
-- (false: two different ones); stamped: the stamps have been handed out.
local Walk = {}
Walk.__index = Walk

-- The ids of GET /tags.
local function tag_ids(c, ctx)
  local tags = client.decoded(c:request { method = "GET", path = "/tags", stats = ctx.stats }, "GET")
  local ids = {}
  for _, t in ipairs(type(tags) == "table" and type(tags.data) == "table" and tags.data or {}) do
    if type(t) == "table" and (type(t.id) == "string" or math.type(t.id) == "integer") then
      ids[#ids + 1] = tostring(t.id)
    end
  end
  return ids
end

-- A copy of source src (a tag's walk, or the walk of contacts planned anew).
local function copy_source(src)
  local s = {}
  for k, v in pairs(src) do s[k] = v end
  return setmetatable(s, getmetatable(src))
end

-- GET /tags and a sample of contacts: the estimates of the header. The
-- sample is the first and the last page by email, an order that has nothing
-- to do with tagging; the oldest or newest contacts (the walk's own order)
-- are seldom like the rest (a workspace's first and latest imports).
local function survey(c, src, ctx)
  local ids = tag_ids(c, ctx)
  local total, sampled, cut, pairs_n, got = 0, 0, 0, 0, {}
  for _, order in ipairs { "ascending", "descending" } do
    local body = src:body_of(ctx)
    body.sort = { field = "email", order = order }
    body.pagination = { per_page = 150 }
    local page = client.decoded(c:request { method = src.method, path = src.path, body = body, stats = ctx.stats },
      src.method)
    local data = type(page) == "table" and type(page.data) == "table" and page.data or {}
    if type(page) == "table" and math.type(page.total_count) == "integer" then total = page.total_count end
    for _, contact in ipairs(data) do
      local id = type(contact) == "table" and tostring(contact.id) or nil
      if id and not got[id] then -- a small workspace's two pages overlap
        got[id] = true
        sampled = sampled + 1
        local items, n = reflist.items(contact.tags)
        if not items then cut = cut + 1 end
        pairs_n = pairs_n + n
      end
    end
    if #data >= total then break end -- one page held them all
  end
  total = math.max(total, sampled)
  sampled = math.max(sampled, 1)
  return {
    tags = ids, contacts = total,
    per_contact = math.floor(cut / sampled * total + 0.5),
    tag_walk = #ids + math.ceil(pairs_n / sampled * total / 150),
  }
end

-- One tag's walk: POST /contacts/search with tag_id = T, expanded into that
-- tag's pairs of truncated contacts.
local function tag_source(src, tag, met)
  local s = copy_source(src)
  s.body = { query = { field = "tag_id", operator = "=", value = tag } }
  s.ascending, s.slice, s.watermark, s.slices, s.planned = false, nil, nil, 1, true
  s.expansion = expansion.custom(function(page)
    local rows, replace, seen = setmetatable({}, json.array_mt), {}, {}
    for i = 1, page:count() do
      local id, at = tostring(page:get(i, "id")), page:get(i, "updated_at")
      local text = page:get(i, "tags")
      if not reflist.items(type(text) == "string" and json.decode(text) or nil) then
        if met[id] == nil then
          -- First met: what an earlier, cut-short walk left goes.
          replace[#replace + 1], seen[id] = id, false
          met[id] = math.type(at) == "integer" and at or false
        elseif met[id] ~= at then
          met[id] = false
        end
        rows[#rows + 1] = { contact_id = id, tag_id = tag }
      end
    end
    return json.page(json.encode(rows), false), nil,
      { replace = { key = "contact_id", ids = replace }, seen = seen }
  end)
  return s
end

function M.plan(c, src, ctx, how)
  how = how or "auto"
  if how == "per contact" then return nil end
  if ctx.since ~= nil or ctx.full_refresh or ctx.resume_slices or ctx.cursor ~= nil then return nil end
  local s
  if how == "auto" then
    s = survey(c, src, ctx)
    how = s.tag_walk < s.per_contact and "tag walk" or "per contact"
    log.verbose("%s: first load of %d contacts, %d tags: %s (estimated %d requests; per contact %d, tag walk %d)",
      ctx.asset or "contact_tags", s.contacts, #s.tags, how, math.min(s.tag_walk, s.per_contact),
      s.per_contact, s.tag_walk)
    if how ~= "tag walk" then return nil end
  else
    s = { tags = tag_ids(c, ctx) }
    log.verbose("%s: first load, %d tags: tag walk (first_load = \"tag walk\")", ctx.asset or "contact_tags",
      #s.tags)
  end
  local w = setmetatable({ met = {}, stamped = false }, Walk)
  local group = {}
  for i, tag in ipairs(s.tags) do group[i] = tag_source(src, tag, w.met) end
  -- The walk of contacts itself, as the source would have planned it.
  local contacts = copy_source(src)
  contacts.planned = true
  return { { parts = function() return group, true end }, contacts }, w
end

function Walk:stamps()
  if self.stamped then return nil end
  self.stamped = true
  local out = {}
  for id, at in pairs(self.met) do
    if at then out[id] = at end
  end
  return out
end

function Walk:trusted(id, at)
  local m = self.met[id]
  if m == nil then return nil end
  return m ~= false and m == at
end

return M
