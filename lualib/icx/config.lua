-- connections.yml: the seed product's format, checked key by key.
--
--   connections:
--     intercom:
--       - name: "my_intercom"
--         access_token: "{{ env_var('INTERCOM_ACCESS_TOKEN') }}"
--         region: "us"
--         destination: "{{ env_var('ICX_PG_URI') }}"   # optional
--
-- destination: is where the connection's records land when neither --dest
-- nor $ICX_DEST names a place (icx.dest.choose): a template keeps a
-- PostgreSQL password off the command line, where `ps` shows it to every
-- local user. It is a secret like the token: never shown in a message.
-- Every error names file:line:col and, for keys, the closest valid one. The
-- access token never appears in a message: errors about it name the key.
local yaml = require "icx.yaml"
local errors = require "icx.errors"
local keys = require "icx.keys"

local M = {}

M.REGIONS = {
  us = "https://api.intercom.io",
  eu = "https://api.eu.intercom.io",
  au = "https://api.au.intercom.io",
}

-- The keys of one intercom connection: type checker and whether required.
-- Numbers have bounds: a value outside them is a typo or a unit mistake
-- that would otherwise show only mid-run (a wait of years, no retry at all).
--   rate_limit       requests per 10 s. Under 1, a run waits minutes between
--                    requests; over 5000 is past what Intercom grants a whole
--                    workspace (25,000 a minute), so not a real budget
--   connect_timeout  s; 1 to 300: a TCP and TLS handshake, never minutes
--   timeout          s; 1 to 3600: a whole response, even a slow big page
--   max_attempts     a whole number, 1 (no retry) to 100
--   retry_base       s; 0.01 to 600: the first backoff
--   retry_cap        s; 0.01 to 3600, and not below retry_base
local CONNECTION_KEYS = {
  -- A name keys the connection's cursors and runs in the destination and is
  -- typed after --connection: a template would tie that key to the
  -- environment (a changed variable silently starts a full load) and could
  -- put a secret in every log line and state row. So it is written plainly.
  name = { kind = "string", required = true, plain = true },
  access_token = { kind = "string", required = true, secret = true, max_len = 4096 },
  region = { kind = "string" },
  base_url = { kind = "string" },
  rate_limit = { kind = "number", min = 1, max = 5000 },
  ca_file = { kind = "string" },
  connect_timeout = { kind = "number", min = 1, max = 300 },
  timeout = { kind = "number", min = 1, max = 3600 },
  max_attempts = { kind = "number", min = 1, max = 100, integer = true },
  retry_base = { kind = "number", min = 0.01, max = 600 },
  retry_cap = { kind = "number", min = 0.01, max = 3600 },
  -- A URI or a path; may hold a password, and a path may hold spaces.
  destination = { kind = "string", secret = true, spaces = true, max_len = 4096 },
}

-- A decimal number as people write it: no hex (0x10), inf or nan, which
-- Lua's tonumber would take.
local function decimal(s)
  s = s:match("^%s*(.-)%s*$")
  if not (s:match("^%+?%d+%.?%d*$") or s:match("^%+?%d*%.%d+$") or s:match("^%+?%d+%.?%d*[eE][+-]?%d+$")
      or s:match("^%+?%d*%.%d+[eE][+-]?%d+$")) then
    return nil
  end
  local n = tonumber(s)
  if not n or n ~= n or n == math.huge then return nil end
  return n
end
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
  -- A template missing a brace would otherwise be sent as written: as the
  -- token, a 401 that says nothing of the typo.
  if s:gsub("{{.-}}", ""):find("{{", 1, true) then
    fail(path, node, "'{{' without its closing '}}' (write {{ env_var('NAME') }})")
  end
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
    local known, hint = keys.member(key, allowed)
    if not known then fail(path, e.k, "unknown key '%s' in %s%s", key, what, hint) end
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
    -- node.value: the path as written (a template may expand to a secret).
    fail(path, node, "ca_file of %s: cannot read '%s' (%s)", what, node.value, (err:gsub("^[^:]*: ", "")))
  end
  local text = f:read(1 << 20) or ""
  f:close()
  if not text:find("-----BEGIN CERTIFICATE-----", 1, true) then
    fail(path, node, "ca_file of %s: '%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)", what,
      node.value)
  end
end

