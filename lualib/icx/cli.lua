-- The command line: parses arguments, loads configuration, dispatches.
-- main() returns the exit code; nothing here calls os.exit.
local errors = require "icx.errors"
local log = require "icx.log"

local M = {}

local VERSION = require("icx.http").version -- the VERSION file, compiled in

-- The commands, in the order help lists them: synopsis, one line for the
-- command list, and the text of `icx help COMMAND`.
local COMMANDS = {
  { name = "init", args = "[PATH]", summary = "write a commented connections.yml to start from",
    text = [[
Writes a commented connections.yml (PATH, else $ICX_CONFIG, else
./connections.yml) with one connection whose token is read from
$INTERCOM_ACCESS_TOKEN ({{ env_var('INTERCOM_ACCESS_TOKEN') }}) and its
region. An existing file is never overwritten (exit 2).
]] },
  { name = "run", args = "ASSET...", summary = "land assets: built-in names (icx list) or script paths",
    text = [[
Runs each asset and lands its records in --dest. An ASSET is the name of a
shipped asset (contacts, companies, ...: see icx list), built into icx, or
the path of a script (anything with a "/" or ending in .lua, or an existing
file); `all` stands for every built-in asset, in icx list's order. Assets
run at once (-j), share one rate budget, and commit independently: one
failing asset does not roll back the others, and the exit code is the failed
asset's (1; 2 for an error in a script's code). Incremental assets resume
from the cursor stored with their last committed page. --since WHEN [--until
WHEN] re-reads that window of the incremental key whatever the cursor (a
backfill) and merges it; the cursor moves only if the window reaches past
it, and the run's first line says what happens to it. On a first run
--since is where the run starts. An asset another run on the destination
holds is skipped, said at once, while the others run (exit 4 at the end);
--wait waits for it instead, --wait=DURATION at most that long in all.

On a terminal, a live display shows each running asset: rows landed of the
total (an expansion: its parents walked of theirs, rows beside), requests
per second against the budget, retries and 429s, elapsed time and an
estimate of what is left. Off a terminal (or with -q), plain
progress lines are written instead.

--reconcile also finds records deleted in Intercom (or contacts merged away):
Intercom keeps no tombstones, so each asset that supports it lists every id
(about one request per 150 records; a search listing walks time slices at
once), reads back by id each row missing from that listing, and deletes only
those Intercom answers 404 for, with their child rows, noting each in
_icx_deleted. A row the walks had skipped but Intercom still has is landed
instead. Needs a SQLite destination.

Several workspaces run at once in one process with --connection repeated,
--all-connections or --shard I/N: each with its own rate budget, locks and
destination ({connection} in --dest becomes each connection's name, e.g.
--dest 'icx-{connection}.db'). One workspace failing does not stop the
others; the exit code is the worst, and the summary lists each workspace.

SIGINT (Ctrl-C) or SIGTERM stops the run between pages, even during a retry
wait: what committed stays, _icx_runs says "interrupted", and the exit code is
128 + the signal's number. A second signal stops icx at once (still safe: an
uncommitted page is rolled back when the file is next opened).
]] },
  { name = "check", args = "", summary = "call GET /me: proves the token works, shows the workspace",
    text = [[
Calls GET /me and prints the workspace, the admin and the region, so a new
token can be tried before a long run. Exit 2 when the token is rejected (as
for run), 1 when the host cannot be reached (check does not retry).
]] },
  { name = "plan", args = "ASSET...", summary = "validate assets and config offline; show the first request",
    text = [[
Validates the configuration and each asset (names or paths, as for run)
without touching the network (so the token's variable may be unset), and
prints the first request each would send: from the cursors stored in --dest
when it exists, else as a first run, within the --since/--until window when
given (and what the window does with the cursor). "requests:" says what the
walk costs: a number where its shape fixes it, else per record of the window
(Intercom alone knows how many records it holds).
]] },
  { name = "list", args = "", summary = "the built-in assets: tables, mode, endpoint, cost",
    text = [[
Lists the asset scripts built into icx, one line each: name, the tables it
writes, its mode, the endpoint it reads and what a run costs in requests.
icx run NAME runs one; their source is installed in share/icx/scripts.
]] },
  { name = "lua", args = "FILE [ARGS]", summary = "run a Lua file with icx's modules (tests, tooling)",
    text = [[
Runs FILE with the full Lua standard library and every icx module
preloaded; `arg` holds ARGS (options after FILE are passed on untouched).
Used by the test suite and for tooling.
]] },
  { name = "status", args = "", summary = "per asset: cursor, last run, last success and failure",
    text = [[
Per asset and connection in DEST: the stored cursor (as stored, and as UTC
time), the last run's status, when it started and the rows it wrote, and
when the asset last succeeded. A run left "running" by a process that died
(its lock is free) shows as "interrupted". The last failure and its error
text are shown under the asset while no success followed it. LAST CHECK is
the asset's last completeness check (after a run, or icx verify):
complete, or how many records Intercom counts that never landed, with its
windows and what it healed. --history N lists each asset's last N runs.
--json prints a list of objects with connection, asset, cursor,
cursor_utc, last_status, last_run_at, rows, run_id, icx_version,
last_success_at, last_failure_at, last_error, last_check ({checked_at,
windows, expected, landed, healed, missing, complete}) and, with
--history, history (the runs, newest first: id, run_id, icx_version,
started_at, finished_at, status, rows, requests, retries, rate_limited,
error, columns_added). --max-age DURATION (6h, 2 days) exits 6 naming each
asset whose last success is older, or that never succeeded; with --json
each object also says fresh (true or false).
]] },
  { name = "verify", args = "[ASSET...]", summary = "prove the stored history complete against Intercom's counts",
    text = [[
Checks the named search assets (contacts, conversations, tickets; without
ASSET, each of them this destination holds) over their whole stored
history: windows of the incremental key, from the oldest stored row to the
stored cursor, each compared with Intercom's count for it (one request per
window: about one per 1,500 stored rows, at most 500; the cost is printed).
A window short of rows is cut in halves by counts and walked again, and
what the walk finds is merged; what it cannot find is reported, and icx
exits 5. Conversations also check their parts (conversation_parts, when
stored): each conversation's parts against its count_conversation_parts
(at most 500), one search request per 150 conversations; a short one is
fetched again. Every check is a row of _icx_completeness, and icx status
shows each asset's last check. Needs a SQLite or PostgreSQL destination.
]] },
  { name = "reset", args = "ASSET...", summary = "clear stored cursors: the next run re-reads those assets whole",
    text = [[
Clears the stored cursors of the named assets (of every connection, or of
--connection NAME), so their next run re-reads them whole. Nothing else
changes: the tables keep their rows. An asset a run holds is not reset
(exit 4).
]] },
  { name = "version", args = "", summary = "print the version", text = "Prints icx's version.\n" },
  { name = "help", args = "[COMMAND]", summary = "this text, or a command's options",
    text = "Prints the usage of icx, or of one command with every option it takes.\n" },
}

