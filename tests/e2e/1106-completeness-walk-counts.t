#!/usr/bin/python3
"""The completeness check after a sliced first load takes each closed
window a slice covered exactly from that slice's first page (its
total_count, of the very query the slice walked, answered before any of its
keys was read), so it sends no count for it; the run's requests are the
pages, GET /me and the survey's two counts, plus at most one count for the
closed stretch the newest slice holds. A window whose slice came back
short is still asked and healed, and where slices share a day (a workspace
at UTC+12, where noon UTC is midnight: see Search:edge) every window is
asked, as before."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402

N = 3000


def load(sim, ws, name):
    """A first load of contacts: (exit, completeness event, contact searches)."""
    before = len(sim.request_log())
    r = ws.run("contacts", "--log-format", "json", dest=os.path.join(ws.dir, name + ".db"))
    log = sim.request_log()[before:]
    events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    comp = [e for e in events if e.get("event") == "completeness"]
    return r.rc, comp[0] if comp else {}, log


def counts(log):
    return sum(1 for x in log if isinstance(x.get("body"), dict)
               and x["body"].get("pagination", {}).get("per_page") == 1)


with Sim(contacts=N, seed=23, latency_ms=10, recent_share=0.6, recent_days=3) as sim, \
        Workspace(sim) as ws:
    rc, c, log = load(sim, ws, "utc")
    t.is_(rc, 0, "a sliced first load exits 0")
    t.ok(c.get("complete") and c.get("missing") == 0, "complete (%s)" % c)
    t.ok(c.get("walk_counts", 0) >= 2, "%d of %d windows counted by the slices' first pages"
         % (c.get("walk_counts", 0), c.get("windows", 0)))
    asked = c.get("windows", 0) - c.get("walk_counts", 0)
    t.ok(asked <= 1 and c.get("requests") == asked,
         "the check asked %d count(s) and cost %s requests" % (asked, c.get("requests")))
    t.is_(counts(log), 2 + asked, "per_page=1 searches: the survey's 2 and the check's %d" % asked)
    pages = -(-N // 150)
    slices = sum(1 for x in log if isinstance(x.get("body"), dict) and x["body"]["pagination"].get("per_page") == 150
                 and "starting_after" not in x["body"]["pagination"])
    t.ok(len(log) <= 1 + 2 + asked + pages + slices - 1,
         "%d requests: GET /me, 2 counts, %d asked, %d pages and at most a partial page per slice past the first "
         "(%d slices)" % (len(log), asked, pages, slices))

    # A contact of an old slice comes back missing once: that slice's first
    # page counted it, so the window is asked again and healed.
    cut = time.time() - 30 * 86400
    old = sorted((x for x in sim.dump("contacts") if x["updated_at"] < cut), key=lambda x: x["updated_at"])
    lost = old[len(old) // 2]["id"]
    sim.control("POST", "/_sim/drop", {"asset": "contacts", "ids": [lost], "times": 1})
    rc, c, log = load(sim, ws, "drop")
    t.is_((rc, c.get("healed"), c.get("missing")), (0, 1, 0), "a slice short by one: asked, healed, exit 0 (%s)" % c)
    t.ok(c.get("requests", 0) > c.get("windows", 0) - c.get("walk_counts", 0),
         "the short window was asked and walked again (%s requests)" % c.get("requests"))

with Sim(contacts=N, seed=23, latency_ms=10, recent_share=0.6, recent_days=3,
         timezone="Asia/Kamchatka") as sim, Workspace(sim) as ws:
    rc, c, log = load(sim, ws, "kamchatka")
    t.ok(rc == 0 and c.get("complete"), "UTC+12: complete, exit 0")
    t.ok(c.get("walk_counts") == 0 and c.get("requests") == c.get("windows") >= 1,
         "UTC+12: slices share their edge days, so every window is asked (%s)" % c)
t.done_testing()
