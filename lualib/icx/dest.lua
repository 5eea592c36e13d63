-- Destinations: where records land. `--dest` picks one:
--   icx.db, path/x.db, sqlite:///rel.db, sqlite:////abs.db   SQLite (default)
--   jsonl:-                                                  stdout lines
--   jsonl:DIR                                                DIR/TABLE.jsonl
--   postgresql://user:pw@host:port/db?schema=S (or postgres://)   PostgreSQL
-- Every destination has the same surface, driven by icx.runner:
--   d.kind                                  "sqlite" | "jsonl" | "postgresql"
--   d:begin(); d:commit(); d:rollback()     one transaction per page
--   t = d:table{name =, primary_key =, mode = "merge" | "replace"}
--   t:write(page) -> rows                   inside begin/commit
--   t:delete_where(column, values) -> rows  child rows of re-read parents
--   t:finish(); t:abandon()                 end of a replace run
--   d:cursor_get(connection, asset) -> value | nil, key
--   d:cursor_set(connection, asset, key, value)   inside the page's transaction
--   d:run_start{connection =, asset =} -> run_id
--   d:run_finish(run_id, {status =, rows =, requests =, retries =, rate_limited =, error =})
--   d:close()
local errors = require "icx.errors"

local M = {}

local function usage(fmt, ...)
  errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)")
end

-- uri -> kind, target. kind "sqlite": target is the database path; kind
-- "jsonl": "-" for stdout or a directory.
function M.parse(uri)
  if type(uri) ~= "string" or uri == "" then usage("needs a value such as icx.db or jsonl:-") end
  if uri:find("\0", 1, true) then usage("must not hold a NUL byte") end
  local rest = uri:match("^sqlite:(.*)$")
  if rest then
    local path = rest:match("^///(.+)$")
    if not path then
      usage("'%s': write sqlite:///relative.db or sqlite:////absolute/path.db", uri)
    end
    return "sqlite", path
  end
  rest = uri:match("^jsonl:(.*)$")
  if rest then
    if rest == "" then usage("'%s': write jsonl:- for stdout or jsonl:DIR for a directory", uri) end
    return "jsonl", rest
  end
  local scheme = uri:match("^(%a[%w+.-]*)://")
  if scheme == "postgresql" or scheme == "postgres" then return "postgresql", uri end
  if scheme then
    -- The URI may carry a password: shown masked, never as given.
    usage("'%s': unknown destination '%s'%s; use a path, sqlite:///FILE, jsonl:DIR or postgresql://...",
      require("icx.dest.postgres").mask_uri(uri), scheme,
      errors.did_you_mean(scheme, { "sqlite", "jsonl", "postgresql" }))
  end
  return "sqlite", uri
end

local OPEN_OPTS = { state = true, busy_timeout = true }

-- Opens the destination named by uri. opts.state moves the JSONL state
-- file; opts.busy_timeout (ms) bounds waits on other processes' writes.
function M.open(uri, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not OPEN_OPTS[k] then errors.raise("internal", ("icx.dest.open: unknown option '%s'"):format(tostring(k))) end
  end
  local kind, target = M.parse(uri)
  if kind == "sqlite" and opts.state ~= nil then
    errors.raise("usage", "--state applies to jsonl destinations only; a SQLite destination keeps its state "
      .. "inside (see icx help)")
  end
  if opts.state ~= nil and (type(opts.state) ~= "string" or opts.state == "") then
    errors.raise("usage", "--state needs a file path")
  end
  return require(kind == "postgresql" and "icx.dest.postgres" or "icx.dest." .. kind).open(target, opts)
end

local TABLE_KEYS = { name = true, primary_key = true, mode = true }

-- Validates a table spec; returns name, primary key list, mode.
function M.table_spec(spec)
  if type(spec) ~= "table" then errors.raise("internal", "icx.dest: table{} needs a spec table") end
  for k in pairs(spec) do
    if not TABLE_KEYS[k] then
      errors.raise("internal", ("icx.dest: unknown table option '%s'"):format(tostring(k)))
    end
  end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    errors.raise("internal", ("icx.dest: table name %q must be letters, digits and underscores"):format(tostring(name)))
  end
  local lower = name:lower()
  if lower:sub(1, 5) == "_icx_" or lower:sub(1, 7) == "sqlite_" then
    errors.raise("internal", ("icx.dest: table name '%s' is reserved"):format(name))
  end
  local pk = spec.primary_key
  if type(pk) == "string" then pk = { pk } end
  if pk == nil then pk = {} end
  if type(pk) ~= "table" then errors.raise("internal", "icx.dest: primary_key must be a field name or a list") end
  for _, k in ipairs(pk) do
    if type(k) ~= "string" or k == "" or k:find("\0", 1, true) then
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
