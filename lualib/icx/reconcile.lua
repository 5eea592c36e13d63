-- icx run --reconcile: finds rows whose record Intercom no longer has
-- (deleted, or a contact merged into another). Intercom keeps no tombstones,
-- so the only evidence is absence, and absence from a list is weak: lists
-- and searches skip records that move during a walk. So a row missing from
-- a complete listing is only a candidate; each candidate is read by id, and
-- only a 404 removes it. A candidate that is still there was one the walks
-- had skipped: it is landed like any other record.
--
--   spec.reconcile = { list = <source walking every record> | nil,
--                      get = "/contacts/{id}" | nil,
--                      key = "contact_id" | nil,
--                      deleted = "/conversations/deleted" | nil }
-- `key` names the table's column holding the listed records' id (rows of
-- an asset that expands parents, e.g. contact_tags); the listing then
-- reads each record's `id`. Without it the one-field primary key is both.
-- Without `list`, the asset's own walk must read every record (scroll,
-- lists with no server filter); its ids are collected as it goes.
--
-- `deleted` names a delete feed instead of (or besides) the id sweep:
-- GET /conversations/deleted (API 2.16) lists every deleted conversation,
-- so it is proof, not a candidate; the rows it names are deleted without a
-- read by id. It is read with --reconcile only: it lists every delete the
-- workspace ever had (60 a page), so its cost grows with them, where an
-- incremental run's grows with changes. A workspace that does not serve it
-- (404, or 400 intercom_version_invalid) gets a warning and keeps its rows;
-- the asset's run is not failed for it.
--
--   reconcile.listing(spec, src) -> seen | nil   the set the asset's own walk
--                                                fills (nil: a listing of its own)
--   reconcile.collect(seen, page, key)
--   reconcile.find(client, spec, ctx, t, seen) -> gone ids, page of records back | nil
--   reconcile.feed_ids(client, spec, ctx) -> ids | nil   every id the feed lists
--       (nil, warned: not served); any other failure raises
--   reconcile.land(env, spec, ctx, tables, src, seen, res) -> {gone =, back = [, feed =]}
--       find, then in one transaction land what is back and delete what is
--       gone (with child rows), noting it in _icx_deleted
local errors = require "icx.errors"
local json = require "icx.json"
local log = require "icx.log"
local encode = require("icx.url").encode
local walk = require "icx.walk"

local M = {}

-- The set the asset's own walk fills when the script gives no listing of
-- its own; that walk must then see every record.
function M.listing(spec, src)
  if spec.reconcile.list or not spec.reconcile.get then return nil end
  if not src:lists_all() then
    errors.raise("script", ("%s: reconcile has no 'list' and the asset's pages do not read every record; "
      .. "give reconcile.list a source that does"):format(spec.path or spec.name))
  end
  return {}
end

-- The table's column holding the listed records' ids.
function M.key(spec) return spec.reconcile.key or spec.primary_key[1] end

-- Adds the key of every record of page to the set `seen`, as strings.
function M.collect(seen, page, key)
  for i = 1, page:count() do
    local id = page:get(i, key)
    if id ~= nil and id ~= json.null then seen[tostring(id)] = true end
  end
end

-- The ids of every record the listing source walks, as strings; a long
-- search listing is walked as time slices at once.
local function list_ids(client, source, ctx, key)
  local seen = {}
  -- A listing reads everything: no bound, whatever the cursor or window.
  local lctx = {}
  for k, v in pairs(ctx) do lctx[k] = v end
  lctx.since, lctx.cursor, lctx.resume_slices, lctx.before, lctx.backfill = nil, nil, nil, nil, nil
  walk.run(client, source, lctx, function(page) M.collect(seen, page, key) end)
  return seen
end

