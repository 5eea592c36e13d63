#!/usr/bin/python3
"""A run that fails mid-walk: the pages that committed stay, the cursor stays
with the last committed page, the other assets land regardless, the exit code
is 1 with a message naming the asset and Intercom's request id, and _icx_runs
says what happened. The next run resumes and nothing is lost."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

FAST = "      max_attempts: 3\n      retry_base: 0.05\n      retry_cap: 0.2\n"

def invariant(name):
    """Nothing below the stored cursor is missing (records equal to it may
    sit on the next page; the next run reads from the cursor inclusive), and
    what landed equals the simulator's truth."""
    con = sqlite3.connect(ws.db)
    cur = con.execute("select value from _icx_state where asset = ?", (name,)).fetchone()
    have = {r[0] for r in con.execute('select id from "%s"' % name)}
    con.close()
    truth = sim.dump(name)
    below = [x for x in truth if cur and x["updated_at"] < int(cur[0])]
    t.ok(all(x["id"] in have for x in below),
         "%s: every record below the cursor (%s) landed (%d of them)" % (name, cur and cur[0], len(below)))
    got = landed.rows(ws.db, name, ("id",))
    t.ok(all(landed.cell_matches(c, got[(x["id"],)][c], v) for x in truth if (x["id"],) in got
             for c, v in x.items()), "%s: what landed equals the truth" % name)
    return cur, len(have)


with Sim(tickets=700, contacts=150, seed=13) as sim, Workspace(sim, extra=FAST) as ws:
    # A few requests go through (the slice survey, up to 6, and a page),
    # then every attempt fails: whichever time slices had pages keep them.
    sim.control("POST", "/_sim/fault", {"path": "/tickets/search", "status": 503,
                                        "count": 100, "after": 7})
    r = ws.run("tickets", "contacts", "tags")
    t.is_(r.rc, 1, "a failed asset makes the run exit 1")
    t.ok("scripts/tickets.lua: failed" in r.err, "stderr names the failed script")
    t.ok("503" in r.err and "request_id" in r.err, "and the status and Intercom's request id")
    cur, n = invariant("tickets")
    t.ok(n < 700, "the run stopped part-way (%d of 700 tickets)" % n)

    con = sqlite3.connect(ws.db)
    runs = {a: (s, rows, e) for a, s, rows, e in
            con.execute("select asset, status, rows, error from _icx_runs")}
    t.is_(runs["tickets"][0], "failed", "_icx_runs: tickets failed")
    t.ok("503" in (runs["tickets"][2] or ""), "_icx_runs keeps the error message")
    # rows counts rows written: contact search is day-granular, so time
    # slices re-read the contacts of the days at their edges (how many
    # depends on the hour the sim's data is made at); the table itself is
    # checked exact below.
    t.ok(runs["contacts"][0] == "ok" and 150 <= runs["contacts"][1] <= 200,
         "_icx_runs: contacts ok with its rows (%r: 150 and the day edges re-read)" % (runs["contacts"][:2],))
    con.close()
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts landed despite tickets failing")
    landed.compare(t, ws.db, "tags", sim.dump("tags"), name="tags landed despite tickets failing")
    sim.control("POST", "/_sim/clear_faults", {})

    r = ws.run("tickets")
    t.is_(r.rc, 0, "the next run succeeds")
    landed.compare(t, ws.db, "tickets", sim.dump("tickets"), name="tickets after resuming")

    # A replace asset that fails keeps its old table whole.
    sim.control("POST", "/_sim/fault", {"path": "/tags", "status": 500, "count": 3})
    r = ws.run("tags")
    t.is_(r.rc, 1, "a failed replace run exits 1")
    landed.compare(t, ws.db, "tags", sim.dump("tags"), name="tags untouched by the failed replace")

# A malformed page (bad JSON from Intercom or a proxy) stops the asset with
# a json error naming the URL; what committed before it stays.
with Sim(contacts=400, seed=14) as sim, Workspace(sim, extra=FAST) as ws:
    sim.control("POST", "/_sim/fault", {"path": "/contacts/search", "kind": "bad_json",
                                        "count": 1, "after": 1})
    r = ws.run("contacts", "-j", "1")  # one walk: the first page is page one
    t.is_(r.rc, 1, "a malformed page makes the run exit 1")
    t.ok("/contacts/search" in r.err and "json" in r.err.lower(), "the error names the URL and JSON")
    con = sqlite3.connect(ws.db)
    t.is_(con.execute("select count(*) from contacts").fetchone()[0], 150, "the first page stayed")
    top = con.execute("select max(updated_at) from contacts").fetchone()[0]
    cur = con.execute("select value from _icx_state where asset = 'contacts'").fetchone()
    t.is_(int(cur[0]), top, "the cursor stayed with the first page")
    con.close()
    r = ws.run("contacts", "--full-refresh", "-j", "1")
    t.is_(r.rc, 0, "--full-refresh afterwards succeeds")
    t.is_(sim.stats()["by_path"].get("/contacts/search"), 2 + 3 + 1,
          "--full-refresh re-read every page from the start (2 before, 3 now, 1 completeness count)")
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts after --full-refresh")

t.done_testing()
