#!/usr/bin/python3
"""Transport failures: a connection reset mid-body, a body cut short and a
gzip body broken in transit are retried and the walk completes with every
record once (a broken gzip body that persists fails as "transport"); a timeout is
retried, and one that persists fails with code "timeout"; a 200 whose body
is not JSON fails at once with a "json" error naming the URL."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

CURSOR = ("--style", "cursor", "--path", "/contacts", "--per-page", "10")

with Sim(contacts=25, seed=6) as sim, icxtest.Case("0106-transport", sim) as case:
    want = sorted(x["id"] for x in sim.dump("contacts"))
    for kind in ("reset", "truncate", "bad_gzip"):
        sim.fault(path="/contacts", kind=kind, count=1)
        rep = case.lua("walk.lua", *CURSOR).json()
        t.ok(rep["ok"], "%s: the walk completes" % kind)
        t.is_(rep["stats"]["retries"], 1, "%s: one retry" % kind)
        t.is_(sorted(rep.get("ids") or []), want, "%s: every record once" % kind)

    # A second page cut short: the retry resends that page's cursor.
    sim.fault(path="/contacts", kind="truncate", count=1)
    rep = case.lua("walk.lua", *CURSOR, "--after-page", "1", "/_sim/fault",
                   '{"path": "/contacts", "kind": "reset", "count": 1}').json()
    t.is_((rep["ok"], rep["stats"]["retries"], sorted(rep.get("ids") or [])), (True, 2, want),
          "faults on two pages: both retried, nothing lost")

    sim.fault(path="/contacts", kind="delay", delay_ms=1500, count=1)
    rep = case.lua("walk.lua", *CURSOR, "--timeout", "0.5").json()
    t.is_((rep["ok"], rep["stats"]["retries"]), (True, 1), "timeout: retried, then the walk completes")

    sim.fault(path="/contacts", kind="delay", delay_ms=1500, count=2)
    rep = case.lua("walk.lua", *CURSOR, "--timeout", "0.5", "--attempts", "2").json()
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("code"), err.get("kind")), (False, "timeout", "http"),
          "a timeout that persists fails with code timeout")
    t.ok("after 2 attempts" in err.get("text", ""), "the message says how often it tried")

    sim.fault(path="/contacts", kind="bad_gzip", count=2)
    rep = case.lua("walk.lua", *CURSOR, "--attempts", "2").json()
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("code"), err.get("kind")), (False, "transport", "http"),
          "a gzip body that never decodes fails as a transport error")
    t.ok("gzip" in err.get("text", ""), "the message says the gzip body is broken")

    sim.fault(path="/contacts", kind="bad_json", count=1)
    before = sim.stats()["by_path"].get("/contacts", 0)
    rep = case.lua("walk.lua", *CURSOR).json()
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("kind"), err.get("code")), (False, "json", "json"),
          "malformed JSON: a json error")
    t.ok(sim.url + "/contacts?per_page=10" in err.get("text", ""), "the message names the URL")
    t.is_(err.get("url"), sim.url + "/contacts?per_page=10", "the error carries the URL")
    t.is_(sim.stats()["by_path"].get("/contacts", 0) - before, 1, "malformed JSON is not retried")

t.done_testing()
