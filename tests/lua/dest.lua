-- icx.dest: --dest parsing, the SQLite and JSONL destinations (transactions,
-- merge, replace with staging, cursors, _icx_runs, the lossless rule end to
-- end), and misuse errors.
local t = dofile "tests/lib/tap.lua"
local dest = require "icx.dest"
local json = require "icx.json"
local sqlite = require "icx.sqlite"
local errors = require "icx.errors"
local log = require "icx.log"

local ICX = os.getenv("ICX") or "./icx"
local dir = t.tmpdir()
local function path(name) return dir .. "/" .. name end
local function page(text) return assert(json.page(text, false)) end
local function q(db, sql, ...) return assert(db:query(sql, ...)) end

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return nil end
  return e
end

---------------------------------------------------------------- parse
local parses = {
  { "icx.db", "sqlite", "icx.db" },
  { "path/x.db", "sqlite", "path/x.db" },
  { "sqlite:///rel.db", "sqlite", "rel.db" },
  { "sqlite:////abs/x.db", "sqlite", "/abs/x.db" },
  { "jsonl:-", "jsonl", "-" },
  { "jsonl:out/dir", "jsonl", "out/dir" },
  { "weird:name.db", "sqlite", "weird:name.db" },
  { "postgresql://u:p@h/db?schema=s", "postgresql", "postgresql://u:p@h/db?schema=s" },
  { "postgres://h/db", "postgresql", "postgres://h/db" },
}
for _, c in ipairs(parses) do
  local kind, target = dest.parse(c[1])
  t.is(kind .. " " .. target, c[2] .. " " .. c[3], "parse " .. c[1])
end
local bad = {
  { "", "needs a value" },
  { "sqlite://host/x.db", "write sqlite:///relative.db or sqlite:////absolute/path.db" },
  { "sqlite:x.db", "write sqlite:///relative.db" },
  { "sqlite:///", "write sqlite:///relative.db" },
  { "jsonl:", "write jsonl:- for stdout or jsonl:DIR" },
  { "postgresq://u:s3cretpw@db/x", "'postgresq://u:****@db/x': unknown destination 'postgresq' (did you mean 'postgresql'?)" },
  { "sqllite://x", "(did you mean 'sqlite'?)" },
}
for _, c in ipairs(bad) do
  local e = err_of(dest.open, c[1])
  t.ok(errors.is(e) and e.kind == "usage" and e.message:find(c[2], 1, true),
    ("bad --dest %q: usage error (%s)"):format(c[1], tostring(e)))
end
local e = err_of(dest.open, path("s.db"), { state = path("st.db") })
t.ok(errors.is(e) and e.kind == "usage" and e.message:find("--state applies to jsonl", 1, true),
  "--state with a SQLite destination is a usage error")
e = err_of(dest.open, path("no/such/dir/x.db"))
t.ok(errors.is(e) and e.kind == "usage" and e.code == "cantopen",
  "an unopenable database is a usage error (exit 2: found before any request)")
t.like(tostring(e), "does its directory exist", "with a hint at the missing directory")
t.write(path("text.db"), ("not a database\n"):rep(20))
e = err_of(dest.open, path("text.db"))
t.ok(errors.is(e) and e.code == "corrupt" and tostring(e):find("must name a SQLite file icx wrote", 1, true),
  "a file that is not SQLite is refused with a hint: " .. tostring(e))
local tf = assert(io.open(path("text.db"), "rb"))
t.is(tf:read("a"), ("not a database\n"):rep(20), "and left exactly as it was")
tf:close()

-------------------------------------------------------- sqlite: basics
local REC = [==[[
{"id": 1, "n": 9007199254740993, "imax": 9223372036854775807, "imin": -9223372036854775808,
 "big": 18446744073709551616, "f": 0.1, "tiny": 1e-07, "huge": 1.5e300, "arr": [], "obj": {},
 "nested": {"a": {"b": [1, {"c": null}]}}, "nul": null, "t": true, "f0": false,
 "s": "😀 漢字 \"q\" \\ \n \u0001", "company_id": 42}
]]==]

