#!/usr/bin/python3
# GET /articles?page=&per_page=: newest updated_at first, page-number paging
# with pages.next a URL string (null on the last page), total_count; an
# article updated mid-walk jumps to the front (a newest-first client that
# stops at its watermark still sees it on the next run).
import os
import sys
import urllib.parse
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(articles=57, contacts=10, seed=4) as sim:
    truth = sim.dump("articles")
    j = sim.api("GET", "/articles").json()
    tap.is_(j["pages"]["per_page"], 25, "default per_page 25")
    got, url, pages = [], "/articles?per_page=20", []
    while url:
        j = sim.api("GET", url).json()
        got += j["data"]
        pages.append(j["pages"])
        nxt = j["pages"]["next"]
        url = None
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            url = u.path + "?" + u.query
    tap.is_([p["page"] for p in pages], [1, 2, 3], "3 pages of 20")
    tap.ok(pages[-1]["next"] is None and all(isinstance(p["next"], str) for p in pages[:-1]),
           "pages.next is a URL string, null on the last page")
    tap.is_(j["total_count"], 57, "total_count")
    tap.is_(pages[0]["total_pages"], 3, "total_pages")
    tap.is_(sorted(a["id"] for a in got), sorted(a["id"] for a in truth), "every article once")
    ups = [a["updated_at"] for a in got]
    tap.ok(ups == sorted(ups, reverse=True), "newest updated_at first")
    tap.ok(all(a["type"] == "article" and isinstance(a["id"], str) for a in got),
           "type article, string ids")
    last = got[-1]["id"]
    m = sim.control("POST", "/_sim/mutate", {"asset": "articles", "ids": [last]})
    j = sim.api("GET", "/articles?per_page=5").json()
    tap.is_(j["data"][0]["id"], last, "an updated article moves to the front")
    tap.is_(j["data"][0]["updated_at"], m["updated_at"][last], "with its new updated_at")
    tap.is_(sim.api("GET", "/articles?page=99").json()["data"], [], "past the end: empty data")
tap.done_testing()
