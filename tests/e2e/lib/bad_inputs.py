"""The catalogue of bad inputs run by tests/e2e/0402-bad-inputs.t.

One dict per case:
  name     stable name (also the case's directory)
  kind     config | argv | script | dest | server | env
  config   connections.yml text (default GOOD); {url} is the hostile server at
           mode "good" (or at `mode`), {other} the server's root URL
  argv     icx arguments after the binary; "connections.yml" is relative to the
           case directory, which is the working directory
  script   text of s.lua in the case directory (kind script)
  env      extra environment (the token is always ICX_TEST_TOKEN)
  setup    name of a setup step (see SETUP in 0402)
  exit     expected exit code
  err      regular expression the first stderr line must match (re.match)
  todo     why this fails today: what icx does now. The case is then a TAP
           TODO, and becomes a plain test when the fix lands.

The contract (the reliability issue): every configuration value is checked at
load with a file:line:col message and exit 2 (numbers finite and sane, strings
without control characters, base_url without query, fragment or credentials,
one YAML document, a bounded token); destinations that cannot hold data,
reserved table names and sandbox escapes are refused before any request
(exit 2). A server's bad answer fails the run (exit 1) with a message naming
the request. The token never appears in stdout, stderr or any file written.
"""

GOOD = """connections:
  intercom:
    - name: h
      access_token: "{{ env_var('ICX_TEST_TOKEN') }}"
      base_url: {url}
"""


def conn(*lines):
    """GOOD plus extra connection lines (indented for you)."""
    return GOOD + "".join("      %s\n" % x for x in lines)


CFG = r"icx: connections\.yml:\d+:\d+: "   # every config message starts so
CHECK = ["check", "--config", "connections.yml"]
RUN_TAGS = ["run", "--config", "connections.yml", "{root}/scripts/tags.lua"]
RUN_S = ["run", "--config", "connections.yml", "s.lua"]

SCRIPT_OK = """local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "things", primary_key = "id",
  pages = intercom.get("/tags", { list_key = "data" }) %s}
"""

