#!/usr/bin/python3
"""No false alarms: a first load and an incremental run on a moving
workspace (records changed and created while the walks run, contacts
indexed seconds late, a workspace timezone far from UTC) report complete
and exit 0; nothing is re-walked, and the check costs one request per
window not counted by the load's own first pages, at most 2% of a first
load's requests."""
import json
import os
import threading
import time

import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(HERE, "..", "lib")]
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402

ASSETS = ("contacts", "conversations", "tickets")


def moving(sim, stop):
    """Changes and creates records until stop is set."""
    i = 0
    while not stop.is_set():
        asset = ASSETS[i % 3]
        sim.control("POST", "/_sim/mutate", {"asset": asset, "count": 3})
        sim.control("POST", "/_sim/mutate", {"asset": asset, "count": 2, "same_day": True})
        sim.control("POST", "/_sim/create", {"asset": asset, "count": 2})
        i += 1
        time.sleep(0.05)


def run_moving(sim, ws, *args):
    stop = threading.Event()
    th = threading.Thread(target=moving, args=(sim, stop))
    th.start()
    try:
        r = ws.run(*(ASSETS + args + ("--log-format", "json")))
    finally:
        stop.set()
        th.join()
    events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    return r, {e["asset"]: e for e in events if e.get("event") == "completeness"}, \
        [e for e in events if e.get("event") == "incomplete"]


with Sim(contacts=3000, conversations=400, tickets=900, seed=41, index_lag=3, latency_ms=15,
         timezone="Pacific/Auckland") as sim, Workspace(sim) as ws:
    r, comp, inc = run_moving(sim, ws, "-j", "3")
    t.is_(r.rc, 0, "a first load on a moving workspace exits 0")
    t.is_(inc, [], "no incomplete event")
    for a in ASSETS:
        c = comp.get(a, {})
        t.ok(c.get("complete") is True and c.get("missing") == 0 and c.get("healed") == 0,
             "%s: complete, nothing missing, nothing re-walked (%s)" % (a, c))
        # A window a slice's first page counted costs nothing (walk_counts).
        asked = c.get("windows", 0) - c.get("walk_counts", 0)
        t.ok(c.get("windows", 0) >= 1 and c["requests"] == asked
             and asked <= max(1, c["load_requests"] * 0.02),
             "%s: one request per window asked, %d of %d windows for a load of %d requests" % (
                 a, asked, c.get("windows", 0), c.get("load_requests", 0)))

    time.sleep(1)
    r, comp, inc = run_moving(sim, ws)
    t.is_(r.rc, 0, "an incremental run on a moving workspace exits 0")
    t.is_(inc, [], "no incomplete event")
    for a in ASSETS:
        c = comp.get(a, {})
        t.ok(c.get("missing") == 0 and c.get("healed") == 0 and c.get("requests", 99) <= 2,
             "%s: complete, at most 2 requests (%s)" % (a, c.get("requests")))
t.done_testing()
