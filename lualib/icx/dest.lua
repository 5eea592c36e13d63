-- Destinations: where records land. `--dest` picks one:
--   icx.db, path/x.db, sqlite:///rel.db, sqlite:////abs.db   SQLite (default)
--   jsonl:-                                                  stdout lines
--   jsonl:DIR                                                DIR/TABLE.jsonl
--   postgresql://user:pw@host:port/db?schema=S (or postgres://)   PostgreSQL
-- Every destination has the same surface, driven by icx.runner (the shared
-- part lives in icx.dest.base, which each driver's classes inherit):
--   d.kind                                  "sqlite" | "jsonl" | "postgresql"
--   d:transaction(fn, ...)                  one per page: begin, fn, commit
--   d:begin(); d:commit(); d:rollback()
--   t = d:table{name =, primary_key =, mode = "merge" | "replace"}
--   t:write(page) -> rows                   inside begin/commit
--   t:delete_where(column, values) -> rows  child rows of re-read parents
--   t:finish(); t:abandon()                 end of a replace run
--   d:cursor_get(connection, asset) -> value | nil, key
--   d:cursor_set(connection, asset, key, value)   inside the page's transaction
--   d:run_start{connection =, asset =} -> run_id
--   d:run_finish(run_id, {status =, rows =, requests =, retries =, rate_limited =, error =})
--   d:deleted_add(connection, asset, ids)
--   d:close()
--
--   dest.parse(uri) -> kind, target
--   dest.open(uri [, opts]) -> Dest | nil   opts: state, busy_timeout, existing
--                                        (nil when it does not exist yet)
--   dest.shown(uri) -> uri with any password masked, for messages
local errors = require "icx.errors"
local keys = require "icx.keys"

local M = {}

local function usage(fmt, ...)
  errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)")
end

-- A destination URI as messages may show it: the password of
-- scheme://user:password@host never appears.
M.shown = require("icx.url").masked

-- SQLite targets that would accept writes and keep nothing, or keep them
-- without the locking every concurrent-run guarantee rests on.
local function refuse_sqlite(uri, path)
  if path == ":memory:" or path == "" then
    usage("'%s' is an in-memory database: everything would be lost at exit; give a file path", uri)
  end
  local q = path:match("^file:[^?]*%?(.*)$")
  if q then
    for k, v in q:gmatch("([^&=]+)=?([^&]*)") do
      if (k == "mode" and v == "memory") or k == "vfs" and v == "memdb" then
        usage("'%s' is an in-memory database: everything would be lost at exit; give a file path", uri)
      elseif k == "nolock" or k == "immutable" then
        usage("'%s': %s=%s turns SQLite's locking off, and with it the guarantees for concurrent runs; drop it",
          uri, k, v)
      end
    end
  end
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
    refuse_sqlite(uri, path)
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
    usage("'%s': unknown destination '%s'%s; use a path, sqlite:///FILE, jsonl:DIR or postgresql://...",
      M.shown(uri), scheme, errors.did_you_mean(scheme, { "sqlite", "jsonl", "postgresql" }))
  end
  refuse_sqlite(uri, uri)
  -- A plain path takes no query: x.db?nolock=1 would name a file of that
  -- name, not switch anything; SQLite's own URIs start with file:.
  if uri:match("%?[%w_]+=") and not uri:match("^file:") then
    usage("'%s' looks like a path with a query; a path takes none (SQLite URIs start with file:)", uri)
  end
  return "sqlite", uri
end

local OPEN_OPTS = { "state", "busy_timeout", "existing" }

-- Opens the destination named by uri. opts.state moves the JSONL state
-- file; opts.busy_timeout (ms) bounds waits on other processes' writes.
function M.open(uri, opts)
  opts = opts or {}
  local k = keys.unknown(opts, OPEN_OPTS)
  if k then errors.raise("internal", ("icx.dest.open: unknown option '%s'"):format(k)) end
  local kind, target = M.parse(uri)
  if kind == "sqlite" and opts.state ~= nil then
    errors.raise("usage", "--state applies to jsonl destinations only; a SQLite destination keeps its state "
      .. "inside (see icx help)")
  end
  if opts.state ~= nil and (type(opts.state) ~= "string" or opts.state == "") then
    errors.raise("usage", "--state needs a file path")
  end
  -- existing: nil, without creating anything, when there is no such
  -- destination yet (plan, status, reset, and run before its preflight).
  if opts.existing and kind ~= "postgresql" then
    local probe = kind == "sqlite" and target
      or opts.state or (target == "-" and "icx-state.db" or target .. "/.icx-state.db")
    local f = io.open(probe, "rb")
    if not f then return nil end
    f:close()
  end
  return require(kind == "postgresql" and "icx.dest.postgres" or "icx.dest." .. kind).open(target, opts)
end

return M
