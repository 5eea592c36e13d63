#!/usr/bin/python3
# GET /companies/scroll: one open scroll per app (a second start -> 400
# scroll_exists), a scroll idle longer than --scroll-expiry is gone (404),
# the end is an empty data (and the param then expires), an injected 500
# means the scroll must restart; /_sim/stale_scroll blocks new scrolls until
# it expires.
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def scroll_all(sim):
    """Walk a whole scroll; (ids, number of pages, last param)."""
    r = sim.api("GET", "/companies/scroll")
    assert r.status == 200, r.body
    ids, pages = [], 0
    while True:
        j = r.json()
        pages += 1
        if not j["data"]:
            return ids, pages, j["scroll_param"]
        ids += [c["id"] for c in j["data"]]
        r = sim.api("GET", "/companies/scroll?scroll_param=" + j["scroll_param"])
        assert r.status == 200, r.body


with Sim(companies=120, contacts=30, scroll_expiry=1, scroll_size=50) as sim:
    truth = [c["id"] for c in sim.dump("companies")]
    r = sim.api("GET", "/companies/scroll")
    j = r.json()
    tap.is_((j["type"], j["pages"], j["total_count"]), ("list", None, None),
            "scroll page: type list, pages null, total_count null")
    tap.ok(isinstance(j["scroll_param"], str) and len(j["data"]) == 50,
           "first page has a scroll_param and 50 companies")
    r2 = sim.api("GET", "/companies/scroll")
    tap.is_(r2.status, 400, "a second scroll while one is open -> 400")
    tap.is_(r2.json()["errors"][0]["code"], "scroll_exists", "code scroll_exists")
    time.sleep(1.3)
    r3 = sim.api("GET", "/companies/scroll?scroll_param=" + j["scroll_param"])
    tap.is_(r3.status, 404, "a scroll idle past --scroll-expiry -> 404")
    tap.is_(r3.json()["errors"][0]["code"], "not_found", "expired scroll code not_found")

    ids, pages, last = scroll_all(sim)
    tap.is_(sorted(ids), sorted(truth), "a full scroll returns every company once")
    tap.is_(pages, 4, "120 companies at 50 a page: 3 pages and an empty end")
    tap.is_(sim.api("GET", "/companies/scroll?scroll_param=" + last).status, 404,
            "after the empty end the param is gone")
    tap.is_(sim.api("GET", "/companies/scroll").status, 200,
            "after the end a new scroll can start")
    time.sleep(1.2)

    r = sim.api("GET", "/companies/scroll")
    p = r.json()["scroll_param"]
    sim.fault(path="/companies/scroll", status=500, count=1)
    r = sim.api("GET", "/companies/scroll?scroll_param=" + p)
    tap.is_(r.status, 500, "injected 500 mid-scroll")
    tap.ok("restart the scroll" in r.json()["errors"][0]["message"],
           "500 message says restart the scroll")
    tap.is_(sim.api("GET", "/companies/scroll?scroll_param=" + p).status, 404,
            "after a 500 the old param is gone (no resume)")
    ids, _, _ = scroll_all(sim)
    tap.is_(sorted(ids), sorted(truth), "a restarted scroll returns everything")

    st = sim.control("POST", "/_sim/stale_scroll", {"expires_in": 0.6})
    tap.ok(isinstance(st["scroll_param"], str), "stale_scroll opens a scroll")
    tap.is_(sim.api("GET", "/companies/scroll").json()["errors"][0]["code"],
            "scroll_exists", "a stale scroll blocks a new one")
    time.sleep(0.8)
    tap.is_(sim.api("GET", "/companies/scroll").status, 200,
            "once the stale scroll expires a new one starts")
tap.done_testing()
