-- The destination contract: one body run against every registered driver
-- (icx.dest's registry), so a driver is tested by what icx promises, not by
-- its own idea of it: merge, replace, widening kinds, lossless values,
-- state (cursors, runs, seen, deleted, meta, status, reset), locks and
-- holders, and crash points (a failed transaction leaves nothing, a process
-- that dies mid-page leaves nothing, an abandoned replace leaves the old
-- table). A driver gets here with one FIXTURES entry: how to name a fresh
-- destination and how to read its rows back. PostgreSQL runs against a
-- server of its own (tests/lib/pgserver.py), s3:// against moto
-- (tests/lib/s3server.py); without either the test fails.
local t = dofile "tests/lib/tap.lua"
local dest = require "icx.dest"
local errors = require "icx.errors"
local json = require "icx.json"
local sys = require "icx.sys"

local ICX = os.getenv("ICX") or "./icx"
if ICX:sub(1, 1) ~= "/" then ICX = os.getenv("PWD") .. "/" .. ICX end
local dir = t.tmpdir()

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return nil end
  return e
end

-- A stored value as the contract states it: a string is its text, anything
-- else its JSON literal, minified; NULL is nil.
local function shortest(x)
  for p = 15, 17 do
    local s = ("%." .. p .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
end

local function from_sql(v)
  if math.type(v) == "integer" then return tostring(v) end
  if math.type(v) == "float" then return shortest(v) end
  return v
end

local function from_json(v)
  if v == nil or v == json.null then return nil end
  if type(v) == "string" then return v end
  return json.encode(v)
end

------------------------------------------------------------ PostgreSQL server
local pg_uri, server
do
  local file = dir .. "/pgserver"
  server = io.popen("exec /usr/bin/python3 tests/lib/pgserver.py serve " .. file, "w")
  local info
  for _ = 1, 600 do
    if exists(file) then
      local f = io.open(file)
      info = f:read("a")
      f:close()
      break
    end
    sys.sleep(0.1)
  end
  pg_uri = info and not info:match("^SKIP") and info:match("^(%S+)\n")
  t.ok(pg_uri ~= nil, "a PostgreSQL server for the contract (" .. tostring(info or "none"):gsub("\n.*", "") .. ")")
end

------------------------------------------------------------ S3 server
local s3_endpoint, s3_server, s3_pid
do
  s3_server = io.popen("exec /usr/bin/python3 tests/lib/s3server.py --bucket contract")
  local port, _, pid = (s3_server:read("l") or ""):match("^(%d+) (%d+) (%d+) ")
  t.ok(port ~= nil, "an S3 server (moto) for the contract")
  s3_endpoint = port and "http://127.0.0.1:" .. port
  s3_pid = pid
end

------------------------------------------------------------ fixtures
-- Per driver: uri(n) names a fresh destination; rows(d, table) -> {[id] =
-- {field = value}} as the contract states values; leftovers(d, table) ->
-- how many unfinished replace tables or files of table remain; settled(d,
-- table), where present, waits until a killed process's leftovers of table
-- are reclaimable;
-- state(d, table, columns) -> the rows of one of icx's own tables.
-- A driver that declares reads_keys = false (JSONL: append-only files)
-- deletes nothing and refuses keys.
local sqlite_quote = require("icx.sqlite").quote

local function sqlite_rows(db, tbl)
  local out = {}
  local rows = db:query("SELECT * FROM " .. sqlite_quote(tbl))
  for _, r in ipairs(rows or {}) do
    local rec = {}
    for k, v in pairs(r) do rec[k] = from_sql(v) end
    out[rec.id] = rec
  end
  return out
end

local function sqlite_state(db, tbl, cols)
  return assert(db:query(("SELECT %s FROM %s ORDER BY 1"):format(cols, tbl)))
end

-- A lake destination's rows: files(key) -> a local path of that object.
local function lake_rows(d, tbl, path_of)
  d.store:publish()
  local files = {}
  local current = d.objects:get("_icx/tables/" .. tbl .. ".json")
  if current then
    for _, k in ipairs(json.decode(current).files) do files[#files + 1] = path_of(k) end
  else
    for _, k in ipairs(d.objects:list(tbl .. "/")) do files[#files + 1] = path_of(k) end
  end
  local out = {}
  if #files == 0 then return out end
  local db = require("icx.duckdb").open(":memory:")
  local view = require("icx.dest.parquet").latest_sql(files)
  local cols = assert(db:query("SELECT column_name AS name, column_type AS type FROM (DESCRIBE " .. view .. ")"))
  local sel = {}
  for i, c in ipairs(cols) do sel[i] = "CAST(" .. require("icx.duckdb").quote(c.name) .. " AS VARCHAR) AS c" .. i end
  for _, r in ipairs(assert(db:query("SELECT " .. table.concat(sel, ", ") .. " FROM (" .. view .. ")"))) do
    local rec = {}
    for i, c in ipairs(cols) do
      local v = r["c" .. i]
      if v ~= nil and c.type == "JSON" then v = from_json(json.decode(v)) end
      rec[c.name] = v
    end
    out[rec.id] = rec
  end
  db:close()
  return out
end

local function lake_leftovers(d, tbl)
  local keep = {}
  local current = d.objects:get("_icx/tables/" .. tbl .. ".json")
  for _, k in ipairs(current and json.decode(current).files or {}) do keep[k] = true end
  local n = 0
  for _, k in ipairs(d.objects:list(tbl .. "/")) do
    if not keep[k] then n = n + 1 end
  end
  return n
end

-- An object of d's bucket as a local file (a fresh one per call).
local downloads = 0
local function download(d, key)
  downloads = downloads + 1
  local path = ("%s/s3-%d-%s"):format(dir, downloads, key:gsub("[^%w.]", "_"))
  t.write(path, assert(d.objects:get(key), "no object " .. key))
  return path
end

local FIXTURES = {
  sqlite = {
    uri = function(n) return ("sqlite:///%s/c%d.db"):format(dir, n) end,
    rows = function(d, tbl) return sqlite_rows(d.db, tbl) end,
    leftovers = function(d, tbl)
      return #assert(d.db:query("SELECT name FROM sqlite_master WHERE name LIKE '\\_icx\\_stage\\_%\\_' || ? "
        .. "ESCAPE '\\'", tbl))
    end,
    state = function(d, tbl, cols) return sqlite_state(d.db, tbl, cols) end,
  },

  jsonl = {
    uri = function(n) return ("jsonl:%s/j%d"):format(dir, n) end,
    rows = function(d, tbl)
      local out = {}
      local f = io.open(d.target .. "/" .. tbl .. ".jsonl", "rb")
      if not f then return out end
      for line in f:lines() do
        local rec = {}
        for k, v in pairs(assert(json.decode(line))) do rec[k] = from_json(v) end
        out[rec.id] = rec -- consumers keep the latest line per key
      end
      f:close()
      return out
    end,
    leftovers = function(d, tbl)
      local p = io.popen(("ls -a '%s' | grep -c '^%s\\.jsonl\\..*\\.tmp$'"):format(d.target, tbl))
      local n = tonumber(p:read("a"))
      p:close()
      return n
    end,
    state = function(d, tbl, cols) return sqlite_state(d.db, tbl, cols) end,
  },

  duckdb = {
    uri = function(n) return ("duckdb:%s/d%d.duckdb"):format(dir, n) end,
    rows = function(d, tbl)
      local quote = require("icx.duckdb").quote
      local out = {}
      local cols = assert(d.db:query("SELECT field, col, kind FROM _icx_columns WHERE tbl = ? ORDER BY pos", tbl))
      if #cols > 0 then
        local sel = {}
        for i, c in ipairs(cols) do sel[i] = "CAST(" .. quote(c.col) .. " AS VARCHAR) AS c" .. i end
        for _, r in ipairs(assert(d.db:query("SELECT " .. table.concat(sel, ", ") .. " FROM " .. quote(tbl)))) do
          local rec = {}
          for i, c in ipairs(cols) do
            local v = r["c" .. i]
            if v ~= nil and c.kind == "json" then v = from_json(json.decode(v)) end
            rec[c.field] = v
          end
          out[rec.id] = rec
        end
      end
      if not d.db:in_transaction() then d.db:release() end -- another process may want the file
      return out
    end,
    leftovers = function(d, tbl)
      local n = #assert(d.db:query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE "
        .. "'\\_icx\\_stage\\_%\\_' || ? ESCAPE '\\'", tbl))
      d.db:release()
      return n
    end,
    state = function(d, tbl, cols)
      local rows = assert(d.db:query(("SELECT %s FROM %s ORDER BY 1"):format(cols, tbl)))
      d.db:release()
      return rows
    end,
  },

  -- Parquet: one file per commit (?rows=1), read back through the
  -- latest-per-key view (a merge table: every file of it; a replace table:
  -- the files its table manifest names), after what is staged is published.
  parquet = {
    uri = function(n) return ("parquet:%s/p%d?rows=1"):format(dir, n) end,
    rows = function(d, tbl) return lake_rows(d, tbl, function(k) return d.target .. "/" .. k end) end,
    leftovers = function(d, tbl) return lake_leftovers(d, tbl) end,
    state = function(d, tbl, cols)
      d.store:publish()
      local db = d.store.shared.db
      local rows = assert(db:query(("SELECT %s FROM %s ORDER BY 1"):format(cols, tbl)))
      db:release()
      return rows
    end,
  },

  -- Parquet on S3 (moto): the same, each object read from the bucket
  -- into a local file first (DuckDB here cannot read S3 itself); the
  -- state is the bucket's _icx/state.duckdb.
  s3 = {
    uri = function(n)
      return s3_endpoint and ("s3://contract/c%d?rows=1&endpoint_url=%s&access_key_id=AKIDTEST&"
        .. "secret_access_key=contract-secret-0123456789&cache=%s/s3cache"):format(n, s3_endpoint, dir)
    end,
    rows = function(d, tbl) return lake_rows(d, tbl, function(k) return download(d, k) end) end,
    leftovers = function(d, tbl) return lake_leftovers(d, tbl) end,
    state = function(d, tbl, cols)
      d.store:publish()
      local db = require("icx.duckdb").open(download(d, "_icx/state.duckdb"))
      local rows = assert(db:query(("SELECT %s FROM %s ORDER BY 1"):format(cols, tbl)))
      db:close()
      return rows
    end,
  },

  postgresql = {
    uri = function(n) return pg_uri and (pg_uri .. "?schema=c" .. n) end,
    rows = function(d, tbl)
      local quote = require("icx.pg").quote
      local cols = assert(d.conn:query("SELECT field, col, kind FROM " .. quote(d.schema) .. "._icx_columns "
        .. "WHERE tbl = $1 ORDER BY pos", tbl))
      local out = {}
      if #cols == 0 then return out end
      local sel = {}
      for i, c in ipairs(cols) do sel[i] = quote(c.col) .. "::text AS c" .. i end
      for _, r in ipairs(assert(d.conn:query("SELECT " .. table.concat(sel, ", ") .. " FROM " .. quote(d.schema)
          .. "." .. quote(tbl)))) do
        local rec = {}
        for i, c in ipairs(cols) do
          local v = r["c" .. i]
          if v ~= nil and c.kind == "json" then v = from_json(json.decode(v)) end
          rec[c.field] = v
        end
        out[rec.id] = rec
      end
      return out
    end,
    leftovers = function(d, tbl)
      return #assert(d.conn:query("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
        .. "c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_icx\\_new\\_' || $2 || '\\_%'",
        d.schema, tbl))
    end,
    -- A killed client's backend leaves pg_stat_activity a moment after the
    -- client is gone, and until then its table is a live run's (the
    -- driver's rule): wait for the backends of table's unfinished replace
    -- tables to end (at most 10 s) before asserting they are reclaimed.
    settled = function(d, tbl)
      for _ = 1, 500 do
        local live = assert(d.conn:query("SELECT 1 AS x FROM pg_class c JOIN pg_namespace n ON n.oid = "
          .. "c.relnamespace JOIN pg_stat_activity a ON c.relname = '_icx_new_' || $2 || '_' || a.pid "
          .. "WHERE n.nspname = $1", d.schema, tbl))
        if #live == 0 then return end
        require("icx.sys").sleep(0.02)
      end
    end,
    state = function(d, tbl, cols)
      return assert(d.conn:query(("SELECT %s FROM %s.%s ORDER BY 1"):format(cols,
        require("icx.pg").quote(d.schema), tbl)))
    end,
  },
}

