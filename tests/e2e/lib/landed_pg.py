"""What landed in PostgreSQL vs what the simulator holds, record by record
and value by value, by icx.pg's type mapping (engine/lpg.c, docs/POSTGRESQL.md):
`id`/`*_id`/key columns text (numbers as their literal), boolean, bigint,
numeric (exact: integers beyond int64, or integers and floats mixed),
double precision (floats), text (strings), json (objects, arrays, and any
column of mixed kinds, each value as its JSON literal), null-only columns
NULL. The field -> column mapping comes from _icx_columns.
"""
import json
from decimal import Decimal

import landed


def columns(con, schema, table):
    """field -> (column, kind) from _icx_columns."""
    cur = con.cursor()
    cur.execute('select field, col, kind from "%s"._icx_columns where tbl = %%s' % schema, (table,))
    return {f: (c, k) for f, c, k in cur.fetchall()}


def rows(con, schema, table, key):
    """table -> ({key tuple: {field: value}}, field -> (column, kind)).
    json columns are read as text and parsed here (psycopg2 would hand
    them to Python's json with its float rules)."""
    cols = columns(con, schema, table)
    fields = sorted(cols)
    sel = ", ".join('"%s"%s' % (cols[f][0].replace('"', '""'), "::text" if cols[f][1] == "json" else "")
                    for f in fields)
    cur = con.cursor()
    cur.execute('select %s from "%s"."%s"' % (sel or "1", schema, table.replace('"', '""')))
    out = {}
    for r in cur.fetchall():
        d = dict(zip(fields, r)) if fields else {}
        out[tuple(d.get(k) for k in key)] = d
    return out, cols


def same_json(got_text, want):
    try:
        v = json.loads(got_text)
    except (TypeError, ValueError):
        return False
    return v == want and landed._same_types(v, want)


def cell_matches(kind, got, want):
    """Whether the PostgreSQL value got stands exactly for JSON value want."""
    if want is None:
        return got is None
    if got is None:
        return False
    if kind == "json":
        return isinstance(got, str) and same_json(got, want)
    if kind == "id":
        if not isinstance(got, str):
            return False
        if isinstance(want, bool):
            return got == ("true" if want else "false")
        if isinstance(want, (dict, list)):
            return same_json(got, want)
        if isinstance(want, float):
            return float(got) == want
        return got == str(want)
    if isinstance(want, bool):
        return kind == "boolean" and got is want
    if isinstance(want, int):
        if kind == "bigint":
            return type(got) is int and got == want
        return kind == "numeric" and isinstance(got, Decimal) and got == want
    if isinstance(want, float):
        if kind == "double":
            return isinstance(got, float) and got == want and str(got)[0] == str(want)[0]
        return kind == "numeric" and isinstance(got, Decimal) and float(got) == want
    if isinstance(want, str):
        return kind == "text" and got == want
    return False


def key_of(rec, key):
    out = []
    for k in key:
        v = rec.get(k)
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append(None if v is None else str(v))
    return tuple(out)


def compare(t, con, table, truth, key=("id",), name=None, schema="public"):
    """TAP checks: the table holds exactly the truth records. Returns the
    number of mismatches (0 when equal)."""
    got, cols = rows(con, schema, table, key)
    return compare_rows(t, got, cols, truth, key=key, name=name or table)


def compare_rows(t, got, cols, truth, key=("id",), name="rows"):
    """compare's checks on rows already read ({key tuple: {field: value}},
    field -> (column, kind)): DuckDB's rows, read through icx, are judged by
    the same kinds."""
    want = {key_of(r, key): r for r in truth}
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
        for field, v in rec.items():
            if field not in cols:
                if v is not None:
                    diffs.append((k, field, "<no column>", v))
            elif not cell_matches(cols[field][1], row[field], v):
                diffs.append((k, field, "%r (%s)" % (row[field], cols[field][1]), v))
        for field, v in row.items():
            if field not in rec and v is not None:
                diffs.append((k, field, v, "<absent from record>"))
    t.ok(not diffs, "%s: every value equal to the simulator's" % name)
    for d in diffs[:8]:
        t.diag("key %r field %r: got %s, want %r" % d)
    return len({d[0] for d in diffs}) + len(missing) + len(extra)
