-- icx.sqlite: the typed record writer (lossless values, schema evolution,
-- merge, composite keys, hostile names, rollback), statements, queries, the
-- object lifecycle and the file helpers.
local t = dofile "tests/lib/tap.lua"
local sqlite = require "icx.sqlite"
local json = require "icx.json"

local dir = t.tmpdir()
local function path(name) return dir .. "/" .. name end

local function page(text) return assert(json.page(text, false)) end

local function q(db, sql, ...) return assert(db:query(sql, ...)) end

-- One row as "col=typeof:value" pairs in column order (NULLs shown too).
local function row_of(db, tbl, where, ...)
  local cols = q(db, "SELECT name FROM pragma_table_info(?) ORDER BY cid", tbl)
  local parts = {}
  for _, c in ipairs(cols) do
    local qc = sqlite.quote(c.name)
    local r = q(db, ("SELECT typeof(%s) AS t, %s AS v FROM %s WHERE %s"):format(qc, qc, sqlite.quote(tbl), where), ...)[1]
    parts[#parts + 1] = c.name .. "=" .. r.t .. ":" .. tostring(r.v)
  end
  return table.concat(parts, " ")
end

-- A canonical dump of a table: every row, every column with its type.
local function dump(db, tbl)
  local cols = q(db, "SELECT name FROM pragma_table_info(?) ORDER BY cid", tbl)
  local sel = {}
  for _, c in ipairs(cols) do
    local qc = sqlite.quote(c.name)
    sel[#sel + 1] = ("quote(%s) || ':' || typeof(%s)"):format(qc, qc)
  end
  local rows = q(db, ("SELECT %s AS r FROM %s ORDER BY 1"):format(table.concat(sel, " || '|' || "), sqlite.quote(tbl)))
  local out = {}
  for _, r in ipairs(rows) do out[#out + 1] = r.r end
  return table.concat(out, "\n")
end

---------------------------------------------------------------- lifecycle
do
  local db = assert(sqlite.open(path("life.db")))
  t.like(tostring(db), "^icx%.sqlite%.Db %(.*life%.db%)$", "Db __tostring names the file")
  t.is(q(db, "PRAGMA journal_mode")[1].journal_mode, "wal", "WAL mode")
  t.is(q(db, "PRAGMA busy_timeout")[1].timeout, 30000, "busy timeout defaults to 30 s")
  local w = db:writer("x", { primary_key = "id" })
  local st = assert(db:prepare("SELECT 1 AS one"))
  t.like(tostring(w), "Writer %(x%)", "Writer __tostring")
  t.like(tostring(st), "Stmt %(SELECT 1 AS one%)", "Stmt __tostring")
  db:close()
  db:close()
  t.is(tostring(db), "icx.sqlite.Db (closed)", "close is idempotent; closed handle says so")
  t.raises(function() db:exec("SELECT 1") end, "database is closed", "closed Db raises")
  t.raises(function() w:write("[]") end, "database is closed", "a writer of a closed Db raises")
  t.raises(function() st:step() end, "database is closed", "a statement of a closed Db raises")
  w:close()
  st:close()
  st:close()
  t.raises(function() w:write("[]") end, "writer is closed", "closed writer raises")
  t.raises(function() st:step() end, "statement is closed", "closed statement raises")
  t.raises(function() sqlite.open(path("x.db"), { bogus = 1 }) end, "unknown option 'bogus'", "unknown open option")
  t.raises(function() sqlite.open(path("x.db")):writer("t", { pk = "id" }) end, "unknown option 'pk'",
    "unknown writer option")
  t.raises(function() sqlite.open(path("x.db")):writer("t", { primary_key = { "a", "b" }, compare = "u" }) end,
    "compare needs a single-column primary_key", "compare on a composite key is refused")
  do
    local cdb <close> = assert(sqlite.open(path("counts.db")))
    local cw = cdb:writer("c", { primary_key = "id", compare = "updated_at" })
    assert(cdb:begin())
    assert(cw:write('[{"id":1,"updated_at":5},{"id":2,"updated_at":5}]'))
    assert(cw:write('[{"id":1,"updated_at":5},{"id":2,"updated_at":6},{"id":3,"updated_at":1}]'))
    local n, c, same = cw:counts()
    t.ok(n == 1 and c == 1 and same == 1, ("w:counts() of the last write: 1 new, 1 changed, 1 same (%s, %s, %s)")
      :format(n, c, same))
    assert(cdb:commit())
    local plain = cdb:writer("p", { primary_key = "id" })
    t.ok(select("#", plain:counts()) == 3 and plain:counts() == 0, "without compare, counts are 0")
  end
  t.raises(function() db.exec(42) end, "icx.sqlite.Db expected", "methods check their object")
  local none, err, code = sqlite.open(path("no/such/dir/x.db"))
  t.ok(none == nil and code == "cantopen", "open failure returns nil, err, 'cantopen'")
  t.like(err, "^icx%.sqlite: unable to open", "open failure message")
  do
    local db2 <close> = assert(sqlite.open(path("close.db")))
    assert(db2:exec("CREATE TABLE a (x)"))
  end
  local ro = assert(sqlite.open(path("close.db"), { readonly = true }))
  local _, e2, c2 = ro:exec("INSERT INTO a VALUES (1)")
  t.is(c2, "readonly", "readonly open refuses writes (and <close> closed the writer handle)")
  t.like(e2, "readonly", "readonly message")
  ro:close()
end

------------------------------------------------------------ statements
do
  local db = assert(sqlite.open(path("stmt.db")))
  assert(db:exec("CREATE TABLE s (a, b); INSERT INTO s VALUES (1, 'x'), (2.5, NULL)"))
  local rows = q(db, "SELECT a, b FROM s WHERE a > ? ORDER BY a", 0)
  t.is(#rows, 2, "query returns every row")
  t.is(math.type(rows[1].a), "integer", "INTEGER comes back as a Lua integer")
  t.is(rows[2].a, 2.5, "REAL as a float")
  t.is(rows[2].b, nil, "NULL as an absent key")
  local st = assert(db:prepare("INSERT INTO s VALUES (?, ?)"))
  st:bind(1, true):bind(2, "y")
  t.is(st:step(), false, "step of an INSERT returns false (done)")
  st:reset():bind(1, 9007199254740993):bind(2, nil)
  st:step()
  st:close()
  t.is(q(db, "SELECT a FROM s WHERE b = 'y'")[1].a, 1, "boolean binds as 1")
  t.is(q(db, "SELECT count(*) AS n FROM s WHERE a = 9007199254740993")[1].n, 1, "Lua integers bind exactly")
  local sel = assert(db:prepare("SELECT a FROM s ORDER BY rowid"))
  t.is(sel:step().a, 1, "step returns a row table")
  t.raises(function() sel:bind(1, 1) end, "no such parameter", "bind checks the index")
  sel:close()
  local n, err, code = db:query("SELECT * FROM nope")
  t.ok(n == nil and code == "sqlite", "a bad query returns nil, err, code")
  t.like(err, "no such table: nope", "its message comes from SQLite")
  t.raises(function() db:query("SELECT ?", {}) end, "cannot bind a table", "binding a table raises")
  -- query binds like st:bind: a value no parameter takes, or a parameter
  -- left without a value, is misuse and raises instead of running.
  t.raises(function() db:query("SELECT ? AS x", 1, 2) end, "query: 2 values for 1 parameter",
    "a value too many raises")
  t.raises(function() db:query("SELECT ? AS x, ? AS y", 1) end, "query: 1 value for 2 parameters",
    "a value too few raises")
  local before = q(db, "SELECT count(*) AS n FROM s")[1].n
  t.raises(function() db:query("DELETE FROM s", 1) end, "query: 1 value for 0 parameters",
    "a value for a statement without parameters raises")
  t.is(q(db, "SELECT count(*) AS n FROM s")[1].n, before, "... and the statement did not run")
  t.is(q(db, "SELECT ?2 AS x, ?1 AS y, ?2 AS z", "a", nil)[1].y, "a", "numbered parameters count once each")
  local _, _, c2 = db:exec("INSERT INTO nope VALUES (1)")
  t.is(c2, "sqlite", "exec failure code")
  assert(db:exec("CREATE TABLE u (k PRIMARY KEY)"))
  assert(db:exec("INSERT INTO u VALUES (1)"))
  local _, _, c3 = db:exec("INSERT INTO u VALUES (1)")
  t.is(c3, "constraint", "constraint failures are 'constraint'")
  t.is(sqlite.quote('a"b'), '"a""b"', "quote doubles inner quotes")
  t.like(sqlite.version(), "^3%.", "version")
  t.ok(not db:in_transaction(), "not in a transaction")
  assert(db:begin())
  t.ok(db:in_transaction(), "begin opens one")
  assert(db:rollback())
  assert(db:rollback())
  t.ok(not db:in_transaction(), "rollback closes it; a second rollback is a no-op")
  db:close()
end

------------------------------------------------------ the lossless rule
local VALUES = [==[[
{"id": 7, "contact_id": 9007199254740993, "big_id": 18446744073709551616, "str_id": "abc",
 "i53": 9007199254740993, "imax": 9223372036854775807, "imin": -9223372036854775808,
 "ibig": 18446744073709551616, "ineg": -18446744073709551616, "zero": -0,
 "f": 0.1, "tiny": 1e-07, "huge": 1.5e300, "one": 1.0, "over": 1e400, "under": 1e-400,
 "arr": [], "obj": {}, "nested": { "a" : [1, 2.50, {"b": null}], "c": "d" },
 "nul": null, "t": true, "f0": false,
 "emoji": "😀", "esc_emoji": "\ud83d\ude00", "cjk": "漢字", "quote": "say \"hi\"", "bs": "a\\b",
 "nl": "line1\nline2", "ctl": "\u0001", "zero_byte": "a\u0000b", "solidus": "\/",
 "bool_id": true, "float_id": 1.5, "obj_id": {"x": 1}
}]]==]

do
  local db = assert(sqlite.open(path("lossless.db")))
  local w = db:writer("v", { primary_key = { "id" } })
  assert(db:begin())
  t.is(w:write(page(VALUES)), 1, "write returns the record count")
  assert(db:commit())
  local r = q(db, "SELECT * FROM v")[1]
  local function ty(col) return q(db, ("SELECT typeof(%s) AS t FROM v"):format(sqlite.quote(col)))[1].t end
  t.is(r.id, "7", "id: a number lands as the TEXT of its digits")
  t.is(ty("id"), "text", "id column is TEXT")
  t.is(r.contact_id, "9007199254740993", "*_id: exact digits as TEXT")
  t.is(r.big_id, "18446744073709551616", "*_id beyond int64: digits")
  t.is(r.str_id, "abc", "*_id string")
  t.is(r.bool_id, "true", "an id holding a boolean keeps the literal")
  t.is(r.float_id, "1.5", "an id holding a float keeps the literal")
  t.is(r.obj_id, '{"x":1}', "an id holding an object keeps its JSON")
  t.is(r.i53, 9007199254740993, "2^53+1 exact")
  t.is(math.type(r.i53), "integer", "... as an integer")
  t.is(r.imax, math.maxinteger, "int64 max exact")
  t.is(r.imin, math.mininteger, "int64 min exact")
  t.is(r.ibig, "18446744073709551616", "beyond int64: TEXT of the digits")
  t.is(ty("ibig"), "text", "... typed text")
  t.is(r.ineg, "-18446744073709551616", "below int64: TEXT of the digits")
  t.is(r.zero, 0, "-0 is the integer 0")
  t.is(math.type(r.zero), "integer", "... an integer")
  t.is(r.f, 0.1, "0.1 round-trips")
  t.is(r.tiny, 1e-07, "1e-07 round-trips")
  t.is(r.huge, 1.5e300, "1.5e300 round-trips")
  t.is(ty("one"), "real", "1.0 stays REAL")
  t.is(r.over, "1e400", "a float beyond double keeps its literal")
  t.is(r.under, "1e-400", "a float that underflows keeps its literal")
  t.is(r.arr, "[]", "[] stays []")
  t.is(r.obj, "{}", "{} stays {}")
  t.is(r.nested, '{"a":[1,2.50,{"b":null}],"c":"d"}', "nested JSON minified, literals as sent")
  t.is(q(db, "SELECT json_extract(nested, '$.a[2].b') IS NULL AS n, json_extract(nested, '$.c') AS c FROM v")[1].c,
    "d", "json_extract works on nested columns")
  t.is(ty("nul"), "null", "null is NULL")
  t.is(r.t, 1, "true is 1")
  t.is(r.f0, 0, "false is 0")
  t.is(r.emoji, "😀", "emoji exact")
  t.is(r.esc_emoji, "😀", "surrogate-pair escape decodes to the same emoji")
  t.is(r.cjk, "漢字", "CJK exact")
  t.is(r.quote, 'say "hi"', "quotes unescaped")
  t.is(r.bs, "a\\b", "backslash unescaped")
  t.is(r.nl, "line1\nline2", "newline unescaped")
  t.is(r.ctl, "\1", "\\u0001 is byte 1")
  t.is(r.zero_byte, "a\0b", "\\u0000 kept inside TEXT")
  t.is(r.solidus, "/", "\\/ unescaped")
  local names = w:columns()
  t.is(table.concat(names, ","), "id,contact_id,big_id,str_id,i53,imax,imin,ibig,ineg,zero,f,tiny,huge,one,over,under,"
    .. "arr,obj,nested,nul,t,f0,emoji,esc_emoji,cjk,quote,bs,nl,ctl,zero_byte,solidus,bool_id,float_id,obj_id",
    "columns in first-seen order, primary key first")
  local decl = {}
  for _, c in ipairs(q(db, "SELECT name, type, pk, \"notnull\" AS nn FROM pragma_table_info('v')")) do decl[c.name] = c end
  t.is(decl.id.type .. decl.id.pk .. decl.id.nn, "TEXT11", "id declared TEXT NOT NULL PRIMARY KEY")
  t.is(decl.contact_id.type, "TEXT", "*_id declared TEXT")
  t.is(decl.imax.type, "", "other columns untyped: SQLite never converts their values")

  -- Same values through the transform path (JSON text) give the same row.
  local w2 = db:writer("v2", { primary_key = "id" })
  assert(db:begin())
  t.is(w2:write(VALUES), 1, "write accepts JSON text of a list")
  assert(db:commit())
  t.is(dump(db, "v2"), dump(db, "v"), "JSON text and Page land identically")
  db:close()
end

------------------------------------------------ schema evolution, merge
do
  local db = assert(sqlite.open(path("evolve.db")))
  local w = db:writer("c", { primary_key = "id" })
  assert(db:begin())
  w:write(page('[{"id":"1","a":1},{"id":"2","a":2,"b":"x"}]'))
  assert(db:commit())
  t.is(table.concat(w:columns(), ","), "id,a,b", "a field seen on a later record adds a column")
  assert(db:begin())
  w:write(page('[{"id":"3","a":"three","c":[1]}]'))
  assert(db:commit())
  t.is(row_of(db, "c", "id = '3'"), "id=text:3 a=text:three b=null:nil c=text:[1]",
    "a field whose type changes keeps its column and stores the new value as it is")
  t.is(row_of(db, "c", "id = '1'"), "id=text:1 a=integer:1 b=null:nil c=null:nil", "older rows untouched")
  w:close()
  db:close()

  -- A later run: a new process reads the existing columns back.
  db = assert(sqlite.open(path("evolve.db")))
  w = db:writer("c", { primary_key = "id" })
  assert(db:begin())
  w:write(page('[{"d":true,"id":"2","a":22}]'))
  assert(db:commit())
  t.is(table.concat(w:columns(), ","), "id,a,b,c,d", "a later run keeps existing columns and adds new ones")
  t.is(row_of(db, "c", "id = '2'"), "id=text:2 a=integer:22 b=null:nil c=null:nil d=integer:1",
    "merge: the row becomes the latest record (missing fields NULL)")
  t.is(q(db, "SELECT count(*) AS n FROM c")[1].n, 3, "merge updated in place")

  -- Merge idempotence: the same page twice is the same table.
  local p = page('[{"id":"9","x":1.25,"y":{"k":[]}},{"id":"10","x":null}]')
  assert(db:begin())
  w:write(p)
  assert(db:commit())
  local once = dump(db, "c")
  assert(db:begin())
  w:write(p)
  w:write(p)
  assert(db:commit())
  t.is(dump(db, "c"), once, "merge is idempotent: same page again, same table")

  -- A rolled-back page takes its new columns with it; the writer notices.
  assert(db:begin())
  w:write(page('[{"id":"11","rolled":1}]'))
  assert(db:rollback())
  t.is(q(db, "SELECT count(*) AS n FROM pragma_table_info('c') WHERE name = 'rolled'")[1].n, 0, "rollback drops the column")
  assert(db:begin())
  local n, err = w:write(page('[{"id":"11","rolled":2}]'))
  assert(db:commit())
  t.is(n, 1, "after a rollback the writer re-reads its schema and writes (" .. tostring(err) .. ")")
  t.is(q(db, "SELECT rolled FROM c WHERE id = '11'")[1].rolled, 2, "... into a re-created column")

  -- Another writer (another asset, or another process) added a column.
  local w2 = db:writer("c", { primary_key = "id" })
  assert(db:begin())
  w2:write(page('[{"id":"12","other":1}]'))
  w:write(page('[{"id":"13","other":2}]'))
  assert(db:commit())
  t.is(q(db, "SELECT count(*) AS n FROM pragma_table_info('c') WHERE name = 'other'")[1].n, 1,
    "a column added by another writer is picked up, not added twice")

  -- An empty first page still creates the table (primary key only).
  local we = db:writer("empty", { primary_key = "id" })
  assert(db:begin())
  t.is(we:write(page("[]")), 0, "an empty page writes 0 records")
  assert(db:commit())
  t.is(table.concat(we:columns(), ","), "id", "... and creates the table with its key")

  -- Records the writer refuses.
  assert(db:begin())
  local _, e1, c1 = w:write(page('[{"id":"20"},{"x":1}]'))
  t.is(c1, "record", "a record without its primary key: code 'record'")
  t.like(e1, "table 'c': record 2 has no value for its primary key 'id'", "... and says which")
  local _, e2 = w:write(page('[{"id":null}]'))
  t.like(e2, "record 1 has no value for its primary key", "a null primary key is refused too")
  local _, e3, c3 = w:write('[{"id":"1"}, 5]')
  t.ok(c3 == "record" and e3:find("record 2 is a integer, not an object", 1, true), "a non-object record is refused")
  local _, e4, c4 = w:write('[{"id":"1"}')
  t.ok(c4 == "record" and e4:find("invalid JSON", 1, true), "invalid JSON text is refused: " .. tostring(e4))
  t.raises(function() w:write(42) end, "icx.json.Page expected", "write checks its argument")
  assert(db:rollback())

  -- A table that exists with another key cannot be merged into.
  assert(db:exec("CREATE TABLE other (id, name)"))
  local wo = db:writer("other", { primary_key = "id" })
  assert(db:begin())
  local _, e5, c5 = wo:write(page('[{"id":1}]'))
  assert(db:rollback())
  t.is(c5, "schema", "an existing table without the declared key: code 'schema'")
  t.like(e5, "exists without the primary key %(id%)", "... and the message says so")
  db:close()
end

------------------------------------------------------- composite keys
do
  local db = assert(sqlite.open(path("composite.db")))
  local tags = db:writer("contact_tags", { primary_key = { "contact_id", "tag_id" } })
  local attrs = db:writer("data_attributes", { primary_key = { "model", "full_name" } })
  assert(db:begin())
  tags:write(page('[{"contact_id":"c1","tag_id":1},{"contact_id":"c1","tag_id":2},{"contact_id":"c2","tag_id":1}]'))
  tags:write(page('[{"contact_id":"c1","tag_id":"1"}]'))
  attrs:write(page('[{"model":"contact","full_name":"custom_attributes.plan","label":"Plan"},'
    .. '{"model":"company","full_name":"custom_attributes.plan","label":"Plan"},'
    .. '{"model":"contact","full_name":"custom_attributes.plan","label":"Plan v2"}]'))
  assert(db:commit())
  t.is(q(db, "SELECT count(*) AS n FROM contact_tags")[1].n, 3,
    "composite key (contact_id, tag_id): number and string ids are one key")
  t.is(q(db, "SELECT count(*) AS n FROM data_attributes")[1].n, 2, "composite key (model, full_name) upserts")
  t.is(q(db, "SELECT label FROM data_attributes WHERE model = 'contact'")[1].label, "Plan v2", "... to the latest")
  local pks = q(db, "SELECT group_concat(name) AS k FROM (SELECT name FROM pragma_table_info('contact_tags') "
    .. "WHERE pk > 0 ORDER BY pk)")[1].k
  t.is(pks, "contact_id,tag_id", "declared as the table's primary key")
  local only = db:writer("only_keys", { primary_key = { "a", "b" } })
  assert(db:begin())
  only:write(page('[{"a":1,"b":2},{"a":1,"b":2}]'))
  assert(db:commit())
  t.is(q(db, "SELECT count(*) AS n FROM only_keys")[1].n, 1, "a table of key columns only: DO NOTHING on repeats")
  local plain = db:writer("log")
  assert(db:begin())
  plain:write(page('[{"a":1},{"a":1}]'))
  assert(db:commit())
  t.is(q(db, "SELECT count(*) AS n FROM log")[1].n, 2, "no primary key: plain inserts")
  db:close()
end

--------------------------------------------------------- hostile names
do
  local db = assert(sqlite.open(path("hostile.db")))
  local w = db:writer('odd "table"; DROP', { primary_key = "id" })
  assert(db:begin())
  local rec = [==[[{"id":"1","order":1,"select":2,"x\"; DROP TABLE t; --":3,"":4,"a b":5,"ключ":6,
    "\u0041BC":7,"group":8,"rowid":9,"a\\u0062":10}]]==]
  t.is(w:write(page(rec)), 1, "a record with hostile field names lands")
  assert(db:commit())
  local r = q(db, 'SELECT * FROM "odd ""table""; DROP"')[1]
  t.is(r.order, 1, "a field named order")
  t.is(r.select, 2, "a field named select")
  t.is(r['x"; DROP TABLE t; --'], 3, "a field holding SQL is just a name")
  t.is(r[""], 4, "an empty field name")
  t.is(r["a b"], 5, "a name with a space")
  t.is(r["ключ"], 6, "a Cyrillic name")
  t.is(r.ABC, 7, "an escaped name is unescaped (\\u0041BC is ABC)")
  t.is(r.rowid, 9, "a field named rowid is a real column")
  t.is(r["a\\u0062"], 10, "a name with a literal backslash is not unescaped twice")
  t.is(#q(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> '_icx_columns'"), 1,
    "nothing was dropped or created besides (and icx's column registry)")
  -- SQLite folds ASCII case in names: ID and id are one column.
  assert(db:begin())
  w:write(page('[{"ID":"2","Order":11}]'))
  assert(db:commit())
  t.is(q(db, 'SELECT "order" FROM "odd ""table""; DROP" WHERE id = \'2\'')[1].order, 11,
    "names differing only in ASCII case share the column")
  assert(db:begin())
  w:write(page('[{"id":"4","dup":1,"dup":2,"DUP":3,"order":5}]'))
  assert(db:commit())
  local dups = q(db, 'SELECT dup, dup__2, "DUP__3" AS d3 FROM "odd ""table""; DROP" WHERE id = \'4\'')[1]
  t.is(dups.dup, 1, "a repeated key (or a case variant): the first keeps the column, as in icx.json")
  t.is(dups.dup__2, 2, "the second goes to dup__2, so nothing is lost")
  t.is(dups.d3, 3, "and the case variant to DUP__3")
  assert(db:begin())
  local _, err, code = w:write(page('[{"id":"3","a\\u0000b":1}]'))
  assert(db:rollback())
  t.is(code, "record", "a field name with a NUL byte is refused")
  t.like(err, "NUL byte", "... saying why")
  db:close()
end

-------------------------------------------- memory stays flat per page
do
  local sys = require "icx.sys"
  local db = assert(sqlite.open(path("mem.db")))
  local w = db:writer("m", { primary_key = "id" })
  local function one(i)
    local recs = {}
    for j = 1, 50 do recs[j] = ('{"id":%d,"n":%d,"s":"x\\ny","o":{"k":[1,2]}}'):format(i * 100 + j, j) end
    assert(db:begin())
    assert(w:write(page("[" .. table.concat(recs, ",") .. "]")))
    assert(db:commit())
  end
  for i = 1, 20 do one(i) end
  collectgarbage()
  collectgarbage()
  local before = sys.memory()
  for i = 21, 220 do one(i) end
  collectgarbage()
  collectgarbage()
  local after = sys.memory()
  t.ok(after - before < 64 * 1024, ("Lua memory flat over 200 pages (%d -> %d bytes)"):format(before, after))
  t.is(q(db, "SELECT count(*) AS n FROM m")[1].n, 220 * 50, "every record landed")
  db:close()
end

--------------------------------------------------------- file helpers
do
  local d = path("a/b/c")
  t.ok(require("icx.sys").mkdir(d), "mkdir creates parents")
  t.ok(require("icx.sys").mkdir(d), "mkdir of an existing directory is fine")
  t.write(d .. "/f", "x")
  t.ok(require("icx.sys").rename(d .. "/f", d .. "/g"), "rename")
  t.ok(io.open(d .. "/g") ~= nil and io.open(d .. "/f") == nil, "rename moved the file")
  t.ok(require("icx.sys").remove(d .. "/g"), "remove")
  t.ok(require("icx.sys").remove(d .. "/g"), "remove of a missing file is fine")
  local ok, err, code = require("icx.sys").rename(d .. "/nope", d .. "/x")
  t.ok(ok == nil and code == "io" and err:find("cannot rename", 1, true), "rename failure: nil, err, 'io'")
  t.write(path("file"), "x")
  local ok2, _, c2 = require("icx.sys").mkdir(path("file/sub"))
  t.ok(ok2 == nil and c2 == "io", "mkdir under a file fails")
end

os.execute("rm -rf '" .. dir .. "'")
return t.done()
