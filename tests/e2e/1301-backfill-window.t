#!/usr/bin/python3
"""Backfill windows: --since S --until U over stored cursors re-reads exactly
[S, U) of the incremental key and merges it (rows the destination lost or
that differ come back value by value as the simulator has them, rows outside
the window stay as they were), the cursor stays where it was, the run's
first line says so, the search asks Intercom for the window only, and an
asset without an incremental key is refused (exit 2)."""
import json
import os
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402
from icxtest import query as q  # noqa: E402

DAY = 86400


def cursor(db, asset):
    rows = q(db, "select value from _icx_state where asset = ?", asset)
    return int(rows[0][0]) if rows else None


def in_window(db, table, truth, lo, hi, name):
    """The destination's rows with lo <= updated_at < hi equal the
    simulator's records there, value by value."""
    copy = db + ".window"
    shutil.copy(db, copy)
    c = sqlite3.connect(copy)
    c.execute('delete from "%s" where updated_at < ? or updated_at >= ?' % table, (lo, hi))
    c.commit()
    c.close()
    want = [r for r in truth if lo <= r["updated_at"] < hi]
    t.ok(len(want) > 0, "%s: the window holds %d records" % (name, len(want)))
    landed.compare(t, copy, table, want, name=name)
    os.remove(copy)


with Sim(contacts=300, companies=150, tickets=80, seed=1301, timezone="UTC") as sim, Workspace(sim) as ws:
    r = ws.run("tickets", "companies", "contacts", "contact_tags")
    t.is_(r.rc, 0, "the first load exits 0")
    cur = {a: cursor(ws.db, a) for a in ("tickets", "companies", "contacts")}
    t.ok(all(cur.values()), "every asset has a cursor: %r" % cur)

    tickets = sim.dump("tickets")
    keys = sorted(x["updated_at"] for x in tickets)
    # A 60-day window from a midnight to just past a contact changed late
    # in its day: contact search bounds by whole days, and the window's
    # last day must still be read up to --until.
    late = sorted(x["updated_at"] for x in sim.dump("contacts") if x["updated_at"] % DAY > 7200)
    until = late[len(late) // 3] + 1
    since = (until - 60 * DAY) // DAY * DAY
    t.ok(until < min(cur.values()), "the window ends before every cursor")

    # The destination loses the window's rows and one far outside it, and
    # one row in the window holds a stale value.
    outside = {}
    for table in ("tickets", "companies", "contacts"):
        old = q(ws.db, 'select id from "%s" where updated_at < ? order by updated_at limit 1' % table,
                since - 40 * DAY)
        outside[table] = old[0][0] if old else None
        c = sqlite3.connect(ws.db)
        stale = c.execute('select id from "%s" where updated_at >= ? and updated_at < ? limit 1' % table,
                          (since, until)).fetchone()
        c.execute('delete from "%s" where updated_at >= ? and updated_at < ? and id <> ?' % table,
                  (since, until, stale[0] if stale else ""))
        if stale:
            cols = [x[1] for x in c.execute('pragma table_info("%s")' % table)]
            col = "name" if "name" in cols else "title" if "title" in cols else None
            if col:
                c.execute('update "%s" set "%s" = ? where id = ?' % (table, col), ("STALE", stale[0]))
        if outside[table]:
            c.execute('delete from "%s" where id = ?' % table, (outside[table],))
        c.commit()
        c.close()

    # contact_tags loses the pairs of the window's contacts: a backfill
    # lands them again, though those contacts did not change (_icx_seen).
    contacts = sim.dump("contacts")
    win_contacts = {x["id"] for x in contacts if since <= x["updated_at"] < until}
    pairs = {(x["contact_id"], x["tag_id"]) for x in sim.dump("contact_tags") if x["contact_id"] in win_contacts}
    t.ok(pairs, "the window's contacts have %d tag pairs" % len(pairs))
    c = sqlite3.connect(ws.db)
    c.executemany("delete from contact_tags where contact_id = ?", [(i,) for i in win_contacts])
    c.commit()
    c.close()

    before = len(open(sim.log_path).read().splitlines())
    r = ws.run("tickets", "companies", "contacts", "contact_tags", "--since", str(since), "--until", str(until))
    t.is_(r.rc, 0, "the backfill exits 0")
    got = set(q(ws.db, "select contact_id, tag_id from contact_tags where contact_id in (%s)"
                % ",".join("?" * len(win_contacts)), *win_contacts))
    t.is_(sorted(got), sorted(pairs), "contact_tags: the window's pairs landed again")
    lines = r.err.splitlines()
    for a in ("tickets", "companies", "contacts"):
        want = "%s: backfill %s .. %s (updated_at); cursor stays at %s" % (
            a, time.strftime("%Y-%m-%d", time.gmtime(since)), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until)),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cur[a])))
        t.ok(any(want in x for x in lines[:4]), "%s: the run's first lines say the cursor stays" % a)
        t.is_(cursor(ws.db, a), cur[a], "%s: the cursor did not move" % a)
    in_window(ws.db, "tickets", tickets, since, until, "tickets in the window")
    in_window(ws.db, "companies", sim.dump("companies"), since, until, "companies in the window")
    in_window(ws.db, "contacts", contacts, since, until, "contacts in the window")
    for table in ("tickets", "companies", "contacts"):
        if outside[table]:
            t.is_(q(ws.db, 'select count(*) from "%s" where id = ?' % table, outside[table])[0][0], 0,
                  "%s: a row lost far outside the window is not read again" % table)

    # The search asked Intercom for the window only.
    reqs = [json.loads(x) for x in open(sim.log_path).read().splitlines()[before:]]
    walked = [x for x in reqs if x.get("path") == "/tickets/search"]
    t.ok(walked, "tickets were searched")
    bounds = set()
    for x in walked:
        qy = x["body"]["query"]
        for part in (qy.get("value") if qy.get("operator") == "AND" else [qy]):
            if isinstance(part, dict) and part.get("field") == "updated_at":
                bounds.add((part["operator"], part["value"]))
    t.is_(sorted(bounds), sorted({(">", since - 1), ("<", until)}),
          "every tickets search is bounded by the window: > since - 1, < until")
    t.ok(len(walked) <= 4, "the window costs a few searches, not the history (%d)" % len(walked))

    # The completeness check covered the window, not the whole history.
    comp = q(ws.db, "select lo, hi from _icx_completeness where asset = 'tickets' order by id desc limit 1")
    t.ok(comp and comp[0][0] >= since and comp[0][1] <= until,
         "the completeness check's window lies in the backfill's: %r" % comp)

    # An asset with no incremental key has no window: refused before any request.
    r = ws.run("tickets", "tags", "--since", str(since))
    t.is_(r.rc, 2, "--since with a replace asset exits 2")
    t.ok("asset 'tags' has no incremental key" in r.err, "and names it: " + r.err.strip()[-200:])

t.done_testing()
