#!/usr/bin/python3
# GET /admins/activity_logs: created_at_after is required (400 without it,
# 400 when not a number); both bounds are exclusive; newest first; 20 a page
# whatever per_page asks; pages.next a URL that keeps the bounds, null on
# the last page. POST /_sim/activity_logs adds logs at this second (they
# come first). Entries tie on created_at, so an exclusive bound set to a
# page's last second skips that second's other entries.
import os
import sys
import time
import urllib.parse
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def walk(sim, url):
    rows, pages = [], []
    while url:
        j = sim.api("GET", url).json()
        pages.append(j)
        rows += j["activity_logs"]
        nxt = j["pages"]["next"]
        url = None
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            url = u.path + "?" + u.query
    return rows, pages


with Sim(activity_logs=53, admins=4, teams=2, seed=24) as sim:
    truth = sim.dump("activity_logs")
    tap.is_(len(truth), 53, "--activity-logs 53")
    rows, pages = walk(sim, "/admins/activity_logs?created_at_after=0&per_page=150")
    tap.is_(rows, truth, "a walk from 0 returns every log, as the dump")
    tap.is_([len(p["activity_logs"]) for p in pages], [20, 20, 13], "20 a page, per_page ignored")
    tap.is_([(p["type"], p["pages"]["page"], p["pages"]["per_page"], p["pages"]["total_pages"])
             for p in pages], [("activity_log.list", n, 20, 3) for n in (1, 2, 3)], "pages objects")
    tap.ok(pages[0]["pages"]["next"].startswith(sim.url + "/admins/activity_logs?created_at_after=0")
           and pages[-1]["pages"]["next"] is None, "next is a full URL, null at the end")
    ts = [r["created_at"] for r in rows]
    tap.is_(ts, sorted(ts, reverse=True), "newest first")
    tied = [t for t in set(ts) if ts.count(t) > 1]
    tap.ok(tied, "some logs share a second")
    t = tied[0]
    after, _ = walk(sim, "/admins/activity_logs?created_at_after=%d" % t)
    tap.is_(after, [r for r in truth if r["created_at"] > t], "created_at_after is exclusive")
    before, _ = walk(sim, "/admins/activity_logs?created_at_after=0&created_at_before=%d" % t)
    tap.is_(before, [r for r in truth if r["created_at"] < t], "created_at_before is exclusive")
    lo, hi = ts[-10], ts[5]
    both, pg = walk(sim, "/admins/activity_logs?created_at_after=%d&created_at_before=%d" % (lo, hi))
    tap.is_(both, [r for r in truth if lo < r["created_at"] < hi], "both bounds")
    tap.ok(all("created_at_before=%d" % hi in p["pages"]["next"] for p in pg[:-1]),
           "next keeps created_at_before")
    tap.ok(all(r["id"].count("-") == 4 and r["performed_by"]["type"] == "admin" for r in rows),
           "UUID ids, performed by admins")
    tap.ok(len({r["activity_type"] for r in rows}) >= 5, "several activity types")
    for q, name in (("", "no created_at_after"), ("?created_at_after=", "an empty created_at_after"),
                    ("?created_at_after=soon", "a word"),
                    ("?created_at_after=0&created_at_before=x", "a bad created_at_before")):
        r = sim.api("GET", "/admins/activity_logs" + q)
        tap.is_((r.status, r.json()["type"]), (400, "error.list"), "%s -> 400" % name)
    j = sim.api("GET", "/admins/activity_logs?created_at_after=0&page=9").json()
    tap.is_((j["activity_logs"], j["pages"]["next"]), ([], None), "a page past the end is empty")

    newest = ts[0]
    n = sim.control("POST", "/_sim/activity_logs", {"count": 4})
    tap.ok(len(n["ids"]) == 4 and abs(n["created_at"] - time.time()) < 3, "4 new logs now")
    inc, _ = walk(sim, "/admins/activity_logs?created_at_after=%d" % newest)
    tap.is_(sorted(r["id"] for r in inc), sorted(n["ids"]), "an incremental read after the newest finds them")
    rows2, _ = walk(sim, "/admins/activity_logs?created_at_after=0")
    tap.is_(len(rows2), 57, "a full walk has 57")
    tap.is_(rows2, sim.dump("activity_logs"), "and the dump follows")
tap.done_testing()
