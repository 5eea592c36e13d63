-- icx.asset{}: the one declaration an asset script returns. Checked before
-- any request so `icx plan` can show what a script would do, and so a typo in
-- a key fails with the key's name and a suggestion instead of being ignored.
local errors = require "icx.errors"
local duration = require "icx.duration"

local M = { VERSION = nil }

local Asset = {}
Asset.__index = Asset
Asset.__name = "icx.Asset"
function Asset:__tostring() return "icx.Asset(" .. self.name .. ")" end

local function is_source(v) return type(v) == "table" and type(v.style) == "string" end

-- Field name -> checker(value) returning the normalised value or nil, reason.
local FIELDS = {
  name = function(v)
    if type(v) == "string" and v:match("^[%a_][%w_]*$") then return v end
    return nil, "must be a name of letters, digits and underscores"
  end,
  table = function(v)
    if type(v) == "string" and v:match("^[%a_][%w_]*$") then return v end
    return nil, "must be a table name of letters, digits and underscores"
  end,
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
    for k in pairs(v) do
      if k ~= "key" and k ~= "lookback" then
        return nil, ("has unknown key '%s'%s"):format(tostring(k), errors.did_you_mean(tostring(k), { "key", "lookback" }))
      end
    end
    if type(out.key) ~= "string" then return nil, "key must be a field name" end
    if v.lookback ~= nil then
      local s, why = duration.parse(v.lookback)
      if not s then return nil, "lookback " .. why end
      out.lookback = s
    end
    return out
  end,
  pages = function(v)
    if is_source(v) or type(v) == "function" then return v end
    return nil, "must be a page source such as intercom.search \"/contacts/search\" or a function(ctx)"
  end,
  transform = function(v) if type(v) == "function" then return v end return nil, "must be a function(record, ctx)" end,
  filter = function(v) if type(v) == "function" then return v end return nil, "must be a function(record, ctx) -> boolean" end,
  children = function(v)
    if type(v) == "table" then return v end
    return nil, "must be a list of child tables"
  end,
  options = function(v) if type(v) == "table" then return v end return nil, "must be a table" end,
  reconcile = function(v)
    local shape = 'must be {get = "/path/{id}", list = <a source walking every record> (optional)}'
    if type(v) ~= "table" then return nil, shape end
    for k in pairs(v) do
      if k ~= "get" and k ~= "list" then
        return nil, ("has unknown key '%s'%s"):format(tostring(k), errors.did_you_mean(tostring(k), { "get", "list" }))
      end
    end
    if type(v.get) ~= "string" or not v.get:find("{id}", 1, true) then return nil, shape end
    if v.list ~= nil and not is_source(v.list) then return nil, shape end
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
  for k, v in pairs(spec) do
    local check = FIELDS[k]
    if not check then
      fail(k, "unknown field '%s'%s", tostring(k), errors.did_you_mean(tostring(k), FIELD_NAMES))
    end
    local val, why = check(v)
    if val == nil then fail(k, "'%s' %s", k, why) end
    out[k] = val
  end
  for _, req in ipairs({ "name", "pages" }) do
    if out[req] == nil then fail(nil, "'%s' is required", req) end
  end
  out.table = out.table or out.name
  out.mode = out.mode or (out.primary_key and "merge" or "replace")
  if out.mode == "merge" and not out.primary_key then
    fail("mode", "mode \"merge\" needs a primary_key")
  end
  if out.reconcile and (out.mode ~= "merge" or #out.primary_key ~= 1) then
    fail("reconcile", "'reconcile' needs mode \"merge\" on a one-field primary_key")
  end
  if out.incremental and out.mode ~= "merge" then
    fail("incremental", "'incremental' needs mode \"merge\" (a replaced table is re-read whole)")
  end
  return out
end

function M.is_asset(v) return getmetatable(v) == Asset end

return M
