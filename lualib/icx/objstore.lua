-- icx.objstore: where the Parquet destination puts its files, by URI. A
-- store is an object store's interface, which every back end fills:
--   store:put_file(key, local_path)   the object appears whole at key, or not at all
--   store:put(key, bytes)             small objects (manifests, state)
--   store:get(key) -> bytes | nil     nil when missing
--   store:list(prefix) -> {key, ...}  sorted
--   store:delete(key)
--   store:shown() -> string           for messages; no secret
-- Failures raise dest errors. Keys are '/'-separated, relative to the
-- store's root. A store other processes reach only through the network
-- (s3) also takes conditions, which icx.dest.bucketstate keeps its state
-- and locks by: put and put_file(key, x, {if_none_match = "*"} |
-- {if_match = etag}) -> etag | nil when the condition fails; get(key,
-- etag) -> false when unchanged; delete(key, {if_match = etag}).
--
--   objstore.open(uri [, opts]) -> store   a directory path (or file://PATH),
--       or s3://BUCKET/PREFIX (opts: icx.objstore.s3's)
--   objstore.local_dir(uri) -> path | nil   the directory of a local store
local errors = require "icx.errors"

local M = {}

-- The registry: scheme -> module, required only when a URI of that scheme
-- is opened (the S3 back end needs libcurl's signing; a local load never
-- loads it).
local BACKENDS = {
  file = "icx.objstore.local",
  s3 = "icx.objstore.s3",
}

local function scheme_of(uri)
  return uri:match("^(%a[%w+.-]*)://")
end

function M.local_dir(uri)
  local s = scheme_of(uri)
  if s == nil then return uri end
  if s == "file" then return (uri:gsub("^file://", "")) end
  return nil
end

function M.open(uri, opts)
  if type(uri) ~= "string" or uri == "" then
    errors.raise("usage", "an object store needs a path or s3://BUCKET/PREFIX")
  end
  local s = scheme_of(uri) or "file"
  local name = BACKENDS[s]
  if not name then errors.raise("usage", ("'%s': unknown object store '%s'; use a directory or s3://BUCKET/PREFIX")
    :format(uri, s)) end
  local ok, mod = pcall(require, name)
  if not ok then
    errors.raise("usage", ("'%s': this icx has no '%s' object store (%s)"):format(uri, s, tostring(mod)))
  end
  return mod.open(s == "file" and M.local_dir(uri) or uri, opts)
end

return M
