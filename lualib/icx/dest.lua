-- Destinations: where records land. `--dest` picks one driver from the
-- registry below:
--   icx.db, path/x.db, sqlite:///rel.db, sqlite:////abs.db   SQLite (default)
--   jsonl:-                                                  stdout lines
--   jsonl:DIR                                                DIR/TABLE.jsonl
--   postgresql://user:pw@host:port/db?schema=S (or postgres://)   PostgreSQL
--   duckdb:FILE                                              DuckDB
--   parquet:DIR                                              Parquet files
--   s3://BUCKET/PREFIX                                       Parquet files on S3
-- A destination is a Store plus a Writer plus their shared transaction,
-- written once in icx.dest.base, whose header lists the surface the runner
-- drives (d.kind, d:transaction, d:table{}, t:write, d:cursor_get ...).
--
--   dest.choose(given, conn) -> uri, named   where records land: --dest
--                       (given), else $ICX_DEST, else the connection's
--                       destination: in connections.yml, else icx.db (named
--                       false: the default, which nothing named)
--   dest.parse(uri) -> kind, target
--   dest.open(uri [, opts]) -> Dest | nil   opts: state, busy_timeout, existing
--                                        (nil when it does not exist yet)
--   dest.shown(uri) -> uri with any password masked, for messages
--   dest.driver(uri) -> the driver module that takes uri (what it declares:
--                       name, title, state, reads_keys ..., see icx.dest.base)
--   dest.drivers() -> the registered driver modules, in order
local base = require "icx.dest.base"
local errors = require "icx.errors"
local keys = require "icx.keys"
local url = require "icx.url"

local M = {}

-- The registry: every destination icx knows, in the order messages list
-- them. A URI goes to the driver whose scheme it names, a plain path to the
-- one that takes paths. Each module declares what base.DRIVER lists (the
-- URIs it takes, whether it takes --state, how it shows a URI, how
-- `existing` probes it in its open). Adding a destination is one line here.
local DRIVERS = {
  base.check_driver(require "icx.dest.sqlite"),
  base.check_driver(require "icx.dest.jsonl"),
  base.check_driver(require "icx.dest.postgres"),
  base.check_driver(require "icx.dest.duckdb"),
  base.check_driver(require "icx.dest.parquet"),
  base.check_driver(require "icx.dest.s3"),
}

function M.drivers()
  local out = {}
  for i, d in ipairs(DRIVERS) do out[i] = d end
  return out
end

local function usage(fmt, ...)
  errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)")
end

-- The driver whose scheme uri starts with (SCHEME: or SCHEME://), if any.
local function by_scheme(uri)
  local scheme = uri:match("^(%a[%w+.-]*):")
  if not scheme then return nil end
  for _, d in ipairs(DRIVERS) do
    for _, s in ipairs(d.schemes) do
      if s == scheme then return d end
    end
  end
end

-- The destination, first found: --dest, $ICX_DEST, the connection's
-- destination: key, icx.db. The last two keep a PostgreSQL password off
-- the command line (ps shows every process's argv to every local user).
function M.choose(given, conn)
  if given ~= nil then return given, true end
  local env = os.getenv("ICX_DEST")
  if env and env ~= "" then return env, true end
  if conn and conn.destination then return conn.destination, true end
  return "icx.db", false
end

-- A libpq keyword/value string (host=... password=... dbname=...): taken
-- as a plain path it would become a file named after the password.
local function keyword_string(uri)
  return uri:match("^%s*%a[%w_]*%s*=") ~= nil
end

-- A destination URI as messages may show it: the password of
-- scheme://user:password@host never appears, nor anything of a keyword
-- string (which may hold one in any form).
function M.shown(uri)
  if type(uri) == "string" and keyword_string(uri) then return "(a libpq keyword string)" end
  local d = type(uri) == "string" and by_scheme(uri)
  if d then return d.shown(uri) end
  return url.masked(uri)
end

-- uri -> driver, target.
local function resolve(uri)
  if type(uri) ~= "string" or uri == "" then usage("needs a value such as icx.db or jsonl:-") end
  if uri:find("\0", 1, true) then usage("must not hold a NUL byte") end
  if keyword_string(uri) then
    usage("looks like a libpq keyword string (host=... dbname=...), which icx does not take; write "
      .. "postgresql://user@host:port/dbname and give the password in $PGPASSWORD or ~/.pgpass, or the whole "
      .. "URI in $ICX_DEST or a connection's destination: in connections.yml")
  end
  local d = by_scheme(uri)
  if d then return d, d.target(uri) end
  local scheme = uri:match("^(%a[%w+.-]*)://")
  if scheme then
    local names, forms = {}, {}
    for _, drv in ipairs(DRIVERS) do
      for _, s in ipairs(drv.schemes) do names[#names + 1] = s end
      forms[#forms + 1] = drv.form
    end
    usage("'%s': unknown destination '%s'%s; use a path, %s or %s", M.shown(uri), scheme,
      errors.did_you_mean(scheme, names), table.concat(forms, ", ", 1, #forms - 1), forms[#forms])
  end
  for _, drv in ipairs(DRIVERS) do
    if drv.paths then return drv, drv.target(uri) end
  end
  usage("'%s': no destination takes a plain path", uri)
end

function M.driver(uri) return (resolve(uri)) end

-- uri -> kind (the driver's name), target (what its open takes).
function M.parse(uri)
  local d, target = resolve(uri)
  return d.name, target
end

local OPEN_OPTS = { "state", "busy_timeout", "existing" }

-- Opens the destination named by uri. opts.state moves a state file (the
-- drivers that keep one); opts.busy_timeout (ms) bounds waits on other
-- processes' writes; opts.existing: nil, without creating anything, when
-- there is no such destination yet (plan, status, reset, and run before
-- its preflight).
function M.open(uri, opts)
  opts = opts or {}
  local k = keys.unknown(opts, OPEN_OPTS)
  if k then errors.raise("internal", ("icx.dest.open: unknown option '%s'"):format(k)) end
  local d, target = resolve(uri)
  if opts.state ~= nil and not d.state then
    local takers = {}
    for _, drv in ipairs(DRIVERS) do
      if drv.state then takers[#takers + 1] = drv.name end
    end
    errors.raise("usage", ("--state applies to %s destinations only; a %s destination keeps its state "
      .. "inside (see icx help)"):format(table.concat(takers, " and "), d.title))
  end
  if opts.state ~= nil and (type(opts.state) ~= "string" or opts.state == "") then
    errors.raise("usage", "--state needs a file path")
  end
  return d.open(target, opts)
end

return M
