#!/usr/bin/python3
"""PostgreSQL: issue 19's standalone assets (ticket_types, ticket_states,
help_centers, collections, subscription_types, activity_logs) land exactly
the simulator's dumps by icx.pg's type mapping after a first load, and
again after new activity logs (and rows of records Intercom no longer has)
and an incremental run that reads the logs from the cursor minus the
lookback minus one second; the cursor lives in _icx_state."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import more_assets as more  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)


def cursor(cur):
    cur.execute("select value::text from intercom._icx_state where asset = 'activity_logs'")
    row = cur.fetchone()
    return int(row[0]) if row else None


with pgserver.PgServer() as pg, Sim(activity_logs=73, collections=37, seed=71) as sim, \
        Workspace(sim) as ws:
    uri = pg.uri(schema="intercom")
    scripts = [ws.script(a) for a in more.NEW_ASSETS]
    r = ws.run(*scripts, dest=uri)
    t.is_(r.rc, 0, "a first load of the six assets into PostgreSQL exits 0")
    con = pg.connect()
    cur = con.cursor()
    for a in more.NEW_ASSETS:
        landed_pg.compare(t, con, a, sim.dump(a), schema="intercom")
    logs = sim.dump("activity_logs")
    q = more.log_requests(sim)
    t.is_(q[0].get("created_at_after") if q else None, ["0"], "a first load reads from created_at_after=0")
    t.is_(len(q), more.pages_for(len(logs)), "activity_logs: %d logs in %d requests" % (len(logs), len(q)))
    newest = max(x["created_at"] for x in logs)
    t.is_(cursor(cur), newest, "the cursor is the newest created_at")

    added = sim.control("POST", "/_sim/activity_logs", {"count": 25})
    for a in more.REPLACED:
        cur.execute('insert into intercom."%s" (id) values (%%s)' % a, ("gone-" + a,))
    con.commit()
    before = len(sim.request_log())
    r = ws.run(*scripts, dest=uri)
    t.is_(r.rc, 0, "the incremental run exits 0")
    for a in more.NEW_ASSETS:
        landed_pg.compare(t, con, a, sim.dump(a), name=a + " after changes", schema="intercom")
    q = [x["query"] for x in sim.request_log()[before:] if x["path"] == "/admins/activity_logs"]
    bound = newest - more.LOOKBACK - 1
    t.is_(q[0].get("created_at_after") if q else None, [str(bound)],
          "the incremental run reads logs after cursor - lookback - 1 s")
    t.is_(len(q), more.pages_for(len(more.logs_from(sim, bound + 1))),
          "and only the pages from there (%d requests)" % len(q))
    t.is_(cursor(cur), added["created_at"], "the cursor moved to the new logs")
    cur.execute("select count(*), count(*) filter (where status = 'ok') from intercom._icx_runs")
    n = 2 * len(more.NEW_ASSETS)
    t.is_(cur.fetchone(), (n, n), "one ok _icx_runs row per asset per run")
    con.close()

t.done_testing()
