#!/usr/bin/python3
"""icx run -j: assets run at once by default (the simulator sees several
requests in flight), one at a time with -j 1; both land the same rows."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

ASSETS = ["tags", "segments", "teams", "admins", "tickets", "articles"]

for jobs, check in ((None, lambda n: n >= 4), ("1", lambda n: n == 1)):
    with Sim(tickets=300, articles=300, seed=19, latency_ms=100) as sim, Workspace(sim) as ws:
        args = list(ASSETS) + (["-j", jobs] if jobs else [])
        r = ws.run(*args)
        label = "-j " + jobs if jobs else "default -j"
        t.is_(r.rc, 0, "%s: exit 0" % label)
        peak = sim.stats()["max_in_flight"]
        t.ok(check(peak), "%s: %d requests in flight at peak" % (label, peak))
        for a in ("tickets", "articles", "tags"):
            landed.compare(t, ws.db, a, sim.dump(a), name="%s (%s)" % (a, label))

t.done_testing()
