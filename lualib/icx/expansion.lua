-- icx.expansion: what a page of walked records expands into, declared as
-- data. A source with an expansion (src.expansion) lands the expansion's
-- rows instead of the records it walks; the records still move the cursor.
-- Every expansion answers two questions:
--
--   e:expand(page, ctx) -> page, side, extra   the rows to write; side: nil
--       or {{table =, primary_key =, page =}, ...} (a counts table); extra:
--       {replace = {key =, ids =} | nil, seen = {[id] = updated_at | false}}
--       (icx.runner writes all three in the page's transaction)
--   e:describe() -> {tables = {...}, endpoint = string | nil, cost = string | nil,
--       records = "contacts"}   what `icx list` adds to the source's line
--   e:parts(client, src, ctx) -> parts, together | nil   only when declared
--       (first_load): a first load walked another way (icx.tagwalk)
--
--   expansion.sublist(decl) -> Expansion   each parent's sub-list: embedded
--       in the walked record, fetched by GET per parent, or both
--   expansion.custom(expand, describe) -> Expansion   a one-off (a tag walk)
--   Expansion:child(table) -> child spec   the same sub-list as a child
--       table of the parent's own asset (icx.asset's children entry): a
--       changed parent's rows are replaced in its page's transaction, and
--       leave with it (--reconcile, a delete feed)
--   Expansion:counts_child() -> child spec   the counts table as a child
--       (a child's members: the parent's members its rows read)
--   expansion.partial(page, i, names) -> record i with only those members
--
-- decl, every field data (first_load aside):
--   parent = "conversation"          the parent's noun (icx list, logs)
--   column = "conversation_id"       the rows' column naming their parent
--   embedded = {member = "tags", items = "data", holds = 10}   the list the
--       walked record embeds (a reference list, icx.reflist: complete, or
--       the rest fetched); holds: how many items it embeds at most;
--       items = false: the member is a plain array of ids, always whole
--       (a team's admin_ids)
--   fetch = {path = "/conversations/{id}", items = {"conversation_parts.
--       conversation_parts"}, per_page = 50}   GET per parent, where the
--       items are in its answer (the first path present), paged or not
--   pair = "tag_id"                  rows are (column, pair = item.id, or
--       the item itself when it is a bare id);
--       without it each item is a row with its parent's column added
--   replace = true                   a changed parent's rows are replaced
--       (an item it lost leaves, a parent gone (404) leaves none); else
--       merged, and a parent gone is skipped
--   counts = {table = "conversation_part_counts", total = {"a.b", ...}}
--       one row per parent: parts_returned, parts_total (the largest of the
--       totals the parent's record gives, dotted paths), truncated
--   noun = "parts"                   the items' noun (icx list)
--   every = true                     every parent's sub-list is read each
--       run, changed or not (company segments: membership moves while the
--       company's updated_at stays); nothing is stamped in _icx_seen
--   first_load = {plan = fn(client, src, ctx) -> parts, together | nil,
--       endpoint = "GET /tags (first load)"}
--
-- Request economy: an expansion asks ctx.seen(ids) for the updated_at each
-- parent had when its rows last landed (_icx_seen) and spends requests only
-- on parents that changed since (all of them on --full-refresh).
-- A first-load plan may leave on ctx.tagwalk what its walk landed whole
-- (icx.tagwalk's Walk: trusted(id, updated_at), stamps()): those parents
-- cost nothing, and the first page stamps them.
local client = require "icx.client"
local json = require "icx.json"
local keys = require "icx.keys"
local log = require "icx.log"
local reflist = require "icx.reflist"

local M = {}

local Expansion = {}
Expansion.__index = Expansion
Expansion.__name = "icx.expansion.Expansion"

local DECL_KEYS = { "parent", "column", "embedded", "fetch", "pair", "replace", "counts", "noun", "first_load",
  "every" }

-- A decoded value with JSON null as nil.
local function val(v)
  if v == json.null then return nil end
  return v
end

-- The value at a dotted path of a decoded record, or nil.
local function dig(v, path)
  for name in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = val(v[name])
  end
  return v
end

-- The parent's path with its id in place of {id}.
local function path_of(self, id)
  return (self.fetch.path:gsub("{id}", function() return id end))
end

-- Every item of one parent's sub-list by GET, and the (last) answer: nil
-- when the parent is gone (404).
local function fetch(self, ctx, id)
  local f = self.fetch
  local out, page, body = {}, 1
  local path = path_of(self, id)
  while true do
    local resp = ctx.client:request { method = "GET", path = path, stats = ctx.stats, allow_404 = true,
      query = f.per_page and { page = page, per_page = f.per_page } or nil }
    if resp.status == 404 then return nil end
    body = client.decoded(resp, "GET")
    local list
    for _, p in ipairs(f.items) do
      list = dig(body, p)
      if list ~= nil then break end
    end
    if type(list) ~= "table" then list = {} end
    for _, item in ipairs(list) do out[#out + 1] = item end
    if not f.per_page or #list == 0 then break end
    local pages = type(body) == "table" and type(body.pages) == "table" and body.pages or {}
    local total = math.type(pages.total_pages) == "integer" and pages.total_pages or page
    if page >= total or val(pages.next) == nil then break end
    page = page + 1
  end
  return out, body
end

-- The top-level members of what a sub-list reads of its parent: the
-- embedded list's member and the first member of each counts path.
local function members_of(self)
  local out = {}
  if self.embedded then out[1] = self.embedded.member end
  for _, p in ipairs(self.counts and self.counts.total or {}) do out[#out + 1] = p:match("^[^.]+") end
  return out
end

-- Record i of a page with only the members named, decoded from the
-- page's JSON (page:get gives containers as text); the rest of the record
-- is never decoded.
function M.partial(page, i, names)
  local rec = {}
  for _, name in ipairs(names) do
    if rec[name] == nil then
      local v = page:get(i, name)
      if type(v) == "string" and (v:sub(1, 1) == "{" or v:sub(1, 1) == "[") then v = json.decode(v) end
      rec[name] = v
    end
  end
  return rec
end

-- What of a walked record the expansion reads.
local function record_of(self, page, i)
  return M.partial(page, i, members_of(self))
end

-- The embedded items of a record: the list when complete, else (nil, the
-- items it does hold).
local function embedded_items(self, rec)
  local e = self.embedded
  local ref = rec[e.member]
  if e.items == false then return type(ref) == "table" and ref or {} end
  local items = reflist.items(ref, e.items)
  if items then return items end
  local some = type(ref) == "table" and val(ref[e.items or "data"]) or nil
  return nil, type(some) == "table" and some or {}
end

-- The rows one parent's items give.
local function rows_of(self, id, items, rows)
  for _, item in ipairs(items) do
    if type(item) == "table" then
      if self.pair then
        if val(item.id) ~= nil then rows[#rows + 1] = { [self.column] = id, [self.pair] = item.id } end
      else
        item[self.column] = id
        rows[#rows + 1] = item
      end
    elseif self.pair and (math.type(item) == "integer" or type(item) == "string") then
      -- A bare id: ids land as text whatever their JSON type.
      rows[#rows + 1] = { [self.column] = id, [self.pair] = tostring(item) }
    end
  end
end

-- A parent's counts row: the largest total its record gives.
local function count_of(self, id, rec, n)
  local total = 0
  for _, p in ipairs(self.counts.total) do
    local v = dig(rec, p)
    if math.type(v) == "integer" and v > total then total = v end
  end
  return { [self.column] = id, parts_returned = n, parts_total = math.max(total, n), truncated = total > n }
end

function M.sublist(decl)
  local k, hint = keys.unknown(decl, DECL_KEYS)
  if k then error(("icx.expansion: unknown field '%s'%s"):format(k, hint), 2) end
  if type(decl.parent) ~= "string" or type(decl.column) ~= "string" then
    error("icx.expansion: a sub-list needs parent (a noun) and column (the parent's column)", 2)
  end
  if not decl.embedded and not decl.fetch then
    error("icx.expansion: a sub-list needs embedded = {member =}, fetch = {path =}, or both", 2)
  end
  if decl.fetch and (type(decl.fetch.path) ~= "string" or not decl.fetch.path:find("{id}", 1, true)) then
    error("icx.expansion: fetch.path must name the parent as {id}", 2)
  end
  local e = setmetatable({}, Expansion)
  for key, v in pairs(decl) do e[key] = v end
  if e.fetch then
    e.fetch = setmetatable({ items = decl.fetch.items or { "data" } }, { __index = decl.fetch })
    if type(e.fetch.items) == "string" then e.fetch.items = { e.fetch.items } end
  end
  e.noun = e.noun or "items"
  return e
end

-- See the header. The parents re-read unchanged cost nothing; a changed one
-- whose embedded list is complete (or that has no fetch) costs no request,
-- any other one GET (per page of the sub-list).
function Expansion:expand(page, ctx)
  local n = page:count()
  local ids, stamps = {}, {}
  for i = 1, n do
    ids[i] = tostring(page:get(i, "id"))
    stamps[i] = page:get(i, "updated_at")
  end
  local seen = (ctx.full_refresh or self.every) and {} or ctx.seen(ids)
  local changed, lists, recs, wanted, seen_out = {}, {}, {}, {}, {}
  for i = 1, n do
    local at = stamps[i]
    -- A walk earlier in this run (icx.tagwalk) may have landed the rows.
    local walked
    if ctx.tagwalk then walked = ctx.tagwalk:trusted(ids[i], at) end
    if walked then
      seen_out[ids[i]] = at
    elseif math.type(at) ~= "integer" or seen[ids[i]] ~= at or walked == false then
      changed[#changed + 1] = i
      if self.embedded then recs[i] = record_of(self, page, i) end
      local items, some
      if self.embedded then items, some = embedded_items(self, recs[i]) end
      if items or not self.fetch then lists[i] = items or some else wanted[#wanted + 1] = i end
    end
  end
  local got = ctx.map(wanted, function(i)
    local items, body = fetch(self, ctx, ids[i])
    return items and { items = items, body = body } or false
  end)
  for j, i in ipairs(wanted) do
    if got[j] then
      lists[i] = got[j].items
      -- A parent fetched whole (a conversation) gives its totals itself.
      if not self.embedded then recs[i] = got[j].body end
    elseif self.replace then
      log.verbose("%s: %s %s is gone (404): its rows are removed", ctx.asset or self.parent, self.parent, ids[i])
      lists[i], stamps[i] = {}, false
    else
      log.verbose("%s: %s %s is gone (404), skipped", ctx.asset or self.parent, self.parent, ids[i])
    end
  end
  local rows, counts, replaced = setmetatable({}, json.array_mt), setmetatable({}, json.array_mt), {}
  for _, i in ipairs(changed) do
    if lists[i] then
      replaced[#replaced + 1] = ids[i]
      if not self.every then seen_out[ids[i]] = math.type(stamps[i]) == "integer" and stamps[i] or false end
      rows_of(self, ids[i], lists[i], rows)
      if self.counts and stamps[i] ~= false then counts[#counts + 1] = count_of(self, ids[i], recs[i], #lists[i]) end
    end
  end
  -- After a tag walk, the first page stamps what it gave whole.
  for id, at in pairs(ctx.tagwalk and ctx.tagwalk:stamps() or {}) do
    if seen_out[id] == nil then seen_out[id] = at end
  end
  local side = self.counts and {
    { table = self.counts.table, primary_key = { self.column }, page = json.page(json.encode(counts), false) },
  } or nil
  return json.page(json.encode(rows), false), side,
    { replace = self.replace and { key = self.column, ids = replaced } or nil, seen = seen_out }
end

function Expansion:describe()
  local endpoint, cost
  if self.fetch then
    endpoint = "GET " .. self.fetch.path
    cost = ("1 per %s%s%s%s"):format(
      self.fetch.per_page and ("%d %s of each "):format(self.fetch.per_page, self.noun) or "",
      self.every and "" or "changed ", self.parent,
      self.embedded and self.embedded.holds and (" with over %d %s"):format(self.embedded.holds, self.noun) or "")
  end
  if self.first_load and self.first_load.endpoint then
    endpoint = (endpoint and endpoint .. ", " or "") .. self.first_load.endpoint
  end
  return { tables = { self.counts and self.counts.table or nil }, endpoint = endpoint, cost = cost,
    records = self.parent .. "s" }
end

function Expansion:parts(c, src, ctx)
  if not self.first_load then return nil end
  return self.first_load.plan(c, src, ctx)
end

-- A child's items of one decoded record: the embedded list (what it holds
-- when capped and nothing fetches the rest), else fetched; nil when the
-- parent is gone (404).
local function child_items(self, record, ctx)
  local id = tostring(record.id)
  local items, some
  if self.embedded then items, some = embedded_items(self, record) end
  if not items and not self.fetch then return some end
  if not items then
    items = fetch(self, ctx, id)
    if not items then log.verbose("GET %s: 404, the %s is gone: no child rows", path_of(self, id), self.parent) end
  end
  return items
end

-- What a child costs on top of the parent's walk (icx list): nothing ("")
-- when its list is embedded whole.
local function child_cost(self)
  if not self.fetch then return "" end
  return ("1 per record with over %d %s"):format(self.embedded and self.embedded.holds or 0, self.noun)
end

-- The same sub-list as a child table of the parent's asset: every record
-- of each page is read, and a truncated list fetched inside the walk.
-- Pairs are keyed by both ids, whole items by their own id.
function Expansion:child(name)
  return {
    table = name, primary_key = self.pair and { self.column, self.pair } or { "id" }, parent_key = self.column,
    cost = child_cost(self), members = { "id", table.unpack(members_of(self)) },
    rows = function(record, ctx)
      local rows = {}
      rows_of(self, tostring(record.id), child_items(self, record, ctx) or {}, rows)
      return rows
    end,
  }
end

-- The counts table as a child: one row per parent written.
function Expansion:counts_child()
  assert(self.counts and self.embedded and not self.fetch, "icx.expansion: counts_child needs an embedded list")
  return {
    table = self.counts.table, primary_key = { self.column }, parent_key = self.column, cost = "",
    members = { "id", table.unpack(members_of(self)) },
    rows = function(record)
      local n = #(child_items(self, record) or {})
      return { count_of(self, tostring(record.id), record, n) }
    end,
  }
end

-- An expansion with code of its own (describe: what `icx list` says).
function M.custom(expand, describe)
  local e = setmetatable({}, Expansion)
  e.expand = function(_, page, ctx) return expand(page, ctx) end
  e.describe = function() return describe or { tables = {}, records = "records" } end
  return e
end

return M
