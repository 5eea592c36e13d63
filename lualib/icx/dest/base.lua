-- icx.dest.base: what every destination shares. A driver's classes come
-- from base.class and inherit these methods; a driver overrides what it
-- does differently (JSONL writes its files at commit, PostgreSQL keeps its
-- state in the database).
--
--   base.class(name) -> class       __index chain to the shared methods,
--                                   __close and __gc call close()
--   base.table_spec(spec) -> name, primary_key list, mode
--   d:transaction(fn, ...) -> fn's results   begin, fn, commit; rolled back
--                                   (and re-raised) when fn or commit fails
--   d:begin(); d:commit(); d:rollback()
--   d:cursor_get(connection, asset) -> value | nil, key
--   d:cursor_set(connection, asset, key, value)   inside a transaction
--   d:run_start{connection =, asset =} -> run_id
--   d:run_finish(run_id, {status =, rows =, requests =, retries =, rate_limited =, error =})
--   d:deleted_add(connection, asset, ids)         inside a transaction
--   d:lock(connection, asset) -> Lock | nil, holder   one run per asset: the
--                                   OS (or database) drops it when the holder dies
--   d:holder(connection, asset) -> "pid N on HOST" | nil   nil: the lock is free
--   d:close_stale(connection, asset)   its "running" rows are over (lock held)
--   d:meta_get(key), d:meta_set(key, value)   what the destination holds
--   d:status() -> rows; d:reset(connection | nil, asset) -> n
--   d:cursor_delete(connection, asset)            inside a transaction
--   d:seen_get(connection, asset, ids) -> {[id] = updated_at}
--   d:seen_set(connection, asset, {[id] = updated_at | false})   inside a transaction
-- The defaults keep state in a SQLite database at self.db (icx.state) and
-- lock bytes of the file at self.lock_path (icx.lock).
local errors = require "icx.errors"
local keys = require "icx.keys"
local state = require "icx.state"

local M = {}

local Base = {}
Base.__index = Base

function M.class(name)
  local c = setmetatable({}, { __index = Base })
  c.__index = c
  c.__name = name
  c.__close = function(self) self:close() end
  c.__gc = c.__close
  return c
end

function Base:begin()
  if self.db:in_transaction() then errors.raise("internal", "icx.dest: begin() inside a transaction") end
  state.check(self.db:begin())
end

function Base:commit()
  if not self.db:in_transaction() then errors.raise("internal", "icx.dest: commit() outside a transaction") end
  state.commit(self.db)
end

function Base:rollback() state.check(self.db:rollback()) end

local function finish(self, ok, ...)
  if not ok then
    pcall(self.rollback, self)
    error((...), 0)
  end
  local cok, cerr = pcall(self.commit, self)
  if not cok then
    pcall(self.rollback, self)
    error(cerr, 0)
  end
  return ...
end

-- The one way the runner writes: nothing it does inside fn half-lands.
function Base:transaction(fn, ...)
  self:begin()
  return finish(self, pcall(fn, ...))
end

function Base:cursor_get(connection, asset) return state.cursor_get(self.db, connection, asset) end
function Base:cursor_set(connection, asset, key, value) state.cursor_set(self.db, connection, asset, key, value) end
function Base:run_start(t) return state.run_start(self.db, t or {}) end
function Base:run_finish(id, t) state.run_finish(self.db, id, t) end
function Base:deleted_add(connection, asset, ids) state.deleted_add(self.db, connection, asset, ids) end
function Base:cursor_delete(connection, asset) state.cursor_delete(self.db, connection, asset) end
function Base:seen_get(connection, asset, ids) return state.seen_get(self.db, connection, asset, ids) end
function Base:seen_set(connection, asset, map) state.seen_set(self.db, connection, asset, map) end

function Base:close_stale(connection, asset) state.close_stale(self.db, connection, asset) end
function Base:meta_get(key) return state.meta_get(self.db, key) end
function Base:meta_set(key, value) state.meta_set(self.db, key, value) end
function Base:status() return state.status(self.db) end
function Base:reset(connection, asset) return state.reset(self.db, connection, asset) end

-- The byte of the lock file that stands for (connection, asset): FNV-1a,
-- so every process finds the same one; byte 0 is left unused.
local function slot(connection, asset)
  local h = 2166136261
  for i = 1, #connection + 1 + #asset do
    local b = (connection .. "\0" .. asset):byte(i)
    h = ((h ~ b) * 16777619) & 0xffffffff
  end
  return 1 + h % (1 << 30)
end

-- Who holds (connection, asset), from its open run row (host and pid), or
-- from the lock itself; nil when the lock is free.
function Base:holder(connection, asset)
  local pid = require("icx.lock").holder(self.lock_path, slot(connection, asset))
  local rows = state.check(self.db:query("SELECT pid, host, started_at FROM _icx_runs WHERE connection = ? "
    .. "AND asset = ? AND status = 'running' ORDER BY id DESC LIMIT 1", connection, asset))
  local r = rows[1]
  if r then return ("icx pid %s on %s, running since %s"):format(tostring(r.pid), tostring(r.host), r.started_at) end
  if pid then return ("pid %d"):format(pid) end
  return nil
end

function Base:lock(connection, asset)
  local lk, err, code = require("icx.lock").acquire(self.lock_path, slot(connection, asset))
  if lk then return lk end
  if code ~= "locked" then errors.raise("dest", err, { code = code }) end
  return nil, self:holder(connection, asset) or "another process"
end

-- Whether the lock of (connection, asset) is free right now.
function Base:lock_free(connection, asset)
  return require("icx.lock").holder(self.lock_path, slot(connection, asset)) == nil
end

local TABLE_KEYS = { "name", "primary_key", "mode", "compare" }

-- Names icx keeps for itself or the database reserves; checked here (a
-- bug) and when a script is loaded (a script error, exit 2).
function M.reserved(name)
  local lower = name:lower()
  return lower:sub(1, 5) == "_icx_" or lower:sub(1, 7) == "sqlite_"
end

-- Validates a table spec; returns name, primary key list, mode.
function M.table_spec(spec)
  if type(spec) ~= "table" then errors.raise("internal", "icx.dest: table{} needs a spec table") end
  local k = keys.unknown(spec, TABLE_KEYS)
  if k then errors.raise("internal", ("icx.dest: unknown table option '%s'"):format(k)) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    errors.raise("internal", ("icx.dest: table name %q must be letters, digits and underscores"):format(tostring(name)))
  end
  if M.reserved(name) then
    errors.raise("internal", ("icx.dest: table name '%s' is reserved"):format(name))
  end
  local pk = spec.primary_key
  if type(pk) == "string" then pk = { pk } end
  if pk == nil then pk = {} end
  if type(pk) ~= "table" then errors.raise("internal", "icx.dest: primary_key must be a field name or a list") end
  for _, key in ipairs(pk) do
    if type(key) ~= "string" or key == "" or key:find("\0", 1, true) then
      errors.raise("internal", "icx.dest: primary_key entries must be field names")
    end
  end
  local mode = spec.mode or "merge"
  if mode ~= "merge" and mode ~= "replace" then
    errors.raise("internal", ("icx.dest: mode must be 'merge' or 'replace', not '%s'"):format(tostring(mode)))
  end
  if mode == "merge" and #pk == 0 then
    errors.raise("internal", ("icx.dest: table '%s' in merge mode needs a primary_key"):format(name))
  end
  return name, pk, mode
end

return M