-- Every option, in the order help lists them: the one table the parser,
-- `icx help` and the man page test read, so they cannot disagree.
--   long, short: the flags; value: the value's name (nil: a switch);
--   key: the field in opts; commands: the commands that take it ("*": all,
--   "-": only before any command); help: one line.
local OPTIONS = {
  { long = "--config", value = "FILE", key = "config", commands = "run check plan status reset verify",
    help = "connections file ($ICX_CONFIG, ./connections.yml)" },
  { long = "--connection", value = "NAME", key = "connection", commands = "run check plan reset verify",
    help = "which connection (when the file has several); run: repeat it to pull several workspaces at once" },
  { long = "--all-connections", key = "all_connections", commands = "run",
    help = "pull every connection of the file at once (--dest with {connection})" },
  { long = "--shard", value = "I/N", key = "shard", commands = "run",
    help = "only shard I of N of the connections (default $JOB_COMPLETION_INDEX/$ICX_SHARD_COUNT)" },
  { long = "--dest", value = "DEST", key = "dest", commands = "run plan status reset verify",
    help = "icx.db (default), a file, sqlite:///PATH, jsonl:DIR, postgresql://..., duckdb:FILE, parquet:DIR, "
      .. "s3://BUCKET/PREFIX"
      -- A build without DuckDB says so where the destinations are listed.
      .. (package.preload["icx.duckdb"] and "" or " (duckdb:, parquet: and s3:// not in this build)") },
  { long = "--state", value = "PATH", key = "state", commands = "run",
    help = "cursors of a jsonl destination (default beside it)" },
  { long = "--full-refresh", key = "full_refresh", commands = "run plan",
    help = "ignore stored cursors: re-read everything" },
  { long = "--since", value = "WHEN", key = "since", commands = "run plan",
    help = "backfill from WHEN whatever the cursor (a first run starts there): YYYY-MM-DD, ISO 8601, Unix s" },
  { long = "--until", value = "WHEN", key = "before", commands = "run plan",
    help = "end the --since window before WHEN; the cursor moves only if the window reaches past it" },
  { long = "--wait", optional = "DURATION", key = "wait", commands = "run",
    help = "wait for another run of an asset (at most DURATION, e.g. --wait=10m) instead of skipping it" },
  { long = "--summary-json", value = "FILE", key = "summary_json", commands = "run",
    help = "write the run's summary as JSON to FILE (- is stdout)" },
  { long = "--metrics-file", value = "PATH", key = "metrics_file", commands = "run",
    help = "write the run's figures in Prometheus text format to PATH (node_exporter's textfile collector)" },
  { long = "--json", key = "json", commands = "status",
    help = "a JSON list instead of a table" },
  { long = "--history", value = "N", key = "history", commands = "status",
    help = "also list each asset's last N runs" },
  { long = "--max-age", value = "DURATION", key = "max_age", commands = "status",
    help = "exit 6 naming each asset whose last success is older than DURATION (e.g. 6h)" },
  { long = "--reconcile", key = "reconcile", commands = "run",
    help = "also delete rows Intercom no longer has (SQLite, PostgreSQL)" },
  { long = "--jobs", short = "-j", value = "N", key = "jobs", commands = "run",
    help = "assets (and time slices) at once (default 8, 4)" },
  { long = "--max-memory", value = "SIZE", key = "max_memory", commands = "run check plan status reset verify list lua",
    help = "cap the Lua heap, e.g. 512M (default: no cap)" },
  { long = "--log-format", value = "FMT", key = "log_format", commands = "*",
    help = "text (default) or json: a JSON object per line" },
  { long = "--verbose", short = "-v", key = "verbose", commands = "*",
    help = "a line per request; tracebacks on errors" },
  { long = "--quiet", short = "-q", key = "quiet", commands = "*",
    help = "errors only: no progress, no live display" },
  { long = "--help", short = "-h", key = "help", commands = "*",
    help = "show this help" },
  { long = "--version", key = "version", commands = "-",
    help = "print the version (as icx version)" },
}

M.COMMANDS, M.OPTIONS = COMMANDS, OPTIONS

