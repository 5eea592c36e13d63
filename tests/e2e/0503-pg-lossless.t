#!/usr/bin/python3
"""PostgreSQL's own part of the lossless rule (what every driver does is
0201-dest-lossless.t, whose page writer this uses). Records full of hard values
(int64 extremes, integers beyond int64, 1.797e308, 5e-324, -0.0, \\u0000
inside strings, emoji, escapes, [] and {}, the simulator's nasty values)
written through icx.dest by `icx lua` and read back with psycopg2; a key
repeated in one page keeps its last record; fields that change kind
between runs widen their column without losing a stored value; long and
colliding field names get distinct, stable columns recorded in
_icx_columns; the same pages again change nothing."""
import json
import math
import os
import random
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import dest_drivers  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import sim_gen  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

work = tempfile.mkdtemp(prefix="icx-0503-")
pages = os.path.join(work, "pages")
os.mkdir(pages)


def icx(uri, first, last, table="records"):
    return dest_drivers.write_pages(t, work, uri, table, pages, first, last)


LONG_A = "a" * 63 + "_first"
LONG_B = "a" * 63 + "_second"
FIXED = {
    "id": "fixed-1", "i53": 9007199254740993, "imax": 9223372036854775807,
    "imin": -9223372036854775808, "ibig": 18446744073709551616, "ineg_big": -99999999999999999999999,
    "f01": 0.1, "fmax": 1.797e308, "fsub": 5e-324, "negz": -0.0, "tiny": 1e-07, "huge": 1.5e300,
    "arr": [], "obj": {}, "nested": {"a": {"b": [1, 2.5, {"c": None, "d": []}]}, "e": {}},
    "nul": None, "yes": True, "no": False, "emoji": "😀 🎉", "cjk": "漢字",
    "with_nul": "before\u0000after", "nul_nested": {"k": "x\u0000y"},
    "quote": 'say "hi"', "bs": "back\\slash", "nl": "line1\nline2\r\ttab", "ctl": "\u0001\u001f",
    "contact_id": 9007199254740993, "big_id": 18446744073709551616, "float_id": 1.5,
    "order": 1, 'x"; DROP TABLE records; --': "sql in a name", "": "empty name",
    "ключ": "cyrillic name", "a b": "space", "select": "keyword", "ID": "upper-case id",
    LONG_A: "first long", LONG_B: "second long", "_icx_ord": "not the staging ordinal",
}

rng = random.Random(5)
records = [FIXED]
used = set()
for i in range(300):
    rec = {"id": sim_gen.hex_id(rng, used)}
    for j in range(8):
        rec["v%d" % j] = sim_gen.nasty_any(rng)
    rec["custom_attributes"] = sim_gen.contact_custom(rng, i, 1700000000)
    rec["name"] = rng.choice(sim_gen.NAMES)
    rec["external_id"] = rng.choice([None, 123, "ext-%d" % i, 2 ** 63 - 1, 2 ** 64])
    rec["count"] = rng.choice(sim_gen.NASTY_INTS)
    rec["score"] = rng.choice([0.5, -0.0, 5e-324, 1.797e308, 3.14159])
    records.append(rec)

STYLES = [dict(ensure_ascii=True), dict(ensure_ascii=False), dict(ensure_ascii=False, indent=2)]
chunks = [records[i:i + 50] for i in range(0, len(records), 50)]
# A key repeated inside one page: the last occurrence is the row.
dup_first = dict(chunks[1][0], name="first occurrence")
chunks[1] = [dup_first] + chunks[1]
for n, chunk in enumerate(chunks, 1):
    with open(os.path.join(pages, "%d.json" % n), "w", encoding="utf-8") as f:
        f.write(json.dumps({"type": "list", "data": chunk}, **STYLES[n % 3]))
npages = len(chunks)