------------------------------------------------------------ child processes
-- What another process does to the same destination: hold a run's lock
-- until told to go, or die in the middle of a page or of a replace.
local CHILD = dir .. "/child.lua"
t.write(CHILD, [==[
local dest, sys = require "icx.dest", require "icx.sys"
local uri, mode, flag = ...
local d = dest.open(uri)
if mode == "hold" then
  d:run_start { connection = "c", asset = "held" }
  -- Kept referenced: a Lock that is garbage releases itself (__gc).
  local lk = assert(d:lock("c", "held"))
  local f = assert(io.open(flag, "w"))
  f:close()
  while not io.open(flag .. ".go") do sys.sleep(0.02) end
  assert(tostring(lk))
elseif mode == "page" then
  local tb = d:table { name = "crash", primary_key = "id" }
  d:begin()
  tb:write('[{"id":"x1"},{"id":"x2"}]')
  d:cursor_set("c", "crash", "page", 9)
elseif mode == "replace" then
  local tb = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:transaction(function() tb:write('[{"id":"half"}]') end)
end
-- Gone without commit, finish, release or run_finish: as if killed.
os.exit(0, false)
]==])

local function child(uri, mode, flag)
  return io.popen(("'%s' lua '%s' '%s' %s '%s'"):format(ICX, CHILD, uri, mode, flag or "-"), "r")
