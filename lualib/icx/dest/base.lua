-- icx.dest.base: the destination seam, written once. A destination is a
-- Store (where icx keeps its own state) plus a Writer (where records land)
-- plus the transaction they share. Every driver fills every entry point of
-- both lists below (the shape of curl's struct Curl_ssl); base.new refuses
-- a driver that leaves one out, and everything a caller may get wrong
-- (a write outside a transaction, a table used after finish) is checked
-- here, once, before a driver is asked.
--
-- What the runner, the cli and reconcile call (a Dest and its Tables):
--   d.kind                                  the driver's name
--   d:transaction(fn, ...) -> fn's results  begin, fn, commit; rolled back
--                                           (and re-raised) when fn or commit fails
--   d:begin(); d:commit(); d:rollback()
--   t = d:table{name =, primary_key =, mode = "merge" | "replace", compare =}
--   t:write(page) -> rows                   inside a transaction
--   t:delete_where(column, values) -> rows  inside a transaction
--   t:keys(column) -> {text}                every stored value, for --reconcile
--   t:changes() -> new, changed, same | nil what the last write did
--   t:finish(); t:abandon()                 end of a replace run (outside a transaction)
--   d:cursor_get(connection, asset) -> value | nil, key
--   d:cursor_set(connection, asset, key, value)   inside a transaction
--   d:cursor_delete(connection, asset)            inside a transaction
--   d:run_start{connection =, asset =, run_id =, version =} -> id   run_id, version: lineage
--   d:run_finish(id, {status =, rows =, requests =, retries =, rate_limited =, error =,
--                     columns_added = {table = {column, ...}} | nil})
--   d:runs(n) -> rows                the last n run rows of each asset, newest first
--   d:columns() -> {{tbl =, col =}}  the columns icx made (a run's added columns)
--   d:lock(connection, asset) -> Lock | nil, holder   one run per asset
--   d:holder(connection, asset) -> "pid N on HOST" | nil   nil: the lock is free
--   d:lock_free(connection, asset) -> boolean
--   d:close_stale(connection, asset)   its "running" rows are over (lock held)
--   d:seen_get(connection, asset, ids) -> {[id] = updated_at}
--   d:seen_set(connection, asset, {[id] = updated_at | false})   inside a transaction
--   d:deleted_add(connection, asset, ids)         inside a transaction
--   d:meta_get(key), d:meta_set(key, value)       what the destination holds
--   d:status() -> rows; d:reset(connection | nil, asset) -> n
--   d:completeness_add(connection, asset, run, rows)   the windows a check compared
--   d:completeness_last() -> rows   per asset, its last check's sums
--   d:close()                               idempotent; also __close and __gc
--
-- What a driver module declares (icx.dest's registry lists the modules):
--   name, title      d.kind and parse's kind ("sqlite"); for messages ("SQLite")
--   schemes          the URI schemes it takes ("sqlite" takes sqlite:...)
--   form             its URI as help shows it ("sqlite:///FILE")
--   paths            true for the one driver that takes a plain path
--   state            whether it takes --state (a state file of its own)
--   reads_keys       whether its Writer reads keys back (what --reconcile needs)
--   target(uri) -> target        raises a usage error when malformed
--   shown(uri) -> uri            as messages may show it (no password)
--   open(target, opts) -> Dest | nil   nil with opts.existing when there is
--                                      none yet (nothing is created then)
--
--   base.new(driver, store, writer [, fields]) -> Dest  checks every entry point
--   base.STORE, base.WRITER, base.DRIVER   the entry point lists
--   base.none                 the entry point of a driver with nothing to do
--   base.writes_through(Writer)   flush, discard and close of a Writer over
--                             the C record writers
--   base.table_spec(spec) -> name, primary key list, mode
--   base.reserved(name) -> boolean
local errors = require "icx.errors"
local tablespec = require "icx.tablespec"
local log = require "icx.log"

local M = {}

-- The Store: icx's own state, kept by the destination. begin, commit and
-- rollback are its transaction, which the Writer's rows share.
M.STORE = {
  "begin", "commit", "rollback", "in_transaction",
  "cursor_get", "cursor_set", "cursor_delete",
  "run_start", "run_finish", "close_stale",
  "lock", "holder", "lock_free",
  "seen_get", "seen_set", "deleted_add",
  "meta_get", "meta_set", "status", "reset",
  "completeness_add", "completeness_last",
  "runs", "columns",
  "close",
}

-- The Writer: tables of records. open returns the driver's handle of one
-- table, which the others take first. flush runs just before the Store
-- commits (what the Writer held back lands now, inside the transaction);
-- discard runs when the transaction rolls back.
M.WRITER = {
  "open", "write", "delete_where", "keys", "changes", "finish", "abandon",
  "flush", "discard", "close",
}

-- What a driver module declares for icx.dest's registry.
M.DRIVER = {
  name = "string", title = "string", schemes = "table", form = "string",
  paths = "boolean", state = "boolean", reads_keys = "boolean",
  target = "function", shown = "function", open = "function",
}

-- The entry point of a driver that has nothing to do there (the SQLite
-- writer holds nothing back until commit).
function M.none() end

-- The tail every Writer over the C record writers shares: rows land as
-- they are written, inside the Store's transaction (nothing is held back
-- to flush or discard), and each table's C writer closes before the
-- connection it was prepared on. A driver's Writer keeps its tables in
-- self.tables, each with its C writer in .writer.
function M.writes_through(Writer)
  Writer.flush = M.none
  Writer.discard = M.none
  function Writer:close()
    for _, t in ipairs(self.tables) do t.writer:close() end
    self.tables = {}
  end
end

local function misuse(fmt, ...) errors.raise("internal", "icx.dest: " .. fmt:format(...)) end

-- Names of the entry points obj leaves out, in the list's order.
local function missing(obj, list)
  local out = {}
  for _, name in ipairs(list) do
    if type(obj[name]) ~= "function" then out[#out + 1] = name end
  end
  return out
end

-- Refuses a driver module that leaves a declaration out (the registry
-- calls it for every driver it lists).
function M.check_driver(driver)
  local name = type(driver) == "table" and driver.name or "?"
  if type(driver) ~= "table" then misuse("driver '%s' is not a module table", tostring(driver)) end
  local names = {}
  for k in pairs(M.DRIVER) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    if type(driver[k]) ~= M.DRIVER[k] then
      misuse("driver '%s' declares no '%s' (a %s)", tostring(name), k, M.DRIVER[k])
    end
  end
  return driver
end

local Dest = {}
Dest.__index = Dest
Dest.__name = "icx.dest.Dest"

local Table = {}
Table.__index = Table
Table.__name = "icx.dest.Table"

-- A destination of driver (its module) over store and writer, whose
-- entry points are all checked here: a missing one is a bug of the driver,
-- named with the driver and the entry point (the store it opened is
-- closed first). fields are public fields a driver shows (db, conn, path),
-- for tests and benchmarks.
function M.new(driver, store, writer, fields)
  local dname = type(driver) == "table" and tostring(driver.name) or tostring(driver)
  for _, it in ipairs({ { "Store", store, M.STORE }, { "Writer", writer, M.WRITER } }) do
    local what, obj, list = it[1], it[2], it[3]
    local gone = type(obj) == "table" and missing(obj, list) or nil
    if not gone or #gone > 0 then
      if type(store) == "table" and type(store.close) == "function" then pcall(store.close, store) end
      if not gone then misuse("driver '%s' gives no %s", dname, what) end
      misuse("driver '%s' leaves %s entry point%s '%s' empty", dname, what, #gone == 1 and "" or "s",
        table.concat(gone, "', '"))
    end
  end
  local d = { kind = dname, store = store, writer = writer }
  for k, v in pairs(fields or {}) do d[k] = v end
  return setmetatable(d, Dest)
end

function Dest:__tostring()
  return ("icx.dest.Dest(%s%s)"):format(self.kind, self.closed and ", closed" or "")
end

local function open(self, what)
  if self.closed then misuse("%s after the destination closed", what) end
end

local function inside(self, what)
  open(self, what)
  if not self.store:in_transaction() then misuse("%s outside a transaction (call d:begin() first)", what) end
end

-- The shared transaction ----------------------------------------------------

function Dest:begin()
  open(self, "begin()")
  if self.store:in_transaction() then misuse("begin() inside a transaction") end
  self.store:begin()
end

-- What the Writer held back lands first, inside the Store's transaction,
-- so the rows and the state that vouches for them commit together.
function Dest:commit()
  inside(self, "commit()")
  local ok, err = pcall(self.writer.flush, self.writer)
  if not ok then
    pcall(self.rollback, self)
    error(err, 0)
  end
  self.store:commit()
end

function Dest:rollback()
  open(self, "rollback()")
  self.writer:discard()
  self.store:rollback()
end

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
function Dest:transaction(fn, ...)
  self:begin()
  return finish(self, pcall(fn, ...))
end

function Dest:close()
  if self.closed then return end
  if self.store:in_transaction() then pcall(self.rollback, self) end
  self.closed = true
  local ok, err = pcall(self.writer.close, self.writer)
  self.store:close()
  if not ok then error(err, 0) end
end

Dest.__close = Dest.close
Dest.__gc = Dest.close

-- The Store -------------------------------------------------------------------

function Dest:cursor_get(connection, asset)
  open(self, "cursor_get")
  return self.store:cursor_get(connection, asset)
end

-- Stored inside the page's transaction, so the two commit (or vanish)
-- together.
function Dest:cursor_set(connection, asset, key, value)
  inside(self, "cursor_set")
  if type(key) ~= "string" then misuse("cursor key must be a string") end
  self.store:cursor_set(connection, asset, key, value)
end

function Dest:cursor_delete(connection, asset)
  inside(self, "cursor_delete")
  self.store:cursor_delete(connection, asset)
end

function Dest:run_start(t)
  open(self, "run_start")
  t = t or {}
  if type(t.connection) ~= "string" or type(t.asset) ~= "string" then
    misuse("run_start needs connection and asset names")
  end
  return self.store:run_start(t.connection, t.asset, { run_id = t.run_id, version = t.version })
end

local STATUS = { ok = true, failed = true, interrupted = true }

-- The message is redacted like a log line, so a token echoed into an
-- error never lands.
function Dest:run_finish(id, t)
  open(self, "run_finish")
  t = t or {}
  if not STATUS[t.status] then
    misuse("run status must be 'ok', 'failed' or 'interrupted', not '%s'", tostring(t.status))
  end
  self.store:run_finish(id, { status = t.status, rows = t.rows or 0, requests = t.requests or 0,
    retries = t.retries or 0, rate_limited = t.rate_limited or 0,
    error = t.error ~= nil and log.redact(tostring(t.error)) or nil,
    columns_added = t.columns_added and next(t.columns_added) and require("icx.json").encode(t.columns_added)
      or nil })
end

function Dest:close_stale(connection, asset)
  open(self, "close_stale")
  self.store:close_stale(connection, asset)
end

function Dest:lock(connection, asset)
  open(self, "lock")
  return self.store:lock(connection, asset)
end

function Dest:holder(connection, asset)
  open(self, "holder")
  return self.store:holder(connection, asset)
end

function Dest:lock_free(connection, asset)
  open(self, "lock_free")
  return self.store:lock_free(connection, asset)
end

function Dest:seen_get(connection, asset, ids)
  open(self, "seen_get")
  if #ids == 0 then return {} end
  return self.store:seen_get(connection, asset, ids)
end

-- In the transaction that lands the rows it vouches for.
function Dest:seen_set(connection, asset, map)
  inside(self, "seen_set")
  if next(map) == nil then return end
  self.store:seen_set(connection, asset, map)
end

-- In the transaction that deletes their rows.
function Dest:deleted_add(connection, asset, ids)
  inside(self, "deleted_add")
  if #ids == 0 then return end
  self.store:deleted_add(connection, asset, ids)
end

function Dest:meta_get(key)
  open(self, "meta_get")
  return self.store:meta_get(key)
end

function Dest:meta_set(key, value)
  open(self, "meta_set")
  self.store:meta_set(key, value)
end

function Dest:status()
  open(self, "status")
  return self.store:status()
end

function Dest:runs(n)
  open(self, "runs")
  if math.type(n) ~= "integer" or n < 1 then misuse("runs() needs a count >= 1") end
  return self.store:runs(n)
end

function Dest:columns()
  open(self, "columns")
  return self.store:columns()
end

-- The windows one completeness check compared (icx.completeness), in a
-- transaction of their own.
function Dest:completeness_add(connection, asset, run, rows)
  open(self, "completeness_add")
  if #rows == 0 then return end
  self.store:completeness_add(connection, asset, run, rows)
end

-- Per (connection, asset), its last check: checked_at, windows, expected,
-- landed, healed, missing.
function Dest:completeness_last()
  open(self, "completeness_last")
  return self.store:completeness_last()
end

function Dest:reset(connection, asset)
  open(self, "reset")
  return self.store:reset(connection, asset)
end

-- The Writer ------------------------------------------------------------------

function Dest:table(spec)
  open(self, "table()")
  local name, pk, mode = M.table_spec(spec)
  local compare = mode == "merge" and #pk == 1 and spec.compare or nil
  local t = setmetatable({ dest = self, name = name, mode = mode, primary_key = pk }, Table)
  t.handle = self.writer:open(name, pk, mode, compare)
  t.live = true
  return t
end

function Table:__tostring() return ("icx.dest.Table(%s, %s)"):format(self.dest.kind, self.name) end

local function live(t, what)
  if not t.live then misuse("%s on table '%s' after finish() or abandon()", what, t.name) end
  if t.dest.closed then misuse("%s on table '%s' after the destination closed", what, t.name) end
end

local function in_page(t, what)
  live(t, what)
  if not t.dest.store:in_transaction() then misuse("%s on table '%s' outside a transaction", what, t.name) end
end

-- Writes a page (icx.json.Page, or JSON text of a record or a list of
-- them); returns the number of records.
function Table:write(page)
  in_page(self, "write()")
  return self.dest.writer:write(self.handle, page)
end

-- Deletes the rows whose column holds one of values (child rows of parents
-- about to be rewritten, records --reconcile found gone). A table or
-- column not created yet has nothing to delete.
function Table:delete_where(column, values)
  in_page(self, "delete_where()")
  if type(column) ~= "string" then misuse("delete_where() needs a column name") end
  if type(values) ~= "table" or #values == 0 then return 0 end
  return self.dest.writer:delete_where(self.handle, column, values)
end

-- Every value of column as text (ids are text), for --reconcile; empty
-- when the table or column does not exist yet.
function Table:keys(column)
  live(self, "keys()")
  return self.dest.writer:keys(self.handle, column)
end

-- What the last write did: new, changed, same (records re-read unchanged),
-- by the stored value of the table's compare column; nil when the driver
-- cannot tell (icx.totals then counts rows written).
function Table:changes()
  live(self, "changes()")
  return self.dest.writer:changes(self.handle)
end

-- replace: the new table takes the old one's place at once; merge: nothing
-- to do.
function Table:finish()
  if self.mode ~= "replace" then return end
  live(self, "finish()")
  if self.dest.store:in_transaction() then misuse("finish() on table '%s' inside a transaction", self.name) end
  self.dest.writer:finish(self.handle)
  self.live = false
end

-- replace: the new table goes; the old one stays as it was. After the
-- destination closed there is nothing left to drop here: the next run
-- drops what a gone process left.
function Table:abandon()
  if self.mode ~= "replace" or not self.live then return end
  self.live = false
  if self.dest.closed then return end
  self.dest.writer:abandon(self.handle)
end

-- Table specs ---------------------------------------------------------------

-- The table-name rule and the spec check have one home, below both the
-- scripts that name tables and the destinations that create them.
M.reserved = tablespec.reserved
M.table_spec = tablespec.check

return M
