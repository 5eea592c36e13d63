-- The JSONL destination, for pipes and jq:
--   jsonl:-    one line per record on stdout: {"table":"contacts","record":{...}}
--   jsonl:DIR  one DIR/TABLE.jsonl per table, one record per line
-- Its Store is a SQLite state file (icx.dest.filestore): DIR/.icx-state.db,
-- ./icx-state.db for stdout, or --state PATH. A record is written as its
-- raw JSON from the page, minified: values are byte-for-byte what the API
-- sent. The Writer holds a page's lines until commit, then (flush) writes
-- and flushes them and records each file's new committed length in
-- _icx_files, in the Store's transaction, with the cursor. A file longer
-- than its committed length (a crash between the write and that commit) is
-- cut back when the table is next opened, so a resumed run appends the page
-- again exactly once. On stdout nothing can be taken back: a crash in that
-- window re-delivers the page (at least once, never lost). merge appends;
-- replace writes TABLE.jsonl.PID.tmp and renames it over TABLE.jsonl at
-- finish (on stdout, replace is a plain stream). Files are append-only:
-- delete_where deletes nothing (consumers keep the latest line per key) and
-- keys cannot be read back, so --reconcile is refused.
local base = require "icx.dest.base"
local errors = require "icx.errors"
local filestore = require "icx.dest.filestore"
local json = require "icx.json"
local fs = require "icx.sys"
local state = require "icx.state"

local check = state.check

local M = {
  name = "jsonl", title = "JSONL", schemes = { "jsonl" }, form = "jsonl:DIR",
  paths = false, state = true, reads_keys = false,
  shown = require("icx.url").masked,
}

local Writer = {}
Writer.__index = Writer
Writer.__name = "icx.dest.JsonlWriter"

M.Store, M.Writer = filestore.Store, Writer

local EPIPE = 32 -- Linux; main.c ignores SIGPIPE so a closed reader shows here

local function io_check(v, err, errno, ...)
  if v == nil and errno == EPIPE then
    errors.raise("dest", "jsonl: the output was closed by its reader (broken pipe, e.g. | head): the rest "
      .. "was not written and the page's cursor not stored", { code = "closed_pipe" })
  end
  if v == nil then errors.raise("dest", "jsonl: " .. tostring(err), { code = "io" }) end
  return v, err, errno, ...
end

-- jsonl:- or jsonl:DIR -> "-" or DIR.
function M.target(uri)
  local rest = uri:match("^jsonl:(.*)$")
  if not rest or rest == "" then
    errors.raise("usage", ("--dest '%s': write jsonl:- for stdout or jsonl:DIR for a directory (see icx help)")
      :format(uri))
  end
  return rest
end

-- The state file of target: --state, or beside the records.
local function state_path(target, opts)
  return opts.state or (target == "-" and "icx-state.db" or target:gsub("(.)/+$", "%1") .. "/.icx-state.db")
end

-- target: "-" or a directory (created if missing); nil with opts.existing
-- when its state file does not exist yet.
function M.open(target, opts)
  local sp = state_path(target, opts)
  if opts.existing then
    local f = io.open(sp, "rb")
    if not f then return nil end
    f:close()
  end
  local w = setmetatable({ tables = {}, pending = {}, order = {}, paths = setmetatable({}, { __mode = "k" }) },
    Writer)
  if target == "-" then
    w.stdout = true
  else
    check(fs.mkdir(target))
    w.dir = target:gsub("(.)/+$", "%1")
  end
  local store = filestore.open(sp, "the JSONL state file", opts)
  w.db = store.db
  local ok, e = pcall(state.atomic, w.db, function(db)
    check(db:exec("CREATE TABLE IF NOT EXISTS _icx_files (path TEXT PRIMARY KEY, size INTEGER NOT NULL)"))
  end)
  if not ok then
    store:close()
    error(e, 0)
  end
  return base.new(M, store, w, { db = store.db, target = target, state_path = sp })
end

-- The committed length of path, or nil when none is recorded.
function Writer:committed_size(path)
  local rows = check(self.db:query("SELECT size FROM _icx_files WHERE path = ?", path))
  return rows[1] and rows[1].size
