#!/usr/bin/python3
"""The companies scroll: a 500 mid-scroll restarts it from the beginning
(every company still comes through, the restart is visible), an expired
scroll (404) restarts too; an open stale scroll is waited out visibly, and
given up on with code "scroll_exists" past the wait limit; breaking out of
the loop closes the walk."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

SCROLL = ("--style", "scroll", "--path", "/companies/scroll")

with Sim(companies=30, contacts=5, scroll_size=7, seed=9, scroll_expiry=1) as sim, \
        icxtest.Case("0108-scroll", sim) as case:
    want = sorted(x["id"] for x in sim.dump("companies"))

    r = case.lua("walk.lua", *SCROLL, "--after-page", "2", "/_sim/fault",
                 '{"path": "/companies/scroll", "status": 500, "count": 1}')
    rep = r.json()
    t.ok(rep["ok"], "500 mid-scroll: the walk completes")
    t.is_(rep.get("restarted"), 1, "500 mid-scroll: restarted once")
    t.is_(sorted(set(rep.get("ids") or [])), want, "500 mid-scroll: every company came through")
    t.ok("restarting the scroll from the beginning" in r.err, "the restart is visible on stderr")
    log = icxtest.requests_to(sim, "/companies/scroll")
    bare = [i for i, x in enumerate(log) if "scroll_param" not in x["query"]]
    t.is_(len(bare), 2, "a fresh scroll (no scroll_param) was started after the 500")

    r = case.lua("walk.lua", *SCROLL, "--pause-after", "1", "1.5")
    rep = r.json()
    t.is_((rep["ok"], rep.get("restarted")), (True, 1), "a scroll that expired (404) restarts")
    t.ok("it expired (HTTP 404)" in r.err, "the restart says why")
    t.is_(sorted(set(rep.get("ids") or [])), want, "404: every company came through")

    sim.control("POST", "/_sim/stale_scroll", {"expires_in": 2})
    r = case.lua("walk.lua", *SCROLL)
    rep = r.json()
    t.ok(rep["ok"], "a stale scroll is waited out")
    t.ok("another scroll is open" in r.err and "waiting up to" in r.err, "the wait is visible (not -v)")
    t.is_(sorted(rep.get("ids") or []), want, "then the scroll walks everything")

    sim.control("POST", "/_sim/stale_scroll", {"expires_in": 30})
    rep = case.lua("walk.lua", *SCROLL, "--scroll-wait", "1").json()
    err = rep.get("error") or {}
    t.is_((rep["ok"], err.get("code"), err.get("status")), (False, "scroll_exists", 400),
          "past the wait limit: code scroll_exists")
    t.ok("allows one per app" in err.get("text", ""), "the message explains the one-scroll rule")

with Sim(companies=30, contacts=5, scroll_size=7, seed=9, scroll_expiry=2) as sim, \
        icxtest.Case("0108-scroll-break", sim) as case:
    r = case.lua("walk.lua", *SCROLL, "--break-after", "2", "--verbose")
    rep = r.json()
    t.is_((rep["ok"], rep["pages"]), (True, 2), "break after two pages")
    t.ok("scroll abandoned after page 2" in r.err, "breaking out closes the walk")
    t.is_(len(icxtest.requests_to(sim, "/companies/scroll")), 2, "no request after the break")
    r = case.lua("walk.lua", *SCROLL, "--verbose")
    t.ok("abandoned" not in r.err, "a walk that ends by itself abandons nothing")

t.done_testing()
