#!/usr/bin/python3
"""Wide records (engine/colset.h, "Wide records"; README, docs/POSTGRESQL.md):
a table gives at most 300 fields columns and every other top-level field
goes into one JSON object column, _icx_overflow. Records of 1,700 fields
(integers past 2^53 and past int64, extreme floats, 23-byte strings, the
widest a PostgreSQL row keeps inline, \\u0000, nested objects) land on
SQLite, PostgreSQL and DuckDB with the same columns, and every value is
recovered from its column or the overflow object, value by value and type
by type; JSONL keeps records whole. A second page adds new fields (they
overflow: the table is full); a record whose fields change across runs
becomes exactly its latest version (merge by key); a field that got a
column keeps it, one that overflowed keeps overflowing; a column only
widens; a table that fills up across runs gives columns to the first new
fields only; a replace table takes the columns of its own records. On the
code before the rule, PostgreSQL refused the 1,700-field pages (more than
1,600 columns) and the 800-field ones (a row bigger than its 8 KB page),
and no destination kept to 300 columns."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX  # noqa: E402
import dest_drivers  # noqa: E402
import landed  # noqa: E402
import landed_pg  # noqa: E402
import tap as t  # noqa: E402

LIMIT = 300  # colset.h ICX_CS_MAX_FIELDS
OVER = "_icx_overflow"

work = tempfile.mkdtemp(prefix="icx-0605-")

# icx lua WRITER DEST TABLE MODE PAGES...: each page file into TABLE (key
# id), one transaction per page; a replace table is swapped in at the end.
WRITER = r'''
local dest = require "icx.dest"
local json = require "icx.json"
local uri, name, mode = ...
local d = dest.open(uri)
local t = d:table { name = name, primary_key = "id", mode = mode }
for i = 4, select("#", ...) do
  local f = assert(io.open((select(i, ...)), "rb"))
  local body = f:read("a")
  f:close()
  d:begin()
  t:write(assert(json.page(body, "data")))
  d:commit()
end
if mode == "replace" then t:finish() end
d:close()
'''
writer = os.path.join(work, "writer.lua")
with open(writer, "w") as f:
    f.write(WRITER)

rng = random.Random(1700)
VALUES = [0, 1, -1, 9007199254740993, 9223372036854775807, -9223372036854775808,
          18446744073709551616, 0.1, -0.0, 5e-324, 1.797e308, 1.5, True, False, None,
          "", "x" * 23, "y" * 23, "😀 漢字", 'q"uote\\', "nul\u0000inside", "line\nbreak",
          [], {}, [1, 2.5, None], {"a": {"b": [9007199254740993, {"c": "d"}]}, "e": {}}]
STR23 = "abcdefghijklmnopqrstuvw"


def value(field, i):
    """Mostly 23-byte strings (PostgreSQL's worst case per column), some of
    every other kind, varying by record."""
    r = rng.random()
    if r < 0.6:
        return STR23[:22] + chr(97 + (i + len(field)) % 26)
    return rng.choice(VALUES)


def record(rid, fields, i):
    rec = {"id": rid}
    for f in fields:
        rec[f] = value(f, i)
    return rec


def page(name, records, style=0):
    path = os.path.join(work, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"type": "list", "data": records},
                           **[{}, {"ensure_ascii": False}, {"indent": 1}][style]))
    return path


def run(d, table, mode, *pages):
    p = subprocess.run([ICX, "lua", writer, d.uri, table, mode] + list(pages), cwd=work,
                       capture_output=True, timeout=600)
    ok = t.is_(p.returncode, 0, "%s: %s %s of %d page(s) lands" % (d.name, table, mode, len(pages)))
    if not ok:
        t.diag(p.stderr.decode("utf-8", "replace")[-1500:])
    return ok


F = ["f%04d" % i for i in range(1700)]
G = ["g%03d" % i for i in range(60)]

# Page 1: 12 records of all 1,700 fields in order, minus a few per record.
p1_recs = []
for i in range(12):
    fields = [f for f in F if i == 0 or rng.random() > 0.02]
    p1_recs.append(record("r%02d" % i, fields, i))
# Page 2: new records bringing new fields g* among old ones, r03 and r04
# changed (r04 down to a handful of fields), one record with a repeated key
# and a field named like the overflow column, and a field whose kind
# changes (f0001: strings and objects now, numbers before).
p2_recs = []
for i in range(12, 18):
    p2_recs.append(record("r%02d" % i, F[:100] + G[:30] + F[1600:], i))
p2_recs.append(dict(record("r03", F[::2] + G, 3)))
p2_recs.append({"id": "r04", "f0001": {"now": "an object"}, "f1699": 9223372036854775807, "g059": None})
for r in p2_recs[:-2]:
    r["f0001"] = "a string now"
p2_text = json.dumps({"type": "list", "data": p2_recs})
# A member named like the overflow column, and a repeated key, written by
# hand (Python dicts hold neither a repeat nor an order of our choosing).
rep = record("r20", F[:5] + F[1690:], 20)
rep_text = json.dumps(rep)[:-1] + ', "_icx_overflow": "mine", "f1695": "second f1695"}'
p2_text = p2_text[:-2] + ", " + rep_text + "]}"
with open(os.path.join(work, "p2.json"), "w") as f:
    f.write(p2_text)
rep_truth = dict(rep)
rep_truth["_icx_overflow__2"] = "mine"
rep_truth["f1695__2"] = "second f1695"

truth = {r["id"]: r for r in p1_recs}
for r in p2_recs:
    truth[r["id"]] = r
truth["r20"] = rep_truth
truth = list(truth.values())

# Run 3 (another run): r05 changes fields again; g* fields in a full table
# stay in the overflow object, f* columns stay columns.
p3_recs = [record("r05", F[1000:] + G[::3] + F[:3], 5)]
truth3 = {r["id"]: r for r in truth}
for r in p3_recs:
    truth3[r["id"]] = r
truth3 = list(truth3.values())

# A table that fills up across runs: 250 fields, then 100 new ones (the
# first 50 get columns), then all of them and 10 more.
A = ["a%03d" % i for i in range(249)]
B = ["b%03d" % i for i in range(100)]
C = ["c%03d" % i for i in range(10)]
grow = [[record("g1", A, 1)], [record("g2", B, 2)], [record("g3", A + B + C, 3), record("g1", C + A, 4)]]

# A replace table: its second run's records bring other fields.
rep1 = [record("x%d" % i, F, i) for i in range(3)]
rep2 = [record("y%d" % i, ["h%04d" % j for j in range(800)], i) for i in range(3)]


def parsed_overflow(text):
    if text is None:
        return {}
    try:
        v = json.loads(text)
    except ValueError:
        return {"<not JSON>": text}
    return v if isinstance(v, dict) else {"<not an object>": v}


def judge(name, rows, fields, cell_ok, want):
    """rows: {id: {field: value}} with _icx_overflow as JSON text; fields:
    the fields with a column. Every record's value is in its column or in
    the overflow object (never both), equal and of the same type; nothing
    else is there."""
    want = {r["id"]: r for r in want}
    t.is_(sorted(rows), sorted(want), "%s: every record has its row, no other" % name)
    diffs = []
    for rid, rec in want.items():
        row = rows.get(rid)
        if row is None:
            continue
        over = parsed_overflow(row.get(OVER))
        for f, v in rec.items():
            if f in fields:
                if f in over:
                    diffs.append((rid, f, "in a column and in the overflow object"))
                elif not cell_ok(f, row.get(f), v):
                    diffs.append((rid, f, "column holds %r, want %r" % (row.get(f), v)))
            elif f not in over:
                diffs.append((rid, f, "neither a column nor in the overflow object"))
            elif not (over[f] == v and landed._same_types(over[f], v)):
                diffs.append((rid, f, "overflow holds %r, want %r" % (over[f], v)))
        for f in over:
            if f not in rec:
                diffs.append((rid, f, "in the overflow object, not in the record"))
        for f in fields:
            if f != OVER and f not in rec and row.get(f) is not None:
                diffs.append((rid, f, "column holds %r for a field the record lacks" % (row.get(f),)))
    t.ok(not diffs, "%s: columns + overflow object = the record, value by value" % name)
    for d in diffs[:8]:
        t.diag("%s %s: %s" % d)


def shape(d, table):
    """-> ({id: {field: value}}, [fields with a column, table order], cell_ok)."""
    if d.name == "sqlite":
        rows = landed.rows(d.db, table, ("id",))
        rows = {k[0]: v for k, v in rows.items()}
        con = d._con()
        try:
            cols = [r[0] for r in con.execute('select name from pragma_table_info("%s") order by cid' % table)]
        finally:
            con.close()
        return rows, cols, landed.cell_matches
    if d.name == "postgresql":
        got, cols = landed_pg.rows(d.con, "public", table, ("id",))
        cur = d.con.cursor()
        cur.execute("select field from _icx_columns where tbl = %s order by pos", (table,))
        order = [r[0] for r in cur.fetchall()]
        return {k[0]: v for k, v in got.items()}, order, lambda f, g, v: landed_pg.cell_matches(cols[f][1], g, v)
    rows, cols = d._rows(table)
    got = d._read("rows", table)
    order = [c[0] for c in got["cols"]]
    return rows, order, lambda f, g, v: landed_pg.cell_matches(cols[f][1], g, v)


def check(d, table, want, label, expect_fields=None):
    if d.name == "jsonl":
        # Records whole, as a JSON reader reads them (the last of a repeat).
        want = [json.loads(rep_text) if r is rep_truth else r for r in want]
        d.compare(t, table, want, name="%s %s" % (d.name, label))
        return None
    rows, cols, cell_ok = shape(d, table)
    data = [c for c in cols if c != OVER]
    name = "%s %s" % (d.name, label)
    t.ok(len(data) <= LIMIT, "%s: %d columns for fields, at most %d" % (name, len(data), LIMIT))
    if expect_fields is not None:
        t.is_(data, expect_fields, "%s: the columns are the first %d fields met" % (name, len(expect_fields)))
    judge(name, rows, set(cols), cell_ok, want)
    return cols


shapes = {}
with dest_drivers.each(t, work) as drivers:
    for d in drivers:
        first = ["id"] + F[:LIMIT - 1]
        if run(d, "wide", "merge", page("p1", p1_recs, 1)):
            cols = check(d, "wide", p1_recs, "page 1", first)
            if cols is not None:
                t.ok(OVER in cols, "%s: the overflow column exists once the table is full" % d.name)
        if run(d, "wide", "merge", os.path.join(work, "p2.json")):
            shapes[d.name] = check(d, "wide", truth, "page 2 (new fields, changed records)", first)
        if run(d, "wide", "merge", page("p3", p3_recs, 2)):
            cols = check(d, "wide", truth3, "run 3 (fields changed again)", first)
            if cols is not None:
                t.is_(cols, shapes.get(d.name), "%s: run 3 added no column" % d.name)

        # A table filling up across runs.
        want = {}
        expect = [["id"] + A, ["id"] + A + B[:50], ["id"] + A + B[:50]]
        for n, recs in enumerate(grow):
            for r in recs:
                want[r["id"]] = r
            if run(d, "grow", "merge", page("grow%d" % n, recs, n % 3)):
                cols = check(d, "grow", list(want.values()), "grow run %d" % (n + 1), expect[n])
                if cols is not None:
                    t.is_(OVER in cols, n > 0, "%s grow run %d: the overflow column %s" % (
                        d.name, n + 1, "exists" if n > 0 else "is not made before it is needed"))

        # replace: each run's table holds its own records' fields.
        if run(d, "wider", "replace", page("rep1", rep1)):
            check(d, "wider", rep1, "replace run 1", ["id"] + F[:LIMIT - 1])
        if run(d, "wider", "replace", page("rep2", rep2)):
            check(d, "wider", rep2, "replace run 2", ["id"] + ["h%04d" % j for j in range(LIMIT - 1)])

names = [n for n in ("sqlite", "postgresql", "duckdb") if shapes.get(n)]
t.ok(len(names) >= 2, "the wide table landed on %s" % ", ".join(names))
for n in names[1:]:
    t.is_(shapes[n], shapes[names[0]], "%s has the columns %s has, in the same order" % (n, names[0]))

if t.failed() == 0:
    shutil.rmtree(work, ignore_errors=True)
else:
    t.diag("files kept in %s" % work)
t.done_testing()