end

-- Records path's committed length (inside the commit's transaction).
function Writer:set_committed_size(path, size)
  check(self.db:query("INSERT INTO _icx_files (path, size) VALUES (?, ?) "
    .. "ON CONFLICT (path) DO UPDATE SET size = excluded.size", path, size))
end

-- Unfinished replace files of path (PATH.PID.tmp) whose process is gone.
function Writer:drop_stale_tmp(path)
  local rows = check(self.db:query("SELECT path FROM _icx_files WHERE size = -1 AND substr(path, 1, ?) = ?",
    #path + 1, path .. "."))
  for _, r in ipairs(rows) do
    local pid = math.tointeger(tonumber(r.path:sub(#path + 2):match("^(%d+)%.tmp$")))
    if pid and (pid == fs.pid() or not fs.alive(pid)) then
      check(fs.remove(r.path))
      state.atomic(self.db, function(db) check(db:query("DELETE FROM _icx_files WHERE path = ?", r.path)) end)
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

-- Writes and flushes the page's lines; their files' new lengths commit
-- with the Store's transaction.
function Writer:flush()
  local order, pending = self.order, self.pending
  self.pending, self.order = {}, {}
  for _, f in ipairs(order) do
    local lines = pending[f]
    if #lines > 0 then
      io_check(f:write(table.concat(lines)))
      io_check(f:flush())
      local path = self.paths[f]
      if path then self:set_committed_size(path, io_check(f:seek("end"))) end
    end
  end
end

function Writer:discard() self.pending, self.order = {}, {} end

-- Queues lines for file f until commit.
local function queue(w, f, lines)
  local q = w.pending[f]
  if not q then
    q = {}
    w.pending[f] = q
    w.order[#w.order + 1] = f
  end
  for i = 1, #lines do q[#q + 1] = lines[i] end
end

function Writer:open(name, _, mode)
  local t = { name = name }
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
  self.tables[#self.tables + 1] = t
  return t
end

local function close_file(t)
  if t.file and t.file ~= io.stdout then t.file:close() end
  t.file = nil
end

-- Queues the page's records as lines; returns how many.
function Writer:write(t, page)
  if type(page) == "string" then
    local text = page:match("^%s*%[") and page or ("[" .. page .. "]")
    local p, err = json.page(text, false)
    if not p then errors.raise("dest", ("table '%s': %s"):format(t.name, err), { code = "record" }) end
    page = p
  end
  if not t.file then
    t.file = io_check(io.open(t.path, "ab"))
    self.paths[t.file] = t.path
  end
  local n = page:count()
  local lines, prefix, suffix = {}, t.prefix, t.suffix
  for i = 1, n do lines[i] = prefix .. page:raw(i) .. suffix end
  queue(self, t.file, lines)
  return n
end

function Writer:delete_where() return 0 end

function Writer:keys(t)
  errors.raise("usage", ("jsonl: table '%s': JSONL files are append-only, so icx cannot read back which rows "
    .. "landed (--reconcile needs a SQLite or PostgreSQL destination)"):format(t.name))
end

-- Nothing is looked up before a line is appended.
function Writer:changes() return nil end

-- replace: the finished file takes TABLE.jsonl's place in one rename.
function Writer:finish(t)
  if not t.tmp then return end
  local size = io_check(t.file:seek("end"))
  io_check(t.file:flush())
  close_file(t)
  state.atomic(self.db, function(db)
    check(fs.rename(t.tmp, t.path))
    self:set_committed_size(t.path, size)
    check(db:query("DELETE FROM _icx_files WHERE path = ?", t.tmp))
  end)
end

-- replace: drops the unfinished file; TABLE.jsonl stays as it was.
function Writer:abandon(t)
  if not t.tmp then return end
  close_file(t)
  check(fs.remove(t.tmp))
  state.atomic(self.db, function(db) check(db:query("DELETE FROM _icx_files WHERE path = ?", t.tmp)) end)
end

function Writer:close()
  for _, t in ipairs(self.tables) do close_file(t) end
  self.tables = {}
end

return M
