-- connections.yml: the seed product's format, checked key by key.
--
--   connections:
--     intercom:
--       - name: "my_intercom"
--         access_token: "{{ env_var('INTERCOM_ACCESS_TOKEN') }}"
--         region: "us"
--
-- Every error names file:line:col and, for keys, the closest valid one. The
-- access token never appears in a message: errors about it name the key.
local yaml = require "icx.yaml"
local errors = require "icx.errors"

local M = {}

M.REGIONS = {
  us = "https://api.intercom.io",
  eu = "https://api.eu.intercom.io",
  au = "https://api.au.intercom.io",
}

-- The keys of one intercom connection: type checker and whether required.
local CONNECTION_KEYS = {
  name = { kind = "string", required = true },
  access_token = { kind = "string", required = true, secret = true },
  region = { kind = "string" },
  base_url = { kind = "string" },
  rate_limit = { kind = "number" },
  ca_file = { kind = "string" },
  connect_timeout = { kind = "number" },
  timeout = { kind = "number" },
  max_attempts = { kind = "number" },
  retry_base = { kind = "number" },
  retry_cap = { kind = "number" },
}
local CONNECTION_KEY_NAMES = {}
for k in pairs(CONNECTION_KEYS) do CONNECTION_KEY_NAMES[#CONNECTION_KEY_NAMES + 1] = k end
table.sort(CONNECTION_KEY_NAMES)

local function fail(path, node, fmt, ...)
  local where = node and (path .. ":" .. node.line .. ":" .. node.col) or path
  errors.raise("config", where .. ": " .. fmt:format(...))
end

-- Replaces {{ env_var('NAME') }} (either quote, optional spaces) in a string
-- scalar; any other {{ ... }} is an error rather than a literal.
local function expand(path, node, getenv)
  local s = node.value
  if not s:find("{{", 1, true) then return s end
  return (s:gsub("{{(.-)}}", function(inner)
    local q, name = inner:match("^%s*env_var%s*%(%s*(['\"])([%w_]+)%1%s*%)%s*$")
    if not q then
      fail(path, node, "unsupported template '{{%s}}' (the only one is {{ env_var('NAME') }})", inner)
    end
    local v = getenv(name)
    if v == nil then
      fail(path, node, "environment variable '%s' is not set (export it, or put the value in the file)", name)
    end
    return v
  end))
end

-- Checks a map's keys against `allowed` (list of names); returns key -> entry.
local function map_entries(path, node, what, allowed)
  if node.kind ~= "map" then fail(path, node, "%s must be a mapping", what) end
  local seen = {}
  for _, e in ipairs(node) do
    local key = e.k.kind == "scalar" and e.k.value or nil
    if not key then fail(path, e.k, "keys in %s must be plain names", what) end
    local ok = false
    for _, a in ipairs(allowed) do if a == key then ok = true end end
    if not ok then
      fail(path, e.k, "unknown key '%s' in %s%s", key, what, errors.did_you_mean(key, allowed))
    end
    if seen[key] then fail(path, e.k, "duplicate key '%s' in %s", key, what) end
    seen[key] = e
  end
  return seen
end

-- ca_file must be a readable PEM file, checked here so a typo is reported
-- at its line before any request rather than as a TLS failure mid-run.
local function check_ca_file(path, node, file, what)
  local f, err = io.open(file, "rb")
  if not f then
    fail(path, node, "ca_file of %s: cannot read '%s' (%s)", what, file, (err:gsub("^[^:]*: ", "")))
  end
  local text = f:read(1 << 20) or ""
  f:close()
  if not text:find("-----BEGIN CERTIFICATE-----", 1, true) then
    fail(path, node, "ca_file of %s: '%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)", what, file)
  end
end

-- One `connections.intercom` item -> connection table.
local function connection(path, node, index, getenv)
  local what = "connection #" .. index
  for _, e in ipairs(node.kind == "map" and node or {}) do
    if e.k.value == "name" and e.v.kind == "scalar" then what = "connection '" .. e.v.value .. "'" end
  end
  local entries = map_entries(path, node, what, CONNECTION_KEY_NAMES)
  local name_e = entries.name
  local c = { where = path .. ":" .. node.line .. ":" .. node.col }
  for _, key in ipairs(CONNECTION_KEY_NAMES) do
    local spec, e = CONNECTION_KEYS[key], entries[key]
    if not e then
      if spec.required then
        fail(path, node, "%s has no '%s'%s", what, key,
          key == "access_token" and " (add access_token: \"{{ env_var('INTERCOM_ACCESS_TOKEN') }}\")" or "")
      end
    else
      local v = e.v
      if v.kind ~= "scalar" then fail(path, v, "'%s' of %s must be a %s", key, what, spec.kind) end
      -- A shell-style reference would be sent as the token itself.
      local var = spec.secret and (v.value:match("%${([%a_][%w_]*)}") or v.value:match("%$([%a_][%w_]*)"))
      if var then
        fail(path, v, "%s of %s looks like a shell variable ('$%s'), which icx does not expand;"
          .. " write \"{{ env_var('%s') }}\"", key, what, var, var)
      end
      local s = expand(path, v, getenv)
      if spec.kind == "number" then
        local n = tonumber(s)
        if not n or n <= 0 then fail(path, v, "'%s' of %s must be a positive number", key, what) end
        c[key] = n
      else
        if s == "" then fail(path, v, "'%s' of %s is empty", key, what) end
        c[key] = s
      end
    end
  end
  c.region = c.region and c.region:lower() or "us"
  if not M.REGIONS[c.region] then
    fail(path, entries.region.v, "region '%s' of %s is not one of us, eu, au", entries.region.v.value, what)
  end
  if c.base_url then
    if not c.base_url:match("^https?://[^/]") then
      fail(path, entries.base_url.v, "base_url of %s must start with https:// or http://", what)
    end
    c.base_url = c.base_url:gsub("/+$", "")
  else
    c.base_url = M.REGIONS[c.region]
  end
  if c.ca_file then check_ca_file(path, entries.ca_file.v, c.ca_file, what) end
  c.rate_limit = c.rate_limit or 166
  return c, name_e.v
end

-- Parses and checks configuration text; `path` is used in messages only.
-- Returns the list of intercom connections.
function M.parse(text, path, getenv)
  getenv = getenv or os.getenv
  local root, err = yaml.parse(text)
  if not root then errors.raise("config", path .. ":" .. err) end
  local top = map_entries(path, root, "the top level", { "connections" })
  if not top.connections then
    fail(path, root, "no 'connections' key (see examples/connections.yml)")
  end
  local conns = map_entries(path, top.connections.v, "'connections'", { "intercom" })
  if not conns.intercom then
    fail(path, top.connections.v, "no 'connections.intercom' list (see examples/connections.yml)")
  end
  local list = conns.intercom.v
  if list.kind ~= "seq" or #list == 0 then
    fail(path, list, "'connections.intercom' must be a non-empty list of connections")
  end
  local out, names = {}, {}
  for i, item in ipairs(list) do
    local c, name_node = connection(path, item, i, getenv)
    if names[c.name] then
      fail(path, name_node, "duplicate connection name '%s' (first at line %d)", c.name, names[c.name])
    end
    names[c.name] = name_node.line
    out[#out + 1] = c
  end
  return out
end

-- Reads the file; a missing file says how to make one.
function M.load(path, getenv)
  local f, err = io.open(path, "rb")
  if not f then
    errors.raise("config", ("%s: cannot read the configuration (%s); create it (see examples/connections.yml) "
      .. "or pass --config FILE")
      :format(path, err:gsub("^[^:]*: ", "")))
  end
  local text = f:read("a")
  f:close()
  return M.parse(text, path, getenv)
end

-- Picks the connection: the named one, or the only one.
function M.select(conns, name, path)
  local names = {}
  for _, c in ipairs(conns) do names[#names + 1] = c.name end
  if name then
    for _, c in ipairs(conns) do if c.name == name then return c end end
    errors.raise("config", ("%s: no intercom connection named '%s'%s; the file has: %s")
      :format(path, name, errors.did_you_mean(name, names), table.concat(names, ", ")))
  end
  if #conns > 1 then
    errors.raise("config", ("%s holds %d intercom connections: choose one with --connection NAME (%s)")
      :format(path, #conns, table.concat(names, ", ")))
  end
  return conns[1]
end

return M
