-- icx.objstore.local: an object store in a local directory (icx.objstore's
-- interface). An object is written to KEY.tmp-PID beside it and renamed
-- into place, so it appears whole or not at all; listing goes through
-- DuckDB's glob (icx.duckdb, which the Parquet destination needs anyway).
local errors = require "icx.errors"
local sys = require "icx.sys"

local M = {}

local Store = {}
Store.__index = Store
Store.__name = "icx.objstore.Local"

local function fail(what, err)
  errors.raise("dest", ("object store: %s: %s"):format(what, tostring(err)), { code = "io" })
end

function M.open(dir)
  dir = dir:gsub("(.)/+$", "%1")
  local ok, err = sys.mkdir(dir)
  if not ok then fail(dir, err) end
  return setmetatable({ dir = dir }, Store)
end

function Store:path(key) return self.dir .. "/" .. key end

local function parent(path) return path:match("^(.*)/[^/]*$") end

local function tmp_of(path) return ("%s.tmp-%d"):format(path, sys.pid()) end

function Store:put(key, bytes)
  local path = self:path(key)
  local ok, err = sys.mkdir(parent(path))
  if not ok then fail(key, err) end
  local tmp = tmp_of(path)
  local f, e = io.open(tmp, "wb")
  if not f then fail(key, e) end
  local w, we = f:write(bytes)
  local c, ce = f:close()
  if not w or not c then
    sys.remove(tmp)
    fail(key, we or ce)
  end
  ok, err = sys.rename(tmp, path)
  if not ok then fail(key, err) end
end

-- Renamed when local_path is on the same file system (the Parquet writer
-- stages beside the store), else copied.
function Store:put_file(key, local_path)
  local path = self:path(key)
  local ok, err = sys.mkdir(parent(path))
  if not ok then fail(key, err) end
  if sys.rename(local_path, path) then return end
  local f, e = io.open(local_path, "rb")
  if not f then fail(local_path, e) end
  local bytes = f:read("a")
  f:close()
  self:put(key, bytes)
end

function Store:get(key)
  local f = io.open(self:path(key), "rb")
  if not f then return nil end
  local bytes = f:read("a")
  f:close()
  return bytes
end

function Store:list(prefix)
  local db = require("icx.duckdb").open(":memory:")
  local rows, err = db:query("SELECT file FROM glob(?) ORDER BY file", self.dir .. "/**")
  db:close()
  if not rows then fail("listing " .. self.dir, err) end
  local out = {}
  for _, r in ipairs(rows) do
    local key = r.file:sub(#self.dir + 2)
    if key:sub(1, #prefix) == prefix and not key:match("%.tmp%-%d+$") then out[#out + 1] = key end
  end
  table.sort(out)
  return out
end

function Store:delete(key)
  local ok, err = sys.remove(self:path(key))
  if not ok then fail(key, err) end
end

function Store:shown() return self.dir end

return M