local COMMAND_NAMES, BY_COMMAND, FLAGS, FLAG_NAMES = {}, {}, {}, {}
for _, c in ipairs(COMMANDS) do
  COMMAND_NAMES[#COMMAND_NAMES + 1] = c.name
  BY_COMMAND[c.name] = c
end
for _, o in ipairs(OPTIONS) do
  o.takes = {}
  for w in o.commands:gmatch("%S+") do o.takes[w] = true end
  FLAGS[o.long] = o
  FLAG_NAMES[#FLAG_NAMES + 1] = o.long
  if o.short then FLAGS[o.short] = o end
end

-- Whether command `cmd` (nil: none given) takes option o.
local function takes(o, cmd)
  if o.takes["*"] then return true end
  if cmd == nil then return o.takes["-"] or false end
  return o.takes[cmd] or false
end

-- The options a command takes, in table order (icx help, tests).
function M.options_of(cmd)
  local out = {}
  for _, o in ipairs(OPTIONS) do if takes(o, cmd) then out[#out + 1] = o end end
  return out
end

-- "  -j, --jobs N" lines with their help aligned, wrapped at 79 columns.
local function option_lines(list)
  local heads, width = {}, 0
  for i, o in ipairs(list) do
    heads[i] = "  " .. (o.short and (o.short .. ", ") or "    ") .. o.long .. (o.value and (" " .. o.value) or "")
      .. (o.optional and ("[=" .. o.optional .. "]") or "")
    width = math.max(width, #heads[i])
  end
  local out = {}
  for i, o in ipairs(list) do
    for _, line in ipairs(require("icx.text").hang(heads[i] .. (" "):rep(width - #heads[i] + 2), o.help)) do
      out[#out + 1] = line
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- The exit-code table, the same text README and the man page carry.
local EXIT_CODES = require("icx.exitcodes").help()

-- The text of `icx help [COMMAND]`.
function M.help_text(topic)
  if topic == nil or topic == "main" then
    local lines = { "usage: icx COMMAND [options] [ARGS]", "",
      "icx pulls an Intercom workspace (REST API 2.14) into a database.", "", "commands:" }
    local width = 0
    for _, c in ipairs(COMMANDS) do width = math.max(width, #c.name + #c.args + 1) end
    for _, c in ipairs(COMMANDS) do
      local head = c.name .. (c.args ~= "" and (" " .. c.args) or "")
      lines[#lines + 1] = "  " .. head .. (" "):rep(width - #head + 2) .. c.summary
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    return table.concat(lines, "\n") .. "\n" .. option_lines(M.options_of(nil)) .. "\n"
      .. "icx help COMMAND lists a command's options; man icx has the whole manual.\n\n" .. EXIT_CODES
  end
  local c = BY_COMMAND[topic]
  if not c then return nil end
  local opts = M.options_of(topic)
  return ("usage: icx %s%s%s\n\n%s\noptions:\n%s"):format(c.name, #opts > 0 and " [options]" or "",
    c.args ~= "" and (" " .. c.args) or "", c.text, option_lines(opts))
end

local function usage(fmt, ...)
  errors.raise("usage", fmt:format(...) .. " (see icx help)")
end

-- "512M", "2G", "1048576" -> bytes.
local function parse_size(s)
  local n, unit = tostring(s):match("^(%d+)([KkMmGg]?)[Bb]?$")
  if not n then usage("--max-memory '%s' is not a size like 512M", s) end
  local mult = ({ [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 })[unit:lower()]
  local bytes = math.tointeger(tonumber(n) * mult)
  -- Below this the Lua state cannot even load lualib and the scripts, and
  -- the run would die with an internal error instead of this message.
  if not bytes or bytes < 8 * 1024 * 1024 then usage("--max-memory '%s' is below the 8M icx needs", s) end
  return bytes
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian), so dates
-- convert in UTC whatever the machine's timezone (os.time is local).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- --since/--until WHEN -> Unix seconds: YYYY-MM-DD (UTC midnight), ISO
-- 8601 with Z or an offset (no zone: UTC), or Unix seconds.
function M.parse_when(s, flag)
  if s:match("^%d+$") then return math.tointeger(tonumber(s)) end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  local bad = ("%s '%s' is not a date: give YYYY-MM-DD, ISO 8601 (2024-05-01T12:00:00Z) or Unix seconds")
    :format(flag or "--since", s)
  if not y then usage("%s", bad) end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then usage("%s", bad) end
  local secs = 0
  if rest ~= "" then
    local h, mi, sec, frac, zone = rest:match("^[T ](%d%d):(%d%d):?(%d?%d?)(%.?%d*)(.*)$")
    if not h or tonumber(h) > 23 or tonumber(mi) > 59 or tonumber(sec ~= "" and sec or "0") > 60 then
      usage("%s", bad)
    end
    local _ = frac
    secs = tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec ~= "" and sec or "0")
    if zone ~= "" and zone ~= "Z" then
      local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
      if not sign then usage("%s", bad) end
      local off = tonumber(zh) * 3600 + tonumber(zm) * 60
      secs = secs - (sign == "+" and off or -off)
    end
  end
  return days_from_civil(y, mo, d) * 86400 + secs
end

-- argv -> command, opts, positional args. Options may come before or after
-- the command; each must be one the command takes (OPTIONS). `icx lua FILE
-- ...` stops option parsing at FILE so the Lua file gets its own arguments
-- untouched.
function M.parse_args(argv)
  local opts, args, cmd, given = {}, {}, nil, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if cmd == "lua" and #args > 0 then
      args[#args + 1] = a
    elseif a == "--" then
      for j = i + 1, #argv do args[#args + 1] = argv[j] end
      break
    elseif a:sub(1, 1) == "-" and #a > 1 then
      local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      local o = FLAGS[name]
      if not o then usage("unknown option '%s'%s", name, errors.did_you_mean(name, FLAG_NAMES)) end
      if o.value then
        local v = inline
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then usage("option '%s' needs a value", name) end
        end
        opts[o.key] = v
        if o.key == "connection" then
          opts.connections = opts.connections or {}
          opts.connections[#opts.connections + 1] = v
        end
      elseif o.optional then
        -- Only --wait=VALUE: a bare --wait never takes the next argument.
        opts[o.key] = inline or true
      else
        if inline then usage("option '%s' takes no value", name) end
        opts[o.key] = true
      end
      given[#given + 1] = { name = name, option = o }
    elseif not cmd then
      cmd = a
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  if cmd and BY_COMMAND[cmd] then
    for _, g in ipairs(given) do
      if not takes(g.option, cmd) then usage("icx %s does not take %s", cmd, g.name) end
    end
    if cmd ~= "run" and opts.connections and #opts.connections > 1 then
      usage("icx %s takes one --connection", cmd)
    end
  end
  if opts.all_connections and opts.connections then usage("choose one of --all-connections and --connection") end
  if opts.shard then
    local index, count = require("icx.config").parse_shard(opts.shard)
    if not index then usage("--%s", count) end
    opts.shard = { index = index, count = count }
  end
  if opts.jobs then
    -- More workers than 256 only multiply waits on the shared rate budget.
    local n = tonumber(opts.jobs)
    if not n or n < 1 or n > 256 or n ~= math.floor(n) then
      usage("--jobs '%s' must be a whole number >= 1, at most 256", opts.jobs)
    end
    opts.jobs = math.tointeger(n)
  end
  if opts.max_memory then opts.max_memory = parse_size(opts.max_memory) end
  if opts.since then opts.since = M.parse_when(opts.since, "--since") end
  if opts.before then
    opts.before = M.parse_when(opts.before, "--until")
    if not opts.since then usage("--until needs --since: a window has a start (e.g. --since 2026-01-01 --until "
      .. "2026-02-01)") end
    if opts.before <= opts.since then usage("--until must be later than --since") end
  end
  -- Durations keep their text too, for the messages that quote them.
  for _, o in ipairs({ { "wait", "--wait", 0 }, { "max_age", "--max-age", 1 } }) do
    local v = opts[o[1]]
    if type(v) == "string" then
      local secs, why = require("icx.duration").parse(v)
      if not secs or secs < o[3] then usage("%s=%s: %s", o[2], v, why or "must be at least 1 s") end
      opts[o[1]], opts[o[1] .. "_text"] = secs, v
    end
  end
  if opts.history then
    local n = math.tointeger(tonumber(opts.history))
    if not n or n < 1 or n > 1000 then usage("--history '%s' must be a whole number from 1 to 1000", opts.history) end
    opts.history = n
  end
  if opts.log_format and opts.log_format ~= "text" and opts.log_format ~= "json" then
    usage("--log-format '%s' must be text or json", opts.log_format)
  end
  if opts.verbose and opts.quiet then usage("choose one of --verbose and --quiet") end
  return cmd, opts, args
end

-- The configuration file's path: --config, $ICX_CONFIG, ./connections.yml.
local function config_file(opts)
  local path = opts.config or os.getenv("ICX_CONFIG")
  if path == "" then path = nil end
  return path or "connections.yml"
end

-- The configuration file and the chosen connection.
function M.connection(opts, getenv)
  local config = require "icx.config"
  local path = config_file(opts)
  local conn = config.select(config.load(path, getenv), opts.connection, path)
  log.add_secret(conn.access_token)
  return conn, path
end

local handlers = {}

-- `icx init [PATH]` (icx.init_cmd).
function handlers.init(_, args)
  if #args > 1 then usage("icx init takes one PATH") end
  local init = require "icx.init_cmd"
  local path = init.path(args[1])
  init.write(path)
  log.out("wrote %s; next:\n  export INTERCOM_ACCESS_TOKEN=...   # your Intercom app's access token\n"
    .. "  icx check                          # proves the token works\n"
    .. "  icx run all                        # every built-in asset into ./icx.db", path)
  return 0
end

-- `all` among run's (and plan's) assets: every built-in one, in icx list's
-- order, once.
local function expand_all(args)
  local named, out, added = {}, {}, {}
  for _, a in ipairs(args) do if a ~= "all" then named[a] = true end end
  for _, a in ipairs(args) do
    if a ~= "all" then
      -- Named twice is kept: the run refuses two assets writing one table.
      out[#out + 1] = a
    else
      for _, n in ipairs(require("icx.assets").names()) do
        if not named[n] and not added[n] then out[#out + 1], added[n] = n, true end
      end
    end
  end
  return out
end

function handlers.version()
  log.out("icx %s (Lua %s, Intercom API 2.14)", VERSION, _VERSION:match("%d+%.%d+"))
  return 0
end

function handlers.help(_, args)
  local text = M.help_text(args[1])
  if not text then usage("no help for '%s'%s", args[1], errors.did_you_mean(args[1], COMMAND_NAMES)) end
  io.stdout:write(text)
  return 0
end

-- `icx list`: the built-in assets, one line each, columns aligned.
function handlers.list()
  local assets = require "icx.assets"
  local rows, w = {}, { 0, 0, 0, 0 }
  for _, name in ipairs(assets.names()) do
    local d = assets.describe((assets.load(name)))
    local row = { d.name, d.tables, d.mode, d.endpoint, d.cost }
    for k = 1, 4 do w[k] = math.max(w[k], #row[k], 6) end
    rows[#rows + 1] = row
  end
  local function line(r)
    local cells = {}
    for k = 1, 4 do cells[k] = r[k] .. (" "):rep(w[k] - #r[k]) end
    cells[5] = r[5]
    log.out("%s", table.concat(cells, "  "))
  end
  line { "ASSET", "TABLES", "MODE", "ENDPOINT", "COST" }
  for _, r in ipairs(rows) do line(r) end
  return 0
end

function handlers.lua(_, args)
  local file = args[1]
  if not file then usage("icx lua needs a FILE") end
  local chunk, err = loadfile(file, "t")
  if not chunk then errors.raise("script", err) end
  _G.arg = { [0] = file, table.unpack(args, 2) }
  -- Tests end with os.exit(code): close the state on the way out so the
  -- sanitizer and valgrind runs see every allocation freed.
  local exit = os.exit
  os.exit = function(code, close) return exit(code, close ~= false) end -- luacheck: ignore 122
  local ok, res = xpcall(chunk, require("icx.sys").traceback, table.unpack(args, 2))
  if not ok then
    log.error("%s", tostring(res))
    return 1
  end
  return math.type(res) == "integer" and res or 0
end

-- `icx check`: GET /me, then the workspace, the admin and the region on
-- stdout; exit 2 when Intercom refuses the token.
function handlers.check(opts)
  local conn = M.connection(opts)
  -- A host that does not resolve or answer fails at once: check is the
  -- interactive probe, not a run to carry through a blip.
  local client = require("icx.client").new(conn, { fail_fast = true })
  local ok, me = pcall(client.me, client)
  if not ok then
    if errors.is(me) and me.kind == "http" then
      log.error("%s", tostring(me))
      -- A rejected token is a configuration error, as for run (exit 2).
      return (me.status == 401 or me.status == 403) and 2 or 1
    end
    error(me, 0)
  end
  local app = type(me.app) == "table" and me.app or {}
  local function s(v) return (type(v) == "string" or type(v) == "number") and tostring(v) or "?" end
  log.out("connection  %s", conn.name)
  log.out("workspace   %s (id %s)", s(app.name), s(app.id_code))
  log.out("admin       %s <%s> (id %s)", s(me.name), s(me.email), s(me.id))
  local region = type(app.region) == "string" and app.region or conn.region
  log.out("region      %s (%s)", s(region), client.base_url)
  return 0
end

-- The destination `icx plan --dest` reads cursors from, if it exists yet
-- (plan never creates one).
local function existing_dest(uri, opts)
  opts = opts or {}
  return require("icx.dest").open(uri, { state = opts.state, existing = true })
end

-- Plan sends no request, so the token's variable may be unset: its value
-- is never read (the file's other checks still apply).
function handlers.plan(opts, args)
  args = expand_all(args)
  if #args == 0 then usage("icx plan needs at least one ASSET (a name from icx list, or a script path)") end
  local runner = require "icx.runner"
  local specs = runner.load_scripts(args)
  require("icx.backfill").check(specs, opts.since)
  local unset = {}
  local conn = M.connection(opts, function(name)
    local v = os.getenv(name)
    if v == nil then unset[#unset + 1] = name end
    return v or "(unset)"
  end)
  if #unset > 0 then
    log.info("$%s is not set: fine for a plan, which sends no request", table.concat(unset, ", $"))
  end
  local uri, named = require("icx.dest").choose(opts.dest, conn)
  local d = named and not opts.full_refresh and existing_dest(uri)
  if named and not d and not opts.full_refresh then
    log.info("%s does not exist yet: showing a first run", require("icx.dest").shown(uri))
  end
  local ok, res = pcall(runner.plan, { connection = conn, dest = d, since = opts.since, before = opts.before,
    full_refresh = opts.full_refresh }, specs)
  if d then d:close() end
  if not ok then error(res, 0) end
  return res
end

-- The token preflight: one GET /me before anything else, so a rejected
-- token is one clear message (exit 2) and the destination is not even
-- created. Returns the decoded /me.
local function preflight(client, conn, config_path)
  local ok, me = pcall(client.me, client)
  if ok then return me end
  if errors.is(me) and (me.status == 401 or me.status == 403) then
    errors.raise("config", ("connection '%s': Intercom refused the access token (HTTP %d%s); check access_token "
      .. "of connection '%s' in %s and that the token belongs to the intended workspace. Nothing was written")
      :format(conn.name, me.status, me.intercom_message and (": " .. me.intercom_message) or "", conn.name,
        config_path), { code = "token_rejected", status = me.status })
  end
  error(me, 0)
end

-- One workspace per destination: the first run records the workspace the
-- destination holds (Intercom's app id_code); a token of another workspace
-- is refused before anything is written.
local function check_workspace(d, uri, conn, me)
  local app = type(me.app) == "table" and me.app or {}
  local id = type(app.id_code) == "string" and app.id_code or nil
  if not id then
    log.warn("GET /me names no workspace (app.id_code); the destination's workspace is not checked")
    return
  end
  local held = d:meta_get("workspace_id")
  if held == nil then
    d:meta_set("workspace_id", id)
    if type(app.name) == "string" then d:meta_set("workspace_name", app.name) end
  elseif held ~= id then
    errors.raise("config", ("--dest %s holds workspace '%s' (id %s), but connection '%s' is workspace '%s' "
      .. "(id %s); one destination holds one workspace: give this connection a --dest of its own")
      :format(require("icx.dest").shown(uri), tostring(d:meta_get("workspace_name") or "?"), held, conn.name,
        tostring(app.name or "?"), id), { code = "workspace_mismatch" })
  end
end

-- Writes the run summary where --summary-json says (- is stdout).
local function write_summary(where, summary)
  local text = require("icx.json").encode(summary) .. "\n"
  if where == "-" then
    io.stdout:write(text)
    io.stdout:flush()
    return
  end
  local f, err = io.open(where, "wb")
  if not f then errors.raise("usage", ("--summary-json: cannot write '%s': %s"):format(where, err)) end
  f:write(text)
  f:close()
end

-- The summary of a run that ended before any asset started (a bad token,
-- a lock, a configuration error).
local function failed_summary(e, started)
  local json = require "icx.json"
  local lineage = require "icx.lineage"
  return { status = "error", exit_code = errors.exit_code(e), requests = 0, run_id = lineage.run_id(),
    icx_version = lineage.version(),
    seconds = require("icx.sys").now() - started, assets = setmetatable({}, json.array_mt),
    failed = setmetatable({}, json.array_mt),
    error = { kind = errors.is(e) and e.kind or "internal", message = log.redact(tostring(errors.is(e) and e or e)) } }
end

-- A destination error raised outside any asset (opening, locking, the
-- workspace record) names the destination and what to check.
local DEST_HINTS = {
  readonly = "the file or its directory is read-only or immutable (chmod, chattr -i), or the disk is mounted "
    .. "read-only",
  full = "the disk is full: free space and run again; every committed page is kept",
}
local function name_dest(e, uri)
  local shown = require("icx.dest").shown(uri)
  if errors.is(e) and e.kind == "dest" and not e.named and not e.message:find(shown, 1, true) then
    e.named = true
    e.message = ("destination '%s': %s%s"):format(shown, e.message,
      DEST_HINTS[e.code] and (" (" .. DEST_HINTS[e.code] .. ")") or "")
  end
  return e
end

-- Everything before a workspace's assets run: scripts, connection (given
-- by run_many, else from the file), destination opened and locked, token
-- and workspace checked. Returns the runner's env (env.dest open) and specs.
local function prepare(opts, args, conn, cfg_path)
  local runner = require "icx.runner"
  local dest = require "icx.dest"
  if opts.dest then dest.parse(opts.dest) end
  local specs = runner.load_scripts(args)
  require("icx.backfill").check(specs, opts.since)
  local many = conn ~= nil
  local config_path = cfg_path
  if not many then conn, config_path = M.connection(opts) end
  local uri = dest.choose(opts.dest, conn)
  opts.dest = uri -- what messages of a failed run name
  dest.parse(uri)
  if opts.reconcile and not dest.driver(uri).reads_keys then
    errors.raise("usage", "--reconcile needs a SQLite destination (or PostgreSQL): it reads the ids that landed, and "
      .. "JSONL files are append-only (see icx help run)")
  end
  local client = require("icx.client").new(conn, { verbose = opts.verbose })
  local env = { dest_shown = dest.shown(uri), connection = conn, client = client,
    full_refresh = opts.full_refresh, jobs = opts.jobs, reconcile = opts.reconcile, verbose = opts.verbose,
    since = opts.since, before = opts.before, wait = opts.wait, wait_text = opts.wait_text, many = many }
  -- An existing destination is locked before the preflight, so a second
  -- run of a running asset is skipped at once (exit 4 with nothing else to
  -- run, and no request); a new one is created only once the token is
  -- known to work.
  local d = existing_dest(uri, { state = opts.state })
  if d then
    env.dest = d
    local lok, locks, skipped = pcall(runner.lock_each, env, specs)
    if not lok then
      d:close()
      error(locks, 0)
    end
    env.locks, env.skipped = locks, skipped
    if #locks == 0 and #specs > 0 then
      env.no_preflight = true
      return env, specs
    end
  end
  local pok, me = pcall(preflight, client, conn, config_path)
  if not pok then
    if d then d:close() end
    error(me, 0)
  end
  d = d or dest.open(uri, { state = opts.state })
  env.dest = d
  -- Contact search counts whole days of the workspace's timezone.
  env.timezone = type(me.app) == "table" and me.app.timezone or nil
  local wok, werr = pcall(function()
    check_workspace(d, uri, conn, me)
    -- The run's first line: what a --since window does with each cursor.
    require("icx.backfill").announce(env, specs)
  end)
  if not wok then
    d:close()
    error(werr, 0)
  end
  return env, specs
end

local function run(opts, args)
  local env, specs = prepare(opts, args)
  -- On a terminal, the live display (icx.display) replaces progress lines.
  local display = require "icx.display"
  local live = display.wanted(2) and display.start { budget = env.connection.rate_limit } or nil
  local ok, code, summary = pcall(require("icx.runner").run, env, specs)
  if live then live:stop() end
  env.dest:close()
  if not ok then error(code, 0) end
  if not env.no_preflight then summary.requests = summary.requests + 1 end -- the preflight
  return code, summary
end

-- The shard this process pulls: --shard, else a Kubernetes Indexed Job's
-- JOB_COMPLETION_INDEX with ICX_SHARD_COUNT (both set), else none.
local function shard_of(opts)
  if opts.shard then return opts.shard end
  local index, count = os.getenv("JOB_COMPLETION_INDEX"), os.getenv("ICX_SHARD_COUNT")
  if not index or index == "" or not count or count == "" then return nil end
  local i, n = require("icx.config").parse_shard(index .. "/" .. count)
  if not i then usage("JOB_COMPLETION_INDEX/ICX_SHARD_COUNT: %s", n) end
  return { index = i, count = n }
end

-- Several workspaces in one process, each with its own client (its own
-- rate budget: Intercom's limit is per workspace), destination ({connection}
-- in --dest) and locks; a failure in one leaves the others running. Two
-- rounds of the scheduler: every workspace prepared at once (preflights in
-- flight together), then every workspace's assets at once, so a signal
-- stops them all the way it stops one run. Returns the worst exit code and
-- a summary naming each workspace.
local function run_many(opts, args, shard, started)
  local config, dest, sched = require "icx.config", require "icx.dest", require "icx.sched"
  local json, sys = require "icx.json", require "icx.sys"
  local path = config_file(opts)
  -- A shard is a share of every connection unless --connection names them.
  local all = opts.all_connections or (shard ~= nil and not opts.connections)
  local conns = config.select_many(config.load(path), opts.connections or {}, all, path)
  if shard then conns = config.shard(conns, shard.index, shard.count) end
  local uri = dest.choose(opts.dest)
  -- One workspace per destination: each needs a destination of its own.
  for _, o in ipairs({ { "--dest", uri }, { "--state", opts.state } }) do
    if o[2] and not o[2]:find("{connection}", 1, true) then
      usage("several workspaces need %s with {connection} (e.g. --dest 'icx-{connection}.db' or "
        .. "'postgresql://.../db?schema=intercom_{connection}'): one destination holds one workspace", o[1])
    end
  end
  -- Everything is checked before any request: scripts, names, destinations.
  require("icx.runner").load_scripts(args)
  for _, c in ipairs(conns) do
    dest.parse(config.dest_for(uri, c))
    log.add_secret(c.access_token)
  end
  local names = {}
  for i, c in ipairs(conns) do names[i] = c.name end
  local shown = shard and ("%d/%d"):format(shard.index, shard.count) or nil
  if #conns == 0 then log.info("shard %s holds no connection: nothing to pull", shown) end
  log.event("workspaces_start", { connections = setmetatable(names, json.array_mt), shard = shown })
  local budget = 0
  for _, c in ipairs(conns) do budget = budget + (c.rate_limit or 166) end
  local display = require "icx.display"
  local live = #conns > 0 and display.wanted(2) and display.start { budget = budget, many = true } or nil
  local results, prepared, dests = {}, {}, {}
  local function failed(i, e)
    e = name_dest(e, dests[i])
    log.error("%s: %s", conns[i].name, tostring(e))
    local s = failed_summary(e, started)
    if errors.is(e) and e.kind == "interrupted" then s.status = "interrupted" end
    results[i] = s
  end
  for i, c in ipairs(conns) do
    dests[i] = config.dest_for(uri, c)
    sched.spawn(function()
      local o = setmetatable({ dest = dests[i], state = opts.state and config.dest_for(opts.state, c) },
        { __index = opts })
      local ok, env, specs = pcall(prepare, o, args, c, path)
      if ok then prepared[i] = { env = env, specs = specs } else failed(i, env) end
    end)
  end
  local function drive()
    for _, r in ipairs(sched.run()) do
      if not r.ok then error(r.error, 0) end
    end
  end
  local ok, err = pcall(function()
    drive()
    local finish = {}
    for i = 1, #conns do
      local p = prepared[i]
      if p then
        local sok, f = pcall(require("icx.runner").start, p.env, p.specs)
        if sok then finish[i] = f else failed(i, f) end
      end
    end
    drive()
    for i = 1, #conns do
      if finish[i] then
        local fok, code, summary = pcall(finish[i])
        if fok then
          if not prepared[i].env.no_preflight then summary.requests = summary.requests + 1 end -- the preflight
          results[i] = summary
        else
          failed(i, code)
        end
      end
    end
  end)
  for i = 1, #conns do
    if prepared[i] then prepared[i].env.dest:close() end
  end
  if live then live:stop() end
  if not ok then error(err, 0) end
  for i, c in ipairs(conns) do results[i].connection, results[i].dest = c.name, dest.shown(dests[i]) end
  local lineage = require "icx.lineage"
  local summary = { exit_code = 0, requests = 0, seconds = sys.now() - started, shard = shown or json.null,
    run_id = lineage.run_id(), icx_version = lineage.version(), skipped = setmetatable({}, json.array_mt),
    workspaces = setmetatable({}, json.array_mt), assets = setmetatable({}, json.array_mt),
    failed = setmetatable({}, json.array_mt) }
  local count = { ok = 0, interrupted = 0 }
  for i, w in ipairs(results) do
    -- The process exits with the worst code any workspace had.
    summary.exit_code = require("icx.exitcodes").worst(summary.exit_code, w.exit_code)
    summary.requests = summary.requests + w.requests
    count[w.status] = (count[w.status] or 0) + 1
    summary.workspaces[i] = { connection = w.connection, dest = w.dest, status = w.status, exit_code = w.exit_code,
      requests = w.requests, seconds = w.seconds, failed = w.failed, error = w.error or json.null }
    for _, a in ipairs(w.assets) do
      summary.assets[#summary.assets + 1] = a
      if a.status == "failed" then summary.failed[#summary.failed + 1] = w.connection .. "/" .. a.asset end
      if a.status == "skipped" then summary.skipped[#summary.skipped + 1] = w.connection .. "/" .. a.asset end
    end
    if w.status == "error" then summary.failed[#summary.failed + 1] = w.connection end
  end
  summary.status = count.interrupted > 0 and "interrupted" or count.ok == #results and "ok"
    or count.ok == 0 and #results > 0 and "failed" or "partial"
  log.event("workspaces_end", { status = summary.status, exit_code = summary.exit_code, requests = summary.requests,
    seconds = summary.seconds, failed = summary.failed }, summary.exit_code == 0 and "info" or "error")
  return summary.exit_code, summary
end

function handlers.run(opts, args)
  args = expand_all(args)
  -- Every JSON event of this run carries its id (icx.lineage).
  log.stamp.run_id = require("icx.lineage").run_id()
  if #args == 0 then
    usage("icx run needs at least one ASSET (e.g. icx run contacts companies; icx list shows them)")
  end
  local started = require("icx.sys").now()
  local ok, code, summary = pcall(function()
    local shard = shard_of(opts)
    if shard or opts.all_connections or (opts.connections and #opts.connections > 1)
      or (opts.dest or ""):find("{connection}", 1, true) then
      return run_many(opts, args, shard, started)
    end
    return run(opts, args)
  end)
  if not ok then
    code = name_dest(code, opts.dest or "icx.db")
    local s = failed_summary(code, started)
    if opts.summary_json then
      M.summary_written = true
      write_summary(opts.summary_json, s)
    end
    if opts.metrics_file then
      local mok, merr = pcall(require("icx.metrics").write, opts.metrics_file, s, opts.connection)
      if not mok then log.error("%s", tostring(merr)) end
    end
    error(code, 0)
  end
  if opts.summary_json then
    M.summary_written = true
    write_summary(opts.summary_json, summary)
  end
  if opts.metrics_file then require("icx.metrics").write(opts.metrics_file, summary, opts.connection) end
  return code
end

-- The --summary-json FILE of an `icx run` command line, read leniently:
-- the parser may be what refused it, and the summary is still owed.
local function summary_target(argv)
  local cmd, target, i = nil, nil, 1
  while i <= #argv and argv[i] ~= "--" do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    local o = FLAGS[name or a]
    if o and o.value then
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
      end
      if o.key == "summary_json" then target = v end
    elseif a:sub(1, 1) ~= "-" and not cmd then
      cmd = a
    end
    i = i + 1
  end
  return cmd == "run" and target or nil
end

-- An existing destination for status and reset (neither creates one),
-- named as for run; the configuration is read for its destination: only,
-- so an unset token variable does not stop them.
local function open_existing(opts)
  local dest, conn = require "icx.dest", nil
  if not opts.dest and (os.getenv("ICX_DEST") or "") == "" then
    local path = opts.config or os.getenv("ICX_CONFIG")
    if path == "" or path == nil then path = "connections.yml" end
    local f = io.open(path, "rb")
    if f then
      f:close()
      local config = require "icx.config"
      local conns = config.load(path, nil, true)
      if opts.connection or #conns == 1 then
        conn = config.select(conns, opts.connection, path)
      else
        for _, c in ipairs(conns) do
          if c.destination then usage("%s names a destination per connection: give --dest or $ICX_DEST", path) end
        end
      end
    end
  end
  local uri = dest.choose(opts.dest, conn)
  local d = existing_dest(uri)
  if not d then
    usage("no destination at '%s' yet (give --dest, or run icx run first)", require("icx.dest").shown(uri))
  end
  return d
end

-- `icx status`: per asset, the cursor, the last run, success and failure,
-- the last check (icx.status); exit 6 for --max-age's stale assets.
function handlers.status(opts)
  local d = open_existing(opts)
  local ok, code = pcall(require("icx.status").report, d, opts)
  d:close()
  if not ok then error(code, 0) end
  return code
end

-- `icx verify [ASSET...]`: the completeness check over the stored history
-- (icx.completeness), healing and reporting as after a run.
function handlers.verify(opts, args)
  -- Its events carry a run id as a run's do (icx.lineage): a verify that
  -- heals writes rows, and ops tooling joins its lines by that id.
  log.stamp.run_id = require("icx.lineage").run_id()
  local runner = require "icx.runner"
  local dest = require "icx.dest"
  local conn, config_path = M.connection(opts)
  local uri = dest.choose(opts.dest, conn)
  dest.parse(uri)
  if not dest.driver(uri).reads_keys then
    usage("icx verify needs a SQLite or PostgreSQL destination: it counts the rows that landed, and JSONL files "
      .. "cannot be read back")
  end
  opts.dest = uri
  local d = open_existing(opts)
  local ok, code = pcall(function()
    local names, named = args, #args > 0
    if not named then
      names = {}
      for _, r in ipairs(d:status()) do
        if r.connection == conn.name and require("icx.builtin").script(r.asset) then names[#names + 1] = r.asset end
      end
    end
    -- Verifying conversations verifies the parts stored beside them too.
    local specs = runner.load_scripts(require("icx.partcheck").with_parts(names, d, conn.name))
    local client = require("icx.client").new(conn, { verbose = opts.verbose })
    local env = { connection = conn, client = client, dest = d }
    local locks = runner.lock_all(env, specs)
    local me = preflight(client, conn, config_path)
    check_workspace(d, uri, conn, me)
    env.timezone = type(me.app) == "table" and me.app.timezone or nil
    local vok, res = pcall(require("icx.completeness").verify_all, env, specs, named)
    for _, lk in ipairs(locks) do lk:release() end
    if not vok then error(res, 0) end
    return res
  end)
  d:close()
  if not ok then error(name_dest(code, uri), 0) end
  return code
end

-- `icx reset ASSET...`: clears stored cursors; nothing else changes.
function handlers.reset(opts, args)
  if #args == 0 then usage("icx reset needs at least one ASSET (see icx status)") end
  local d = open_existing(opts)
  local ok, err = pcall(function()
    local known, conns = {}, {}
    for _, r in ipairs(d:status()) do
      known[#known + 1] = r.asset
      conns[r.asset] = conns[r.asset] or {}
      conns[r.asset][#conns[r.asset] + 1] = r.connection
    end
    for _, asset in ipairs(args) do
      if not conns[asset] then
        usage("no asset '%s' in this destination%s", asset, errors.did_you_mean(asset, known))
      end
    end
    local held = {}
    for _, asset in ipairs(args) do
      for _, c in ipairs(conns[asset]) do
        if not opts.connection or opts.connection == c then
          local lk, holder = d:lock(c, asset)
          if not lk then
            errors.raise("locked", ("%s: a run holds it (%s); not reset"):format(asset, holder), { code = "locked" })
          end
          held[#held + 1] = lk
        end
      end
    end
    for _, asset in ipairs(args) do
      local n = d:reset(opts.connection, asset)
      log.out("%s: %s", asset, n > 0 and ("cleared %d stored cursor%s; the next run re-reads it whole")
        :format(n, n == 1 and "" or "s") or "no stored cursor (nothing to clear)")
    end
    for _, lk in ipairs(held) do lk:release() end
  end)
  d:close()
  if not ok then error(err, 0) end
  return 0
end

-- Entry point from main.c.
function M.main(argv)
  local started = require("icx.sys").now()
  M.summary_written = false
  local ok, res = xpcall(function()
    local cmd, opts, args = M.parse_args(argv)
    if opts.version and not cmd then cmd = "version" end
    if opts.help then return handlers.help(opts, { cmd }) end
    if not cmd then
      -- Bare `icx`: the usage on stderr, exit 2 (as a usage error).
      io.stderr:write(M.help_text())
      return 2
    end
    local h = handlers[cmd]
    if not h then usage("unknown command '%s'%s", cmd, errors.did_you_mean(cmd, COMMAND_NAMES)) end
    log.level = opts.quiet and 0 or opts.verbose and 2 or 1
    log.format = opts.log_format or "text"
    log.stamp.icx_version = VERSION
    -- Off a terminal (cron mail, CI, a pod's log) lines say when.
    log.timestamps = log.format == "text" and not require("icx.sys").isatty(2)
    M.verbose = opts.verbose
    if opts.max_memory then require("icx.sys").set_memory_limit(opts.max_memory) end
    return h(opts, args)
  end, function(e)
    if errors.is(e) then return e end
    return errors.new("internal", tostring(e), { traceback = require("icx.sys").traceback(nil, 2) })
  end)
  if ok then return res end
  -- Lua raises memory errors without calling the message handler, so they
  -- arrive here as the bare string; by now the heap has room again.
  if type(res) == "string" and res:find("not enough memory", 1, true) then
    collectgarbage()
    local limit = select(3, require("icx.sys").memory())
    res = errors.new("run", limit > 0
      and ("out of memory: the Lua heap reached --max-memory (%d bytes); raise it"):format(limit)
      or "out of memory")
  end
  local code = errors.exit_code(res)
  -- Every `icx run` writes its summary, also one refused before it began
  -- (a bad option, an unreadable configuration).
  local where = not M.summary_written and summary_target(argv)
  if where then
    local wok, werr = pcall(write_summary, where, failed_summary(res, started))
    if not wok then log.error("%s", tostring(werr)) end
  end
  if res.kind == "internal" then
    log.error("internal error: %s", res.message)
    if M.verbose and res.traceback then log.error("%s", res.traceback) end
  else
    log.error("%s", tostring(res))
    if M.verbose and res.traceback then log.error("%s", res.traceback) end
  end
  return code
end

return M
