#!/usr/bin/python3
"""The lossless rule end to end through every destination: records full of
values careless extractors break (the simulator's nasty values, big and
extreme integers, tiny and huge floats, [] and {}, Unicode, escapes, hostile
field names), written by `icx lua` through icx.dest and read back with
Python's sqlite3 and json. Also schema evolution across two runs (new
columns, a field changing type) and merge idempotence across processes."""
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX, ROOT  # noqa: E402,F401
import tap as t  # noqa: E402
import landed  # noqa: E402
import sim_gen  # noqa: E402


DRIVER = r'''
-- icx lua driver.lua DEST TABLE PAGES_DIR FIRST LAST: one transaction per page.
local dest = require "icx.dest"
local json = require "icx.json"
local uri, name, pdir, first, last = ...
local d = dest.open(uri)
local t = d:table { name = name, primary_key = "id", mode = "merge" }
for i = tonumber(first), tonumber(last) do
  local f = assert(io.open(pdir .. "/" .. i .. ".json", "rb"))
  local body = f:read("a")
  f:close()
  d:begin()
  t:write(assert(json.page(body, "data")))
  d:cursor_set("e2e", name, "page", i)
  d:commit()
end
d:close()
'''

work = tempfile.mkdtemp(prefix="icx-0201-")
driver = os.path.join(work, "driver.lua")
with open(driver, "w") as f:
    f.write(DRIVER)


