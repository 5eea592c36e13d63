#!/usr/bin/python3
"""Retries on 500, 502, 503 and 504: two failures then success completes the
walk with exactly two retries; a status that never clears gives up after
the configured attempts with Intercom's code and the request_id; a search
POST (read-only) is retried too."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

CURSOR = ("--style", "cursor", "--path", "/contacts", "--per-page", "10")

with Sim(contacts=25, seed=3) as sim, icxtest.Case("0103-retry-5xx", sim) as case:
    want = sorted(x["id"] for x in sim.dump("contacts"))
    for status in (500, 502, 503, 504):
        sim.fault(path="/contacts", status=status, count=2)
        before = sim.stats()["by_status"].get(str(status), 0)
        rep = case.lua("walk.lua", *CURSOR).json()
        t.ok(rep["ok"], "%d twice, then 200: the walk completes" % status)
        t.is_(rep["stats"]["retries"], 2, "%d: two retries" % status)
        t.is_(rep["stats"]["requests"], 5, "%d: 3 pages + 2 retries sent" % status)
        t.is_(sim.stats()["by_status"].get(str(status), 0) - before, 2, "%d: the sim saw two" % status)
        t.is_(sorted(rep.get("ids") or []), want, "%d: no record lost or repeated" % status)

    sim.fault(path="/contacts", status=503, count=10)
    rep = case.lua("walk.lua", *CURSOR, "--attempts", "3").json()
    err = rep.get("error") or {}
    t.ok(not rep["ok"], "503 that never clears: the walk fails")
    t.is_(rep["stats"]["requests"], 3, "503: gave up after 3 attempts")
    t.is_((err.get("kind"), err.get("status"), err.get("code")), ("http", 503, "service_unavailable"),
          "503: http error with Intercom's code")
    t.ok("after 3 attempts" in err.get("text", "") and "request_id" in err.get("text", ""),
         "503: the message says how often and shows the request_id")
    sim.control("POST", "/_sim/clear_faults")

    sim.fault(path="/contacts/search", status=502, count=1)
    rep = case.lua("walk.lua", "--style", "search", "--path", "/contacts/search", "--per-page", "10",
                   "--body", '{"query":{"field":"updated_at","operator":">","value":1}}').json()
    t.is_((rep["ok"], rep["stats"]["retries"], len(rep.get("ids") or [])), (True, 1, 25),
          "a search POST is retried like a GET")

t.done_testing()
