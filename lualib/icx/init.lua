-- icx.asset{}: the one declaration an asset script returns. Checked before
-- any request so `icx plan` can show what a script would do, and so a typo in
-- a key fails with the key's name and a suggestion instead of being ignored.
local errors = require "icx.errors"
local duration = require "icx.duration"
local keys = require "icx.keys"
local source = require "icx.source"
local tablespec = require "icx.tablespec"

local M = { VERSION = nil }

local Asset = {}
Asset.__index = Asset
Asset.__name = "icx.Asset"
function Asset:__tostring() return "icx.Asset(" .. self.name .. ")" end

-- A source from a script: an icx.intercom one, or a plain table checked
-- now rather than mid-run. Returns nil, reason when it is not one.
local function as_source(v)
  if source.is(v) then return v end
  if type(v) ~= "table" or type(v.style) ~= "string" then return nil end
  local ok, s = pcall(source.from, v)
  if not ok then return nil, tostring(s):gsub("^icx%.source: ", "") end
  return s
end

-- A table name a script may write: its own, never icx's or the database's.
local table_name = tablespec.name

local CHILD_KEYS = { "table", "primary_key", "parent_key", "parent_field", "rows", "cost", "members" }

-- One entry of `children`: a table of its own filled by rows(record, ctx).
local function child(c, i)
  if type(c) ~= "table" then
    return nil, ("entry %d must be a table {table =, primary_key =, parent_key =, rows =}"):format(i)
  end
  local k, hint = keys.unknown(c, CHILD_KEYS)
  if k then return nil, ("entry %d has unknown key '%s'%s"):format(i, k, hint) end
  local _, why = table_name(c.table, "table name")
  if why then return nil, ("entry %d: table %s"):format(i, why) end
  if type(c.rows) ~= "function" then return nil, ("entry %d needs rows = function(record, ctx)"):format(i) end
  if type(c.parent_key) ~= "string" then
    return nil, ("entry %d needs parent_key, the column naming the parent"):format(i)
  end
  local pk = c.primary_key
  if type(pk) == "string" then pk = { pk } end
  if type(pk) ~= "table" or #pk == 0 then return nil, ("entry %d needs a primary_key"):format(i) end
  if c.members ~= nil and (type(c.members) ~= "table" or #c.members == 0) then
    return nil, ("entry %d: members must list the record's fields rows reads"):format(i)
  end
  if c.cost ~= nil and type(c.cost) ~= "string" then
    return nil, ("entry %d: cost must say in words what the child costs (icx list)"):format(i)
  end
  if c.parent_field ~= nil and type(c.parent_field) ~= "string" then
    return nil, ("entry %d: parent_field must be a field name"):format(i)
  end
  return c
end

-- Field name -> checker(value) returning the normalised value or nil, reason.
local FIELDS = {
  name = function(v) return table_name(v, "name") end,
  table = function(v) return table_name(v, "table name") end,
  description = function(v) if type(v) == "string" then return v end return nil, "must be a string" end,
  primary_key = function(v)
    if type(v) == "string" then return { v } end
    if type(v) == "table" and #v > 0 then
      for _, k in ipairs(v) do if type(k) ~= "string" then return nil, "must be a field name or a list of them" end end
      return v
    end
    return nil, "must be a field name or a list of them"
  end,
  mode = function(v)
    if v == "merge" or v == "replace" then return v end
    return nil, "must be \"merge\" or \"replace\""
  end,
  incremental = function(v)
    if type(v) ~= "table" then return nil, "must be a table {key = \"updated_at\", lookback = \"1 hour\"}" end
    local out = { key = v.key or "updated_at", lookback = 0 }
    local k, hint = keys.unknown(v, { "key", "lookback" })
    if k then return nil, ("has unknown key '%s'%s"):format(k, hint) end
    if type(out.key) ~= "string" then return nil, "key must be a field name" end
    if v.lookback ~= nil then
      local s, why = duration.parse(v.lookback)
      if not s then return nil, "lookback " .. why end
      out.lookback = s
    end
    return out
  end,
  pages = function(v)
    if type(v) == "function" then return v end
    local s, why = as_source(v)
    if s then return s end
    return nil, why or "must be a page source such as intercom.search \"/contacts/search\" or a function(ctx)"
  end,
  transform = function(v) if type(v) == "function" then return v end return nil, "must be a function(record, ctx)" end,
  filter = function(v)
    if type(v) == "function" then return v end
    return nil, "must be a function(record, ctx) -> boolean"
  end,
  children = function(v)
    if type(v) ~= "table" then return nil, "must be a list of child tables" end
    for i, c in ipairs(v) do
      local _, why = child(c, i)
      if why then return nil, why end
    end
    return v
  end,
  options = function(v) if type(v) == "table" then return v end return nil, "must be a table" end,
  reconcile = function(v)
    local shape = 'must be {get = "/path/{id}", list = <a source walking every record> (optional),'
      .. ' key = <the column holding the listed id> (optional)}'
    if type(v) ~= "table" then return nil, shape end
    local k, hint = keys.unknown(v, { "get", "list", "key", "deleted" })
    if k then return nil, ("has unknown key '%s'%s"):format(k, hint) end
    if v.deleted ~= nil and type(v.deleted) ~= "string" then
      return nil, "must give deleted as the path of a delete feed (/conversations/deleted)"
    end
    if (v.get ~= nil or not v.deleted) and (type(v.get) ~= "string" or not v.get:find("{id}", 1, true)) then
      return nil, shape
    end
    if v.key ~= nil and type(v.key) ~= "string" then return nil, shape end
    if v.list ~= nil then
      local s = as_source(v.list)
      if not s then return nil, shape end
      return { get = v.get, list = s, key = v.key, deleted = v.deleted }
    end
    return v
  end,
}
local FIELD_NAMES = {}
for k in pairs(FIELDS) do FIELD_NAMES[#FIELD_NAMES + 1] = k end
table.sort(FIELD_NAMES)

-- Raises a script error about `field` (nil: the declaration as a whole).
-- `return icx.asset{...}` is a tail call, so Lua cannot say which line
-- called; icx.sandbox finds the field's own line in the script's text.
local function fail(field, fmt, ...)
  errors.raise("script", "icx.asset: " .. fmt:format(...), { field = field })
end

-- Validates and returns the asset spec.
function M.asset(spec)
  if type(spec) ~= "table" then fail(nil, "expects a table") end
  local out = setmetatable({}, Asset)
  local k, hint = keys.unknown(spec, FIELD_NAMES)
  if k then fail(k, "unknown field '%s'%s", k, hint) end
  for field, v in pairs(spec) do
    local val, why = FIELDS[field](v)
    if val == nil then fail(field, "'%s' %s", field, why) end
    out[field] = val
  end
  for _, req in ipairs({ "name", "pages" }) do
    if out[req] == nil then fail(nil, "'%s' is required", req) end
  end
  out.table = out.table or out.name
  out.mode = out.mode or (out.primary_key and "merge" or "replace")
  if out.mode == "merge" and not out.primary_key then
    fail("mode", "mode \"merge\" needs a primary_key")
  end
  if out.reconcile and (out.mode ~= "merge" or (#out.primary_key ~= 1 and not out.reconcile.key)) then
    fail("reconcile", "'reconcile' needs mode \"merge\" on a one-field primary_key (or reconcile.key)")
  end
  if out.reconcile and out.reconcile.key and not out.reconcile.list and not out.reconcile.deleted then
    fail("reconcile", "'reconcile.key' needs reconcile.list (a listing of the parent records)")
  end
  if out.incremental and out.mode ~= "merge" then
    fail("incremental", "'incremental' needs mode \"merge\" (a replaced table is re-read whole)")
  end
  return out
end

function M.is_asset(v) return getmetatable(v) == Asset end

return M