end

local function page(text) return assert(json.page(text, false)) end

local function count(rows)
  local n = 0
  for _ in pairs(rows) do n = n + 1 end
  return n
end

local function ids(rows)
  local out = {}
  for id in pairs(rows) do out[#out + 1] = id end
  table.sort(out)
  return table.concat(out, ",")
end

------------------------------------------------------------ the contract
local serial = 0

local function contract(name, fx)
  local function label(s) return name .. ": " .. s end
  serial = serial + 1
  local uri = fx.uri(serial)
  t.is(dest.open(uri, { existing = true }), nil, label("existing: no destination yet, nothing created"))
  local d = dest.open(uri)
  t.is(d.kind, name, label("d.kind is the driver's name"))

  -- merge
  local m = d:table { name = "items", primary_key = "id" }
  d:transaction(function()
    t.is(m:write(page('[{"id":"1","n":1,"s":"a"},{"id":"2","n":2},{"id":"3","n":3}]')), 3,
      label("write returns the records written"))
  end)
  d:transaction(function() m:write(page('[{"id":"1","s":"b"},{"id":"3","n":30},{"id":"3","n":31}]')) end)
  local rows = fx.rows(d, "items")
  t.is(ids(rows), "1,2,3", label("merge: one row per key"))
  t.ok(rows["1"].s == "b" and rows["1"].n == nil, label("merge: the row is the latest record, absent fields NULL"))
  t.is(rows["3"].n, "31", label("merge: a key twice in one page, the last wins"))
  d:transaction(function() m:write('{"id":"2","n":2}') end)
  t.is(count(fx.rows(d, "items")), 3, label("merge: the same record again adds no row"))
  local gone = d:transaction(m.delete_where, m, "id", { "2", "9" })
  local changes = m:changes()
  t.ok(changes == nil or math.type(changes) == "integer", label("changes: counts, or nil when not known"))
  if not dest.driver(uri).reads_keys then
    t.is(gone, 0, label("append-only: delete_where deletes nothing"))
    local e = err_of(m.keys, m, "id")
    t.ok(errors.is(e) and e.kind == "usage" and e.message:find("append-only", 1, true),
      label("append-only: keys refused as a usage error: ") .. tostring(e))
  else
    t.is(gone, 1, label("delete_where returns the rows deleted"))
    t.is(ids(fx.rows(d, "items")), "1,3", label("delete_where: the row is gone"))
    local k = m:keys("id")
    table.sort(k)
    t.is(table.concat(k, ","), "1,3", label("keys: every stored key, as text"))
    t.is(#m:keys("nope"), 0, label("keys of a column never written: none"))
    t.is(d:transaction(m.delete_where, m, "nope", { "1" }), 0, label("delete_where on an unknown column: 0"))
  end
  local e = err_of(m.write, m, page('[{"id":"4"}]'))
  t.ok(errors.is(e) and e.kind == "internal" and e.message:find("outside a transaction", 1, true),
    label("write outside a transaction is refused"))

  -- widening kinds: every stored value survives a field changing kind
  local w = d:table { name = "wide", primary_key = "id" }
  for _, rec in ipairs({ '{"id":"w1","v":5}', '{"id":"w2","v":"str"}', '{"id":"w3","v":{"a":[1]}}',
      '{"id":"w4","v":1.5}', '{"id":"w5","v":true}', '{"id":"w6","v":null}' }) do
    d:transaction(function() w:write(rec) end)
  end
  rows = fx.rows(d, "wide")
  t.is(("%s %s %s %s"):format(rows.w1.v, rows.w2.v, rows.w3.v, rows.w4.v), '5 str {"a":[1]} 1.5',
    label("widening: int, string, object and float of one field all kept"))
  t.is(rows.w6.v, nil, label("widening: null stays NULL"))

  -- lossless values
  local l = d:table { name = "lossless", primary_key = "id" }
  d:transaction(function()
    l:write(page([==[[{"id":7,"imax":9223372036854775807,"imin":-9223372036854775808,
      "big":18446744073709551616,"arr":[],"obj":{},"nested":{"a":[1,{"b":null}],"e":{}},"f":0.1,
      "s":"😀 漢字 \"q\" \\ \n \u00e9","nul":null,"owner_id":9007199254740993}]]==]))
  end)
  local r = fx.rows(d, "lossless")["7"]
  t.ok(r ~= nil, label("a number id lands as the text of its digits"))
  r = r or {}
  t.is(r.imax, "9223372036854775807", label("int64 max exact"))
  t.is(r.imin, "-9223372036854775808", label("int64 min exact"))
  t.is(r.big, "18446744073709551616", label("an integer beyond int64 exact"))
  t.is(r.arr .. " " .. r.obj, "[] {}", label("[] and {} as sent"))
  t.is(r.nested, '{"a":[1,{"b":null}],"e":{}}', label("nested JSON minified, nothing lost"))
  t.is(r.f, "0.1", label("0.1 round-trips"))
  t.is(r.s, '😀 漢字 "q" \\ \n é', label("unicode and escapes exact"))
  t.is(r.owner_id, "9007199254740993", label("an id beyond 2^53 exact"))
  t.is(r.nul, nil, label("null as NULL"))

  -- replace: readers see the old table until finish; abandon keeps it
  local r1 = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:transaction(function() r1:write(page('[{"id":"o1"},{"id":"o2"}]')) end)
  r1:finish()
  t.is(ids(fx.rows(d, "tags")), "o1,o2", label("replace: finish swaps the new table in"))
  local r2 = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:transaction(function() r2:write(page('[{"id":"n1"}]')) end)
  t.is(ids(fx.rows(d, "tags")), "o1,o2", label("replace: while it runs, readers see the old table"))
  r2:abandon()
  r2:abandon()
  t.is(ids(fx.rows(d, "tags")), "o1,o2", label("replace: abandon leaves the old table"))
  t.is(fx.leftovers(d, "tags"), 0, label("replace: abandon leaves nothing of the new one"))
  e = err_of(r2.write, r2, page("[]"))
  t.ok(e and e.message:find("after finish() or abandon()", 1, true), label("a table after abandon is refused"))
  local r3 = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  e = err_of(r3.finish, r3)
  d:rollback()
  t.ok(e and e.message:find("inside a transaction", 1, true), label("finish inside a transaction is refused"))
  r3:finish()
  t.is(count(fx.rows(d, "tags")), 0, label("replace: a run with no records leaves an empty table"))

  -- crash points
  e = err_of(d.transaction, d, function()
    m:write(page('[{"id":"c1"}]'))
    d:cursor_set("c", "items", "page", 99)
    error("boom", 0)
  end)
  t.is(e, "boom", label("a failing transaction re-raises its error"))
  t.ok(fx.rows(d, "items").c1 == nil and d:cursor_get("c", "items") == nil,
    label("a failed transaction leaves neither its rows nor its cursor"))
  d:transaction(function() d:cursor_set("c", "items", "page", 1) end)
  t.is(fx.rows(d, "items").c1, nil, label("nothing of a failed transaction lands with the next commit"))
  t.is(d:transaction(function() return "x", 2 end), "x", label("transaction returns fn's results"))

  local p = child(uri, "page")
  p:close()
  t.is(count(fx.rows(d, "crash")), 0, label("a process dead mid-page: none of its rows"))
  t.is(d:cursor_get("c", "crash"), nil, label("a process dead mid-page: no cursor"))

  local old = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:transaction(function() old:write(page('[{"id":"o1"},{"id":"o2"}]')) end)
  old:finish()
  p = child(uri, "replace")
  p:close()
  if fx.settled then fx.settled(d, "tags") end
  t.is(ids(fx.rows(d, "tags")), "o1,o2", label("a process dead mid-replace: the old table stays"))
  local again = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:transaction(function() again:write(page('[{"id":"n1"}]')) end)
  again:finish()
  t.is(ids(fx.rows(d, "tags")), "n1", label("the next replace swaps in its own rows only"))
  t.is(fx.leftovers(d, "tags"), 0, label("and the dead process's unfinished table is gone"))

  -- state: cursors
  d:transaction(function()
    d:cursor_set("c", "a", "updated_at", 1700000000)
    d:cursor_set("c", "b", "starting_after", "WzE3MDAsIjEiXQ==")
    d:cursor_set("c", "a/slices", "slices", '{"s":[]}')
    d:cursor_set("other", "a", "updated_at", 5)
  end)
  local v, k = d:cursor_get("c", "a")
  t.ok(v == 1700000000 and math.type(v) == "integer" and k == "updated_at", label("an integer cursor stays an integer"))
  t.is(d:cursor_get("c", "b"), "WzE3MDAsIjEiXQ==", label("a token cursor stays a string"))
  t.is(d:cursor_get("nobody", "a"), nil, label("no cursor: nil"))
  e = err_of(d.cursor_set, d, "c", "a", "k", 1)
  t.ok(e and e.message:find("cursor_set outside a transaction", 1, true), label("cursor_set outside a transaction"))
  d:transaction(function() d:cursor_delete("c", "b") end)
  t.is(d:cursor_get("c", "b"), nil, label("cursor_delete"))

  -- seen
  t.is(next(d:seen_get("c", "a", {})), nil, label("seen_get of no ids: empty"))
  d:transaction(function() d:seen_set("c", "a", { ["1"] = 100, ["2"] = 200 }) end)
  d:transaction(function() d:seen_set("c", "a", { ["1"] = 101, ["2"] = false }) end)
  local seen = d:seen_get("c", "a", { "1", "2", "3" })
  t.ok(seen["1"] == 101 and seen["2"] == nil and seen["3"] == nil, label("seen: set, updated, forgotten"))
  t.is(next(d:seen_get("c", "other", { "1" })), nil, label("seen is per asset"))

  -- deleted
  d:transaction(function() d:deleted_add("c", "items", { "7", 8 }) end)
  d:transaction(function() d:deleted_add("c", "items", { "7" }) end)
  local del = {}
  for _, row in ipairs(fx.state(d, "_icx_deleted", "id")) do del[#del + 1] = row.id end
  t.is(table.concat(del, ","), "7,8", label("deleted ids noted once each, as text"))
  e = err_of(d.deleted_add, d, "c", "items", { "9" })
  t.ok(e and e.message:find("outside a transaction", 1, true), label("deleted_add outside a transaction"))

  -- meta
  t.is(d:meta_get("workspace_id"), nil, label("meta: nothing yet"))
  d:meta_set("workspace_id", "ws1")
  d:meta_set("workspace_id", "ws2")
  t.is(d:meta_get("workspace_id"), "ws2", label("meta: set, then replaced"))

  -- runs and status
  local id = d:run_start { connection = "c", asset = "a" }
  t.is(math.type(id), "integer", label("run_start returns an integer id"))
  require("icx.log").add_secret("tok_CONTRACT_123456789")
  d:run_finish(id, { status = "failed", rows = 3, error = "401 for tok_CONTRACT_123456789" })
  local id2 = d:run_start { connection = "c", asset = "a" }
  d:run_finish(id2, { status = "ok", rows = 4 })
  t.ok(err_of(d.run_finish, d, id2, { status = "done" }), label("an unknown run status is refused"))
  local errs = {}
  for _, row in ipairs(fx.state(d, "_icx_runs", "id, error")) do errs[#errs + 1] = row.error or "-" end
  t.is(errs[1], "401 for ****6789", label("a run's error is redacted"))
  local st = {}
  for _, row in ipairs(d:status()) do st[row.connection .. "/" .. row.asset] = row end
  t.ok(st["c/a"] and st["c/a"].cursor == 1700000000 and st["c/a"].last_status == "ok" and st["c/a"].rows == 4,
    label("status: the cursor and the last run"))
  t.ok(st["c/a/slices"] == nil and st["other/a"] ~= nil, label("status: assets, not a walk's progress rows"))

  -- completeness: a row per window; the last check per asset sums one check's rows
  t.is(#d:completeness_last(), 0, label("completeness: no check yet"))
  d:completeness_add("c", "a", id, {
    { window = "w1", lo = 0, hi = 100, expected = 5, landed = 5, healed = 0, checked_at = "2026-01-01T00:00:00Z" } })
  d:completeness_add("c", "a", id2, {
    { window = "w1", lo = 0, hi = 100, expected = 5, landed = 5, healed = 1, checked_at = "2026-01-02T00:00:00Z" },
    { window = "w2", lo = 100, hi = 200, expected = 9, landed = 7, healed = 2, checked_at = "2026-01-02T00:00:00Z" } })
  d:completeness_add("c", "b", nil, {})
  local last = d:completeness_last()
  t.is(#last, 1, label("completeness: one asset checked"))
  local c1 = last[1] or {}
  t.ok(c1.asset == "a" and c1.checked_at == "2026-01-02T00:00:00Z" and c1.windows == 2 and c1.expected == 14
    and c1.landed == 12 and c1.healed == 3 and c1.missing == 2, label("completeness: the last check's sums"))
  t.is(#fx.state(d, "_icx_completeness", "asset"), 3, label("completeness: a row per window checked"))

  -- reset
  t.is(d:reset("c", "a"), 2, label("reset: the cursor and its slices row"))
  t.ok(d:cursor_get("c", "a") == nil and d:cursor_get("c", "a/slices") == nil, label("reset: both gone"))
  t.is(d:cursor_get("other", "a"), 5, label("reset: another connection's cursor stays"))
  t.is(d:reset(nil, "a"), 1, label("reset without a connection: every connection's"))

  -- locks and holders: another process holds (c, held) until it dies
  local flag = ("%s/held-%d"):format(dir, serial)
  p = child(uri, "hold", flag)
  for _ = 1, 300 do
    if exists(flag) then break end
    sys.sleep(0.05)
  end
  t.ok(exists(flag), label("the other process holds the lock"))
  local lk, holder = d:lock("c", "held")
  t.ok(lk == nil and tostring(holder):match("^icx pid %d+ on .+, running since "),
    label("lock: refused, naming the holder: ") .. tostring(holder))
  t.is(d:lock_free("c", "held"), false, label("lock_free: false while held"))
  t.like(d:holder("c", "held"), "^icx pid %d+ on ", label("holder names the process"))
  t.write(flag .. ".go", "")
  p:close()
  -- A server notices a client gone a moment after it exits.
  local free = false
  for _ = 1, 200 do
    free = d:lock_free("c", "held")
    if free then break end
    sys.sleep(0.05)
  end
  t.is(free, true, label("the lock goes with its process"))
  lk = d:lock("c", "held")
  t.ok(lk ~= nil, label("lock: taken once free"))
  d:close_stale("c", "held")
  st = {}
  for _, row in ipairs(d:status()) do st[row.asset] = row end
  t.is(st.held and st.held.last_status, "interrupted", label("close_stale: the dead run is interrupted"))
  t.is(d:holder("c", "held"), nil, label("holder: none once the run rows are closed and the lock ours"))
  lk:release()

  -- Closed inside a transaction: the page is rolled back, not committed.
  d:begin()
  m:write(page('[{"id":"z9"}]'))
  d:cursor_set("c", "items", "page", 77)
  d:close()
  d:close()
  e = err_of(m.write, m, page("[]"))
  t.ok(e and e.message:find("closed", 1, true), label("a table of a closed destination is refused"))
  e = err_of(d.cursor_get, d, "c", "a")
  t.ok(e and e.message:find("after the destination closed", 1, true), label("a closed destination is refused"))
  local d2 = dest.open(uri, { existing = true })
  t.ok(d2 ~= nil, label("existing: found once written"))
  if d2 then
    t.is(fx.rows(d2, "tags").n1 ~= nil, true, label("what committed is there for the next process"))
    t.ok(fx.rows(d2, "items").z9 == nil and d2:cursor_get("c", "items") == 1,
      label("closed inside a transaction: nothing of it landed"))
    d2:close()
  end
end

for _, drv in ipairs(dest.drivers()) do
  local fx = FIXTURES[drv.name]
  if not fx then
    t.ok(false, ("driver '%s' has a contract fixture (add one to FIXTURES)"):format(drv.name))
  elseif not fx.uri(0) then
    t.ok(false, drv.name .. ": no server to run the contract against")
  else
    local ok, e = pcall(contract, drv.name, fx)
    t.ok(ok, drv.name .. ": the contract ran to its end " .. (ok and "" or tostring(e)))
  end
end

server:close()
if s3_pid then os.execute("kill " .. s3_pid) end
s3_server:close()
os.execute("rm -rf '" .. dir .. "'")
os.exit(t.done())
