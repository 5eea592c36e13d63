#!/usr/bin/python3
# Help center: /help_center/help_centers lists the help centers collections
# point at; /help_center/collections pages by page and per_page (15 by
# default), newest updated_at first, total_count and pages.next (a URL,
# null on the last page); parent_id names a collection; the first three
# collections are the ones articles sit in. /subscription_types is a list.
import os
import sys
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
        rows += j["data"]
        nxt = j["pages"]["next"]
        url = None
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            url = u.path + "?" + u.query
    return rows, pages


with Sim(collections=37, articles=30, seed=25) as sim:
    hcs = sim.api("GET", "/help_center/help_centers").json()
    tap.is_(hcs["type"], "list", "help centers: a list")
    hc_ids = {h["id"] for h in hcs["data"]}
    tap.ok(len(hc_ids) >= 2, "two help centers")
    tap.is_(hcs["data"], sim.dump("help_centers"), "dump help_centers")
    truth = sim.dump("collections")
    tap.is_(len(truth), 37, "--collections 37")
    rows, pages = walk(sim, "/help_center/collections")
    tap.is_([len(p["data"]) for p in pages], [15, 15, 7], "15 a page by default")
    tap.is_(sorted(r["id"] for r in rows), sorted(r["id"] for r in truth), "a walk returns every collection")
    tap.is_([(r["updated_at"], int(r["id"])) for r in rows],
            sorted(((r["updated_at"], int(r["id"])) for r in rows), reverse=True),
            "newest updated_at first")
    tap.ok(all(p["total_count"] == 37 and p["pages"]["total_pages"] == 3 for p in pages),
           "total_count and total_pages")
    tap.is_([p["pages"]["page"] for p in pages], [1, 2, 3], "page numbers")
    tap.ok(pages[0]["pages"]["next"] == sim.url + "/help_center/collections?page=2&per_page=15"
           and pages[-1]["pages"]["next"] is None, "next is a URL, null at the end")
    rows7, pages7 = walk(sim, "/help_center/collections?per_page=7")
    tap.is_((len(pages7), rows7), (6, rows), "per_page=7: 6 pages, the same order")
    j = sim.api("GET", "/help_center/collections?page=3&per_page=10").json()
    tap.is_([r["id"] for r in j["data"]], [r["id"] for r in rows[20:30]], "page=3&per_page=10")
    ids = {r["id"] for r in rows}
    tap.ok(all(r["parent_id"] is None or r["parent_id"] in ids for r in rows), "parent_id names a collection")
    tap.ok(any(r["parent_id"] for r in rows), "some collections are sections of another")
    tap.ok(all(r["help_center_id"] is None or str(r["help_center_id"]) in hc_ids for r in rows),
           "help_center_id names a help center")
    parents = {a["parent_id"] for a in sim.dump("articles") if a["parent_id"]}
    tap.ok(parents and {str(p) for p in parents} <= {r["id"] for r in truth[:3]},
           "articles sit in the first three collections")
    for q in ("page=0", "per_page=x"):
        tap.is_(sim.api("GET", "/help_center/collections?" + q).status, 400, "%s -> 400" % q)
    j = sim.api("GET", "/subscription_types").json()
    tap.ok(j["type"] == "list" and j["data"] == sim.dump("subscription_types"), "/subscription_types")
tap.done_testing()
