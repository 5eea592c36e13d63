-- The JSONL destination, for pipes and jq:
--   jsonl:-    one line per record on stdout: {"table":"contacts","record":{...}}
--   jsonl:DIR  one DIR/TABLE.jsonl per table, one record per line
-- A record is written as its raw JSON from the page, minified: values are
-- byte-for-byte what the API sent. Lines of a page are held until commit,
-- which writes and flushes them and then, in one transaction of the state
-- file (DIR/.icx-state.db, ./icx-state.db for stdout, or --state PATH),
-- commits the cursor with each file's new committed length. A file longer
-- than its committed length (a crash between the write and that commit) is
-- cut back when the table is next opened, so a resumed run appends the page
-- again exactly once. On stdout nothing can be taken back: a crash in that
-- window re-delivers the page (at least once, never lost). merge appends;
-- replace writes TABLE.jsonl.PID.tmp and renames it over TABLE.jsonl at finish
-- (on stdout, replace is a plain stream).
local base = require "icx.dest.base"
local errors = require "icx.errors"
local json = require "icx.json"
local fs = require "icx.sys"
local state = require "icx.state"

local check = state.check

local M = {}

local Dest = base.class "icx.dest.Jsonl"

local Table = {}
Table.__index = Table
Table.__name = "icx.dest.JsonlTable"

local function misuse(fmt, ...) errors.raise("internal", "icx.dest: " .. fmt:format(...)) end

local function io_check(v, err, ...)
  if v == nil then errors.raise("dest", "jsonl: " .. tostring(err), { code = "io" }) end
  return v, err, ...
end

-- target: "-" or a directory (created if missing).
function M.open(target, opts)
  opts = opts or {}
  local d = setmetatable({ kind = "jsonl", target = target, tables = {}, pending = {}, order = {},
    paths = setmetatable({}, { __mode = "k" }) }, Dest)
  local state_path
  if target == "-" then
    d.stdout = true
    state_path = opts.state or "icx-state.db"
  else
    check(fs.mkdir(target))
    d.dir = target:gsub("(.)/+$", "%1")
    state_path = opts.state or (d.dir .. "/.icx-state.db")
  end
  local db = state.open(state_path, "the JSONL state file", opts)
  d.db, d.state_path, d.lock_path = db, state_path, state_path .. ".lock"
  local ok, e = pcall(state.atomic, db, function()
    check(db:exec("CREATE TABLE IF NOT EXISTS _icx_files (path TEXT PRIMARY KEY, size INTEGER NOT NULL)"))
  end)
  if not ok then
    db:close()
    error(e, 0)
  end
  return d
end

-- The committed length of path, or nil when none is recorded.
function Dest:committed_size(path)
  local rows = check(self.db:query("SELECT size FROM _icx_files WHERE path = ?", path))
  return rows[1] and rows[1].size
end

-- Records path's committed length (inside the commit's transaction).
function Dest:set_committed_size(path, size)
  check(self.db:query("INSERT INTO _icx_files (path, size) VALUES (?, ?) "
    .. "ON CONFLICT (path) DO UPDATE SET size = excluded.size", path, size))
end

