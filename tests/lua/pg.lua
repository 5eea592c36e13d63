-- icx.pg against a real PostgreSQL (tests/lib/pgserver.py, started here):
-- connections and their errors, queries and types, transactions, the typed
-- COPY writer (kinds, widening, dedupe, refusals), identifiers, lifecycle.
local t = dofile "tests/lib/tap.lua"
local pg = require "icx.pg"
local json = require "icx.json"
local sys = require "icx.sys"

local dir = t.tmpdir()
local file = dir .. "/server"
local server = io.popen("exec /usr/bin/python3 tests/lib/pgserver.py serve " .. file, "w")
local info
for _ = 1, 600 do
  local f = io.open(file)
  if f then
    info = f:read("a")
    f:close()
    break
  end
  sys.sleep(0.1)
end
if not info or info:match("^SKIP") then
  server:close()
  if os.getenv("CI") == "true" then
    t.ok(false, "PostgreSQL server for the tests: " .. tostring(info))
    os.exit(t.done())
  end
  print("1..0 # " .. (info or "SKIP the test server did not start"):gsub("\n", ""))
  os.exit(0)
end
local uri, password, sockdir, port = info:match("^(%S+)\n(.-)\n(%S+) (%d+)\n")

local function q(c, sql, ...) return assert(c:query(sql, ...)) end

---------------------------------------------------------------- connect
do
  local c = assert(pg.connect(uri))
  t.like(tostring(c), "^icx%.pg%.Conn %(icx@127%.0%.0%.1:%d+/icx%)$", "Conn __tostring: user, host, port, db")
  t.ok(not tostring(c):find(password, 1, true), "__tostring never shows the password")
  t.ok(c:server_version() >= 120000, "server 12+ (shortest-exact doubles)")
  t.ok(pg.libpq_version() >= 120000, "libpq version")
  t.ok(c:pid() > 0, "backend pid")
  t.is(q(c, "SHOW client_encoding")[1].client_encoding, "UTF8", "client_encoding UTF8")
  t.is(q(c, "SHOW extra_float_digits")[1].extra_float_digits, "1", "extra_float_digits 1")
  c:close()
  c:close()
  t.is(tostring(c), "icx.pg.Conn (closed)", "close is idempotent")
  t.raises(function() c:exec("SELECT 1") end, "connection is closed", "closed Conn raises")

  local bad, err, code = pg.connect(uri .. "?bogus=1")
  t.ok(bad == nil and code == "conninfo", "unparsable conninfo: nil, err, 'conninfo'")
  t.like(err, "invalid URI query parameter", "libpq's reason")
  local wrong = uri:gsub(":[^:@/]*@", ":nope-nope@")
  bad, err, code = pg.connect(wrong)
  t.ok(bad == nil and code == "auth", "wrong password: code 'auth'")
  t.ok(not err:find("nope-nope", 1, true), "the password is not in the message")
  bad, err, code = pg.connect("postgresql://icx@127.0.0.1:1/icx", { connect_timeout = 2 })
  t.ok(bad == nil and code == "connect", "refused: code 'connect' (" .. tostring(err) .. ")")
  t.raises(function() pg.connect(uri, { timeout = 1 }) end, "unknown option 'timeout'", "unknown option raises")
  -- libpq's conventions: a socket directory as host, no password needed there
  local c2 = pg.connect(("postgresql://postgres@%s/icx"):format(sockdir:gsub("/", "%%2F")) .. "?port=" .. port)
  t.ok(c2 ~= nil, "a unix socket host (libpq conventions)")
  if c2 then c2:close() end
end

