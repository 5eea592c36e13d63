#!/usr/bin/python3
# POST /_sim/drop: search pages silently come back short. The records named
# are left out of their next `times` search pages (null: of every one) while
# total_count still counts them and the cursor walks on, as Intercom's pages
# can; GET by id and the dump still have them.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def walk(sim, asset, per_page=20):
    """Every id a full ascending walk returns, and the total_count."""
    body = {"query": {"field": "updated_at", "operator": ">", "value": 0},
            "sort": {"field": "updated_at", "order": "ascending"},
            "pagination": {"per_page": per_page}}
    ids, total = [], None
    while True:
        r = sim.api("POST", "/%s/search" % asset, body).json()
        ids += [x["id"] for x in r[{"contacts": "data"}.get(asset, asset)]]
        total = r["total_count"]
        nxt = (r.get("pages") or {}).get("next")
        if not nxt:
            return ids, total
        body["pagination"]["starting_after"] = nxt["starting_after"]


with Sim(contacts=60, tickets=50, seed=4) as sim:
    ids, total = walk(sim, "contacts")
    tap.is_((len(ids), total), (60, 60), "a clean walk returns every contact")
    gone = ids[10:13]
    r = sim.control("POST", "/_sim/drop", {"asset": "contacts", "ids": gone, "times": 1})
    tap.is_(r["times"], 1, "drop accepted")
    ids2, total2 = walk(sim, "contacts")
    tap.is_(total2, 60, "total_count still counts the dropped contacts")
    tap.is_(len(ids2), 57, "the walk comes back 3 short")
    tap.ok(not set(gone) & set(ids2), "the dropped contacts are missing")
    tap.is_(sim.api("GET", "/contacts/" + gone[0]).status, 200, "GET by id still finds one")
    ids3, _ = walk(sim, "contacts")
    tap.is_(len(ids3), 60, "times=1: the next walk finds them again")

    t = walk(sim, "tickets")[0]
    sim.control("POST", "/_sim/drop", {"asset": "tickets", "ids": t[:2], "times": None})
    for i in range(3):
        ids4, total4 = walk(sim, "tickets", per_page=7)
        tap.is_((len(ids4), total4), (48, 50), "times=null: walk %d is short every time" % (i + 1))
    one = sim.api("POST", "/tickets/search", {"query": {"field": "id", "operator": "=", "value": t[0]}}).json()
    tap.is_((one["total_count"], len(one["tickets"])), (1, 0), "even a search for the one record alone")

    arts = [a["id"] for a in sim.api("GET", "/articles?per_page=150").json()["data"]]
    sim.control("POST", "/_sim/drop", {"asset": "articles", "ids": arts[:1], "times": 1})
    r = sim.api("GET", "/articles?per_page=150").json()
    tap.is_((len(r["data"]), r["total_count"]), (len(arts) - 1, len(arts)), "GET /articles comes back short once")
    tap.is_(len(sim.api("GET", "/articles?per_page=150").json()["data"]), len(arts), "then whole again")

    bad = sim.raw("POST", "/_sim/drop", b'{"asset": "contacts", "ids": ["nope"]}')
    tap.is_(bad.status, 400, "an unknown id is refused")
    bad = sim.raw("POST", "/_sim/drop", b'{"asset": "contacts", "ids": []}')
    tap.is_(bad.status, 400, "no ids is refused")
tap.done_testing()