with pgserver.PgServer() as pg:
    uri = pg.uri()
    con = pg.connect()
    cur = con.cursor()
    p = icx(uri, 1, npages)
    t.is_(p.returncode, 0, "driver exits 0")
    t.is_(p.stderr, b"", "nothing on stderr")
    t.is_(landed_pg.compare(t, con, "records", records), 0, "every value lands by the type mapping")

    cols = landed_pg.columns(con, "public", "records")
    kinds = {f: k for f, (c, k) in cols.items()}
    t.is_([kinds[f] for f in ("id", "i53", "imax", "ibig", "f01", "fmax", "yes", "emoji", "nested",
                               "with_nul", "contact_id", "float_id", "nul", "score")],
          ["id", "bigint", "bigint", "numeric", "double", "double", "boolean", "text", "json",
           "json", "id", "id", "null", "double"],
          "kinds: id text, bigint, numeric past int64, double, boolean, text, json, "
          "json for a string holding NUL, null-only")
    t.is_(kinds["v0"], "json", "a field of mixed kinds is a json column")
    cur.execute("select negz, fsub, fmax, with_nul::text, ibig::text, ineg_big::text from records "
                "where id = 'fixed-1'")
    negz, fsub, fmax, wn, ibig, inb = cur.fetchone()
    t.ok(negz == 0 and math.copysign(1, negz) == -1, "-0.0 keeps its sign")
    t.ok(fsub == 5e-324 and fmax == 1.797e308, "5e-324 and 1.797e308 exact")
    t.is_(json.loads(wn), "before\u0000after", "a string holding \\u0000 is its JSON literal in a json column")
    t.is_((ibig, inb), ("18446744073709551616", "-99999999999999999999999"), "integers beyond int64 exact")
    t.ok(cols[LONG_A][0] != cols[LONG_B][0] and len(cols[LONG_A][0].encode()) <= 63
         and len(cols[LONG_B][0].encode()) <= 63, "two long names sharing 63 bytes: two columns")
    t.ok(cols["_icx_ord"][0] != "_icx_ord" and cols[""][0] != "", "reserved and empty names get columns too")
    t.ok(cols["ID"][0] == "ID" and cols["id"][0] == "id", "ID and id are distinct columns")
    cur.execute("select name from records where id = %s", (dup_first["id"],))
    t.is_(cur.fetchone()[0], chunks[1][1]["name"], "a key twice in one page: the last record wins")
    cur.execute("select value::text from _icx_state where asset = 'records'")
    t.is_(cur.fetchone()[0], str(npages), "cursor stored with the last page")

    def snapshot():
        cur.execute("select md5(string_agg(r::text, '|' order by r::text)) from records r")
        return cur.fetchone()[0]

    before = snapshot()
    mapping = sorted(landed_pg.columns(con, "public", "records").items())
    p = icx(uri, 1, npages)
    t.is_(p.returncode, 0, "the same pages again: exit 0")
    t.is_(snapshot(), before, "merge: the same pages again leave the table identical")
    t.ok(sorted(landed_pg.columns(con, "public", "records").items()) == mapping,
         "the field -> column mapping is stable across runs")

    # Later: kinds change. Every stored value must survive the widening.
    later = [{"id": "fixed-1", "i53": "now a string", "f01": 7, "imax": 1.25, "yes": "maybe",
              "negz": {"x": 1}, "brand_new": [1, {}], "nul": 1.25, "emoji": 5},
             {"id": "late-2", "brand_new": None, "another": "x", "fmax": 12, "fsub": "str",
              "huge": 100, "tiny": True, "nl": "\u0000"}]
    with open(os.path.join(pages, "%d.json" % (npages + 1)), "w") as f:
        json.dump({"data": later}, f)
    p = icx(uri, npages + 1, npages + 1)
    t.is_(p.returncode, 0, "a later run with changed kinds exits 0")
    kinds = {f: k for f, (c, k) in landed_pg.columns(con, "public", "records").items()}
    t.is_([kinds[f] for f in ("i53", "f01", "imax", "yes", "negz", "nul", "fmax", "fsub", "huge",
                               "tiny", "nl", "emoji")],
          ["json", "numeric", "numeric", "json", "json", "double", "numeric", "json", "numeric",
           "json", "json", "json"],
          "widened: int+string json, float+int numeric, bool+string json, null -> double ...")
    truth = {r["id"]: r for r in records}
    for r in later:
        truth[r["id"]] = r
    t.is_(landed_pg.compare(t, con, "records", list(truth.values()), name="records after widening"), 0,
          "after widening every row still equals its latest record, old values included")
    cur.execute("select negz::text from records where id = %s", (records[5]["id"],))

    # A key repeated in a record: the first keeps the column, the next
    # lands in KEY__2, so nothing is lost (the SQLite writer's rule too).
    with open(os.path.join(pages, "900.json"), "w") as f:
        f.write('{"data":[{"id":"d1","dup":1,"dup":"two","Dup":3}]}')
    p = icx(pg.uri(), 900, 900, table="dups")
    t.is_(p.returncode, 0, "a record with a repeated key lands")
    cur.execute('select "dup"::text, "dup__2"::text, "Dup"::text from dups')
    t.is_(cur.fetchall(), [("1", "two", "3")],
          "the first keeps dup, the second lands in dup__2, Dup (another case) is its own column")
    con.close()

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
