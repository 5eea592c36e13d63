#!/usr/bin/python3
# GET /conversations/deleted exists from API 2.16: with Intercom-Version
# 2.16 (or later, or Unstable) it lists deleted conversation ids with
# deleted_at and metrics_retained, newest deleted first (order=asc the other
# way), 20 a page (per_page at most 60), pages.next a URL. Under 2.14 (or
# with no version header: the app's 2.14) it is a 404 like any unknown
# conversation; --old-version-deleted 400 answers Intercom's 400
# intercom_version_invalid instead. A conversation deleted through
# /_sim/delete joins the list and is gone from GET, search and the dumps.
import os
import sys
import time
import urllib.parse
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

V16 = "2.16"


def walk(sim, url, version=V16):
    rows, pages = [], []
    while url:
        j = sim.api("GET", url, version=version).json()
        pages.append(j)
        rows += j["conversations"]
        nxt = j["pages"]["next"]
        url = None
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            url = u.path + "?" + u.query
    return rows, pages


with Sim(conversations=30, contacts=40, seed=26) as sim:
    pre = sim.dump("deleted_conversations")
    live = {c["id"] for c in sim.dump("conversations")}
    tap.ok(pre and not ({d["id"] for d in pre} & live), "some conversations were deleted before the start")
    j = sim.api("GET", "/conversations/deleted", version=V16).json()
    tap.is_((j["type"], j["total_count"], len(j["conversations"])),
            ("conversations.list", len(pre), len(pre)), "2.16: the deleted ones")
    tap.ok(all(set(x) == {"type", "id", "deleted_at", "metrics_retained"} and x["type"] == "conversation"
               for x in j["conversations"]), "entries: type, id, deleted_at, metrics_retained")
    for version in ("2.14", None, "2.15"):
        r = sim.api("GET", "/conversations/deleted", version=version)
        tap.is_((r.status, r.json()["errors"][0]["code"]), (404, "not_found"),
                "Intercom-Version %s: 404" % version)
    for version in ("2.17", "Unstable"):
        tap.is_(sim.api("GET", "/conversations/deleted", version=version).status, 200,
                "Intercom-Version %s: served" % version)

    convs = sim.dump("conversations")
    gone = [c["id"] for c in convs[:25]]
    t0 = int(time.time())
    for cid in gone:
        sim.control("POST", "/_sim/delete", {"asset": "conversations", "id": cid})
    rows, pages = walk(sim, "/conversations/deleted")
    tap.is_([len(p["conversations"]) for p in pages], [20, 8], "20 a page by default")
    tap.ok(pages[0]["pages"]["next"].startswith(sim.url + "/conversations/deleted?") and
           pages[-1]["pages"]["next"] is None, "next is a URL, null at the end")
    tap.is_(sorted(x["id"] for x in rows), sorted(gone + [d["id"] for d in pre]),
            "the deletes join the list")
    tap.ok(all(t0 - 1 <= x["deleted_at"] <= time.time() + 1 for x in rows if x["id"] in gone),
           "deleted_at is when they were deleted")
    keys = [(x["deleted_at"], int(x["id"])) for x in rows]
    tap.is_(keys, sorted(keys, reverse=True), "newest deleted first")
    asc, _ = walk(sim, "/conversations/deleted?order=asc")
    tap.is_(asc, rows[::-1], "order=asc: oldest first")
    big, bp = walk(sim, "/conversations/deleted?per_page=500")
    tap.is_((len(bp[0]["conversations"]), bp[0]["pages"]["per_page"]), (28, 60),
            "per_page is capped at 60")
    tap.is_(sim.dump("deleted_conversations") and len(sim.dump("deleted_conversations")), 28,
            "the dump lists them too")
    tap.is_(sim.api("GET", "/conversations/" + gone[0]).status, 404, "GET of a deleted conversation: 404")
    found = sim.api("POST", "/conversations/search", {"query": {"field": "updated_at", "operator": ">",
                                                                "value": 0}, "pagination": {"per_page": 150}})
    tap.ok(not ({c["id"] for c in found.json()["conversations"]} & set(gone)), "search misses them")
    tap.ok(not ({p["conversation_id"] for p in sim.dump("conversation_parts")} & set(gone)),
           "their parts are gone from the dump")
    for q in ("order=up", "page=0", "per_page=x"):
        tap.is_(sim.api("GET", "/conversations/deleted?" + q, version=V16).status, 400, "%s -> 400" % q)
    sim.reset_stats()
    sim.api("GET", "/conversations/deleted", version=V16)
    tap.is_(sim.stats()["by_route"], {"/conversations/deleted": 1}, "stats: its own route, not {id}")
    log = sim.request_log()[-1]
    tap.is_(log["headers"].get("Intercom-Version"), "2.16", "the request log shows the version asked")

with Sim(conversations=3, old_version_deleted=400, seed=2) as sim:
    r = sim.api("GET", "/conversations/deleted")
    tap.is_((r.status, r.json()["errors"][0]["code"]), (400, "intercom_version_invalid"),
            "--old-version-deleted 400: Intercom's version error")
    tap.is_(sim.api("GET", "/conversations/deleted", version=V16).status, 200, "2.16 still served")
tap.done_testing()