-- Rows of table t whose key is not in `seen` (listed now when nil), read
-- back by id: returns the ids Intercom answers 404 for, and a page of the
-- records it still has.
function M.find(client, spec, ctx, t, seen)
  local key = M.key(spec)
  seen = seen or list_ids(client, require("icx.source").from(spec.reconcile.list), ctx,
    spec.reconcile.key and "id" or key)
  local missing, dup = {}, {}
  for _, id in ipairs(t:keys(key)) do
    if not seen[id] and not dup[id] then
      missing[#missing + 1] = id
      dup[id] = true
    end
  end
  if #missing == 0 then return {}, nil, 0 end
  local bodies = ctx.map(missing, function(id)
    local resp = client:request { method = "GET", path = spec.reconcile.get:gsub("{id}", encode(id)),
      allow_404 = true, stats = ctx.stats }
    if resp.status == 404 then return false end
    return resp.body
  end)
  local gone, back = {}, {}
  for i, id in ipairs(missing) do
    if bodies[i] then back[#back + 1] = bodies[i] else gone[#gone + 1] = id end
  end
  local page
  if #back > 0 then
    page = json.page("[" .. table.concat(back, ",") .. "]", false)
    if not page then
      errors.raise("json", ("%s: a record read back by id is not valid JSON"):format(spec.reconcile.get))
    end
  end
  log.verbose("%s: reconcile: %d rows not listed: %d gone, %d still there", spec.name, #missing, #gone, #back)
  return gone, page, #missing
end

-- The feed is newer than the API version icx speaks: its requests alone
-- carry FEED_VERSION (Client:request's version), sharing everything else
-- (budget, slots, retries).
local FEED_VERSION = "2.16"
local FEED_PAGE = 60

-- Every id the delete feed lists, as strings; nil (warned) when the
-- workspace does not serve it.
function M.feed_ids(c, spec, ctx)
  local path, ids, page = spec.reconcile.deleted, {}, 1
  while true do
    local resp = c:request { method = "GET", path = path, stats = ctx.stats, accept = { 400, 404 },
      version = FEED_VERSION,
      query = { page = page, per_page = FEED_PAGE, order = "asc" } }
    -- Only a 400 says why in its body; a 404 may come from anything.
    local body = resp.status ~= 404 and require("icx.client").decoded(resp, "GET") or nil
    local err = resp.status == 400 and type(body) == "table" and type(body.errors) == "table"
      and type(body.errors[1]) == "table" and body.errors[1] or {}
    if resp.status == 400 and err.code ~= "intercom_version_invalid" then
      errors.raise("http", ("GET %s: 400 %s: %s"):format(path, tostring(err.code), tostring(err.message)),
        { status = 400, code = type(err.code) == "string" and err.code or nil })
    end
    if resp.status ~= 200 then
      log.warn("%s: --reconcile: GET %s answered %d: this workspace does not serve its delete feed "
        .. "(Intercom-Version %s); deleted conversations stay until it does, everything else was landed",
        spec.name, path, resp.status, FEED_VERSION)
      return nil
    end
    local list = type(body) == "table" and body.conversations
    if type(list) ~= "table" then
      errors.raise("json", ("GET %s: the answer has no conversations list"):format(path))
    end
    for _, x in ipairs(list) do
      if type(x) == "table" and x.id ~= nil and x.id ~= json.null then ids[#ids + 1] = tostring(x.id) end
    end
    local pages = type(body.pages) == "table" and body.pages or {}
    local total = math.type(pages.total_pages) == "integer" and pages.total_pages or page
    if #list == 0 or page >= total then break end
    page = page + 1
  end
  return ids
end

-- The rows of table t the feed names: gone for sure.
local function feed_gone(env, spec, ctx, t)
  local ids = M.feed_ids(env.client, spec, ctx)
  if not ids then return nil end
  local listed = {}
  for _, id in ipairs(ids) do listed[id] = true end
  local gone, dup = {}, {}
  for _, id in ipairs(t:keys(M.key(spec))) do
    if listed[id] and not dup[id] then
      gone[#gone + 1] = id
      dup[id] = true
    end
  end
  log.verbose("%s: reconcile: the delete feed lists %d conversations, %d of them here", spec.name, #ids, #gone)
  return gone
end

-- --reconcile for one asset after its walk: what is back is landed like
-- any page (through the source's expansion, so contacts become their
-- contact_tags rows), what is gone is deleted with its child rows.
function M.land(env, spec, ctx, ts, src, seen, res)
  local shape = require "icx.shape"
  local d = env.dest
  local gone, back = {}, nil
  if spec.reconcile.get then gone, back = M.find(env.client, spec, ctx, ts.main, seen) end
  local fed
  if spec.reconcile.deleted then
    fed = feed_gone(env, spec, ctx, ts.main)
    for _, id in ipairs(fed or {}) do gone[#gone + 1] = id end
  end
  local shaped, side, extra
  if back and src.expansion then
    local r = table.pack(shape.page(back, src, spec, ctx))
    shaped, side, extra = r[1], r[4], r[5]
  else
    shaped = back and shape.records(back, spec, ctx)
  end
  local kids = shaped and shape.children(shaped, spec, ctx)
  if #gone > 0 or shaped then
    d:transaction(function()
      res.rows = res.rows + ts:write(shaped, kids, side, extra)
      ts:remove(gone, src)
      d:deleted_add(env.connection.name, spec.name, gone)
    end)
  end
  local out = { gone = #gone, back = back and back:count() or 0 }
  if spec.reconcile.deleted then out.feed = fed and "read" or "unavailable" end
  return out
end

return M
