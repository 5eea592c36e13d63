#!/usr/bin/python3
"""Many requests in flight: four walks as four tasks in one process, with
100 ms of simulated latency per request, are in flight together (the sim's
max_in_flight reaches 4) and take well under the sum of their own durations;
run one after the other they never overlap. Every walk gets every record."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

WALK = ("--style", "cursor", "--path", "/contacts", "--per-page", "10", "--walks", "4")

with Sim(contacts=50, latency_ms=100, seed=10) as sim, icxtest.Case("0109-concurrency", sim) as case:
    sim.reset_stats()
    rep = case.lua("walk.lua", *WALK).json()
    st = sim.stats()
    t.ok(rep["ok"], "four concurrent walks complete")
    t.is_([w["records"] for w in rep["walks"]], [50, 50, 50, 50], "each walk got every record")
    t.ok(st["max_in_flight"] >= 4, "the sim saw >= 4 requests in flight (%d)" % st["max_in_flight"])
    t.is_(st["total"], 4 * 5, "5 pages per walk, nothing more")
    total = sum(w["seconds"] for w in rep["walks"])
    t.ok(rep["wall"] < 0.6 * total,
         "wall time %.2f s is well under the sum of the walks %.2f s" % (rep["wall"], total))

    sim.reset_stats()
    rep = case.lua("walk.lua", *WALK, "--sequential").json()
    st = sim.stats()
    t.ok(rep["ok"], "the same walks one after the other complete")
    t.is_(st["max_in_flight"], 1, "sequential walks never overlap")
    t.ok(len({a for a in st["user_agents"]}) == 1, "one User-Agent throughout")

t.done_testing()
