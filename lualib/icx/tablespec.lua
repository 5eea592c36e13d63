-- The names a script or icx may give a table, and the spec a destination's
-- table{} takes: one home for both, below the scripts (icx.asset checks a
-- script's names when it loads, exit 2) and the destinations (a bad spec
-- there is icx's own bug), which both require it.
--
--   tablespec.reserved(name) -> boolean     _icx_... and sqlite_..., any case
--   tablespec.name(v, what) -> name | nil, why   letters, digits and
--                                   underscores, not reserved; `what` names
--                                   the thing in `why` ("table name")
--   tablespec.check(spec) -> name, primary_key list, mode   raises "internal"
local errors = require "icx.errors"
local keys = require "icx.keys"

local M = {}

local TABLE_KEYS = { "name", "primary_key", "mode", "compare" }

-- Names icx keeps for its state tables or the database reserves.
function M.reserved(name)
  local lower = name:lower()
  return lower:sub(1, 5) == "_icx_" or lower:sub(1, 7) == "sqlite_"
end

function M.name(v, what)
  if type(v) ~= "string" or not v:match("^[%a_][%w_]*$") then
    return nil, "must be a " .. what .. " of letters, digits and underscores"
  end
  if M.reserved(v) then
    return nil, ("'%s' is reserved for icx and the database (names starting _icx_ or sqlite_)"):format(v)
  end
  return v
end

function M.check(spec)
  if type(spec) ~= "table" then errors.raise("internal", "icx.dest: table{} needs a spec table") end
  local k = keys.unknown(spec, TABLE_KEYS)
  if k then errors.raise("internal", ("icx.dest: unknown table option '%s'"):format(k)) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    errors.raise("internal", ("icx.dest: table name %q must be letters, digits and underscores"):format(tostring(name)))
  end
  if M.reserved(name) then
    errors.raise("internal", ("icx.dest: table name '%s' is reserved"):format(name))
  end
  local pk = spec.primary_key
  if type(pk) == "string" then pk = { pk } end
  if pk == nil then pk = {} end
  if type(pk) ~= "table" then errors.raise("internal", "icx.dest: primary_key must be a field name or a list") end
  for _, key in ipairs(pk) do
    if type(key) ~= "string" or key == "" or key:find("\0", 1, true) then
      errors.raise("internal", "icx.dest: primary_key entries must be field names")
    end
  end
  local mode = spec.mode or "merge"
  if mode ~= "merge" and mode ~= "replace" then
    errors.raise("internal", ("icx.dest: mode must be 'merge' or 'replace', not '%s'"):format(tostring(mode)))
  end
  if mode == "merge" and #pk == 0 then
    errors.raise("internal", ("icx.dest: table '%s' in merge mode needs a primary_key"):format(name))
  end
  return name, pk, mode
end

return M
