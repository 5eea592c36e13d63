#!/usr/bin/python3
"""A 429 with Retry-After: 1 pauses the run for about a second, not for the
rest of the rate window its X-RateLimit-Reset names: every walk at once
waits the second (the shared budget holds), then goes on with what the
window has left. Measured in the simulator's request log (request arrival
times), with a generous bound, not with a timer around the run."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

with Sim(contacts=3000, seed=41, latency_ms=30) as sim, Workspace(sim) as ws:
    # Past the slice survey, so slices are walking at once; the window it
    # names ends 9 s later, which is what the old handling waited for.
    sim.fault(path="/contacts/search", status=429, retry_after=1, reset_in=9, count=1, after=10)
    r = ws.run("contacts", "-v")
    t.is_(r.rc, 0, "the run completes")
    t.ok("429, Retry-After" in r.err, "-v says it waited for Retry-After")
    log = [x for x in sim.request_log() if x["path"] == "/contacts/search"]
    at = [x["time"] for x in log if x["status"] == 429]
    t.is_(len(at), 1, "one 429")
    after = [x["time"] for x in log if x["time"] >= at[0]]
    gaps = [b - a for a, b in zip(after, after[1:])]
    longest = max(gaps) if gaps else 0
    t.ok(len(after) > 5, "walks went on after the 429 (%d requests)" % len(after))
    t.ok(0.8 <= longest <= 2.5, "the longest pause after it is about a second: %.2f s (not the 9 s "
         "left in the window)" % longest)
    retry = [b for b in after[1:] if b - at[0] >= 0.95]
    t.ok(retry and retry[0] - at[0] <= 2.5, "the first request past the pause came %.2f s after the 429"
         % ((retry[0] - at[0]) if retry else -1))
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"))

t.done_testing()