def icx(*args):
    p = subprocess.run([ICX, "lua", driver] + list(args), cwd=work,
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        t.diag("icx exited %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-2000:]))
    return p


FIXED = {
    "id": "fixed-1", "i53": 9007199254740993, "imax": 9223372036854775807,
    "imin": -9223372036854775808, "ibig": 18446744073709551616,
    "f01": 0.1, "tiny": 1e-07, "huge": 1.5e300, "arr": [], "obj": {},
    "nested": {"a": {"b": [1, 2.5, {"c": None, "d": []}]}, "e": {}},
    "nul": None, "yes": True, "no": False, "emoji": "😀", "cjk": "漢字",
    "quote": 'say "hi"', "bs": "back\\slash", "nl": "line1\nline2",
    "ctl": "\u0001", "contact_id": 9007199254740993, "big_id": 18446744073709551616,
    "order": 1, 'x"; DROP TABLE records; --': "sql in a name", "": "empty name",
    "ключ": "cyrillic name", "a b": "space", "select": "keyword",
}

rng = random.Random(5)
records = [FIXED]
used = set()
for i in range(400):
    rec = {"id": sim_gen.hex_id(rng, used)}
    for j in range(8):
        rec["v%d" % j] = sim_gen.nasty_any(rng)
    rec["custom_attributes"] = sim_gen.contact_custom(rng, i, 1700000000)
    rec["name"] = rng.choice(sim_gen.NAMES)
    rec["external_id"] = rng.choice([None, 123, "ext-%d" % i, 2 ** 63 - 1, 2 ** 64])
    rec["count"] = rng.choice(sim_gen.NASTY_INTS)
    records.append(rec)

# Three page styles: escaped non-ASCII (surrogate pairs for emoji), raw UTF-8,
# and pretty-printed (whitespace the writer must drop from nested JSON).
STYLES = [dict(ensure_ascii=True), dict(ensure_ascii=False), dict(ensure_ascii=False, indent=2)]
pages = os.path.join(work, "pages")
os.mkdir(pages)
chunks = [records[i:i + 50] for i in range(0, len(records), 50)]
for n, chunk in enumerate(chunks, 1):
    with open(os.path.join(pages, "%d.json" % n), "w", encoding="utf-8") as f:
        f.write(json.dumps({"type": "list", "data": chunk}, **STYLES[n % 3]))
npages = len(chunks)

# ------------------------------------------------------------------ SQLite
db = os.path.join(work, "x.db")
p = icx("sqlite:///" + db, "records", pages, "1", str(npages))
t.is_(p.returncode, 0, "sqlite: driver exits 0")
t.is_(landed.compare(t, db, "records", records), 0, "sqlite: every value lands by the column rules")

con = sqlite3.connect(db)
types = dict(con.execute('select name, type from pragma_table_info("records")').fetchall())
t.is_(types["id"], "TEXT", "id column declared TEXT")
t.is_(types["contact_id"], "TEXT", "*_id column declared TEXT")
t.is_(types["i53"], "", "value columns untyped (no affinity rewrites)")
row = con.execute('select typeof(imax), typeof(ibig), typeof(f01), typeof(nul), '
                  'json_extract(nested, \'$.a.b[1]\'), json_type(arr), json_type(obj) '
                  'from records where id = ?', ("fixed-1",)).fetchone()
t.is_(list(row), ["integer", "text", "real", "null", 2.5, "array", "object"],
      "storage classes, and json_extract/json_type work on nested columns")
t.is_(con.execute('select "x""; DROP TABLE records; --" from records where id = ?',
                  ("fixed-1",)).fetchone()[0], "sql in a name", "a field named like SQL is just a column")
nested = con.execute("select nested from records where id = ?", ("fixed-1",)).fetchone()[0]
t.is_(nested, '{"a":{"b":[1,2.5,{"c":null,"d":[]}]},"e":{}}', "nested JSON minified")
cursor = con.execute("select key, value from _icx_state").fetchall()
t.is_(cursor, [("page", npages)], "cursor stored with the last page")
con.close()

# Merge idempotence across processes: the same pages again change nothing.
def snapshot(path):
    c = sqlite3.connect(path)
    cols = [r[0] for r in c.execute('select name from pragma_table_info("records") order by cid')]
    sel = " || '|' || ".join("quote(\"%s\") || typeof(\"%s\")" % (x.replace('"', '""'), x.replace('"', '""'))
                             for x in cols)
    out = sorted(r[0] for r in c.execute("select %s from records" % sel))
    c.close()
    return out


before = snapshot(db)
p = icx("sqlite:///" + db, "records", pages, "1", str(npages))
t.is_(p.returncode, 0, "sqlite: second run exits 0")
t.ok(snapshot(db) == before, "merge: the same pages again leave the table identical")

# Schema evolution in a later run: a new field adds a column, a field whose
# type changes keeps its column and stores the new value as it is.
later = [{"id": "fixed-1", "i53": "now a string", "arr": 7, "brand_new": [1, {}], "nul": 1.25},
         {"id": "late-2", "brand_new": None, "another": "x"}]
with open(os.path.join(pages, "%d.json" % (npages + 1)), "w") as f:
    json.dump({"data": later}, f)
p = icx("sqlite:///" + db, "records", pages, str(npages + 1), str(npages + 1))
t.is_(p.returncode, 0, "sqlite: a later run with new fields exits 0")
con = sqlite3.connect(db)
cols = [r[0] for r in con.execute('select name from pragma_table_info("records") order by cid')]
t.ok(cols[-2:] == ["brand_new", "another"] and cols.count("i53") == 1,
     "new fields become columns at the end; changed ones keep theirs")
row = con.execute("select i53, typeof(i53), arr, typeof(arr), nul, brand_new, emoji from records "
                  "where id = 'fixed-1'").fetchone()
t.is_(list(row), ["now a string", "text", 7, "integer", 1.25, "[1,{}]", None],
      "the row is the latest record: new types as sent, missing fields NULL")
t.is_(con.execute("select count(*) from records").fetchone()[0], len(records) + 1, "one new row, no duplicates")
con.close()

# ------------------------------------------------------------- jsonl:DIR
out = os.path.join(work, "out")
p = icx("jsonl:" + out, "records", pages, "1", str(npages))
t.is_(p.returncode, 0, "jsonl:DIR: driver exits 0")
with open(os.path.join(out, "records.jsonl"), "rb") as f:
    raw_lines = f.read().split(b"\n")
t.is_(raw_lines[-1], b"", "jsonl:DIR: the file ends with a newline")
raw_lines = raw_lines[:-1]
got = [json.loads(x) for x in raw_lines]
t.is_(len(got), len(records), "jsonl:DIR: one line per record")
t.ok(all(a == b and landed._same_types(a, b) for a, b in zip(got, records)),
     "jsonl:DIR: every record value-equal, types included")
want_bytes = []
for n, chunk in enumerate(chunks, 1):
    for rec in chunk:
        want_bytes.append(json.dumps(rec, separators=(",", ":"), **{
            k: v for k, v in STYLES[n % 3].items() if k != "indent"}).encode("utf-8"))
t.ok(raw_lines == want_bytes, "jsonl:DIR: each line is the record as sent, minified (escapes kept)")
t.ok(os.path.exists(os.path.join(out, ".icx-state.db")), "jsonl:DIR: state in DIR/.icx-state.db")

# ---------------------------------------------------------------- jsonl:-
p = subprocess.run([ICX, "lua", driver, "jsonl:-", "records", pages, "1", str(npages)],
                   cwd=work, capture_output=True, timeout=120)
t.is_(p.returncode, 0, "jsonl:-: driver exits 0")
lines = [json.loads(x) for x in p.stdout.decode("utf-8").splitlines()]
t.ok(all(list(x) == ["table", "record"] and x["table"] == "records" for x in lines),
     "jsonl:-: every line is {table, record}")
t.ok(len(lines) == len(records) and all(a["record"] == b and landed._same_types(a["record"], b)
                                        for a, b in zip(lines, records)),
     "jsonl:-: every record value-equal, types included")
t.is_(p.stderr, b"", "jsonl:-: nothing on stderr")
t.ok(os.path.exists(os.path.join(work, "icx-state.db")), "jsonl:-: state in ./icx-state.db")

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