-- Unfinished replace files of path (PATH.PID.tmp) whose process is gone.
function Dest:drop_stale_tmp(path)
  local rows = check(self.db:query("SELECT path FROM _icx_files WHERE size = -1 AND substr(path, 1, ?) = ?",
    #path + 1, path .. "."))
  for _, r in ipairs(rows) do
    local pid = math.tointeger(tonumber(r.path:sub(#path + 2):match("^(%d+)%.tmp$")))
    if pid and (pid == fs.pid() or not fs.alive(pid)) then
      check(fs.remove(r.path))
      state.atomic(self.db, function() check(self.db:query("DELETE FROM _icx_files WHERE path = ?", r.path)) end)
    end
  end
end

-- Cuts path back to size bytes (copy and rename: Lua's io cannot truncate).
local function cut_back(path, size)
  local src = io_check(io.open(path, "rb"))
  local tmp = path .. ".cut"
  local dst = io_check(io.open(tmp, "wb"))
  local left = size
  while left > 0 do
    local chunk = src:read(math.min(left, 1 << 20))
    if not chunk then break end
    io_check(dst:write(chunk))
    left = left - #chunk
  end
  src:close()
  io_check(dst:close())
  check(fs.rename(tmp, path))
end

function Dest:__tostring() return "icx.dest.Jsonl(" .. self.target .. ")" end

-- Writes and flushes the page's lines, then commits the cursor and the
-- files' new lengths together.
function Dest:commit()
  if not self.db:in_transaction() then misuse("commit() outside a transaction") end
  local ok, err = pcall(function()
    for _, f in ipairs(self.order) do
      local lines = self.pending[f]
      if #lines > 0 then
        io_check(f:write(table.concat(lines)))
        io_check(f:flush())
        local path = self.paths[f]
        if path then self:set_committed_size(path, io_check(f:seek("end"))) end
      end
    end
  end)
  self.pending, self.order = {}, {}
  if not ok then
    self.db:rollback()
    error(err, 0)
  end
  state.commit(self.db)
end

function Dest:rollback()
  self.pending, self.order = {}, {}
  check(self.db:rollback())
end

-- Queues lines for file f until commit.
function Dest:queue(f, lines)
  local q = self.pending[f]
  if not q then
    q = {}
    self.pending[f] = q
    self.order[#self.order + 1] = f
  end
  for i = 1, #lines do q[#q + 1] = lines[i] end
end

function Dest:table(spec)
  local name, pk, mode = base.table_spec(spec)
  local t = setmetatable({ dest = self, name = name, mode = mode, primary_key = pk }, Table)
  if self.stdout then
    t.file = io.stdout
    t.prefix = '{"table":' .. json.encode(name) .. ',"record":'
    t.suffix = "}\n"
  else
    t.path = self.dir .. "/" .. name .. ".jsonl"
    if mode == "replace" then
      -- The process's own file, so a concurrent replace never renames
      -- another run's unfinished one into place.
      t.tmp = ("%s.%d.tmp"):format(t.path, fs.pid())
      self:drop_stale_tmp(t.path)
      -- Noted (size -1) so a run killed before finish leaves a file the
      -- next run can find and remove.
      state.atomic(self.db, function() self:set_committed_size(t.tmp, -1) end)
      t.file = io_check(io.open(t.tmp, "wb"))
    else
      -- Bytes past the committed length belong to a page whose commit
      -- never happened: its cursor did not move, so it will come again.
      local f = io.open(t.path, "rb")
      local size = f and f:seek("end")
      if f then f:close() end
      local committed = self:committed_size(t.path)
      if size and committed and size > committed then cut_back(t.path, committed) end
    end
    t.prefix, t.suffix = "", "\n"
  end
  t.live = true
  self.tables[#self.tables + 1] = t
  return t
end

function Dest:close()
  if not self.db then return end
  if self.db:in_transaction() then self:rollback() end
  for _, t in ipairs(self.tables) do t:close_file() end
  self.db:close()
  self.db = nil
end

function Table:__tostring() return "icx.dest.JsonlTable(" .. self.name .. ")" end

function Table:close_file()
  if self.file and self.file ~= io.stdout then self.file:close() end
  self.file = nil
end

-- Queues the page's records as lines; returns how many.
function Table:write(page)
  if not self.live then misuse("write() on table '%s' after finish() or abandon()", self.name) end
  local d = self.dest
  if not d.db or not d.db:in_transaction() then misuse("write() on table '%s' outside a transaction", self.name) end
  if type(page) == "string" then
    local text = page:match("^%s*%[") and page or ("[" .. page .. "]")
    local p, err = json.page(text, false)
    if not p then errors.raise("dest", ("table '%s': %s"):format(self.name, err), { code = "record" }) end
    page = p
  end
  if not self.file then
    self.file = io_check(io.open(self.path, "ab"))
    d.paths[self.file] = self.path
  end
  local n = page:count()
  local lines, prefix, suffix = {}, self.prefix, self.suffix
  for i = 1, n do lines[i] = prefix .. page:raw(i) .. suffix end
  d:queue(self.file, lines)
  return n
end

-- Nothing to delete in an append-only stream: consumers keep the latest
-- line per key.
function Table:delete_where() return 0 end

-- replace: the finished file takes TABLE.jsonl's place in one rename.
function Table:finish()
  if self.mode ~= "replace" or not self.live then return end
  if self.dest.db and self.dest.db:in_transaction() then
    misuse("finish() on table '%s' inside a transaction", self.name)
  end
  self.live = false
  if self.tmp then
    local size = io_check(self.file:seek("end"))
    io_check(self.file:flush())
    self:close_file()
    local d = self.dest
    state.atomic(d.db, function()
      check(fs.rename(self.tmp, self.path))
      d:set_committed_size(self.path, size)
      check(d.db:query("DELETE FROM _icx_files WHERE path = ?", self.tmp))
    end)
  end
end

-- replace: drops the unfinished file; TABLE.jsonl stays as it was.
function Table:abandon()
  if self.mode ~= "replace" or not self.live then return end
  self.live = false
  if self.tmp then
    self:close_file()
    check(fs.remove(self.tmp))
    local db = self.dest.db
    if db then state.atomic(db, function() check(db:query("DELETE FROM _icx_files WHERE path = ?", self.tmp)) end) end
  end
end

return M
