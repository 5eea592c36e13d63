#!/usr/bin/python3
"""Where a backfill window leaves the cursor: a window reaching past the
stored cursor moves it to what landed below its end (records changed after
--until are not read, and the cursor does not pass them), --since alone
re-reads from S to now, and on a first run --since S --until U lands exactly
the records of [S, U) with the cursor at the newest of them. --until without
--since, or not after it, is a usage error (exit 2)."""
import json
import os
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


with Sim(tickets=80, companies=120, seed=1302, timezone="UTC") as sim, Workspace(sim) as ws:
    r = ws.run("tickets", "companies")
    t.is_(r.rc, 0, "the first load exits 0")
    cur = cursor(ws.db, "tickets")
    keys = sorted(x["updated_at"] for x in sim.dump("tickets"))
    t.is_(cur, keys[-1], "the first load's cursor is the newest ticket")

    # Five tickets change after the load; a window ending before them
    # but past the cursor moves the cursor to the window's end at most.
    changed = sim.control("POST", "/_sim/mutate", {"asset": "tickets", "count": 5})
    t.ok(changed, "five tickets changed in the simulator")
    now = int(time.time())
    since = keys[len(keys) // 2] // DAY * DAY
    until = cur + 2  # past the cursor, before the changes (made now)
    r = ws.run("tickets", "--since", str(since), "--until", str(until))
    t.is_(r.rc, 0, "a window past the cursor exits 0")
    t.ok("reaches past the cursor" in r.err.splitlines()[0], "its first line says so: " + r.err.splitlines()[0])
    after = cursor(ws.db, "tickets")
    t.ok(after is not None and cur <= after < until, "the cursor stays below --until (%r, %d)" % (after, until))
    newer = [x for x in sim.dump("tickets") if x["updated_at"] >= until]
    got = {row[0] for row in q(ws.db, "select id from tickets where updated_at >= ?", until)}
    t.is_(got, set(), "no ticket changed after --until landed (%d exist)" % len(newer))

    # --since alone: the window runs to now, and the cursor follows.
    r = ws.run("tickets", "--since", str(since))
    t.is_(r.rc, 0, "--since alone exits 0")
    t.ok("backfill" in r.err.splitlines()[0] and ".. now" in r.err.splitlines()[0],
         "the first line names the open window: " + r.err.splitlines()[0])
    newest = max(x["updated_at"] for x in sim.dump("tickets"))
    t.is_(cursor(ws.db, "tickets"), newest, "the cursor moved to the newest ticket")
    t.ok(newest >= now - 5, "which is one of the changed ones")

    # A window that starts after the cursor leaves a gap it did not read:
    # the cursor stays, so the next run still reads that gap.
    time.sleep(2)
    sim.control("POST", "/_sim/mutate", {"asset": "tickets", "count": 3})
    held = cursor(ws.db, "tickets")
    r = ws.run("tickets", "--since", str(held + 2))
    t.is_(r.rc, 0, "a window starting after the cursor exits 0")
    t.ok("cursor stays at" in r.err.splitlines()[0] and "starts after it" in r.err.splitlines()[0],
         "its first line says the cursor stays: " + r.err.splitlines()[0])
    t.is_(cursor(ws.db, "tickets"), held, "the cursor did not jump the unread gap")
    fresh = [x["id"] for x in sim.dump("tickets") if x["updated_at"] >= held + 2]
    got = {row[0] for row in q(ws.db, "select id from tickets where updated_at >= ?", held + 2)}
    t.ok(len(fresh) == 3 and set(fresh) == got, "the window's tickets landed (%d)" % len(got))

    # The same as a JSON event, for schedulers reading the log.
    held = cursor(ws.db, "tickets")
    r = ws.run("tickets", "--since", "2026-01-01", "--until", "2026-02-01", "--log-format", "json")
    ev = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    bf = [e for e in ev if e.get("event") == "backfill"]
    t.ok(bf and bf[0]["asset"] == "tickets" and bf[0]["since"] == 1767225600 and bf[0]["until"] == 1769904000
         and bf[0]["cursor"] == held and bf[0]["backfill"] is True, "a backfill event names the window: %r" % bf)
    t.ok(ev and ev[0].get("event") == "backfill", "before any other event")

    # A first run bounded both ways lands exactly the window.
    db2 = os.path.join(ws.dir, "first.db")
    lo, hi = keys[10], keys[40]
    r = ws.run("tickets", "companies", "--since", str(lo), "--until", str(hi), dest=db2)
    t.is_(r.rc, 0, "a first run with a window exits 0")
    t.ok(any("tickets: first run" in x for x in r.err.splitlines()[:2]), "its first line says it is a first run")
    for asset in ("tickets", "companies"):
        truth = [x for x in sim.dump(asset) if lo <= x["updated_at"] < hi]
        landed.compare(t, db2, asset, truth, name="first run, %s" % asset)
        # A search reads only the window: the cursor is its newest record;
        # the scroll reads everything, so it vouches for the window to its end.
        want = max(x["updated_at"] for x in truth) if truth else lo
        c = cursor(db2, asset)
        t.ok(c is not None and want <= c <= hi - 1,
             "%s: the cursor is within the window, at or past its newest record (%r, %d..%d)" % (asset, c, want, hi - 1))
        if asset == "tickets":
            t.is_(c, want, "tickets: the cursor is the window's newest ticket")

    r = ws.run("tickets", "--until", "2026-01-01")
    t.is_(r.rc, 2, "--until without --since exits 2")
    t.ok("--until needs --since" in r.err, "and says so")
    r = ws.run("tickets", "--since", "2026-02-01", "--until", "2026-01-01")
    t.is_(r.rc, 2, "--until before --since exits 2")
    r = ws.run("tickets", "--since", "2026-01-01", "--until", "2026-13-01")
    t.is_(r.rc, 2, "a bad --until exits 2")
    t.ok("--until '2026-13-01' is not a date" in r.err, "naming --until")

t.done_testing()