do
  local d = dest.open("sqlite:///" .. path("d.db"))
  t.is(d.kind, "sqlite", "d.kind")
  local c = d:table { name = "contacts", primary_key = "id", mode = "merge" }
  local ee = err_of(c.write, c, page(REC))
  t.ok(errors.is(ee) and ee.kind == "internal" and ee.message:find("outside a transaction", 1, true),
    "write outside begin/commit raises")
  ee = err_of(d.cursor_set, d, "conn", "contacts", "updated_at", 1)
  t.ok(errors.is(ee) and ee.message:find("cursor_set outside a transaction", 1, true), "so does cursor_set")
  t.is(d:cursor_get("conn", "contacts"), nil, "no cursor yet")
  local id = d:run_start { connection = "conn", asset = "contacts" }
  t.is(math.type(id), "integer", "run_start returns an integer id")
  d:begin()
  ee = err_of(d.begin, d)
  t.ok(errors.is(ee) and ee.message:find("inside a transaction", 1, true), "nested begin raises")
  t.is(c:write(page(REC)), 1, "write returns the row count")
  d:cursor_set("conn", "contacts", "updated_at", 1700000000)
  d:commit()
  local v, k = d:cursor_get("conn", "contacts")
  t.is(v, 1700000000, "cursor value comes back, an integer")
  t.is(math.type(v), "integer", "... not a float")
  t.is(k, "updated_at", "cursor key")
  d:begin()
  d:cursor_set("conn", "contacts", "starting_after", "WzE3MDAwMDAwMDAsIjEiXQ==")
  d:rollback()
  t.is(d:cursor_get("conn", "contacts"), 1700000000, "a rolled-back cursor never moved")
  d:begin()
  d:cursor_set("conn", "contacts", "starting_after", "WzE3MDAwMDAwMDAsIjEiXQ==")
  d:commit()
  t.is(select(2, d:cursor_get("conn", "contacts")), "starting_after", "cursor key replaced")
  t.is(d:cursor_get("other", "contacts"), nil, "cursors are per connection")

  log.add_secret("tok_SECRET_1234567890")
  d:run_finish(id, { status = "failed", rows = 1, requests = 3, retries = 1, rate_limited = 2,
    error = "401 for token tok_SECRET_1234567890" })
  local db = d.db
  local r = q(db, "SELECT * FROM _icx_runs WHERE id = ?", id)[1]
  t.is(("%s %s %d %d %d %d"):format(r.connection, r.asset, r.rows, r.requests, r.retries, r.rate_limited),
    "conn contacts 1 3 1 2", "_icx_runs counters")
  t.is(r.status, "failed", "_icx_runs status")
  t.ok(r.started_at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$") and r.finished_at >= r.started_at,
    "started_at / finished_at are ISO 8601 UTC")
  t.is(r.error, "401 for token ****7890", "the token never reaches _icx_runs")
  local id2 = d:run_start { connection = "conn", asset = "tags" }
  d:run_finish(id2, { status = "ok", rows = 0 })
  t.is(q(db, "SELECT status FROM _icx_runs WHERE id = ?", id2)[1].status, "ok", "ok run")
  t.ok(err_of(d.run_finish, d, id2, { status = "done" }), "unknown status raises")

  local row = q(db, "SELECT n, typeof(n) tn, big, typeof(big) tb, f, arr, obj, nested, s, company_id, "
    .. "typeof(company_id) tc, nul, t, f0 FROM contacts")[1]
  t.is(row.n, 9007199254740993, "2^53+1 exact through the destination")
  t.is(row.big .. row.tb, "18446744073709551616text", "beyond int64 as TEXT")
  t.is(row.f, 0.1, "0.1")
  t.is(row.arr .. row.obj, "[]{}", "[] and {}")
  t.is(row.nested, '{"a":{"b":[1,{"c":null}]}}', "nested minified")
  t.is(row.s, '😀 漢字 "q" \\ \n \1', "strings exact")
  t.is(row.company_id .. row.tc, "42text", "*_id as TEXT")
  t.is(row.nul, nil, "null as NULL")
  t.is(row.t + row.f0, 1, "booleans 0/1")

  -- merge idempotence through the destination
  local before = q(db, "SELECT count(*) n FROM contacts")[1].n
  d:begin()
  c:write(page(REC))
  d:commit()
  t.is(q(db, "SELECT count(*) n FROM contacts")[1].n, before, "same page twice: no duplicate")

  -- delete_where: child rows of re-read parents
  local ct = d:table { name = "contact_tags", primary_key = { "contact_id", "tag_id" } }
  d:begin()
  t.is(ct:delete_where("contact_id", { "1" }), 0, "delete_where before the table exists deletes nothing")
  ct:write(page('[{"contact_id":"1","tag_id":"a"},{"contact_id":"1","tag_id":"b"},{"contact_id":"2","tag_id":"a"}]'))
  d:commit()
  d:begin()
  t.is(ct:delete_where("contact_id", { 1, "3" }), 2, "delete_where removes the parent's rows (number ids match TEXT)")
  t.is(ct:delete_where("nope", { 1 }), 0, "an unknown column deletes nothing")
  ct:write(page('[{"contact_id":"1","tag_id":"b"}]'))
  d:commit()
  t.is(q(db, "SELECT count(*) n FROM contact_tags")[1].n, 2, "child rows rewritten")
  d:close()
  d:close()
  t.ok(err_of(c.write, c, page(REC)), "a table of a closed destination raises")
