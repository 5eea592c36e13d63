-- The command line: parses arguments, loads configuration, dispatches.
-- main() returns the exit code; nothing here calls os.exit.
local errors = require "icx.errors"
local log = require "icx.log"

local M = {}

local VERSION = "0.1.0"

local HELP = {
  main = [[
usage: icx COMMAND [options] [ARGS]

icx pulls an Intercom workspace (REST API 2.14) into a database.

commands:
  run SCRIPT...      run asset scripts, e.g. icx run scripts/*.lua
  check              call GET /me: proves the token works, shows the workspace
  plan SCRIPT...     validate scripts and config offline; show the first request
  lua FILE [ARGS]    run a Lua file with icx's modules (tests, tooling)
  version            print the version
  help [COMMAND]     this text, or a command's

options:
  --config FILE      connections file (default $ICX_CONFIG, else ./connections.yml)
  --connection NAME  which intercom connection (needed when the file has several)
  --dest DEST        icx.db (default), PATH, sqlite:///rel.db, sqlite:////abs.db,
                     jsonl:- (stdout) or jsonl:DIR
  --state PATH       state database for jsonl destinations
  --full-refresh     ignore stored cursors and re-read everything (merge still applies)
  --reconcile        also remove rows of records Intercom no longer has (see icx help run)
  -j, --jobs N       assets run at once (default: all given, at most 8)
  --max-memory SIZE  cap the Lua heap, e.g. 512M (default: no cap)
  -v, --verbose      log every request (token redacted) and show tracebacks
  -q, --quiet        only errors
  -h, --help         help

exit codes:
  0  success
  1  the run failed (an API, network or destination error; see the message)
  2  usage or configuration error (found before any request is sent)
  3  internal error (a bug in icx: please report it)
  130, 143  stopped by SIGINT (Ctrl-C) or SIGTERM; committed pages are kept
]],
  run = [[
usage: icx run [options] SCRIPT...

Runs each asset script and lands its records in --dest. Assets run at once
(-j), share one rate budget, and commit independently: one failing asset does
not roll back the others, and the exit code is 1 if any failed. Incremental
assets resume from the cursor stored with their last committed page.

--reconcile also finds records deleted in Intercom (or contacts merged away):
Intercom keeps no tombstones, so each asset that supports it lists every id
(about one request per 150 records; a search listing walks time slices at
once), reads back by id each row missing from that listing, and deletes only
those Intercom answers 404 for, with their child rows, noting each in
_icx_deleted. A row the walks had skipped but Intercom still has is landed
instead. Needs a SQLite destination.

SIGINT (Ctrl-C) or SIGTERM stops the run between pages, even during a retry
wait: what committed stays, _icx_runs says "interrupted", and the exit code is
128 + the signal's number. A second signal stops icx at once (still safe: an
uncommitted page is rolled back when the file is next opened).
]],
  check = [[
usage: icx check [--config FILE] [--connection NAME]

Calls GET /me and prints the workspace, the admin and the region, so a new
token can be tried before a long run. Exit 1 when the token is rejected.
]],
  plan = [[
usage: icx plan [options] SCRIPT...

Validates the configuration and each script without touching the network,
and prints the first request each script would send.
]],
  lua = [[
usage: icx lua FILE [ARGS]

Runs FILE with the full Lua standard library and every icx module
preloaded; `arg` holds ARGS. Used by the test suite and for tooling.
]],
  version = "usage: icx version\n",
  help = "usage: icx help [COMMAND]\n",
}

local COMMANDS = { "run", "check", "plan", "lua", "version", "help" }

-- Flags: name -> {takes value?, key in opts}.
local FLAGS = {
  ["--config"] = { true, "config" }, ["--connection"] = { true, "connection" },
  ["--dest"] = { true, "dest" }, ["--state"] = { true, "state" },
  ["--full-refresh"] = { false, "full_refresh" }, ["--jobs"] = { true, "jobs" },
  ["--reconcile"] = { false, "reconcile" },
  ["-j"] = { true, "jobs" }, ["--max-memory"] = { true, "max_memory" },
  ["--verbose"] = { false, "verbose" }, ["-v"] = { false, "verbose" },
  ["--quiet"] = { false, "quiet" }, ["-q"] = { false, "quiet" },
  ["--help"] = { false, "help" }, ["-h"] = { false, "help" },
  ["--version"] = { false, "version" },
}
local FLAG_NAMES = {}
for k in pairs(FLAGS) do if k:sub(1, 2) == "--" then FLAG_NAMES[#FLAG_NAMES + 1] = k end end
table.sort(FLAG_NAMES)

local function usage(fmt, ...)
  errors.raise("usage", fmt:format(...) .. " (see icx help)")
end

-- "512M", "2G", "1048576" -> bytes.
local function parse_size(s)
  local n, unit = tostring(s):match("^(%d+)([KkMmGg]?)[Bb]?$")
  if not n then usage("--max-memory '%s' is not a size like 512M", s) end
  local mult = ({ [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 })[unit:lower()]
  return math.tointeger(tonumber(n) * mult)
end

-- argv -> command, opts, positional args. `icx lua FILE ...` stops option
-- parsing at FILE so the Lua file gets its own arguments untouched.
function M.parse_args(argv)
  local opts, args, cmd = {}, {}, nil
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
      local flag = FLAGS[name]
      if not flag then usage("unknown option '%s'%s", name, errors.did_you_mean(name, FLAG_NAMES)) end
      if flag[1] then
        local v = inline
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then usage("option '%s' needs a value", name) end
        end
        opts[flag[2]] = v
      else
        if inline then usage("option '%s' takes no value", name) end
        opts[flag[2]] = true
      end
    elseif not cmd then
      cmd = a
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  if opts.jobs then
    local n = tonumber(opts.jobs)
    if not n or n < 1 or n ~= math.floor(n) then usage("--jobs '%s' must be a whole number >= 1", opts.jobs) end
    opts.jobs = math.tointeger(n)
  end
  if opts.max_memory then opts.max_memory = parse_size(opts.max_memory) end
  if opts.verbose and opts.quiet then usage("choose one of --verbose and --quiet") end
  return cmd, opts, args
end

-- The configuration file and the chosen connection.
function M.connection(opts)
  local config = require "icx.config"
  local path = opts.config or os.getenv("ICX_CONFIG")
  if path == "" then path = nil end
  path = path or "connections.yml"
  local conn = config.select(config.load(path), opts.connection, path)
  log.add_secret(conn.access_token)
  return conn, path
end

local handlers = {}

function handlers.version()
  log.out("icx %s (Lua %s, Intercom API 2.14)", VERSION, _VERSION:match("%d+%.%d+"))
  return 0
end

function handlers.help(_, args)
  local topic = args[1] or "main"
  local text = HELP[topic]
  if not text then usage("no help for '%s'%s", topic, errors.did_you_mean(topic, COMMANDS)) end
  io.stdout:write(text)
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
  os.exit = function(code, close) return exit(code, close ~= false) end
  local ok, res = xpcall(chunk, require("icx.sys").traceback, table.unpack(args, 2))
  if not ok then
    log.error("%s", tostring(res))
    return 1
  end
  return math.type(res) == "integer" and res or 0
end

-- `icx check`: GET /me, then the workspace, the admin and the region on
-- stdout; exit 1 when Intercom refuses the token.
function handlers.check(opts)
  local conn = M.connection(opts)
  local client = require("icx.client").new(conn)
  local ok, me = pcall(client.me, client)
  if not ok then
    if errors.is(me) and me.kind == "http" then
      log.error("%s", tostring(me))
      return 1
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
local function existing_dest(uri)
  local dest = require "icx.dest"
  local kind, target = dest.parse(uri)
  if kind == "sqlite" then
    local f = io.open(target, "rb")
    if not f then return nil end
    f:close()
  end
  return dest.open(uri)
end

function handlers.plan(opts, args)
  if #args == 0 then usage("icx plan needs at least one SCRIPT") end
  local runner = require "icx.runner"
  local specs = runner.load_scripts(args)
  local conn = M.connection(opts)
  local d = opts.dest and existing_dest(opts.dest)
  if opts.dest and not d then log.info("%s does not exist yet: showing a first run", opts.dest) end
  local ok, res = pcall(runner.plan, { connection = conn, dest = d }, specs)
  if d then d:close() end
  if not ok then error(res, 0) end
  return res
end

function handlers.run(opts, args)
  if #args == 0 then usage("icx run needs at least one SCRIPT (e.g. icx run scripts/*.lua)") end
  local runner = require "icx.runner"
  local dest = require "icx.dest"
  local specs = runner.load_scripts(args)
  local conn = M.connection(opts)
  local uri = opts.dest or "icx.db"
  if opts.reconcile and dest.parse(uri) == "jsonl" then
    errors.raise("usage", "--reconcile needs a SQLite destination: it reads the ids that landed, and "
      .. "JSONL files are append-only (see icx help run)")
  end
  local d = dest.open(uri, { state = opts.state })
  local client = require("icx.client").new(conn, { verbose = opts.verbose })
  local env = { dest = d, connection = conn, client = client, full_refresh = opts.full_refresh,
    jobs = opts.jobs, reconcile = opts.reconcile, verbose = opts.verbose }
  local ok, res = pcall(runner.run, env, specs)
  d:close()
  if not ok then error(res, 0) end
  return res
end

-- Entry point from main.c.
function M.main(argv)
  local ok, res = xpcall(function()
    local cmd, opts, args = M.parse_args(argv)
    if opts.version and not cmd then cmd = "version" end
    if opts.help or not cmd then return handlers.help(opts, { cmd }) end
    local h = handlers[cmd]
    if not h then usage("unknown command '%s'%s", cmd, errors.did_you_mean(cmd, COMMANDS)) end
    log.level = opts.quiet and 0 or opts.verbose and 2 or 1
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
