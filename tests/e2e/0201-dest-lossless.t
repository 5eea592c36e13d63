#!/usr/bin/python3
"""The lossless rule end to end through every destination driver
(tests/e2e/lib/dest_drivers.py): records full of values careless extractors
break (the simulator's nasty values, big and extreme integers, tiny and huge
floats, [] and {}, Unicode, escapes, hostile field names), written by `icx
lua` through icx.dest and read back outside icx (Python's sqlite3, json,
psycopg2). A key twice in one page keeps its last record; the same pages
again change nothing; a later run with new fields and changed kinds keeps
every value. Then what is each driver's own: SQLite's declared types and
storage classes, JSONL's bytes as sent and jsonl:- on stdout. (PostgreSQL's
kinds and its hardest values: 0503-pg-lossless.t.)"""
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
import dest_drivers  # noqa: E402
import tap as t  # noqa: E402
import landed  # noqa: E402
import sim_gen  # noqa: E402

work = tempfile.mkdtemp(prefix="icx-0201-")

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
# A key repeated inside one page: the last occurrence is the row.
chunks[1] = [dict(chunks[1][0], name="first occurrence")] + chunks[1]
for n, chunk in enumerate(chunks, 1):
    with open(os.path.join(pages, "%d.json" % n), "w", encoding="utf-8") as f:
        f.write(json.dumps({"type": "list", "data": chunk}, **STYLES[n % 3]))
npages = len(chunks)

# ------------------------------------------------------------ every driver
truth = {r["id"]: r for r in records}
later = [{"id": "fixed-1", "i53": "now a string", "arr": 7, "brand_new": [1, {}], "nul": 1.25},
         {"id": "late-2", "brand_new": None, "another": "x"}]
with open(os.path.join(pages, "%d.json" % (npages + 1)), "w") as f:
    json.dump({"data": later}, f)
after = dict(truth)
for r in later:
    after[r["id"]] = r


def sqlite_first(d):
    """SQLite: declared types, storage classes, SQL in a name."""
    con = sqlite3.connect(d.db)
    types = dict(con.execute('select name, type from pragma_table_info("records")').fetchall())
    t.is_(types["id"], "TEXT", "sqlite: id column declared TEXT")
    t.is_(types["contact_id"], "TEXT", "sqlite: *_id column declared TEXT")
    t.is_(types["i53"], "", "sqlite: value columns untyped (no affinity rewrites)")
    row = con.execute('select typeof(imax), typeof(ibig), typeof(f01), json_extract(nested, \'$.a.b[1]\'), '
                      'json_type(obj) from records where id = ?', ("fixed-1",)).fetchone()
    t.is_(list(row), ["integer", "text", "real", 2.5, "object"],
          "sqlite: storage classes, and json_extract/json_type work on nested columns")
    t.is_(con.execute('select "x""; DROP TABLE records; --" from records where id = ?',
                      ("fixed-1",)).fetchone()[0], "sql in a name", "sqlite: a field named like SQL is just a column")
    con.close()


def sqlite_later(d):
    """SQLite, after the later run: new columns at the end, new types."""
    con = sqlite3.connect(d.db)
    cols = [r[0] for r in con.execute('select name from pragma_table_info("records") order by cid')]
    t.ok(cols[-2:] == ["brand_new", "another"] and cols.count("i53") == 1,
         "sqlite: new fields become columns at the end; changed ones keep theirs")
    row = con.execute("select i53, typeof(i53), arr, typeof(arr) from records where id = 'fixed-1'").fetchone()
    t.is_(list(row), ["now a string", "text", 7, "integer"], "sqlite: new types as sent")
    con.close()


def jsonl_first(d):
    """JSONL: each line is the record as sent, minified."""
    with open(os.path.join(d.dir, "records.jsonl"), "rb") as f:
        data = f.read()
    t.ok(data.endswith(b"\n"), "jsonl: the file ends with a newline")
    want = []
    for n, chunk in enumerate(chunks, 1):
        for rec in chunk:
            want.append(json.dumps(rec, separators=(",", ":"), **{
                k: v for k, v in STYLES[n % 3].items() if k != "indent"}).encode("utf-8"))
    t.ok(data.split(b"\n")[:len(want)] == want, "jsonl: each line is the record as sent, minified (escapes kept)")


# What is each driver's own, checked after the first run and after the later one.
FIRST = {"sqlite": sqlite_first, "jsonl": jsonl_first}
LATER = {"sqlite": sqlite_later}

with dest_drivers.each(t, work) as drivers:
    for d in drivers:
        kind = d.name
        p = dest_drivers.write_pages(t, work, d.uri, "records", pages, 1, npages)
        t.is_(p.returncode, 0, "%s: written, exit 0" % kind)
        t.is_(p.stderr, b"", "%s: nothing on stderr" % kind)
        t.is_(d.compare(t, "records", list(truth.values()), name=kind + " records"), 0,
              "%s: every value lands by the driver's rules" % kind)
        t.is_(d.landed("records", "e2e")[0], npages, "%s: cursor stored with the last page" % kind)
        if kind in FIRST:
            FIRST[kind](d)
        before = d.snapshot("records")
        p = dest_drivers.write_pages(t, work, d.uri, "records", pages, 1, npages)
        t.is_(p.returncode, 0, "%s: the same pages again: exit 0" % kind)
        t.ok(d.snapshot("records") == before, "%s: merge: the same pages again leave the table as it was" % kind)
        p = dest_drivers.write_pages(t, work, d.uri, "records", pages, npages + 1, npages + 1)
        t.is_(p.returncode, 0, "%s: a later run with new fields and changed kinds exits 0" % kind)
        t.is_(d.compare(t, "records", list(after.values()), name=kind + " records after"), 0,
              "%s: every row is its latest record, old values kept, missing fields NULL" % kind)
        if kind in LATER:
            LATER[kind](d)

# ---------------------------------------------------------------- jsonl:-
driver = os.path.join(work, "page_writer.lua")
p = subprocess.run([ICX, "lua", driver, "jsonl:-", "records", pages, "1", str(npages)],
                   cwd=work, capture_output=True, timeout=120)
t.is_(p.returncode, 0, "jsonl:-: driver exits 0")
lines = [json.loads(x) for x in p.stdout.decode("utf-8").splitlines()]
t.ok(all(list(x) == ["table", "record"] and x["table"] == "records" for x in lines),
     "jsonl:-: every line is {table, record}")
flat = [r for chunk in chunks for r in chunk]
t.ok(len(lines) == len(flat) and all(a["record"] == b and landed._same_types(a["record"], b)
                                     for a, b in zip(lines, flat)),
     "jsonl:-: every record value-equal, types included, in page order")
t.is_(p.stderr, b"", "jsonl:-: nothing on stderr")
t.ok(os.path.exists(os.path.join(work, "icx-state.db")), "jsonl:-: state in ./icx-state.db")

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
