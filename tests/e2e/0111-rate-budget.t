#!/usr/bin/python3
"""The shared rate budget follows the server: with a window limit far below
what four concurrent walks want, icx learns the limit from X-RateLimit-*
and sends zero requests into a 429; when the limit drops suddenly mid-run
(POST /_sim/rate), at most a few 429s follow and the run completes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

# The connection keeps the default rate_limit (166 per 10 s): what the bucket
# knows about the lower limit it learns from the responses.
with Sim(contacts=60, rate=8, seed=12) as sim, icxtest.Case("0111-rate-budget", sim) as case:
    rep = case.lua("walk.lua", "--style", "cursor", "--path", "/contacts", "--per-page", "20",
                   "--walks", "4").json()
    st = sim.stats()
    t.ok(rep["ok"], "four walks over an 8-per-window budget complete")
    t.is_([w["records"] for w in rep["walks"]], [60] * 4, "every walk got every record")
    t.is_(st["total"], 12, "12 requests: 4 walks x 3 pages, no retries")
    t.is_(st["rate_limited"], 0, "zero 429s")

with Sim(contacts=40, rate=30, seed=13) as sim, icxtest.Case("0111-rate-drop", sim) as case:
    rep = case.lua("walk.lua", "--style", "cursor", "--path", "/contacts", "--per-page", "10",
                   "--walks", "4", "--after-page", "1", "/_sim/rate", '{"limit": 8}').json()
    st = sim.stats()
    t.ok(rep["ok"], "a sudden drop from 30 to 8 per window: the run completes")
    t.is_([w["records"] for w in rep["walks"]], [40] * 4, "every walk got every record")
    t.ok(st["rate_limited"] <= 4, "at most a few 429s after the drop (%d)" % st["rate_limited"])
    t.is_(rep["stats"]["rate_limited"], st["rate_limited"], "the client counted each 429")

t.done_testing()
