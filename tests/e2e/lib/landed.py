"""What landed vs what the simulator holds, record by record and value by
value, by icx's column rules: integers exact (TEXT of the digits past int64),
floats equal, strings byte-equal, booleans 0/1, null NULL, objects and
arrays as JSON text equal in value, `id` and `*_id` columns TEXT always.
"""
import json
import sqlite3

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def is_id(name):
    return name == "id" or name.endswith("_id")


def expected_cell(name, v):
    """The SQLite value icx must store for the JSON value v in column name."""
    if v is None:
        return None
    if is_id(name) and not isinstance(v, (dict, list, bool)):
        if isinstance(v, float):
            return repr(v)
        return str(v)
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return v if INT64_MIN <= v <= INT64_MAX else str(v)
    if isinstance(v, (float, str)):
        return v
    return v  # dict/list: compared as parsed JSON


def cell_matches(name, got, want_json):
    want = expected_cell(name, want_json)
    if isinstance(want_json, (dict, list)):
        if not isinstance(got, str):
            return False
        try:
            return json.loads(got) == want_json and _same_types(json.loads(got), want_json)
        except ValueError:
            return False
    if isinstance(want, float):
        return isinstance(got, float) and got == want
    if isinstance(want, int) and not isinstance(want, bool):
        return isinstance(got, int) and got == want
    return got == want and type(got) is type(want)


def _same_types(a, b):
    """json.loads(x) == y treats 1 == 1.0 and True == 1; icx must not."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b))
    return True


def rows(db, table, key):
    """table -> {key tuple: {column: value}}."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        out = {}
        for r in con.execute('select * from "%s"' % table.replace('"', '""')):
            d = dict(r)
            out[tuple(d[k] for k in key)] = d
        return out
    finally:
        con.close()


def key_of(rec, key):
    return tuple(expected_cell(k, rec.get(k)) for k in key)


def compare(t, db, table, truth, key=("id",), name=None):
    """TAP checks: the table holds exactly the truth records. Returns the
    number of mismatching records (0 when equal)."""
    name = name or table
    got = rows(db, table, key)
    want = {key_of(r, key): r for r in truth}
    bad = 0
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    t.is_(len(got), len(want), "%s: %d rows landed" % (name, len(want)))
    t.ok(not missing, "%s: no record missing" % name)
    if missing:
        t.diag("missing keys (first 5): %r" % missing[:5])
    t.ok(not extra, "%s: no extra rows" % name)
    if extra:
        t.diag("extra keys (first 5): %r" % extra[:5])
    diffs = []
    for k, rec in want.items():
        row = got.get(k)
        if row is None:
            continue
        for col, v in rec.items():
            if col not in row:
                diffs.append((k, col, "<no column>", v))
            elif not cell_matches(col, row[col], v):
                diffs.append((k, col, row[col], v))
        for col, v in row.items():
            if col not in rec and v is not None:
                diffs.append((k, col, v, "<absent from record>"))
    bad = len({d[0] for d in diffs})
    t.ok(not diffs, "%s: every value equal to the simulator's" % name)
    for d in diffs[:8]:
        t.diag("key %r column %r: got %r, want %r" % d)
    return bad + len(missing) + len(extra)


def conversation_parts_truth(sim):
    """What the API shows of each conversation's parts (the newest 500 at
    most, asked of the simulator itself) and the counts icx must record:
    -> (parts with conversation_id, conversation_part_counts rows)."""
    all_parts = sim.dump("conversation_parts")
    total = {}
    for p in all_parts:
        total[p["conversation_id"]] = total.get(p["conversation_id"], 0) + 1
    shown, counts = [], []
    # Asking for every conversation must not eat the budget icx runs on.
    limit = sim.control("GET", "/_sim/info")["rate"]
    sim.control("POST", "/_sim/rate", {"limit": 1000000})
    for conv in sim.dump("conversations"):
        got = sim.api("GET", "/conversations/" + conv["id"]).json()
        got = got["conversation_parts"]["conversation_parts"]
        for part in got:
            part["conversation_id"] = conv["id"]
        shown += got
        n = total.get(conv["id"], 0)
        counts.append({"conversation_id": conv["id"], "parts_returned": len(got),
                       "parts_total": n, "truncated": n > len(got)})
    sim.control("POST", "/_sim/rate", {"limit": limit})
    return shown, counts
