-- icx.dest.bucketstate: the shared state of a Parquet destination kept in
-- an object store (s3://): cursors, runs, seen and deleted ids, meta and
-- completeness live in one object, _icx/state.duckdb, a DuckDB file of
-- icx.dest.duckstore's tables. Each process works on a private copy in
-- its cache directory (safe to lose: the object is the truth):
--   reads       refresh the copy first (a GET with If-None-Match: the
--               copy's etag; 304 when nothing changed)
--   changes     read-modify-write: refresh, change the copy in one DuckDB
--               transaction, upload it with If-Match: the etag it was
--               read at (If-None-Match: * for the first); when another
--               process wrote in between (412), download its version and
--               apply the change again. No write is ever lost to a race.
-- Run locks are two locks: icx.lock on a byte of CACHE/locks (this host's
-- runs, dropped by the OS when the holder dies) and a lock object,
-- _icx/locks/SLOT.json, created with If-None-Match: * (runs on other
-- hosts). The object names its holder and is renewed while the run
-- commits; one whose process is gone (this host) or not renewed for
-- LEASE seconds (another host) is taken over with If-Match: its etag.
--
--   bucketstate.open(cache, objects, opts) -> Store   opts: busy_timeout, shown
--   bucketstate.cache_dir(key) -> path    where the copies of the store
--                                         named key live
--   Store:mutate(f) -> f's results   f(duckstore Store) inside one change
--   Store:renew()                    renews this process's lock objects
--   bucketstate.KEY, bucketstate.LEASE
local duckstore = require "icx.dest.duckstore"
local errors = require "icx.errors"
local filestore = require "icx.dest.filestore"
local json = require "icx.json"
local lock = require "icx.lock"
local sched = require "icx.sched"
local sys = require "icx.sys"

local M = { KEY = "_icx/state.duckdb", LEASE = 900 }

local Store = {}
Store.__index = Store
Store.__name = "icx.dest.BucketState"
M.Store = Store

-- XDG's cache directory (else /tmp), one subdirectory per store: FNV-1a
-- of key (endpoint, bucket and prefix), so every run of one store on this
-- host shares its local lock file.
function M.cache_dir(key)
  local h = 2166136261
  for i = 1, #key do h = ((h ~ key:byte(i)) * 16777619) & 0xffffffff end
  local home = os.getenv("HOME")
  local base = os.getenv("XDG_CACHE_HOME")
  if not base or base == "" then base = home and home ~= "" and (home .. "/.cache") or "/tmp" end
  return ("%s/icx/s3-%08x"):format(base, h)
end

-- Waits (a task parks, else the process sleeps) while another task of this
-- process is inside the copy, then runs f: an upload yields, and another
-- task's change must not land on a copy being replaced or uploaded.
local function serial(self, f, ...)
  while self.busy do sched.sleep(0.005) end
  self.busy = true
  local res = table.pack(pcall(f, ...))
  self.busy = false
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function write_file(path, bytes)
  local f, err = io.open(path, "wb")
  if not f then errors.raise("dest", ("cannot write '%s': %s"):format(path, err), { code = "io" }) end
  local ok, werr = f:write(bytes)
  f:close()
  if not ok then errors.raise("dest", ("cannot write '%s': %s"):format(path, werr), { code = "io" }) end
end

-- Brings the copy up to the object (downloaded only when it changed).
local function refresh(self)
  local body, etag = self.objects:get(M.KEY, not self.dirty and self.etag or nil)
  if body == false then return end
  -- Still no object, and the copy is the empty one made for that.
  if body == nil and self.inner and not self.dirty and not self.etag then return end
  if self.inner then self.inner:close() end
  self.inner = nil
  sys.remove(self.path)
  sys.remove(self.path .. ".wal")
  if body then write_file(self.path, body) end
  self.etag, self.dirty = etag, false
  self.inner = duckstore.open(self.path, "the copy of " .. self.shown .. "'s state", self.opts)
  -- The copy is this process's alone: kept open as a run lock keeps a
  -- DuckDB destination's file (opening one costs more than the change).
  self.inner.held = 1
end

-- The copy as DuckDB wrote it, whole: its WAL folded into the file.
local function settle(self)
  duckstore.check(self.inner.db:exec("CHECKPOINT"))
end

function M.open(cache, objects, opts)
  opts = opts or {}
  local ok, err = sys.mkdir(cache)
  if not ok then errors.raise("usage", ("cannot create '%s': %s"):format(cache, tostring(err))) end
  -- Copies of processes that are gone.
  local db = require("icx.duckdb").open(":memory:")
  for _, r in ipairs(db:query("SELECT file FROM glob(?)", cache .. "/state-*.duckdb*") or {}) do
    local pid = math.tointeger(tonumber(r.file:match("state%-(%d+)%.duckdb")))
    if pid and pid ~= sys.pid() and not sys.alive(pid) then sys.remove(r.file) end
  end
  db:close()
  local self = setmetatable({ objects = objects, path = ("%s/state-%d.duckdb"):format(cache, sys.pid()),
    lock_path = cache .. "/locks", shown = opts.shown or objects:shown(), opts = { busy_timeout = opts.busy_timeout },
    held = setmetatable({}, { __mode = "k" }) }, Store)
  serial(self, refresh, self)
  return self
end

function Store:__tostring() return "icx.dest.BucketState(" .. self.shown .. ")" end

-- One change: f(store) on a fresh copy, uploaded only over the version it
-- read; redone on the newer version when another process wrote first.
function Store:mutate(f)
  return serial(self, function()
    for attempt = 1, 20 do
      refresh(self)
      local res = table.pack(duckstore.atomic(self.inner, function() return f(self.inner) end))
      settle(self)
      local ok, etag = pcall(self.objects.put_file, self.objects, M.KEY, self.path,
        self.etag and { if_match = self.etag } or { if_none_match = "*" })
      if not ok then
        self.dirty = true -- the copy holds a change the object does not
        error(etag, 0)
      end
      if etag then
        self.etag = etag
        return table.unpack(res, 1, res.n)
      end
      self.dirty = true
      sched.sleep(math.random() * 0.05 * attempt)
    end
    errors.raise("dest", ("%s: its state object %s kept changing under 20 attempts to write it"):format(
      self.shown, M.KEY), { code = "busy" })
  end)
end

local function read(self, name, ...)
  local args = table.pack(...)
  return serial(self, function()
    refresh(self)
    return self.inner[name](self.inner, table.unpack(args, 1, args.n))
  end)
end

for _, name in ipairs({ "cursor_get", "seen_get", "meta_get", "status", "completeness_last", "runs",
    "columns" }) do
  Store[name] = function(self, ...) return read(self, name, ...) end
end

for _, name in ipairs({ "meta_set", "run_start", "run_finish", "close_stale", "reset", "completeness_add" }) do
  Store[name] = function(self, ...)
    local args = table.pack(...)
    return self:mutate(function(s) return s[name](s, table.unpack(args, 1, args.n)) end)
  end
end

function Store:close()
  if self.inner then self.inner:close() end
  self.inner = nil
  sys.remove(self.path)
  sys.remove(self.path .. ".wal")
end

------------------------------------------------------------ run locks

local function lock_key(connection, asset) return ("_icx/locks/%d.json"):format(filestore.slot(connection, asset)) end

local function still_running(pid, start)
  if start and sys.process_start(sys.pid()) then return sys.process_start(pid) == start end
  return sys.alive(pid)
end

-- Whether the holder h (a decoded lock object) is over: its process gone
-- (this host) or its lease run out (any host).
local function over(h)
  if type(h) ~= "table" then return true end
  if h.host == sys.hostname() and math.type(h.pid) == "integer" and not still_running(h.pid, h.pid_start) then
    return true
  end
  return type(h.renewed) ~= "number" or sys.time() - h.renewed > M.LEASE
end

local function ours(h)
  return type(h) == "table" and h.host == sys.hostname() and h.pid == sys.pid()
end

local function said(h)
  return ("icx pid %s on %s, running since %s"):format(tostring(h.pid), tostring(h.host), tostring(h.since))
end

local function body_of(connection, asset, since)
  local pid = sys.pid()
  return json.encode { connection = connection, asset = asset, pid = pid, pid_start = sys.process_start(pid),
    host = sys.hostname(), since = since, renewed = sys.time() }
end

local function holder_object(self, connection, asset)
  local body, etag = self.objects:get(lock_key(connection, asset))
  if not body then return nil end
  local ok, h = pcall(json.decode, body)
  return ok and type(h) == "table" and h or {}, etag
end

local Held = {}
Held.__index = Held
Held.__name = "icx.dest.BucketLock"

function Held:__tostring() return ("icx.dest.BucketLock(%s%s)"):format(self.key, self.done and ", released" or "") end

-- The object goes first (if it is still this run's: a conditional DELETE
-- is not served by every store, so its etag is read first), then this
-- host's lock. Not from __gc: a finalizer must not send requests; a lock
-- object left behind by a process that is gone is taken over by the next run.
function Held:release()
  if self.done then return end
  self.done = true
  self.store.held[self] = nil
  local objects = self.store.objects
  pcall(function()
    local body, etag = objects:get(self.key)
    if body and etag == self.etag then objects:delete(self.key) end
  end)
  self.lock:release()
end

Held.__close = Held.release
function Held:__gc() if not self.done then self.lock:release() end end

-- Re-puts the lock object over its own version: a run that has lost it
-- (its lease ran out and another run took it) stops here.
function Held:renew(force)
  if self.done or (not force and sys.time() - self.renewed < M.LEASE / 5) then return end
  local etag = self.store.objects:put(self.key, body_of(self.connection, self.asset, self.since),
    { if_match = self.etag })
  if not etag then
    errors.raise("dest", ("%s: the run lock of %s/%s was taken over by another run (this run did not renew it "
      .. "within %d s)"):format(self.store.shown, self.connection, self.asset, M.LEASE), { code = "locked" })
  end
  self.etag, self.renewed = etag, sys.time()
end

function Store:renew()
  for h in pairs(self.held) do h:renew() end
end

function Store:holder(connection, asset)
  local run = read(self, "holder", connection, asset)
  if run then return run end
  local h = holder_object(self, connection, asset)
  if h and not ours(h) and not over(h) then return said(h) end
  local pid = lock.holder(self.lock_path, filestore.slot(connection, asset))
  if pid then return ("pid %d"):format(pid) end
  return nil
end

function Store:lock(connection, asset)
  local lk, err, code = lock.acquire(self.lock_path, filestore.slot(connection, asset))
  if not lk then
    if code ~= "locked" then errors.raise("dest", err, { code = code }) end
    return nil, self:holder(connection, asset) or "another process on this host"
  end
  local key, since = lock_key(connection, asset), os.date("!%Y-%m-%dT%H:%M:%SZ")
  local etag = self.objects:put(key, body_of(connection, asset, since), { if_none_match = "*" })
  if not etag then
    local h, old = holder_object(self, connection, asset)
    if h == nil then
      etag = self.objects:put(key, body_of(connection, asset, since), { if_none_match = "*" })
    elseif over(h) or ours(h) then
      etag = self.objects:put(key, body_of(connection, asset, since), { if_match = old })
    end
    if not etag then
      lk:release()
      return nil, h and not ours(h) and said(h) or "another process"
    end
  end
  local held = setmetatable({ lock = lk, store = self, key = key, etag = etag, connection = connection,
    asset = asset, since = since, renewed = sys.time() }, Held)
  self.held[held] = true
  return held
end

function Store:lock_free(connection, asset)
  if lock.holder(self.lock_path, filestore.slot(connection, asset)) then return false end
  local h = holder_object(self, connection, asset)
  return h == nil or ours(h) or over(h)
end

return M
