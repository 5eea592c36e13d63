-- icx.dest.filestore: the Store of a SQLite file (icx.dest.base's STORE
-- list), used by the SQLite destination (its own file) and the JSONL one
-- (its state file). The tables and their SQL are icx.state's; the locks
-- are fcntl locks on bytes of FILE.lock (icx.lock), which the operating
-- system drops when the holder dies, however it dies.
--
--   filestore.open(path, what, opts) -> Store   what names the file in errors
--   store.db                                    the icx.sqlite handle (owned)
--   filestore.slot(connection, asset) -> byte   of FILE.lock, for icx.lock
local errors = require "icx.errors"
local lock = require "icx.lock"
local state = require "icx.state"

local check = state.check

local M = {}

local Store = {}
Store.__index = Store
Store.__name = "icx.dest.FileStore"

M.Store = Store

-- Opens (creating if needed) the SQLite file at path with icx's tables.
function M.open(path, what, opts)
  local db = state.open(path, what, opts)
  return setmetatable({ db = db, path = path, lock_path = path .. ".lock" }, Store)
end

function Store:__tostring() return "icx.dest.FileStore(" .. self.path .. ")" end

function Store:begin() check(self.db:begin()) end
function Store:commit() state.commit(self.db) end
function Store:rollback() check(self.db:rollback()) end
function Store:in_transaction() return self.db:in_transaction() end

function Store:close()
  if self.db then self.db:close() end
  self.db = nil
end

function Store:cursor_get(connection, asset) return state.cursor_get(self.db, connection, asset) end
function Store:cursor_set(connection, asset, key, value) state.cursor_set(self.db, connection, asset, key, value) end
function Store:cursor_delete(connection, asset) state.cursor_delete(self.db, connection, asset) end
function Store:run_start(connection, asset, lineage) return state.run_start(self.db, connection, asset, lineage) end
function Store:run_finish(id, t) state.run_finish(self.db, id, t) end
function Store:close_stale(connection, asset) state.close_stale(self.db, connection, asset) end
function Store:seen_get(connection, asset, ids) return state.seen_get(self.db, connection, asset, ids) end
function Store:seen_set(connection, asset, map) state.seen_set(self.db, connection, asset, map) end
function Store:deleted_add(connection, asset, ids) state.deleted_add(self.db, connection, asset, ids) end
function Store:meta_get(key) return state.meta_get(self.db, key) end
function Store:meta_set(key, value) state.meta_set(self.db, key, value) end
function Store:status() return state.status(self.db) end
function Store:runs(n) return state.runs(self.db, n) end
function Store:columns() return state.columns(self.db) end
function Store:completeness_add(connection, asset, run, rows)
  state.completeness_add(self.db, connection, asset, run, rows)
end
function Store:completeness_last() return state.completeness_last(self.db) end
function Store:reset(connection, asset) return state.reset(self.db, connection, asset) end

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
M.slot = slot -- the DuckDB store locks the same way

-- Who holds (connection, asset), from its open run row (host and pid), or
-- from the lock itself; nil when the lock is free.
function Store:holder(connection, asset)
  local pid = lock.holder(self.lock_path, slot(connection, asset))
  local r = state.running(self.db, connection, asset)
  if r then return ("icx pid %s on %s, running since %s"):format(tostring(r.pid), tostring(r.host), r.started_at) end
  if pid then return ("pid %d"):format(pid) end
  return nil
end

function Store:lock(connection, asset)
  local lk, err, code = lock.acquire(self.lock_path, slot(connection, asset))
  if lk then return lk end
  if code ~= "locked" then errors.raise("dest", err, { code = code }) end
  return nil, self:holder(connection, asset) or "another process"
end

function Store:lock_free(connection, asset)
  return lock.holder(self.lock_path, slot(connection, asset)) == nil
end

return M
