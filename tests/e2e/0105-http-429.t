#!/usr/bin/python3
"""429 waits for what the server says: Retry-After when given, else
X-RateLimit-Reset; the retry comes no earlier (checked against the sim's
request log, a lower bound only), is counted as rate_limited, and a 429
that never clears fails with code "rate_limited"."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

CURSOR = ("--style", "cursor", "--path", "/contacts", "--per-page", "10", "--verbose")


def gap_after_429(sim):
    """Seconds between the last 429 on /contacts and the request after it."""
    log = icxtest.requests_to(sim, "/contacts")
    for a, b in zip(log, log[1:]):
        if a["status"] == 429:
            last = b["time"] - a["time"]
    return last


with Sim(contacts=25, seed=5) as sim, icxtest.Case("0105-http-429", sim) as case:
    sim.fault(path="/contacts", status=429, retry_after=1, count=1)
    r = case.lua("walk.lua", *CURSOR)
    rep = r.json()
    t.ok(rep["ok"], "429 with Retry-After: the walk completes")
    t.is_((rep["stats"]["rate_limited"], rep["stats"]["retries"]), (1, 1), "one 429, one retry")
    t.is_(len(rep.get("ids") or []), 25, "every record")
    t.ok("429, Retry-After" in r.err, "-v says it waits for Retry-After")
    t.ok(gap_after_429(sim) >= 0.95, "the retry came after Retry-After (1 s)")

    sim.fault(path="/contacts", status=429, reset_in=2, count=1)
    r = case.lua("walk.lua", *CURSOR)
    rep = r.json()
    t.ok(rep["ok"], "429 with only X-RateLimit-Reset: the walk completes")
    t.is_(rep["stats"]["rate_limited"], 1, "counted as rate_limited")
    t.ok("429, X-RateLimit-Reset" in r.err, "-v says it waits for X-RateLimit-Reset")
    # The header is whole seconds: int(now + 2) is at least 1 s away.
    t.ok(gap_after_429(sim) >= 0.95, "the retry came after the reset")

    sim.fault(path="/contacts", status=429, retry_after=0, count=10)
    rep = case.lua("walk.lua", *CURSOR, "--attempts", "3").json()
    sim.control("POST", "/_sim/clear_faults")
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("code"), err.get("status")), (False, "rate_limited", 429),
          "a 429 that never clears: code rate_limited")
    t.is_(rep["stats"]["rate_limited"], 3, "every 429 counted")
    t.is_(sim.stats()["rate_limited"], 0, "the sim's own limiter never fired")

t.done_testing()
