-- From a page as read to what is written: which records are kept (the
-- source's since filter, the script's filter), what they become (the
-- script's transform, a source's expansion such as conversations into
-- their parts), the key range the cursor needs, and each record's child
-- rows. Pages that need none of it pass through untouched (raw bytes).
--
--   shape.page(page, src, spec, ctx) -> page, max_key, oldest, side, extra
--     max_key, oldest: the walked records' key range (before expansion)
--     side: nil, or {{table=, primary_key=, page=}, ...} from an expansion
--     extra: nil, or what an expansion asks of the page's transaction:
--       {replace = {key =, ids =}, seen = {[id] = updated_at}} (icx.runner)
-- A page of records none of which has the incremental key fails the run:
-- the cursor could never move, and every run would re-read everything.
--   shape.records(page, spec, ctx) -> page   the script's filter and transform only
--   shape.children(page, spec, ctx) -> {{page=, parents=}, ...} per child;
--     a child naming its `members` is given only those of each record
local errors = require "icx.errors"
local expansion = require "icx.expansion"
local json = require "icx.json"
local sandbox = require "icx.sandbox"

local M = {}

-- Raises when no record of a non-empty page has the member `key` at all
-- (a typo such as modified_at), naming the fields the records do have.
local function check_key(page, key, spec)
  for i = 1, page:count() do
    if page:get(i, key) ~= nil then return end
  end
  local rec, fields = page:record(1), {}
  if type(rec) == "table" then for k in pairs(rec) do fields[#fields + 1] = tostring(k) end end
  table.sort(fields)
  errors.raise("run", ("%s: the incremental key '%s' is in none of the %d records of a page, so the "
    .. "cursor could never move; the records have: %s%s"):format(spec.path or spec.name, key, page:count(),
    table.concat(fields, ", "), errors.did_you_mean(key, fields)), { code = "incremental_key" })
end

-- Keeps, transforms and measures one page. `src` (may be nil) filters on
-- the key; `scripted` says whether the script's filter and transform apply.
local function pass(page, key, src, spec, ctx, scripted)
  local n = page:count()
  local max_key, oldest
  local filters = src and src:filters(ctx)
  local transform = scripted and spec.transform
  local filter = scripted and spec.filter
  local kept = (filters or transform or filter) and {} or nil
  if not kept and key and src and src.ascending and n > 0 then
    -- An ascending walk's page holds its key range at its ends: reading
    -- the key of every record would scan each one for nothing.
    local a, b = page:get(1, key), page:get(n, key)
    if math.type(a) == "integer" and math.type(b) == "integer" and a <= b then
      return page, b, a
    end
  end
  for i = 1, n do
    local v = key and page:get(i, key)
    if math.type(v) == "integer" then
      if not max_key or v > max_key then max_key = v end
      if not oldest or v < oldest then oldest = v end
    end
    if kept and (not filters or src:keep(v, ctx)) then
      if transform or filter then
        local rec = page:record(i)
        if not filter or sandbox.call(filter, rec, ctx) then
          if transform then rec = sandbox.call(transform, rec, ctx) end
          if rec ~= nil then kept[#kept + 1] = json.encode(rec) end
        end
      else
        kept[#kept + 1] = page:raw(i)
      end
    end
  end
  if n > 0 and not max_key and src and spec.incremental and key == spec.incremental.key then
    check_key(page, key, spec)
  end
  if kept and (#kept ~= n or transform) then
    page = json.page("[" .. table.concat(kept, ",") .. "]", false)
  end
  return page, max_key, oldest
end

function M.page(page, src, spec, ctx)
  local key = spec.incremental and spec.incremental.key or src.key
  if not src.expansion then return pass(page, key, src, spec, ctx, true) end
  -- The cursor follows the walked records (conversations), the script's
  -- filter and transform the expanded ones (their parts).
  local _, max_key, oldest = pass(page, key, src, spec, ctx, false)
  local expanded, side, extra = src:expand(page, ctx)
  return (pass(expanded, nil, nil, spec, ctx, true)), max_key, oldest, side, extra
end

function M.records(page, spec, ctx)
  return (pass(page, nil, nil, spec, ctx, true))
end

-- Child rows (a script's children): records are decoded once for every
-- child and each record's children computed in one task, so every
-- sub-resource fetch of the page runs side by side. (The association
-- assets do not come here: their expansion reads only the members it
-- needs, icx.associations.)
-- The members every child reads (each child's `members` and the parent
-- field), or nil when one child reads the whole record.
local function members(children)
  local out = {}
  for _, c in ipairs(children) do
    if not c.members then return nil end
    out[#out + 1] = c.parent_field or "id"
    for _, m in ipairs(c.members) do out[#out + 1] = m end
  end
  return out
end

function M.children(page, spec, ctx)
  local children = spec.children or {}
  if #children == 0 then return {} end
  -- Link tables read one embedded list of a record: decoding the rest of
  -- every conversation would cost more than the rows are worth.
  local names = members(children)
  local records = {}
  for i = 1, page:count() do records[i] = names and expansion.partial(page, i, names) or page:record(i) end
  local per_record = ctx.map(records, function(rec)
    local lists = {}
    for ci, child in ipairs(children) do lists[ci] = sandbox.call(child.rows, rec, ctx) or {} end
    return lists
  end)
  local out = {}
  for ci, child in ipairs(children) do
    local rows, parents = setmetatable({}, json.array_mt), {}
    for i, rec in ipairs(records) do
      parents[i] = rec[child.parent_field or "id"]
      for _, row in ipairs(per_record[i][ci]) do rows[#rows + 1] = row end
    end
    out[ci] = { page = json.page(json.encode(rows), false), parents = parents }
  end
  return out
end

return M
