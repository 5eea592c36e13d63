#!/usr/bin/python3
"""Companies past the 10,000 that POST /companies/list can reach, walked by
scroll while a stale scroll is still open when icx starts."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

with Sim(companies=10120, contacts=50, conversations=1, tickets=1, articles=1,
         seed=3) as sim, Workspace(sim) as ws:
    sim.control("POST", "/_sim/stale_scroll", {"expires_in": 3})
    r = ws.run("companies")
    t.is_(r.rc, 0, "companies run exits 0 despite the stale scroll")
    t.ok("scroll" in r.err, "waiting for the stale scroll is visible on stderr")
    by_status = sim.stats()["by_status"]
    t.ok(by_status.get("400", by_status.get(400, 0)) >= 1, "the sim answered scroll_exists at least once")
    t.is_(sim.stats()["by_path"].get("/companies/list", 0), 0, "the capped list endpoint is not used")
    landed.compare(t, ws.db, "companies", sim.dump("companies"))

    # A 500 mid-scroll means restart from the beginning; nothing is lost.
    sim.control("POST", "/_sim/fault", {"path": "/companies/scroll", "status": 500, "count": 1})
    sim.control("POST", "/_sim/mutate", {"asset": "companies", "count": 7})
    r = ws.run("companies")
    t.is_(r.rc, 0, "a scroll that hits a 500 restarts and completes")
    landed.compare(t, ws.db, "companies", sim.dump("companies"), name="companies after a restarted scroll")

t.done_testing()
