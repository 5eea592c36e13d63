#!/usr/bin/python3
"""The response size cap: a body larger than max_bytes (after gzip is
undone) fails with code "too_large", once, without retries; a cap the page
fits under changes nothing."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

CURSOR = ("--style", "cursor", "--path", "/contacts", "--per-page", "20")

with Sim(contacts=20, seed=8) as sim, icxtest.Case("0107-body-cap", sim) as case:
    rep = case.lua("walk.lua", *CURSOR, "--max-bytes", "4000000").json()
    t.is_((rep["ok"], rep["records"]), (True, 20), "a page under the cap passes")
    size = sim.api("GET", "/contacts?per_page=20").body
    before = sim.stats()["by_path"].get("/contacts", 0)
    rep = case.lua("walk.lua", *CURSOR, "--max-bytes", str(len(size) // 2)).json()
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("code"), err.get("kind")), (False, "too_large", "http"),
          "a page over the cap fails with code too_large")
    t.ok("larger than %d bytes" % (len(size) // 2) in err.get("text", ""), "the message names the cap")
    t.is_(sim.stats()["by_path"].get("/contacts", 0) - before, 1, "too_large is not retried")
    t.ok(sim.request_log()[-1]["headers"].get("Accept-Encoding"), "the capped request accepted gzip")

t.done_testing()