end

---------------------------------------------------- sqlite: replace
do
  local p = path("r.db")
  local d = dest.open(p)
  local old = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  old:write(page('[{"id":"1","name":"old1"},{"id":"2","name":"old2"}]'))
  d:commit()
  old:finish()
  assert(d.db:exec("CREATE VIEW tag_names AS SELECT name FROM tags"))
  t.is(q(d.db, "SELECT count(*) n FROM tags")[1].n, 2, "replace: first run swapped in")

  local new = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  new:write(page('[{"id":"3","name":"new3","extra":1}]'))
  d:commit()
  t.is(q(d.db, "SELECT group_concat(name) g FROM (SELECT name FROM tags ORDER BY id)")[1].g, "old1,old2",
    "while a replace runs, readers see the old table")
  local stage = "_icx_stage_" .. require("icx.sys").pid() .. "_tags"
  t.is(q(d.db, "SELECT count(*) n FROM " .. stage)[1].n, 1, "the new rows sit in the process's own staging table")
  new:abandon()
  new:abandon()
  t.is(q(d.db, "SELECT group_concat(name) g FROM (SELECT name FROM tags ORDER BY id)")[1].g, "old1,old2",
    "abandon leaves the old table untouched")
  t.is(#q(d.db, "SELECT 1 FROM sqlite_schema WHERE name LIKE '\\_icx\\_stage\\_%' ESCAPE '\\'"), 0,
    "abandon drops the staging table")

  -- A staging table left by a killed run is dropped when the next starts;
  -- one of a live process (another run replacing at the same time) stays.
  local dead = 2 ^ 22 + 12345 -- above pid_max's default: no such process
  assert(d.db:exec("CREATE TABLE _icx_stage_" .. math.tointeger(dead) .. "_tags (id TEXT NOT NULL PRIMARY KEY, junk)"))
  assert(d.db:exec("CREATE TABLE _icx_stage_1_tags (id TEXT NOT NULL PRIMARY KEY, junk)"))
  assert(d.db:exec(("CREATE TABLE %s (id TEXT NOT NULL PRIMARY KEY, junk)"):format(stage)))
  assert(d.db:exec(("INSERT INTO %s VALUES ('x', 1)"):format(stage)))
  new = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  new:write(page('[{"id":"3","name":"new3"}]'))
  d:commit()
  d:begin()
  new:write(page('[{"id":"4","name":"new4"},{"id":"3","name":"new3b"}]'))
  d:commit()
  local ee = err_of(function() d:begin(); new:finish() end)
  d:rollback()
  t.ok(ee and ee.message:find("inside a transaction", 1, true), "finish inside a transaction raises")
  new:finish()
  t.is(q(d.db, "SELECT group_concat(id || name) g FROM (SELECT * FROM tags ORDER BY id)")[1].g, "3new3b,4new4",
    "finish swaps in exactly the new rows (a repeat within the run upserts)")
  t.is(#q(d.db, "SELECT 1 FROM pragma_table_info('tags') WHERE name = 'junk'"), 0, "nothing of the stale staging")
  t.is(#q(d.db, "SELECT 1 FROM sqlite_schema WHERE name = '_icx_stage_" .. math.tointeger(dead) .. "_tags'"), 0,
    "a dead process's staging table is dropped")
  t.is(#q(d.db, "SELECT 1 FROM sqlite_schema WHERE name = '_icx_stage_1_tags'"), 1,
    "a live process's (pid 1) staging table is left alone")
  t.is(q(d.db, "SELECT group_concat(name) g FROM (SELECT name FROM tag_names ORDER BY 1)")[1].g, "new3b,new4",
    "a view over the table survives the swap and shows the new rows")
  t.ok(err_of(new.write, new, page("[]")), "write after finish raises")
  local idx = q(d.db, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tags'")
  t.is(idx[1] and idx[1].name, "sqlite_autoindex_tags_1", "the key index follows the rename")

  -- A replace run with no records leaves an empty table.
  local empty = d:table { name = "tags", primary_key = "id", mode = "replace" }
  empty:finish()
  t.is(q(d.db, "SELECT count(*) n FROM tags")[1].n, 0, "a replace with no records empties the table")
  d:close()
end

---------------------------------------------------------- misuse
do
  local d = dest.open(path("m.db"))
  local cases = {
    { { name = "x y" }, "letters, digits and underscores" },
    { { name = "_icx_state" }, "reserved" },
    { { name = "sqlite_master" }, "reserved" },
    { { name = "a", primary_key = "id", mode = "upsert" }, "mode must be" },
    { { name = "a" }, "needs a primary_key" },
    { { name = "a", primary_key = "id", bogus = 1 }, "unknown table option 'bogus'" },
  }
  for _, c in ipairs(cases) do
    local ee = err_of(d.table, d, c[1])
    t.ok(ee and tostring(ee):find(c[2], 1, true), "table spec refused: " .. c[2])
  end
  d:close()
end

---------------------------------------------------------- jsonl:DIR
local function read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

do
  local out = path("out/nested")
  local d = dest.open("jsonl:" .. out)
  t.is(d.kind, "jsonl", "jsonl kind")
  t.ok(read(out .. "/.icx-state.db"), "jsonl:DIR creates the directory and DIR/.icx-state.db")
  local c = d:table { name = "contacts", primary_key = "id" }
  local pg = page(REC)
  d:begin()
  t.is(c:write(pg), 1, "jsonl write returns the count")
  t.is(read(out .. "/contacts.jsonl") or "", "", "nothing reaches the file before commit")
  d:cursor_set("conn", "contacts", "updated_at", 5)
  d:commit()
  local want = pg:raw(1) .. "\n"
  t.is(read(out .. "/contacts.jsonl"), want, "TABLE.jsonl holds the record's raw minified JSON")
  t.like(want, '"n":9007199254740993,"imax":9223372036854775807', "big integers byte-exact")
  t.like(want, '"big":18446744073709551616,"f":0.1,"tiny":1e%-07,"huge":1.5e300,"arr":%[%],"obj":{}',
    "floats, [] and {} as sent")
  t.like(want, '"s":"😀 漢字 \\"q\\" \\\\ \\n \\u0001"', "string escapes as sent")
  d:begin()
  c:write(pg)
  d:rollback()
  t.is(read(out .. "/contacts.jsonl"), want, "a rolled-back page writes nothing")
  d:begin()
  c:write('{"id":2}')
  d:commit()
  t.is(read(out .. "/contacts.jsonl"), want .. '{"id":2}\n', "merge appends")
  t.is(d:cursor_get("conn", "contacts"), 5, "cursor kept in the state file")

  local r1 = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  r1:write(page('[{"id":"1"}]'))
  d:commit()
  r1:finish()
  t.is(read(out .. "/tags.jsonl"), '{"id":"1"}\n', "replace: finish renames TABLE.jsonl.tmp into place")
  local r2 = d:table { name = "tags", primary_key = "id", mode = "replace" }
  d:begin()
  r2:write(page('[{"id":"2"}]'))
  d:commit()
  t.is(read(out .. "/tags.jsonl"), '{"id":"1"}\n', "while replacing, TABLE.jsonl is the old file")
  local tmp = out .. "/tags.jsonl." .. require("icx.sys").pid() .. ".tmp"
  t.is(read(tmp), '{"id":"2"}\n', "... and the new one grows in TABLE.jsonl.PID.tmp")
  r2:abandon()
  t.is(read(tmp), nil, "abandon removes the tmp file")
  t.is(read(out .. "/tags.jsonl"), '{"id":"1"}\n', "... and keeps the old file")
  t.is(d:transaction(c.delete_where, c, "id", { 1 }), 0, "delete_where is a no-op for JSONL")
  local id = d:run_start { connection = "conn", asset = "contacts" }
  d:run_finish(id, { status = "ok", rows = 2 })
  t.is(q(d.db, "SELECT rows FROM _icx_runs WHERE id = ?", id)[1].rows, 2, "_icx_runs in the state file")
  d:close()

  -- A crash after the lines were written but before the state commit leaves
  -- bytes past the committed length: the next open cuts them off, so the
  -- page the cursor did not cover is appended again exactly once.
  local f = io.open(out .. "/contacts.jsonl", "ab")
  f:write('{"id":3}\n{"id":4,"half')
  f:close()
  local d3 = dest.open("jsonl:" .. out)
  local c3 = d3:table { name = "contacts", primary_key = "id" }
  t.is(read(out .. "/contacts.jsonl"), want .. '{"id":2}\n', "uncommitted bytes are cut off when the table opens")
  d3:begin()
  c3:write('{"id":3}')
  d3:commit()
  t.is(read(out .. "/contacts.jsonl"), want .. '{"id":2}\n{"id":3}\n', "... and the page lands once")
  d3:close()
  t.write(out .. "/foreign.jsonl", "kept\n")
  local d4 = dest.open("jsonl:" .. out)
  d4:table { name = "foreign", primary_key = "id" }
  t.is(read(out .. "/foreign.jsonl"), "kept\n", "a file icx never committed to is left alone")
  d4:close()

  local st = path("elsewhere/state.db")
  require("icx.sys").mkdir(path("elsewhere"))
  local d2 = dest.open("jsonl:" .. out, { state = st })
  t.ok(read(st), "--state moves the state file")
  d2:close()
end

------------------------------------------------------------- jsonl:-
do
  local script = path("stdout.lua")
  t.write(script, ([==[
    local dest = require "icx.dest"
    local json = require "icx.json"
    local d = dest.open("jsonl:-")
    local c = d:table { name = "contacts", primary_key = "id" }
    local g = d:table { name = "tags", primary_key = "id", mode = "replace" }
    d:begin()
    c:write(assert(json.page(%q, false)))
    g:write(assert(json.page('[{"id":"t1"}]', false)))
    d:cursor_set("conn", "contacts", "updated_at", 7)
    d:commit()
    d:begin()
    c:write(assert(json.page('[{"id":99}]', false)))
    d:rollback()
    g:finish()
    io.stderr:write("log line\n")
    d:close()
  ]==]):format(REC))
  local o = io.popen(("cd '%s' && '%s' lua '%s' 2>/dev/null"):format(dir, ICX:sub(1, 1) == "/" and ICX
    or (os.getenv("PWD") .. "/" .. ICX), script))
  local text = o:read("a")
  o:close()
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  t.is(#lines, 2, "jsonl:- writes one line per committed record, nothing for the rolled-back page")
  t.is(lines[1], '{"table":"contacts","record":' .. page(REC):raw(1) .. "}", "{table, record} with the raw record")
  t.is(lines[2], '{"table":"tags","record":{"id":"t1"}}', "replace on stdout is a plain stream")
  t.ok(not text:find("log line", 1, true), "logs stay on stderr")
  local sdb = assert(sqlite.open(dir .. "/icx-state.db"))
  t.is(q(sdb, "SELECT value FROM _icx_state")[1].value, 7, "jsonl:- keeps state in ./icx-state.db")
  sdb:close()
end

---------------------------------------------------------------- abandoned runs
do
  local sys = require "icx.sys"
  local me, host = sys.pid(), sys.hostname()
  -- A file from before pid/host existed gains the columns on open.
  local old = assert(sqlite.open(path("old-runs.db")))
  assert(old:exec("CREATE TABLE _icx_runs (id INTEGER PRIMARY KEY, connection TEXT NOT NULL, "
    .. "asset TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, rows INTEGER, "
    .. "requests INTEGER, retries INTEGER, rate_limited INTEGER, error TEXT); "
    .. "INSERT INTO _icx_runs (connection, asset, started_at, status) VALUES ('c', 'legacy', 'x', 'running')"))
  old:close()
  local d = dest.open(path("old-runs.db"))
  local cols = {}
  for _, c in ipairs(q(d.db, "PRAGMA table_info(_icx_runs)")) do cols[c.name] = true end
  t.ok(cols.pid and cols.pid_start and cols.host, "an older _icx_runs gains pid, pid_start and host")

  -- A child that has exited gives a pid no process holds (until reused).
  local f = io.popen("sh -c 'echo $$'")
  local dead = math.tointeger(tonumber(f:read("l")))
  f:close()
  local start = sys.process_start(me)
  local function add(asset, pid, pid_start, h)
    q(d.db, "INSERT INTO _icx_runs (connection, asset, started_at, status, pid, pid_start, host) "
      .. "VALUES ('c', ?, 'x', 'running', ?, ?, ?)", asset, pid, pid_start, h)
  end
  add("dead", dead, 1, host)
  add("reused", me, start + 1, host)     -- our pid, an earlier process
  add("alive", me, start, host)          -- this very process
  add("elsewhere", dead, 1, "another-host")
  local id = d:run_start { connection = "c", asset = "new" }
  local st = {}
  for _, r in ipairs(q(d.db, "SELECT asset, status, error FROM _icx_runs")) do st[r.asset] = r end
  t.is(st.dead.status, "interrupted", "a run whose process is gone is closed as interrupted")
  t.like(st.dead.error, "pid " .. dead .. " on .* killed or crashed", "with a message naming the process")
  t.is(st.reused.status, "interrupted", "a reused pid with another start time is not mistaken for the run")
  t.is(st.alive.status, "running", "a live process's run is left alone")
  t.is(st.elsewhere.status, "running", "another host's run is left alone")
  t.is(st.legacy.status, "running", "a row without a pid is left alone")
  t.is(st.new.status, "running", "the new run starts")
  local r = q(d.db, "SELECT pid, pid_start, host FROM _icx_runs WHERE id = ?", id)[1]
  t.is(("%d %d %s"):format(r.pid, r.pid_start, r.host), ("%d %d %s"):format(me, start, host),
    "the new run records its pid, start and host")
  d:run_finish(id, { status = "interrupted" })
  t.is(q(d.db, "SELECT status FROM _icx_runs WHERE id = ?", id)[1].status, "interrupted",
    "run_finish accepts interrupted")
  d:close()
end

os.execute("rm -rf '" .. dir .. "'")
return t.done()