-- One `connections.intercom` item -> connection table.
-- only_dest: read name and destination only (status and reset, which need
-- no token: an unset token variable must not stop them).
local function connection(path, node, index, getenv, only_dest)
  local what = "connection #" .. index
  for _, e in ipairs(node.kind == "map" and node or {}) do
    if e.k.value == "name" and e.v.kind == "scalar" then what = "connection '" .. e.v.value .. "'" end
  end
  local entries = map_entries(path, node, what, CONNECTION_KEY_NAMES)
  local name_e = entries.name
  local c = { where = path .. ":" .. node.line .. ":" .. node.col }
  for _, key in ipairs(CONNECTION_KEY_NAMES) do
    local spec, e = CONNECTION_KEYS[key], entries[key]
    if only_dest and key ~= "name" and key ~= "destination" then
      e, spec = nil, { }
    end
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
      if spec.plain and v.value:find("{{", 1, true) then
        fail(path, v, "'%s' of %s is written plainly, not with a template: it keys the connection's state in "
          .. "the destination and is what --connection takes", key, what)
      end
      local s = expand(path, v, getenv)
      if spec.kind == "number" then
        -- Messages show the value as written in the file: what an
        -- env_var template expanded to may be a secret.
        local shown = v.value
        local n = decimal(s)
        if not n then fail(path, v, "'%s' of %s must be a decimal number, not '%s'", key, what, shown) end
        if n < spec.min or n > spec.max then
          fail(path, v, "'%s' of %s must be from %s to %s, not %s", key, what, spec.min, spec.max, shown)
        end
        if spec.integer and n ~= math.floor(n) then
          fail(path, v, "'%s' of %s must be a whole number, not %s", key, what, shown)
        end
        c[key] = spec.integer and math.tointeger(n) or n
      else
        if s == "" then fail(path, v, "'%s' of %s is empty", key, what) end
        -- A control character (a CR/LF from an env var, a tab) would end up
        -- in a header or a path; the secret is not echoed.
        local cc = s:find("%c")
        if cc then
          fail(path, v, "'%s' of %s holds a control character (byte %d at position %d)%s", key, what,
            s:byte(cc), cc, spec.secret and "; check the environment variable it comes from" or "")
        end
        if spec.max_len and #s > spec.max_len then
          fail(path, v, "'%s' of %s is %d bytes long; at most %d", key, what, #s, spec.max_len)
        end
        if spec.secret and not spec.spaces and s:find("%s") then
          fail(path, v, "'%s' of %s holds a space", key, what)
        end
        c[key] = s
      end
    end
  end
  if only_dest then return c, name_e.v end
  c.region = c.region and c.region:lower() or "us"
  if not M.REGIONS[c.region] then
    fail(path, entries.region.v, "region '%s' of %s is not one of us, eu, au", entries.region.v.value, what)
  end
  if c.base_url then
    local bv = entries.base_url.v
    if not c.base_url:match("^https?://[^/]") then
      fail(path, bv, "base_url of %s must start with https:// or http://", what)
    end
    local authority = c.base_url:match("^https?://([^/?#]*)")
    if authority:find("@", 1, true) then
      fail(path, bv, "base_url of %s holds credentials (user@ or user:password@); the token is the only "
        .. "credential: remove them", what)
    end
    if c.base_url:find("[?#]") then
      fail(path, bv, "base_url of %s must not hold a query or fragment ('?' or '#'): icx adds its own", what)
    end
    c.base_url = c.base_url:gsub("/+$", "")
    local host = authority:gsub(":%d+$", "")
    if c.base_url:match("^http://") and host ~= "127.0.0.1" and host ~= "localhost" and host ~= "[::1]" then
      require("icx.log").warn("%s:%d:%d: base_url of %s is plain http://: the access token would travel "
        .. "unencrypted; use https://", path, bv.line, bv.col, what)
    end
  else
    c.base_url = M.REGIONS[c.region]
  end
  if c.ca_file then check_ca_file(path, entries.ca_file.v, c.ca_file, what) end
  if c.retry_cap and c.retry_base and c.retry_cap < c.retry_base then
    fail(path, entries.retry_cap.v, "retry_cap of %s (%s) is below its retry_base (%s)", what, c.retry_cap,
      c.retry_base)
  end
  c.rate_limit = c.rate_limit or 166
  return c, name_e.v
end

-- The line of text a YAML error names (1-based), or nil.
local function line_of(text, n)
  local i = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if i == n then return (line:gsub("\r$", "")) end
  end
  return nil
end

-- What to look at for a libyaml syntax error at line n: most are a tab
-- where YAML allows only spaces, or a line indented off its siblings.
-- libyaml names where parsing stopped, which can be after the culprit, so
-- a tab anywhere in the indentation up to there is named first.
local function yaml_hint(text, n, msg)
  local i = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if i > n then break end
    if line:match("^[ ]*\t") then
      return ("line %d is indented with a tab: YAML indents with spaces only; replace the tab with spaces")
        :format(i)
    end
  end
  local here = line_of(text, n)
  if here and here:find("\t", 1, true) then
    return ("line %d holds a tab: YAML allows only spaces around keys and values"):format(n)
  end
  if msg:find("quoted scalar", 1, true) or msg:find("flow", 1, true) then
    return "a quote or a bracket opened on this line or above it is not closed"
  end
  local indent = here and #here:match("^ *") or 0
  return ("check the indentation of line %d (%d spaces) against the lines above it: the keys of one "
    .. "mapping start in the same column, a connection's keys two spaces past its '- ', and a key's value "
    .. "follows ': ' on its line"):format(n, indent)
end

-- Parses and checks configuration text; `path` is used in messages only.
-- Returns the list of intercom connections.
-- only_dest: each connection's name and destination only (see connection).
function M.parse(text, path, getenv, only_dest)
  getenv = getenv or os.getenv
  local root, err = yaml.parse(text)
  if not root then
    local line, col, msg = tostring(err):match("^(%d+):(%d+): (.*)$")
    local n = math.tointeger(tonumber(line))
    -- libyaml's own syntax errors get a hint; icx.yaml's (a second
    -- document, an alias) say what to change themselves.
    if not n or not (msg:find("while scanning", 1, true) or msg:find("while parsing", 1, true)
        or msg:find("not allowed in this context", 1, true)) then
      errors.raise("config", path .. ":" .. tostring(err), { code = "yaml" })
    end
    errors.raise("config", ("%s:%d:%s: YAML syntax error: %s; %s"):format(path, n, col, msg,
      yaml_hint(text, n, msg)), { code = "yaml", line = n })
  end
  local top = map_entries(path, root, "the top level", { "connections" })
  if not top.connections then
    fail(path, root, "no 'connections' key (icx init writes a file to start from)")
  end
  local conns = map_entries(path, top.connections.v, "'connections'", { "intercom" })
  if not conns.intercom then
    fail(path, top.connections.v, "no 'connections.intercom' list (icx init writes a file to start from)")
  end
  local list = conns.intercom.v
  if list.kind ~= "seq" or #list == 0 then
    fail(path, list, "'connections.intercom' must be a non-empty list of connections")
  end
  local out, names = {}, {}
  for i, item in ipairs(list) do
    local c, name_node = connection(path, item, i, getenv, only_dest)
    if names[c.name] then
      fail(path, name_node, "duplicate connection name '%s' (first at line %d)", c.name, names[c.name])
    end
    names[c.name] = name_node.line
    out[#out + 1] = c
  end
  return out
end

-- Reads the file; a missing file says how to make one.
function M.load(path, getenv, only_dest)
  local f, err = io.open(path, "rb")
  if not f then
    errors.raise("config", ("%s: cannot read the configuration (%s); create one with `icx init%s` (a commented "
      .. "file to fill in), or pass --config FILE"):format(path, err:gsub("^[^:]*: ", ""),
        path ~= "connections.yml" and (" " .. path) or ""))
  end
  local text, rerr = f:read("a")
  f:close()
  if not text then
    errors.raise("config", ("%s: cannot read the configuration (%s); --config takes a file such as "
      .. "connections.yml"):format(path, tostring(rerr):gsub("^[^:]*: ", "")))
  end
  return M.parse(text, path, getenv, only_dest)
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

-- Several workspaces in one run: the named connections (in the order
-- given), every one with `all`, else the one M.select picks.
function M.select_many(conns, names, all, path)
  if all then return conns end
  if #names == 0 then return { M.select(conns, nil, path) } end
  local out = {}
  for _, n in ipairs(names) do out[#out + 1] = M.select(conns, n, path) end
  return out
end

-- "INDEX/COUNT" -> index, count (0 <= index < count), or nil, message.
function M.parse_shard(s)
  local i, n = tostring(s):match("^(%d+)/(%d+)$")
  i, n = tonumber(i), tonumber(n)
  if not i or n < 1 or i >= n or n > 100000 then
    return nil, ("shard '%s' must be INDEX/COUNT with 0 <= INDEX < COUNT (e.g. 0/4)"):format(tostring(s))
  end
  return math.tointeger(i), math.tointeger(n)
end

-- A shard's share of the connections: sorted by name, every COUNT-th from
-- INDEX. Every pod of an Indexed Job computes the same split from the same
-- file, so shards 0..COUNT-1 take each connection exactly once, and the
-- shares differ in size by at most one.
function M.shard(conns, index, count)
  local sorted = {}
  for _, c in ipairs(conns) do sorted[#sorted + 1] = c end
  table.sort(sorted, function(a, b) return a.name < b.name end)
  local out = {}
  for pos, c in ipairs(sorted) do
    if (pos - 1) % count == index then out[#out + 1] = c end
  end
  return out
end

-- A --dest (or --state) for one workspace: {connection} becomes its name,
-- which must then be safe in a path, a URI and a schema name.
function M.dest_for(template, conn)
  if not template:find("{connection}", 1, true) then return template end
  if not conn.name:match("^[%w_][%w_.-]*$") then
    errors.raise("usage", ("connection name '%s' cannot fill {connection}: use letters, digits, '_', '.' and '-'")
      :format(conn.name))
  end
  return (template:gsub("{connection}", function() return conn.name end))
end

return M
