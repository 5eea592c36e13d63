-- The Parquet destination on S3 and S3-compatible storage:
-- s3://BUCKET/PREFIX[?OPTION=VALUE&...]. The same files, manifests and
-- Writer as parquet:DIR (icx.dest.parquet), written through
-- icx.objstore.s3, with the state in the bucket too (icx.dest.bucketstate:
-- _icx/state.duckdb and the run locks' objects). Only the staging and a
-- copy of the state stay on this machine, in a cache directory
-- (bucketstate.cache_dir) that is safe to lose.
--
-- Options (each else its AWS_* variable, icx.objstore.s3): endpoint_url,
-- region, access_key_id, secret_access_key, session_token; rows=N (rows
-- per Parquet file, as parquet:); cache=DIR (the cache directory; every
-- run of one prefix on a host must share it: it holds the local locks). A secret belongs in the environment or
-- in connections.yml's destination: (ps shows a command line to every
-- local user); it is masked wherever the URI is shown.
local base = require "icx.dest.base"
local bucketstate = require "icx.dest.bucketstate"
local errors = require "icx.errors"
local parquet = require "icx.dest.parquet"
local parquetstore = require "icx.dest.parquetstore"
local urls = require "icx.url"

local M = {
  name = "s3", title = "Parquet on S3", schemes = { "s3" }, form = "s3://BUCKET/PREFIX",
  paths = false, state = false, reads_keys = false,
}
-- The Parquet destination's own, over another object store and state.
M.Store, M.Writer = parquetstore.Store, parquet.Writer

local STORE_OPTS = { endpoint_url = true, region = true, access_key_id = true, secret_access_key = true,
  session_token = true }
local SECRET = { secret_access_key = true, session_token = true }

local function usage(fmt, ...) errors.raise("usage", "--dest " .. fmt:format(...) .. " (see icx help)") end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.shown(uri)
  return (uri:gsub("([?&])([%w_]+)=([^&#]*)", function(sep, k, v)
    if SECRET[k] and v ~= "" then return sep .. k .. "=****" end
  end))
end

function M.target(uri)
  local loc, query = uri:match("^(s3://[^?]*)%??(.*)$")
  local bucket = loc and loc:match("^s3://([^/]+)")
  if not bucket or not bucket:match("^[%w][%w._-]*[%w]$") then
    usage("'%s': write s3://BUCKET/PREFIX", M.shown(uri))
  end
  local target = { uri = loc:gsub("/+$", ""), store = {} }
  for k, v in query:gmatch("([^&=]+)=?([^&]*)") do
    if k == "rows" then
      if not math.tointeger(tonumber(v)) or tonumber(v) < 1 then usage("'%s': rows=N needs N >= 1", M.shown(uri)) end
      target.rows = math.tointeger(tonumber(v))
    elseif k == "cache" and v ~= "" then
      target.cache = unescape(v)
    elseif STORE_OPTS[k] then
      target.store[k] = unescape(v)
    else
      usage("'%s': unknown option '%s'; s3:// takes rows, cache, endpoint_url, region, access_key_id, "
        .. "secret_access_key and session_token", M.shown(uri), k)
    end
  end
  return target
end

function M.open(target, opts)
  local duckstore = require "icx.dest.duckstore"
  duckstore.need("--dest s3")
  local objects = require("icx.objstore").open(target.uri, target.store)
  if opts.existing and #objects:list(bucketstate.KEY) == 0 then return nil end
  local cache = target.cache or bucketstate.cache_dir(urls.masked(objects:shown()))
  local shared = bucketstate.open(cache, objects, { busy_timeout = opts.busy_timeout })
  local ok, store = pcall(parquetstore.open, cache, objects,
    { file_rows = target.rows, busy_timeout = opts.busy_timeout, shared = shared })
  if not ok then
    shared:close()
    error(store, 0)
  end
  local writer = setmetatable({ store = store, tables = {} }, M.Writer)
  return base.new(M, store, writer, { store = store, objects = objects, target = target.uri })
end

return M