CASES = [
    # ---------------------------------------------------------- configuration
    dict(name="cfg-rate-limit-1e999", kind="config", config=conn("rate_limit: 1e999"), argv=CHECK,
         exit=2, err=CFG + r".*rate_limit"),
    dict(name="cfg-timeout-1e999", kind="config", config=conn("timeout: 1e999"), argv=CHECK,
         exit=2, err=CFG + r".*timeout"),
    dict(name="cfg-retry-cap-1e999", kind="config", config=conn("retry_cap: 1e999"), argv=CHECK,
         exit=2, err=CFG + r".*retry_cap"),
    dict(name="cfg-max-attempts-0.5", kind="config", config=conn("max_attempts: 0.5"), argv=CHECK,
         exit=2, err=CFG + r".*max_attempts"),
    dict(name="cfg-max-attempts-huge", kind="config", config=conn("max_attempts: 1000000"), argv=CHECK,
         exit=2, err=CFG + r".*max_attempts"),
    dict(name="cfg-rate-limit-hex", kind="config", config=conn("rate_limit: 0x10"), argv=CHECK,
         exit=2, err=CFG + r".*rate_limit"),
    dict(name="cfg-timeout-negative", kind="config", config=conn("timeout: -1"), argv=CHECK,
         exit=2, err=CFG + r"'timeout' of connection 'h' must be (a decimal number|from)"),
    dict(name="cfg-connect-timeout-zero", kind="config", config=conn("connect_timeout: 0"), argv=CHECK,
         exit=2, err=CFG + r"'connect_timeout' of connection 'h' must be (a decimal number|from)"),
    dict(name="cfg-rate-limit-nan", kind="config", config=conn("rate_limit: nan"), argv=CHECK,
         exit=2, err=CFG + r"'rate_limit' of connection 'h' must be (a decimal number|from)"),
    dict(name="cfg-rate-limit-word", kind="config", config=conn("rate_limit: fast"), argv=CHECK,
         exit=2, err=CFG + r"'rate_limit' of connection 'h' must be (a decimal number|from)"),
    dict(name="cfg-base-url-query", kind="config",
         config=GOOD.replace("{url}", "{url}?x=1"), argv=CHECK,
         exit=2, err=CFG + r".*base_url"),
    dict(name="cfg-base-url-fragment", kind="config",
         config=GOOD.replace("{url}", "{url}#frag"), argv=CHECK,
         exit=2, err=CFG + r".*base_url"),
    dict(name="cfg-base-url-credentials", kind="config",
         config=GOOD.replace("{url}", "https://u:pw-in-url@api.intercom.io"),
         argv=CHECK, exit=2, err=CFG + r".*base_url"),
    dict(name="cfg-base-url-ftp", kind="config", config=GOOD.replace("{url}", "ftp://127.0.0.1/"),
         argv=CHECK, exit=2, err=CFG + r"base_url of connection 'h' must start with https:// or http://"),
    dict(name="cfg-base-url-control-char", kind="config",
         config=conn("max_attempts: 2", "retry_base: 0.05").replace("{url}", '"{url}\\t/x"'), argv=CHECK,
         exit=2, err=CFG + r".*base_url"),
    dict(name="cfg-name-control-char", kind="config",
         config=GOOD.replace("name: h", 'name: "h\\u0007x"'), argv=CHECK,
         exit=2, err=CFG + r".*name"),
    dict(name="cfg-second-document", kind="config", config=GOOD + "---\nconnections: {}\n", argv=CHECK,
         exit=2, err=CFG + r".*document"),
    dict(name="cfg-token-dollar-brace", kind="config",
         config=GOOD.replace("\"{{ env_var('ICX_TEST_TOKEN') }}\"", "\"${ICX_TEST_TOKEN}\""),
         argv=CHECK, exit=2, err=CFG + r".*access_token"),
    dict(name="cfg-token-dollar", kind="config",
         config=GOOD.replace("\"{{ env_var('ICX_TEST_TOKEN') }}\"", "$ICX_TEST_TOKEN"),
         argv=CHECK, exit=2, err=CFG + r".*access_token"),
    dict(name="cfg-unknown-key", kind="config", config=conn("regoin: us"), argv=CHECK,
         exit=2, err=CFG + r"unknown key 'regoin' in connection 'h' \(did you mean 'region'\?\)"),
    dict(name="cfg-unknown-top-key", kind="config", config=GOOD + "extra: 1\n", argv=CHECK,
         exit=2, err=CFG + r"unknown key 'extra' in the top level"),
    dict(name="cfg-duplicate-key", kind="config", config=conn("timeout: 5", "timeout: 6"), argv=CHECK,
         exit=2, err=CFG + r"duplicate key 'timeout' in connection 'h'"),
    dict(name="cfg-wrong-region", kind="config",
         config=GOOD.replace("      base_url: {url}\n", "      region: mars\n"), argv=CHECK,
         exit=2, err=CFG + r"region 'mars' of connection 'h' is not one of us, eu, au"),
    dict(name="cfg-ca-file-missing", kind="config", config=conn("ca_file: /nonexistent/ca.pem"),
         argv=CHECK, exit=2, err=CFG + r"ca_file of connection 'h': cannot read '/nonexistent/ca.pem'"),
    dict(name="cfg-ca-file-not-pem", kind="config", config=conn("ca_file: connections.yml"),
         argv=CHECK, exit=2, err=CFG + r"ca_file of connection 'h': 'connections.yml' holds no PEM"),
    dict(name="cfg-env-unset", kind="config",
         config=GOOD.replace("ICX_TEST_TOKEN", "ICX_SURELY_UNSET_VAR"), argv=CHECK,
         exit=2, err=CFG + r"environment variable 'ICX_SURELY_UNSET_VAR' is not set"),
    dict(name="cfg-template-unknown", kind="config",
         config=GOOD.replace("env_var('ICX_TEST_TOKEN')", "secret('x')"), argv=CHECK,
         exit=2, err=CFG + r"unsupported template"),
    dict(name="cfg-no-token", kind="config",
         config=GOOD.replace("      access_token: \"{{ env_var('ICX_TEST_TOKEN') }}\"\n", ""), argv=CHECK,
         exit=2, err=CFG + r"connection 'h' has no 'access_token'"),
    dict(name="cfg-no-name", kind="config", config=GOOD.replace("- name: h\n      ", "- "), argv=CHECK,
         exit=2, err=CFG + r"connection #1 has no 'name'"),
    dict(name="cfg-empty-list", kind="config", config="connections:\n  intercom: []\n", argv=CHECK,
         exit=2, err=CFG + r"'connections.intercom' must be a non-empty list"),
    dict(name="cfg-top-not-map", kind="config", config="- a\n- b\n", argv=CHECK,
         exit=2, err=CFG + r"the top level must be a mapping"),
    dict(name="cfg-empty-file", kind="config", config="", argv=CHECK,
         exit=2, err=CFG + r"no 'connections' key"),
    dict(name="cfg-yaml-syntax", kind="config", config="connections:\n  intercom: [\n", argv=CHECK,
         exit=2, err=CFG),
    dict(name="cfg-yaml-alias", kind="config",
         config="connections:\n  intercom:\n    - &c {name: a, access_token: x, base_url: \"{url}\"}\n    - *c\n",
         argv=CHECK, exit=2, err=CFG + r"anchors and aliases are not supported"),
    dict(name="cfg-nul-byte", kind="config", config=GOOD + "\x00\n", argv=CHECK, exit=2, err=CFG),
    dict(name="cfg-deep-nesting-30", kind="config", config="{a: " * 30 + "1" + "}" * 30 + "\n", argv=CHECK,
         exit=2, err=CFG),
    dict(name="cfg-duplicate-names", kind="config",
         config=GOOD + "    - name: h\n      access_token: x\n", argv=CHECK,
         exit=2, err=CFG + r"duplicate connection name 'h'"),
    dict(name="cfg-two-connections", kind="config",
         config=GOOD + "    - name: k\n      access_token: x\n", argv=CHECK,
         exit=2, err=r"icx: connections\.yml holds 2 intercom connections: choose one with --connection"),
    dict(name="cfg-unknown-connection", kind="config", config=GOOD,
         argv=CHECK + ["--connection", "hh"],
         exit=2, err=r"icx: connections\.yml: no intercom connection named 'hh' \(did you mean 'h'\?\)"),
    dict(name="cfg-missing-file", kind="config", config=GOOD, argv=["check", "--config", "nope.yml"],
         exit=2, err=r"icx: nope\.yml: cannot read the configuration"),
    dict(name="cfg-config-is-dir", kind="config", config=GOOD, argv=["check", "--config", "."],
         exit=2, err=r"icx: \.: "),
    # ------------------------------------------------------ token through env
    dict(name="env-token-crlf", kind="env", env={"ICX_TEST_TOKEN": "abc\r\nX-Evil: 1"}, argv=CHECK,
         exit=2, err=CFG + r".*access_token"),
    dict(name="env-token-empty", kind="env", env={"ICX_TEST_TOKEN": ""}, argv=CHECK,
         exit=2, err=CFG + r"'access_token' of connection 'h' is empty"),
    dict(name="env-token-huge", kind="env", env={"ICX_TEST_TOKEN": "t" * 100000}, argv=CHECK,
         exit=2, err=CFG + r".*access_token"),
    # ------------------------------------------------------------------ flags
    dict(name="argv-unknown-flag", kind="argv", argv=CHECK + ["--bogus"],
         exit=2, err=r"icx: unknown option '--bogus'"),
    dict(name="argv-jobs-0", kind="argv", argv=RUN_TAGS + ["--jobs", "0"],
         exit=2, err=r"icx: --jobs '0' must be a whole number >= 1"),
    dict(name="argv-j-abc", kind="argv", argv=RUN_TAGS + ["-j", "abc"],
         exit=2, err=r"icx: --jobs 'abc' must be a whole number >= 1"),
    dict(name="argv-jobs-fraction", kind="argv", argv=RUN_TAGS + ["--jobs=1.5"],
         exit=2, err=r"icx: --jobs '1.5' must be a whole number >= 1"),
    dict(name="argv-unknown-command", kind="argv", argv=["frobnicate"],
         exit=2, err=r"icx: unknown command 'frobnicate'"),
    dict(name="argv-max-memory-1K", kind="argv", argv=RUN_TAGS + ["--max-memory", "1K"],
         exit=2, err=r"icx: --max-memory"),
    dict(name="argv-max-memory-word", kind="argv", argv=RUN_TAGS + ["--max-memory", "lots"],
         exit=2, err=r"icx: --max-memory 'lots' is not a size like 512M"),
    dict(name="argv-run-no-script", kind="argv", argv=["run", "--config", "connections.yml"],
         exit=2, err=r"icx: icx run needs at least one ASSET"),
    dict(name="argv-verbose-quiet", kind="argv", argv=CHECK + ["-v", "-q"],
         exit=2, err=r"icx: choose one of --verbose and --quiet"),
    dict(name="argv-missing-value", kind="argv", argv=RUN_TAGS + ["--dest"],
         exit=2, err=r"icx: option '--dest' needs a value"),
    dict(name="argv-flag-takes-no-value", kind="argv", argv=CHECK + ["--verbose=yes"],
         exit=2, err=r"icx: option '--verbose' takes no value"),
    # ---------------------------------------------------------------- scripts
    dict(name="script-is-directory", kind="script", argv=RUN_S[:-1] + ["{root}/scripts"],
         exit=2, err=r"icx: .*scripts"),
    dict(name="script-missing", kind="script", argv=RUN_S[:-1] + ["nope.lua"],
         exit=2, err=r"icx: .*nope\.lua"),
    dict(name="script-syntax-error", kind="script", script="return icx.asset {", argv=RUN_S,
         exit=2, err=r"icx: s\.lua:"),
    dict(name="script-returns-nothing", kind="script", script="local x = 1\n", argv=RUN_S,
         exit=2, err=r"icx: s\.lua"),
    dict(name="script-unknown-asset-key", kind="script", script=SCRIPT_OK % ", primary_kye = 'id' ",
         argv=RUN_S, exit=2, err=r"icx: s\.lua:\d+: icx\.asset: unknown field 'primary_kye'"),
    dict(name="script-table-icx-state", kind="script", script=SCRIPT_OK % ", table = '_icx_state' ",
         argv=RUN_S, exit=2, err=r"icx: s\.lua.*_icx_state"),
    dict(name="script-table-sqlite-master", kind="script", script=SCRIPT_OK % ", table = 'sqlite_master' ",
         argv=RUN_S, exit=2, err=r"icx: s\.lua.*sqlite_master"),
    dict(name="script-name-icx-runs", kind="script",
         script=SCRIPT_OK.replace('name = "things"', 'name = "_icx_runs"') % "",
         argv=RUN_S, exit=2, err=r"icx: s\.lua.*_icx_runs"),
    dict(name="script-require-icx-sys", kind="script",
         script='local sys = require "icx.sys"\n' + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua.*icx\.sys"),
    dict(name="script-require-icx-budget", kind="script",
         script='local b = require "icx.budget"\n' + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua.*icx\.budget"),
    dict(name="script-require-icx-http", kind="script",
         script='local h = require "icx.http"\n' + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua.*icx\.http"),
    dict(name="script-children-misspelt", kind="script",
         script=SCRIPT_OK % (", children = { { table = 'kids', primary_key = 'id', parnet_key = 'id', "
                             "rows = function() return {} end } } "),
         argv=RUN_S, exit=2, err=r"icx: s\.lua.*parnet_key"),
    dict(name="script-bad-lookback", kind="script",
         script=SCRIPT_OK % ", incremental = { key = 'updated_at', lookback = 'soon' } ",
         argv=RUN_S, exit=2, err=r"icx: s\.lua:\d+: icx\.asset: 'incremental' .*lookback"),
    dict(name="script-global-write", kind="script", script="x = 1\n" + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua:1: .*'x'"),
    dict(name="script-io", kind="script", script="io.write('x')\n" + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua:1: .*'io'"),
    dict(name="script-os-execute", kind="script", script="os.execute('true')\n" + SCRIPT_OK % "",
         argv=RUN_S, exit=2, err=r"icx: s\.lua:1: .*execute"),
    dict(name="script-load-binary", kind="script",
         script="load(string.dump(function() end))\n" + SCRIPT_OK % "", argv=RUN_S,
         exit=2, err=r"icx: s\.lua:1: "),
    dict(name="script-raises", kind="script", script="error('boom')\n", argv=RUN_S,
         exit=2, err=r"icx: s\.lua:1: boom"),
    dict(name="script-not-an-asset", kind="script", script="return { name = 'x' }\n", argv=RUN_S,
         exit=2, err=r"icx: s\.lua"),
    dict(name="script-same-name-twice", kind="script", script=SCRIPT_OK % "",
         argv=RUN_S + ["s.lua"], exit=2, err=r"icx: s\.lua: table 'things' is also written by s\.lua"),
    # ------------------------------------------------------------ destinations
    dict(name="dest-memory", kind="dest", argv=RUN_TAGS + ["--dest", ":memory:"],
         exit=2, err=r"icx: --dest ':memory:'"),
    dict(name="dest-file-uri-memory", kind="dest", argv=RUN_TAGS + ["--dest", "file:x.db?mode=memory"],
         exit=2, err=r"icx: --dest 'file:x\.db\?mode=memory'"),
    dict(name="dest-query-nolock", kind="dest", argv=RUN_TAGS + ["--dest", "x.db?nolock=1"],
         exit=2, err=r"icx: --dest 'x\.db\?nolock=1'"),
    dict(name="dest-corrupt-db", kind="dest", setup="corrupt_db", argv=RUN_TAGS + ["--dest", "bad.db"],
         exit=2, err=r"icx: cannot open the SQLite destination 'bad\.db'"),
    dict(name="dest-directory", kind="dest", setup="mkdir_dir", argv=RUN_TAGS + ["--dest", "dir"],
         exit=2, err=r"icx: cannot open the SQLite destination 'dir'"),
    dict(name="dest-no-parent", kind="dest", argv=RUN_TAGS + ["--dest", "/nonexistent/x.db"],
         exit=2, err=r"icx: cannot open the SQLite destination '/nonexistent/x\.db'"),
    dict(name="dest-unknown-scheme", kind="dest", argv=RUN_TAGS + ["--dest", "postgresq://u:pw@h/db"],
         exit=2, err=r"icx: --dest 'postgresq://u:\*\*\*\*@h/db': unknown destination 'postgresq' "
         r"\(did you mean 'postgresql'\?\)"),
    dict(name="dest-sqlite-two-slashes", kind="dest", argv=RUN_TAGS + ["--dest", "sqlite://x.db"],
         exit=2, err=r"icx: --dest 'sqlite://x\.db': write sqlite:///relative\.db"),
    dict(name="dest-jsonl-reconcile", kind="dest", argv=RUN_TAGS + ["--dest", "jsonl:out", "--reconcile"],
         exit=2, err=r"icx: --reconcile needs a SQLite destination"),
    # ---------------------------------------------------------- server answers
    dict(name="server-401", kind="server", mode="s401", argv=CHECK, exit=2,
         err=r"icx: GET /s401/me: HTTP 401 unauthorized: Access Token Invalid; the access token was rejected"),
    dict(name="server-403-run", kind="server", mode="s403", argv=RUN_TAGS, exit=2,
         err=r"icx: connection 'h': Intercom refused the access token \(HTTP 403"),
    dict(name="server-404", kind="server", mode="s404", argv=CHECK, exit=1,
         err=r"icx: GET /s404/me: HTTP 404 not_found"),
    dict(name="server-500", kind="server", mode="s500", argv=CHECK, exit=1,
         config=conn("max_attempts: 2", "retry_base: 0.05"),
         err=r"icx: GET /s500/me: HTTP 500 server_error: Server Error \(after 2 attempts\)"),
    dict(name="server-html", kind="server", mode="html", argv=CHECK, exit=1,
         err=r"icx: malformed JSON from GET "),
    dict(name="server-html-run", kind="server", mode="html", argv=RUN_TAGS, exit=1,
         err=r"icx: malformed JSON from GET /html/me"),
    dict(name="server-deep", kind="server", mode="deep", argv=RUN_TAGS, exit=1,
         err=r"icx: malformed JSON from GET /deep/me"),
    dict(name="server-bad-utf8-check", kind="server", mode="badutf8", argv=CHECK, exit=1,
         err=r"icx: malformed JSON from GET "),
    dict(name="server-scroll-400-not-an-object", kind="server", mode="s400num",
         argv=["run", "--config", "connections.yml", "{root}/scripts/companies.lua"], exit=1,
         err=r"icx: .*companies\.lua: failed: GET /s400num/companies/scroll: HTTP 400"),
    dict(name="server-redirect", kind="server", mode="redirect", argv=CHECK, exit=1,
         err=r"icx: GET /redirect/me: HTTP 302"),
]
