#!/usr/bin/python3
# Tickets embed ticket_parts (type ticket_part.list, oldest first, with
# total_count); --big-tickets of them have more parts than the
# --max-ticket-parts (500) they carry: the newest 500, total_count the true
# count, the dump ticket_parts has them all with ticket_id. /ticket_types and
# /ticket_states list what tickets' ticket_type and ticket_state reference
# (same ids and labels), each state listing its types. POST
# /_sim/ticket_parts adds replies now: updated_at moves, search sees them.
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

ALL = {"query": {"field": "updated_at", "operator": ">", "value": 0}, "pagination": {"per_page": 150}}


def by_ticket(sim):
    out = {}
    for p in sim.dump("ticket_parts"):
        out.setdefault(p["ticket_id"], []).append(p)
    return out


with Sim(tickets=25, contacts=40, big_tickets=2, seed=21) as sim:
    tickets = sim.api("POST", "/tickets/search", ALL).json()["tickets"]
    parts = by_ticket(sim)
    big = [t for t in tickets if len(parts[t["id"]]) > 500]
    tap.is_(len(big), 2, "--big-tickets 2 -> two tickets over 500 parts")
    for t in big + [t for t in tickets if t not in big][:3]:
        tp = t["ticket_parts"]
        allp = parts[t["id"]]
        tap.is_(tp["type"], "ticket_part.list", "ticket_parts list type")
        tap.is_(len(tp["ticket_parts"]), min(500, len(allp)), "at most 500 parts")
        tap.is_(tp["total_count"], len(allp), "total_count is the true count")
        want = [p["id"] for p in allp[-500:]]
        tap.is_([p["id"] for p in tp["ticket_parts"]], want, "the newest parts, oldest first")
        tap.is_(sim.api("GET", "/tickets/" + t["id"]).json()["ticket_parts"], tp,
                "GET /tickets/{id} carries the same parts")
    ids = [p["id"] for ps in parts.values() for p in ps]
    tap.is_(len(ids), len(set(ids)), "ticket part ids are unique")
    tap.ok(all([p["created_at"] for p in ps] == sorted(p["created_at"] for p in ps)
               for ps in parts.values()), "parts are oldest first")

    types = sim.api("GET", "/ticket_types").json()
    states = sim.api("GET", "/ticket_states").json()
    tap.is_((types["type"], states["type"]), ("list", "list"), "both are lists under data")
    tmap = {x["id"]: x for x in types["data"]}
    smap = {x["id"]: x for x in states["data"]}
    tap.ok(len(tmap) >= 3 and any(x["archived"] for x in tmap.values()),
           "several ticket types, one archived")
    tap.ok(all(t["ticket_type"]["id"] in tmap for t in tickets), "tickets' ticket_type ids are listed")
    tap.ok(all(tmap[t["ticket_type"]["id"]]["name"] == t["ticket_type"]["name"] for t in tickets),
           "with the same name")
    tap.ok(all(t["ticket_state"]["id"] in smap for t in tickets), "tickets' ticket_state ids are listed")
    tap.ok(all({k: smap[t["ticket_state"]["id"]][k] for k in t["ticket_state"]} == t["ticket_state"]
               for t in tickets), "with the same category and labels")
    tap.ok(len(smap) > len({t["ticket_state"]["id"] for t in tickets}), "a state no ticket is in")
    tap.ok(all(any(x["id"] == s["id"] for x in tmap[ty["id"]]["ticket_states"]["data"])
               for s in states["data"] for ty in s["ticket_types"]["data"]),
           "a state's types list it among their states")
    tap.ok(tmap["1295"]["ticket_type_attributes"]["ticket_type_attributes"], "type attributes listed")
    tap.is_(sim.dump("ticket_types"), types["data"], "dump ticket_types")

    t0 = big[0]
    before = sim.api("GET", "/tickets/" + t0["id"]).json()
    r = sim.control("POST", "/_sim/ticket_parts", {"id": t0["id"], "count": 3})
    tap.is_(len(r["part_ids"]), 3, "ticket_parts control adds 3 parts")
    tap.ok(abs(r["updated_at"] - time.time()) < 3, "updated_at moves to now")
    after = sim.api("GET", "/tickets/" + t0["id"]).json()
    tap.is_(after["ticket_parts"]["total_count"], before["ticket_parts"]["total_count"] + 3,
            "total_count counts the new parts")
    tap.is_([p["id"] for p in after["ticket_parts"]["ticket_parts"][-3:]], r["part_ids"],
            "the new parts are the newest")
    tap.is_(len(after["ticket_parts"]["ticket_parts"]), 500, "still capped at 500")
    q = {"query": {"field": "updated_at", "operator": ">", "value": r["updated_at"] - 1}}
    found = sim.api("POST", "/tickets/search", q).json()["tickets"]
    tap.is_([t["id"] for t in found], [t0["id"]], "an incremental search finds the ticket again")
    small = [t for t in tickets if t not in big][0]
    r = sim.control("POST", "/_sim/ticket_parts", {"id": small["id"]})
    got = sim.api("GET", "/tickets/" + small["id"]).json()["ticket_parts"]
    tap.is_((got["total_count"], got["ticket_parts"][-1]["id"]),
            (len(parts[small["id"]]) + 1, r["part_ids"][0]), "a reply on a small ticket")
    tap.is_(len(by_ticket(sim)[small["id"]]), len(parts[small["id"]]) + 1, "the dump has it")
    tap.is_(sim.raw("POST", "/_sim/ticket_parts", {"id": "nope"}).status, 400,
            "an unknown ticket is a 400")

with Sim(tickets=5, max_ticket_parts=2, big_tickets=0, seed=3) as sim:
    ts = sim.api("POST", "/tickets/search", ALL).json()["tickets"]
    parts = by_ticket(sim)
    tap.ok(all(len(t["ticket_parts"]["ticket_parts"]) == min(2, len(parts[t["id"]])) and
               t["ticket_parts"]["total_count"] == len(parts[t["id"]]) for t in ts),
           "--max-ticket-parts 2 caps every ticket")
tap.done_testing()
