#!/usr/bin/python3
"""Issue 19's standalone assets (ticket_types, ticket_states, help_centers,
collections, subscription_types, activity_logs) into SQLite and JSONL:
a first load equals the simulator's dumps record by record and value by
value; a second run after new activity logs (and rows of records Intercom
no longer has) is exact again, reads the logs from the cursor minus the
lookback minus one second (both bounds are exclusive), and --since bounds
a first load at a second whose logs tie."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import more_assets as more  # noqa: E402
import tap as t  # noqa: E402


def state(db):
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("select asset, value from _icx_state where asset = 'activity_logs'").fetchall())
    finally:
        con.close()


with Sim(activity_logs=73, collections=37, seed=71) as sim, Workspace(sim) as ws:
    scripts = [ws.script(a) for a in more.NEW_ASSETS]
    r = ws.run(*scripts)
    t.is_(r.rc, 0, "a first load of the six assets exits 0")
    for a in more.NEW_ASSETS:
        landed.compare(t, ws.db, a, sim.dump(a))
    by_path = sim.stats()["by_path"]
    for path in ("/ticket_types", "/ticket_states", "/help_center/help_centers", "/help_center/collections",
                 "/subscription_types"):
        t.is_(by_path.get(path), 1, "%s: one request" % path)
    logs = sim.dump("activity_logs")
    q = more.log_requests(sim)
    t.is_(len(q), more.pages_for(len(logs)), "activity_logs: %d logs in %d requests" % (len(logs), len(q)))
    t.is_(q[0].get("created_at_after"), ["0"], "a first load reads from created_at_after=0")
    newest = max(x["created_at"] for x in logs)
    t.is_(int(state(ws.db).get("activity_logs", 0)), newest, "the cursor is the newest created_at")

    # JSONL: the same records, types included, one file per table.
    out = os.path.join(ws.dir, "out")
    r = ws.run(*scripts, dest="jsonl:" + out)
    t.is_(r.rc, 0, "a first load into jsonl:DIR exits 0")
    for a in more.NEW_ASSETS:
        with open(os.path.join(out, a + ".jsonl")) as f:
            got = [json.loads(x) for x in f if x.strip()]
        want = sim.dump(a)
        t.is_(len(got), len(want), "%s.jsonl: %d records" % (a, len(want)))
        got = {x["id"]: x for x in got}
        t.ok(sorted(got) == sorted(x["id"] for x in want)
             and all(got[x["id"]] == x and landed._same_types(got[x["id"]], x) for x in want),
             "%s.jsonl: every record value-equal, types included" % a)

    # Intercom changes: 25 new logs in one second (two pages' worth), and
    # records it no longer has linger in every replaced table.
    added = sim.control("POST", "/_sim/activity_logs", {"count": 25})
    con = sqlite3.connect(ws.db)
    for a in more.REPLACED:
        con.execute('insert into "%s" (id) values (?)' % a, ("gone-" + a,))
    con.commit()
    con.close()
    sim.reset_stats()
    before = len(sim.request_log())
    r = ws.run(*scripts)
    t.is_(r.rc, 0, "the second run exits 0")
    for a in more.NEW_ASSETS:
        landed.compare(t, ws.db, a, sim.dump(a), name=a + " after changes")
    q = [x["query"] for x in sim.request_log()[before:] if x["path"] == "/admins/activity_logs"]
    bound = newest - more.LOOKBACK - 1
    t.is_(q[0].get("created_at_after") if q else None, [str(bound)],
          "the second run reads logs after cursor - lookback - 1 s")
    t.is_(len(q), more.pages_for(len(more.logs_from(sim, bound + 1))),
          "and only the pages from there (%d requests)" % len(q))
    t.is_(int(state(ws.db).get("activity_logs", 0)), added["created_at"], "the cursor moved to the new logs")

# --since on a first load, at a second several logs share: every one of
# them lands (the exclusive bound is one second earlier), none older.
with Sim(activity_logs=60, seed=72) as sim, Workspace(sim, name="0701-since") as ws:
    ts = [x["created_at"] for x in sim.dump("activity_logs")]
    tied = sorted(x for x in set(ts) if ts.count(x) > 1)
    t.ok(tied, "some logs share a second")
    since = tied[len(tied) // 2]
    r = ws.run(ws.script("activity_logs"), "--since", str(since))
    t.is_(r.rc, 0, "a first load with --since exits 0")
    t.is_(more.log_requests(sim)[0].get("created_at_after"), [str(since - 1)],
          "--since S asks for created_at_after=S-1")
    landed.compare(t, ws.db, "activity_logs", more.logs_from(sim, since), name="activity_logs since a tied second")

t.done_testing()
