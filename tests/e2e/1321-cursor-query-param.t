#!/usr/bin/python3
"""A custom asset whose lower bound is a query parameter (issue 23):
examples/admin_activity.lua reads GET /admins/activity_logs with
since_param = created_at_after. A first run sends since_default (0) and lands
every log value by value; the second run sends the stored cursor less the
lookback and a second, lands the new logs and only pages from there; icx plan
shows the same request; a script's query.per_page is sent as given."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Case, ICX, Workspace, ROOT  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import more_assets as more  # noqa: E402
import tap as t  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "admin_activity.lua")
LOOKBACK = 600  # the example's "10 minutes"


def cursor(db):
    con = sqlite3.connect(db)
    try:
        row = con.execute("select value from _icx_state where asset = 'admin_activity'").fetchone()
        return int(row[0]) if row else None
    finally:
        con.close()


with Sim(activity_logs=53, seed=1321) as sim, Workspace(sim) as ws:
    logs = sim.dump("activity_logs")
    r = ws.run(EXAMPLE)
    t.is_(r.rc, 0, "a first run of examples/admin_activity.lua exits 0")
    landed.compare(t, ws.db, "admin_activity", logs, name="every log, value by value")
    q = more.log_requests(sim)
    t.is_(q[0].get("created_at_after") if q else None, ["0"], "the first run sends since_default: created_at_after=0")
    t.is_(len(q), more.pages_for(len(logs)), "one request per page of 20 (%d)" % len(q))
    newest = max(x["created_at"] for x in logs)
    t.is_(cursor(ws.db), newest, "the cursor is the newest created_at")

    r = Case.run(ws, [ICX, "plan", "--config", ws.config, "--dest", ws.db, EXAMPLE])
    bound = newest - LOOKBACK - 1
    t.ok(r.rc == 0 and ("created_at_after=%d" % bound) in r.out,
         "icx plan shows the next run's created_at_after=%d" % bound)

    added = sim.control("POST", "/_sim/activity_logs", {"count": 25})
    before = len(sim.request_log())
    r = ws.run(EXAMPLE)
    t.is_(r.rc, 0, "the second run exits 0")
    q = [x["query"] for x in sim.request_log()[before:] if x["path"] == "/admins/activity_logs"]
    t.is_(q[0].get("created_at_after") if q else None, [str(bound)],
          "the second run sends the cursor: created_at_after = cursor - lookback - 1 s")
    t.is_(len(q), more.pages_for(len(more.logs_from(sim, bound + 1))), "and reads only the pages from there")
    landed.compare(t, ws.db, "admin_activity", sim.dump("activity_logs"), name="the new logs landed, value by value")
    t.is_(cursor(ws.db), added["created_at"], "the cursor moved to the new logs")

    # A script's own query parameters are sent as given (issue 23: per_page
    # used to be overwritten with the helper's 150).
    script = os.path.join(ws.dir, "small_pages.lua")
    with open(script, "w") as f:
        f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
                'return icx.asset { name = "small_pages", primary_key = "id", mode = "replace",\n'
                '  pages = intercom.list("/help_center/collections", { query = { per_page = 7 } }) }\n')
    before = len(sim.request_log())
    r = ws.run(script)
    t.is_(r.rc, 0, "a list with query.per_page = 7 exits 0")
    q = [x["query"] for x in sim.request_log()[before:] if x["path"] == "/help_center/collections"]
    t.ok(q and all(x.get("per_page") == ["7"] for x in q), "every request sends per_page=7 (%s)" % q[:1])
    landed.compare(t, ws.db, "small_pages", sim.dump("collections"), name="collections in pages of 7")

t.done_testing()
