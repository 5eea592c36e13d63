#!/usr/bin/python3
"""The completeness check after a load, on SQLite and PostgreSQL: search
pages that silently come back short (the simulator's /_sim/drop: total_count
still counts the records) are healed in the same run when the records are
reachable, and reported with exit 5 naming the asset and the count when
they are not; on a first load and on an incremental run. Every window
checked is a row of _icx_completeness, and icx status shows the last check."""
import json
import os
import re
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(HERE, "..", "lib")]
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402


class Lite:
    name = "sqlite"

    def __init__(self, ws):
        self.uri = os.path.join(ws.dir, "heal.db")

    def q(self, sql, *args):
        con = sqlite3.connect(self.uri)
        try:
            rows = con.execute(sql, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()


class Pg:
    name = "postgresql"

    def __init__(self, server):
        self.uri = server.uri(schema="heal")
        self.con = server.connect()
        self.con.autocommit = True

    def q(self, sql, *args):
        cur = self.con.cursor()
        cur.execute(sql.replace("?", "%s").replace("FROM ", "FROM heal."), args)
        return cur.fetchall() if cur.description else []


def old(sim, asset, n, days=3):
    """n ids of records last updated more than `days` days ago."""
    cut = time.time() - days * 86400
    recs = sorted((r for r in sim.dump(asset) if r["updated_at"] < cut), key=lambda r: r["updated_at"])
    return [r["id"] for r in recs[len(recs) // 3:len(recs) // 3 + n]]


def icx(ws, *args):
    """icx COMMAND --config ... ARGS (Workspace.run is icx run's)."""
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]))


def ids(dest, table):
    return {r[0] for r in dest.q("SELECT id FROM %s" % table)}


def case(make, name):
    with Sim(contacts=700, tickets=400, seed=31) as sim, Workspace(sim, name="1101-" + name) as ws:
        dest = make(ws)
        # A first load: three contacts come back missing once (reachable),
        # two tickets every time (not reachable).
        heal = old(sim, "contacts", 3)
        lost = old(sim, "tickets", 2)
        sim.control("POST", "/_sim/drop", {"asset": "contacts", "ids": heal, "times": 1})
        sim.control("POST", "/_sim/drop", {"asset": "tickets", "ids": lost, "times": None})
        r = ws.run("contacts", "tickets", "--log-format", "json", "--summary-json", "-", dest=dest.uri)
        t.is_(r.rc, 5, "%s: first load: exit 5 when records cannot be found" % dest.name)
        events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
        inc = [e for e in events if e.get("event") == "incomplete"]
        t.is_(sorted({(e["asset"]) for e in inc}), ["tickets"], "%s: an incomplete event names tickets" % dest.name)
        t.is_(sum(e["missing"] for e in inc), 2, "%s: and 2 missing" % dest.name)
        comp = {e["asset"]: e for e in events if e.get("event") == "completeness"}
        t.is_((comp["contacts"]["complete"], comp["contacts"]["healed"]), (True, 3),
              "%s: contacts: complete, 3 healed in the same run" % dest.name)
        t.is_((comp["tickets"]["complete"], comp["tickets"]["missing"]), (False, 2),
              "%s: tickets: incomplete, 2 missing" % dest.name)
        for a in ("contacts", "tickets"):
            c = comp[a]
            asked = c["windows"] - c["walk_counts"]
            t.ok(asked <= max(1, c["load_requests"] * 0.02) and c["requests"] >= asked,
                 "%s: %s: %d windows asked for a load of %d requests; the check and its heal cost %d" % (
                     dest.name, a, asked, c["load_requests"], c["requests"]))
        t.ok(set(heal) <= ids(dest, "contacts"), "%s: the healed contacts landed" % dest.name)
        t.is_(len(ids(dest, "contacts")), 700, "%s: every contact landed" % dest.name)
        summary = json.loads(r.out)
        t.is_((summary["exit_code"], summary["status"]), (5, "incomplete"), "%s: the summary says so" % dest.name)
        rows = dest.q("SELECT asset, expected, landed, healed FROM _icx_completeness")
        t.ok(any(a == "tickets" and e - la == 2 for a, e, la, _ in rows),
             "%s: _icx_completeness has the short ticket window" % dest.name)
        t.ok(sum(h for a, _, _, h in rows if a == "contacts") == 3, "%s: and the contacts healed" % dest.name)
        st = icx(ws, "status", "--dest", dest.uri)
        line = [x for x in st.out.splitlines() if " tickets " in x]
        t.ok(line and "INCOMPLETE: 2 missing" in line[0], "%s: icx status shows the last check" % dest.name)

        # An incremental run: the newest ticket is gone from the destination
        # and its search pages drop it once (reachable), then always.
        sim.control("POST", "/_sim/clear_faults", {})
        newest = max(sim.dump("tickets"), key=lambda x: x["updated_at"])
        t.ok(newest["updated_at"] < time.time() - 7200, "%s: the newest ticket is settled" % dest.name)
        sim.control("POST", "/_sim/drop", {"asset": "tickets", "ids": [newest["id"]], "times": 1})
        dest.q("DELETE FROM tickets WHERE id = ?", newest["id"])
        r = ws.run("tickets", "--log-format", "json", dest=dest.uri)
        events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
        comp = [e for e in events if e.get("event") == "completeness"][0]
        # The two always-dropped tickets are older than this run's windows.
        t.is_((r.rc, comp["healed"], comp["missing"]), (0, 1, 0),
              "%s: incremental: the lost ticket is healed, exit 0" % dest.name)
        t.ok(comp["requests"] <= 6, "%s: incremental: a handful of requests (%d)" % (dest.name, comp["requests"]))
        t.ok(newest["id"] in ids(dest, "tickets"), "%s: the ticket is back" % dest.name)

        sim.control("POST", "/_sim/drop", {"asset": "tickets", "ids": [newest["id"]], "times": None})
        dest.q("DELETE FROM tickets WHERE id = ?", newest["id"])
        r = ws.run("tickets", dest=dest.uri)
        t.is_(r.rc, 5, "%s: incremental, not reachable: exit 5" % dest.name)
        t.ok(re.search(r"tickets: INCOMPLETE: 1 record missing in window \S+: Intercom counts", r.err),
             "%s: a line names the asset, the window and the count" % dest.name)
        t.ok(re.search(r"tickets: INCOMPLETE: 1 record missing in 1 of \d+ windows?; the check cost \d+ requests",
                       r.err), "%s: and the check's cost" % dest.name)


case(Lite, "sqlite")
if pgserver.available():
    with pgserver.PgServer() as server:
        case(lambda ws: Pg(server), "pg")
else:
    t.ok(False, "PostgreSQL server binaries or psycopg2 missing: the postgresql case is untested")
t.done_testing()