---------------------------------------------------------------- ident
do
  t.is(pg.quote('a"b'), '"a""b"', "quote doubles quotes")
  t.is(pg.ident("contacts"), "contacts", "a short name is itself")
  local a, b = pg.ident(("x"):rep(70) .. "1"), pg.ident(("x"):rep(70) .. "2")
  t.ok(#a == 63 and #b == 63 and a ~= b, "long names: 63 bytes, kept apart by a hash")
  t.ok(#pg.ident(("y"):rep(80), 11) <= 52, "room leaves space for a suffix")
  local u = pg.ident(("é"):rep(40))
  t.ok(utf8.len(u) ~= nil, "never cuts a UTF-8 character")
end

------------------------------------------------------- query and txns
local c = assert(pg.connect(uri))
do
  local r = q(c, "SELECT 1::int AS i, 9223372036854775807::bigint AS b, true AS t, 0.5::float8 AS f, "
    .. "'x'::text AS s, NULL::text AS n, 1.5::numeric AS d")[1]
  t.ok(math.type(r.i) == "integer" and r.b == math.maxinteger and r.t == true and r.f == 0.5 and r.s == "x"
    and r.n == nil and r.d == "1.5", "result types: integers, boolean, float, text, NULL absent, numeric as text")
  r = q(c, "SELECT $1::bigint AS a, $2::text AS b, $3::bool AS c, $4::float8 AS d, $5::text AS e",
    42, "s", true, 0.1, nil)[1]
  t.ok(r.a == 42 and r.b == "s" and r.c == true and r.d == 0.1 and r.e == nil, "parameters of each type")
  local ok, err, code = c:exec("SELECT * FROM nowhere")
  t.ok(ok == nil and code == "pg" and err:find("nowhere"), "a failed statement: nil, err, 'pg'")
  t.raises(function() c:query("SELECT $1", {}) end, "cannot send a table", "a table parameter raises")
  assert(c:exec("CREATE TABLE u (k int PRIMARY KEY)"))
  assert(c:begin())
  t.ok(c:in_transaction(), "in_transaction after begin")
  assert(c:exec("INSERT INTO u VALUES (1)"))
  ok, err, code = c:exec("INSERT INTO u VALUES (1)")
  t.is(code, "constraint", "unique violation: 'constraint'")
  ok, err, code = c:commit()
  t.ok(ok == nil and code == "aborted", "COMMIT of a failed transaction is an error, not a silent rollback")
  t.ok(not c:in_transaction(), "and the transaction is over")
  t.is(#q(c, "SELECT * FROM u"), 0, "nothing of it landed")
  assert(c:rollback())
  t.ok(true, "rollback outside a transaction is a no-op")
end

---------------------------------------------------------------- writer
assert(c:exec([[CREATE TABLE _icx_columns (tbl text NOT NULL, field text NOT NULL, col text NOT NULL,
  kind text NOT NULL, pos integer NOT NULL, PRIMARY KEY (tbl, field))]]))

local function page(text) return assert(json.page(text, false)) end
local function write(w, text)
  assert(c:begin())
  local n, err, code = w:write(type(text) == "string" and text:sub(1, 1) == "[" and page(text) or text)
  if n then assert(c:commit()) else c:rollback() end
  return n, err, code
end
local function kinds(w)
  local out = {}
  for _, col in ipairs(w:columns()) do out[#out + 1] = col.field .. ":" .. col.kind end
  return table.concat(out, " ")
end

do
  local w = c:writer("public", "recs", { primary_key = "id" })
  t.like(tostring(w), "Writer %(public%.recs%)", "Writer __tostring")
  t.raises(function() w:write("[]") end, "outside a transaction", "write outside a transaction raises")
  t.is(write(w, [=[[{"id":1,"i":9223372036854775807,"big":18446744073709551616,"f":1.797e308,"s":"a\tb\\c\nd",
    "b":true,"o":{"x":[1,2.50]},"nul":"x\u0000y","z":null,"owner_id":7},
    {"id":"1","i":5,"s":"last wins"}]]=]), 2, "write returns the records written")
  t.is(kinds(w), "id:id i:bigint big:numeric f:double s:text b:boolean o:json nul:json z:null owner_id:id",
    "kinds by value; id columns text; \\u0000 string json; null-only")
  local r = q(c, "SELECT i, s, o::text AS o, owner_id FROM recs")
  t.ok(#r == 1 and r[1].i == 5 and r[1].s == "last wins" and r[1].o == nil and r[1].owner_id == nil,
    "one row per key, the page's last record, absent fields NULL")
  write(w, [=[[{"id":"2","s":"a\tb\\c\nd\r\u0001","o":{"x":[1,2.50]},"f":-0.0,"nul":"x\u0000y"}]]=])
  r = q(c, "SELECT s, o::text AS o, f::text AS f, nul::text AS nul FROM recs WHERE id = '2'")[1]
  t.is(r.s, "a\tb\\c\nd\r\1", "COPY escaping: tab, backslash, newline, CR, control byte")
  t.is(r.o, '{"x":[1,2.50]}', "json as sent (2.50 kept), minified")
  t.is(r.f, "-0", "-0.0 keeps its sign")
  t.is(r.nul, '"x\\u0000y"', "a NUL string is its JSON literal")
  write(w, '[{"id":"3","i":"str","f":5,"b":1}]')
  t.is(kinds(w), "id:id i:json big:numeric f:numeric s:text b:json o:json nul:json z:null owner_id:id",
    "widened: bigint+text json, double+int numeric, boolean+int json")
  r = q(c, "SELECT i::text AS i, f::text AS f, b::text AS b FROM recs ORDER BY id")
  t.ok(r[1].i == "5" and r[3].i == '"str"' and r[2].f == "0" and r[3].f == "5" and r[3].b == "1",
    "stored values converted exactly (-0 as numeric is 0)")
  local n, err, code = write(w, '[{"x":1}]')
  t.ok(n == nil and code == "record" and err:find("primary key 'id'"), "a record without its key: 'record'")
  n, err, code = write(w, '[{"id":"k","a\\u0000b":1}]')
  t.ok(n == nil and code == "record" and err:find("NUL"), "a NUL in a field name: 'record'")
  n, err, code = write(w, ' [1]') -- as text: json.page refuses it first
  t.ok(n == nil and code == "record" and err:find("not an object"), "a non-object record: 'record'")
  n, err, code = write(w, '{"id":')
  t.ok(n == nil and code == "record" and err:find("invalid JSON"), "invalid JSON text: 'record'")
  n, err, code = write(w, '[{"id":"x\\u0000"}]')
  t.ok(n == nil and code == "record", "a NUL inside a key value: 'record'")
  t.is(write(w, '{"id":"4","new_field":[]}'), 1, "one record as JSON text")
  t.is(#q(c, "SELECT 1 FROM recs"), 4, "failed writes left nothing behind")

  -- A second writer (another process, in effect) sees the first's columns.
  local w2 = c:writer("public", "recs", { primary_key = "id" })
  write(w2, '[{"id":"5","i":1}]')
  t.is(kinds(w2), kinds(w), "a new writer loads the same columns and kinds")
  -- Twice in one transaction: the stage is emptied between the writes.
  assert(c:begin())
  assert(w:write(page('[{"id":"6"}]')))
  assert(w:write(page('[{"id":"7"}]')))
  assert(c:commit())
  t.is(#q(c, "SELECT 1 FROM recs WHERE id IN ('6', '7')"), 2, "two writes in one transaction")
  -- A rolled-back DDL is forgotten.
  assert(c:begin())
  assert(w:write(page('[{"id":"8","rolled":1}]')))
  assert(c:rollback())
  t.is(write(w, '[{"id":"9","s":"after"}]'), 1, "after a rollback the writer reloads its columns")
  t.ok(not kinds(w):find("rolled"), "the rolled-back column is gone")
  -- The table dropped behind the writer's back is created again.
  assert(c:exec("DROP TABLE recs"))
  t.is(write(w, '[{"id":"1","s":"again"}]'), 1, "a dropped table is created again")
  t.is(kinds(w), "id:id s:text", "with only the columns of the new record")

  -- Composite keys, no key, long names.
  local wk = c:writer("public", "pairs", { primary_key = { "a_id", "b_id" } })
  write(wk, '[{"a_id":1,"b_id":"x","v":1},{"a_id":"1","b_id":"x","v":2},{"a_id":2,"b_id":"x","v":3}]')
  r = q(c, "SELECT a_id, v FROM pairs ORDER BY a_id")
  t.ok(#r == 2 and r[1].v == 2, "composite key: 1 and \"1\" are one key (text), the last wins")
  local wn = c:writer("public", "nokey")
  write(wn, '[{"v":1},{"v":1}]')
  t.is(#q(c, "SELECT 1 FROM nokey"), 2, "no primary key: plain inserts")
  local long1, long2 = ("f"):rep(64) .. "1", ("f"):rep(64) .. "2"
  write(wn, ('[{"%s":1,"%s":2,"_icx_ord":3,"":4}]'):format(long1, long2))
  local names = {}
  for _, col in ipairs(wn:columns()) do names[col.field] = col.column end
  t.ok(#names[long1] <= 63 and names[long1] ~= names[long2] and names._icx_ord ~= "_icx_ord"
    and names[""] ~= "", "long, reserved and empty names: distinct columns")

  w:close()
  w:close()
  t.is(tostring(w), "icx.pg.Writer (closed)", "writer close is idempotent")
  t.raises(function() w:write("[]") end, "writer is closed", "closed writer raises")
  c:close()
  t.raises(function() w2:write("[]") end, "connection is closed", "a writer of a closed Conn raises")
  t.raises(function() pg.connect(uri):writer("public", ("t"):rep(64)) end, "at most 63 bytes", "long table name raises")
end

-- Many pages: Lua memory stays flat (C buffers are reused, results freed).
do
  local c3 = assert(pg.connect(uri))
  local w = c3:writer("public", "flat", { primary_key = "id" })
  local body = {}
  for i = 1, 100 do body[i] = ('{"id":%d,"s":"%s","o":{"k":[%d]}}'):format(i, ("x"):rep(50), i) end
  local text = "[" .. table.concat(body, ",") .. "]"
  local function round()
    for _ = 1, 20 do
      assert(c3:begin())
      assert(w:write(json.page(text, false)))
      assert(c3:commit())
    end
    collectgarbage()
    collectgarbage()
    return collectgarbage("count")
  end
  round()
  local a = round()
  local b = round()
  t.ok(b - a < 64, ("Lua heap flat over many pages (%.0f KB -> %.0f KB)"):format(a, b))
  c3:close()
end

server:close()
os.execute("rm -rf " .. dir)
os.exit(t.done())
