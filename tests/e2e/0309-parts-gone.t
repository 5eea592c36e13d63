#!/usr/bin/python3
"""conversation_parts: a conversation deleted between the search and its GET
(404) is skipped, not fatal; every other conversation's parts land."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

with Sim(conversations=25, contacts=20, seed=17) as sim, Workspace(sim) as ws:
    gone = sim.dump("conversations")[3]["id"]
    sim.control("POST", "/_sim/fault", {"path": "/conversations/" + gone, "status": 404, "count": 1})
    r = ws.run("conversation_parts", "-v")
    t.is_(r.rc, 0, "a 404 on one conversation does not fail the run")
    t.ok(("conversation %s is gone" % gone) in r.err, "-v says which conversation was skipped")
    shown, counts = landed.conversation_parts_truth(sim)
    landed.compare(t, ws.db, "conversation_parts", [p for p in shown if p["conversation_id"] != gone],
                   name="parts of every other conversation")
    landed.compare(t, ws.db, "conversation_part_counts",
                   [c for c in counts if c["conversation_id"] != gone], ("conversation_id",))

t.done_testing()
