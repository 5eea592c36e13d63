#!/usr/bin/python3
# POST /companies/list?page=&per_page=: per_page capped at 60, pages.next a
# URL string (null on the last page), sorted by last_request_at (desc by
# default, order=asc), only the first 10,000 companies reachable (past that
# 400 "page limit reached, please use scroll API"), and companies without
# users left out, as Intercom documents; the scroll still returns them.
import os
import sys
import urllib.parse
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(companies=130, contacts=80) as sim:
    everything = sim.dump("companies")
    truth = [c for c in everything if c["user_count"] > 0]
    tap.ok(60 < len(truth) < 130, "some companies have users, some not (%d of 130)" % len(truth))
    r = sim.api("POST", "/companies/list?per_page=100")
    j = r.json()
    tap.is_((len(j["data"]), j["pages"]["per_page"]), (60, 60), "per_page capped at 60")
    tap.is_(len(sim.api("POST", "/companies/list").json()["data"]), 15, "default per_page 15")
    seen, url, n = [], "/companies/list?page=1&per_page=50", 0
    while url:
        j = sim.api("POST", url).json()
        n += 1
        seen += j["data"]
        nxt = j["pages"]["next"]
        tap.ok(nxt is None or isinstance(nxt, str), "pages.next is a string or null")
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            tap.ok(u.scheme == "http" and u.netloc == "127.0.0.1:%d" % sim.port,
                   "pages.next is a full URL on the sim")
            url = u.path + "?" + u.query
        else:
            url = None
    pages = -(-len(truth) // 50)
    tap.is_(n, pages, "%d pages of 50 for %d companies with users" % (pages, len(truth)))
    tap.is_(j["pages"]["total_pages"], pages, "total_pages")
    tap.is_(j["total_count"], len(truth), "total_count counts companies with users")
    tap.is_(sorted(c["id"] for c in seen), sorted(c["id"] for c in truth),
            "walk returns every company with users, and none without")
    scrolled, param = [], None
    while True:
        j = sim.api("GET", "/companies/scroll" + ("?scroll_param=" + param if param else "")).json()
        if not j["data"]:
            break
        scrolled += j["data"]
        param = j["scroll_param"]
    tap.is_(sorted(c["id"] for c in scrolled), sorted(c["id"] for c in everything),
            "the scroll returns companies without users too")
    lr = [c["last_request_at"] for c in seen]
    tap.ok(lr == sorted(lr, reverse=True), "default order: last_request_at descending")
    j = sim.api("POST", "/companies/list?per_page=60&order=asc").json()
    lr = [c["last_request_at"] for c in j["data"]]
    tap.ok(lr == sorted(lr), "order=asc")
    tap.is_(sim.api("POST", "/companies/list?page=10").json()["data"], [],
            "past the end (below the cap): empty data")

# The cap is on the position paged to, whatever the page holds.
with Sim(companies=10030, contacts=5, conversations=0, tickets=0, articles=0) as sim:
    tap.is_(sim.api("POST", "/companies/list?page=166&per_page=60").status, 200,
            "page 166 x 60 (companies 9901-9960) is reachable")
    r = sim.api("POST", "/companies/list?page=167&per_page=60")
    tap.is_(r.status, 400, "page 167 x 60 crosses 10,000 -> 400")
    e = r.json()["errors"][0]
    tap.is_(e["message"], "page limit reached, please use scroll API", "the 10k message")
    tap.is_(sim.api("POST", "/companies/list?page=200&per_page=50").status, 200,
            "page 200 x 50 (companies 9951-10000) -> 200")
    tap.is_(sim.api("POST", "/companies/list?page=201&per_page=50").status, 400,
            "page 201 x 50 (past 10,000) -> 400")
tap.done_testing()
