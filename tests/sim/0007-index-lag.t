#!/usr/bin/python3
# --index-lag: a contact created less than N seconds ago is not returned by
# contacts search, but is by GET /contacts, GET /contacts/{id} and the dump;
# after N seconds search finds it. Merged contacts vanish everywhere.
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

Q = {"query": {"field": "role", "operator": "IN", "value": ["user", "lead"]},
     "pagination": {"per_page": 150}}


def search_ids(sim):
    return {c["id"] for c in sim.api("POST", "/contacts/search", Q).json()["data"]}


def list_ids(sim):
    return {c["id"] for c in sim.api("GET", "/contacts?per_page=150").json()["data"]}


with Sim(contacts=40, seed=2, index_lag=1.5) as sim:
    t0 = time.time()
    new = sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 3})["ids"]
    tap.is_(len(new), 3, "created 3 contacts")
    tap.ok(not (set(new) & search_ids(sim)), "new contacts are not searchable yet")
    r = sim.api("POST", "/contacts/search", Q)
    tap.is_(r.json()["total_count"], 40, "total_count excludes them too")
    tap.ok(set(new) <= list_ids(sim), "GET /contacts lists them at once")
    tap.is_(sim.api("GET", "/contacts/" + new[0]).status, 200, "GET /contacts/{id} finds one")
    tap.ok(set(new) <= {c["id"] for c in sim.dump("contacts")}, "the dump has them")
    c = [x for x in sim.dump("contacts") if x["id"] == new[0]][0]
    tap.ok(abs(c["created_at"] - t0) < 3 and c["updated_at"] == c["created_at"],
           "created now")
    time.sleep(max(0, t0 + 1.7 - time.time()))
    tap.ok(set(new) <= search_ids(sim), "after the lag they are searchable")
    tap.is_(sim.api("POST", "/contacts/search", Q).json()["total_count"], 43,
            "total_count includes them")

    gone = new[1]
    sim.control("POST", "/_sim/merge_contact", {"id": gone})
    tap.ok(gone not in search_ids(sim), "merged contact is gone from search")
    tap.ok(gone not in list_ids(sim), "merged contact is gone from GET /contacts")
    tap.is_(sim.api("GET", "/contacts/" + gone).status, 404, "GET merged contact -> 404")
    tap.is_(sim.api("GET", "/contacts/%s/tags" % gone).status, 404, "its tags -> 404")
    tap.ok(gone not in {c["id"] for c in sim.dump("contacts")}, "and from the dump")
    sim.control("POST", "/_sim/delete", {"asset": "contacts", "id": new[2]})
    tap.ok(new[2] not in list_ids(sim), "deleted contact is gone")

with Sim(contacts=10, seed=2) as sim:
    new = sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 1})["ids"]
    tap.ok(set(new) <= search_ids(sim), "with --index-lag 0 new contacts are searchable at once")
tap.done_testing()
