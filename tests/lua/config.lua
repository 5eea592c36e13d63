-- connections.yml: every error case with its exact message, env_var
-- templating, regions, and that no message carries the token.
local t = dofile "tests/lib/tap.lua"
local config = require "icx.config"

local env = { TOKEN = "tok-secret-1234567890", OTHER = "abc" }
local function getenv(k) return env[k] end

local function parse(text) return config.parse(text, "connections.yml", getenv) end

local function err_of(text)
  local ok, e = pcall(parse, text)
  if ok then return "(no error)" end
  return tostring(e), e
end

-- A valid file with both quote styles and spacing variants.
local conns = parse [[
connections:
  intercom:
    - name: "a"
      access_token: "{{ env_var('TOKEN') }}"
    - name: b
      access_token: "{{env_var(\"OTHER\")}}-x"
      region: eu
    - name: c
      access_token: literal
      region: AU
      base_url: http://127.0.0.1:9/
      rate_limit: 50
]]
t.is(#conns, 3, "three connections")
t.is(conns[1].access_token, "tok-secret-1234567890", "env_var with single quotes")
t.is(conns[2].access_token, "abc-x", "env_var with double quotes, no spaces, inside text")
t.is(conns[1].region, "us", "region defaults to us")
t.is(conns[1].base_url, "https://api.intercom.io", "us base url")
t.is(conns[2].base_url, "https://api.eu.intercom.io", "eu base url")
t.is(conns[3].region, "au", "region is case-insensitive")
t.is(conns[3].base_url, "http://127.0.0.1:9", "base_url overrides the region, trailing slash dropped")
t.is(conns[3].rate_limit, 50, "rate_limit read as a number")
t.is(conns[1].rate_limit, 166, "rate_limit defaults to 166")

local cases = {
  { "unknown key with suggestion", [[
connections:
  intercom:
    - name: a
      acess_token: x
]], "connections.yml:4:7: unknown key 'acess_token' in connection 'a' (did you mean 'access_token'?)" },
  { "missing access_token", [[
connections:
  intercom:
    - name: a
      region: us
]], "connections.yml:3:7: connection 'a' has no 'access_token' (add access_token: \"{{ env_var('INTERCOM_ACCESS_TOKEN') }}\")" },
  { "missing name", [[
connections:
  intercom:
    - access_token: x
]], "connections.yml:3:7: connection #1 has no 'name'" },
  { "bad region lists the three", [[
connections:
  intercom:
    - name: a
      access_token: x
      region: us-east
]], "connections.yml:5:15: region 'us-east' of connection 'a' is not one of us, eu, au" },
  { "unset env var names variable and position", [[
connections:
  intercom:
    - name: a
      access_token: "{{ env_var('NOPE_TOKEN') }}"
]], "connections.yml:4:21: environment variable 'NOPE_TOKEN' is not set (export it, or put the value in the file)" },
  { "a name is not a template: it keys the state (the message shows it as written)", [[
connections:
  intercom:
    - name: "prod-{{ env_var('TOKEN') }}"
      access_token: x
]], "connections.yml:3:13: 'name' of connection 'prod-{{ env_var('TOKEN') }}' is written plainly, not with a "
    .. "template: it keys the connection's state in the destination and is what --connection takes" },
  { "a template missing its closing braces is not sent as written", [[
connections:
  intercom:
    - name: a
      access_token: "{{ env_var('TOKEN') }"
]], "connections.yml:4:21: '{{' without its closing '}}' (write {{ env_var('NAME') }})" },
  { "unsupported template", [[
connections:
  intercom:
    - name: a
      access_token: "{{ secret('X') }}"
]], "connections.yml:4:21: unsupported template '{{ secret('X') }}' (the only one is {{ env_var('NAME') }})" },
  { "missing connections", "other: 1\n",
    "connections.yml:1:1: unknown key 'other' in the top level" },
  { "connections without intercom", "connections:\n  postgres: []\n",
    "connections.yml:2:3: unknown key 'postgres' in 'connections'" },
  { "typo in intercom", "connections:\n  intercon: []\n",
    "connections.yml:2:3: unknown key 'intercon' in 'connections' (did you mean 'intercom'?)" },
  { "empty file", "",
    "connections.yml:1:1: no 'connections' key (icx init writes a file to start from)" },
  { "empty intercom list", "connections:\n  intercom: []\n",
    "connections.yml:2:13: 'connections.intercom' must be a non-empty list of connections" },
  { "duplicate names", [[
connections:
  intercom:
    - name: a
      access_token: x
    - name: a
      access_token: y
]], "connections.yml:5:13: duplicate connection name 'a' (first at line 3)" },
  { "YAML syntax error", "connections:\n  intercom:\n    - name: a\n   bad: [\n",
    "connections.yml:4:" },
  { "rate_limit not a number", [[
connections:
  intercom:
    - name: a
      access_token: x
      rate_limit: lots
]], "connections.yml:5:19: 'rate_limit' of connection 'a' must be a decimal number, not 'lots'" },
  { "bad base_url", [[
connections:
  intercom:
    - name: a
      access_token: x
      base_url: api.intercom.io
]], "connections.yml:5:17: base_url of connection 'a' must start with https:// or http://" },
  { "ca_file missing", [[
connections:
  intercom:
    - name: a
      access_token: x
      ca_file: /nonexistent/ca.pem
]], "connections.yml:5:16: ca_file of connection 'a': cannot read '/nonexistent/ca.pem' (No such file or directory)" },
  { "ca_file not PEM", [[
connections:
  intercom:
    - name: a
      access_token: x
      ca_file: /etc/passwd
]], "connections.yml:5:16: ca_file of connection 'a': '/etc/passwd' holds no PEM certificate (-----BEGIN CERTIFICATE-----)" },
  { "connection not a mapping", "connections:\n  intercom:\n    - just-a-string\n",
    "connections.yml:3:7: connection #1 must be a mapping" },
  { "empty token", [[
connections:
  intercom:
    - name: a
      access_token: ""
]], "connections.yml:4:21: 'access_token' of connection 'a' is empty" },
}
for _, c in ipairs(cases) do
  local msg, e = err_of(c[2])
  if c[3]:sub(-1) == ":" then
    t.ok(msg:sub(1, #c[3]) == c[3], c[1] .. ": " .. msg)
  else
    t.is(msg, c[3], c[1])
  end
  t.is(e and e.kind, "config", c[1] .. " is a config error")
end

-- Values are validated at load, each at its file:line:col.
local function conn_with(line)
  return "connections:\n  intercom:\n    - name: a\n      access_token: x\n      " .. line .. "\n"
end
local bad_values = {
  { "rate_limit: 1e999", "'rate_limit' of connection 'a' must be a decimal number, not '1e999'" },
  { "rate_limit: 0x10", "'rate_limit' of connection 'a' must be a decimal number, not '0x10'" },
  { "rate_limit: 0.0001", "'rate_limit' of connection 'a' must be from 1 to 5000, not 0.0001" },
  { "rate_limit: inf", "must be a decimal number, not 'inf'" },
  { "timeout: 1e999", "'timeout' of connection 'a' must be a decimal number, not '1e999'" },
  { "timeout: 86400", "'timeout' of connection 'a' must be from 1 to 3600, not 86400" },
  { "max_attempts: 0.5", "'max_attempts' of connection 'a' must be from 1 to 100, not 0.5" },
  { "max_attempts: 2.5", "'max_attempts' of connection 'a' must be a whole number, not 2.5" },
  { "connect_timeout: 0", "'connect_timeout' of connection 'a' must be from 1 to 300, not 0" },
  { "base_url: https://api.intercom.io/?x=1", "base_url of connection 'a' must not hold a query or fragment" },
  { "base_url: https://api.intercom.io/#x", "base_url of connection 'a' must not hold a query or fragment" },
  { "base_url: https://u:p@api.intercom.io", "base_url of connection 'a' holds credentials" },
  { "region: \"us\\tx\"", "'region' of connection 'a' holds a control character (byte 9 at position 3)" },
}
for _, c in ipairs(bad_values) do
  local msg, e = err_of(conn_with(c[1]))
  t.like(msg, "^connections%.yml:5:%d+: .*" .. c[2]:gsub("%p", "%%%0"), c[1] .. " is refused at its line")
  t.is(e and e.kind, "config", c[1] .. ": a config error (exit 2)")
end
local msg0 = err_of("connections:\n  intercom:\n    - name: a\n      access_token: x\n      retry_base: 10\n"
  .. "      retry_cap: 5\n")
t.like(msg0, "^connections%.yml:6:18: retry_cap of connection 'a' %(5%) is below its retry_base %(10%)",
  "retry_cap below retry_base")
local msg1 = err_of("connections:\n  intercom:\n    - name: a\n      access_token: x\n---\nconnections: {}\n")
t.like(msg1, "^connections%.yml:5:1: a second YAML document", "a second YAML document is refused")
do
  local env = { CRLF = "tok-secret-abc\r\nX-Evil: 1", LONG = ("t"):rep(5000) }
  local function penv(text) return pcall(config.parse, text, "connections.yml", function(k) return env[k] end) end
  local ok, e = penv("connections:\n  intercom:\n    - name: a\n      access_token: \"{{ env_var('CRLF') }}\"\n")
  t.ok(not ok and tostring(e):find("connections.yml:4:21: 'access_token' of connection 'a' holds a control "
    .. "character (byte 13 at position 15); check the environment variable it comes from", 1, true),
    "a token with CR/LF is refused: " .. tostring(e))
  t.ok(not tostring(e):find("tok-secret", 1, true), "without printing it")
  ok, e = penv("connections:\n  intercom:\n    - name: a\n      access_token: \"{{ env_var('LONG') }}\"\n")
  t.ok(not ok and tostring(e):find("is 5000 bytes long", 1, true), "an overlong token is refused")
end
local good = parse(conn_with("max_attempts: 3") .. "      rate_limit: 16.5\n      retry_base: 0.5\n")
t.is(math.type(good[1].max_attempts), "integer", "max_attempts is an integer")
t.is(good[1].rate_limit, 16.5, "decimal values are kept")
t.raises(function() config.load("/tmp") end, "/tmp: cannot read the configuration", "--config DIR is a config error")

-- No message may carry the token, even when the token's own line is wrong.
local msg = err_of [[
connections:
  intercom:
    - name: a
      access_token: "{{ env_var('TOKEN') }}"
      region: mars
]]
t.ok(not msg:find("tok-secret", 1, true), "token absent from a region error")

-- select(): one connection, several, unknown names.
local two = parse [[
connections:
  intercom:
    - {name: prod, access_token: x}
    - {name: staging, access_token: y}
]]
t.is(config.select(two, "staging", "c.yml").name, "staging", "select by name")
t.raises(function() config.select(two, nil, "c.yml") end,
  "c.yml holds 2 intercom connections: choose one with --connection NAME (prod, staging)",
  "several connections need --connection")
t.raises(function() config.select(two, "prd", "c.yml") end,
  "c.yml: no intercom connection named 'prd' (did you mean 'prod'?); the file has: prod, staging",
  "unknown connection name")
t.is(config.select({ two[1] }, nil, "c.yml").name, "prod", "the only connection needs no name")

-- load(): missing file: icx init makes one (examples/ is not installed).
local missing = t.raises(function() config.load("/nonexistent/connections.yml") end,
  "/nonexistent/connections.yml: cannot read the configuration (No such file or directory); create one with "
    .. "`icx init /nonexistent/connections.yml`", "missing file")
t.ok(not missing:find("examples/", 1, true), "a missing file does not point at examples/ (not installed)")
t.raises(function() config.load("connections.yml.does-not-exist") end, "create one with `icx init "
  .. "connections.yml.does-not-exist`", "the hint names the path icx init must write")

-- libyaml's syntax errors: file, line, and what to look at.
local function yaml_error(text)
  local ok, e = pcall(config.parse, text, "c.yml")
  return not ok and tostring(e) or ""
end
t.is(yaml_error("connections:\n\tintercom:\n"), "c.yml:2:1: YAML syntax error: found character that cannot "
  .. "start any token while scanning for the next token; line 2 is indented with a tab: YAML indents with spaces "
  .. "only; replace the tab with spaces", "a tab in the indentation: named, with its line")
t.like(yaml_error("connections:\n  intercom:\n    - name: a\n\t  region: us\n   access_token: x\n"),
  "line 4 is indented with a tab", "a tab above where libyaml stopped is named")
t.like(yaml_error("connections:\n  intercom:\n    - name: a\n   access_token: x\n"),
  "^c%.yml:4:4: YAML syntax error: did not find expected key while parsing a block mapping; check the "
    .. "indentation of line 4 %(3 spaces%)", "a line indented off its siblings: the indentation hint")
t.like(yaml_error("connections:\n  intercom:\n    - name: \"a\n"), "c%.yml:4:1: YAML syntax error: .*quoted "
  .. "scalar; a quote or a bracket opened on this line or above it is not closed", "an unclosed quote")

os.exit(t.done())
