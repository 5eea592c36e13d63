#!/usr/bin/python3
# GET /companies/{id}/segments lists the company's segments (segment objects
# of /segments, without count) as the dump company_segments says; an unknown
# company is 404 company_not_found. POST /_sim/company_segments moves
# membership (by id, or count random moves) while the company's updated_at
# and its GET stay the same: only the per-company
# route shows the move. Stats group the route as /companies/{id}/segments.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def members(sim):
    out = {}
    for row in sim.dump("company_segments"):
        out.setdefault(row["company_id"], []).append(row["segment_id"])
    return out


def served(sim, cid):
    j = sim.api("GET", "/companies/%s/segments" % cid).json()
    return j, [s["id"] for s in j["data"]]


with Sim(companies=30, contacts=40, segments=6, seed=22) as sim:
    segs = {s["id"]: s for s in sim.api("GET", "/segments").json()["segments"]}
    comps = sim.dump("companies")
    truth = members(sim)
    got, shapes = {}, []
    for c in comps:
        j, ids = served(sim, c["id"])
        got[c["id"]] = ids
        shapes.append(j["type"] == "list" and all(s == segs[s["id"]] for s in j["data"]))
    tap.ok(all(shapes), "each answer is a list of /segments objects")
    tap.is_(got, {c["id"]: truth.get(c["id"], []) for c in comps}, "every company's segments match the dump")
    sizes = [len(v) for v in got.values()]
    tap.ok(0 in sizes and max(sizes) >= 2, "some companies in no segment, some in several")
    r = sim.api("GET", "/companies/nope/segments")
    tap.is_((r.status, r.json()["errors"][0]["code"]), (404, "company_not_found"), "unknown company -> 404")

    c0 = comps[0]["id"]
    out_of = [s for s in segs if s not in got[c0]]
    one_before = sim.api("GET", "/companies/" + c0).json()
    r = sim.control("POST", "/_sim/company_segments",
                    {"id": c0, "add": out_of[:1], "remove": got[c0][:1]})
    tap.is_(len(r["changed"]), 1 + min(1, len(got[c0])), "the control reports each move")
    _, now_ids = served(sim, c0)
    tap.is_(sorted(now_ids), sorted([s for s in got[c0][1:]] + out_of[:1]), "the route shows the move")
    tap.is_(sim.api("GET", "/companies/" + c0).json(), one_before,
            "GET /companies/{id} is unchanged (updated_at did not move)")
    r = sim.control("POST", "/_sim/company_segments", {"count": 8})
    moved = {x["company_id"] for x in r["changed"]}
    tap.is_(len(r["changed"]), 8, "count=8 random moves")
    truth2 = members(sim)
    tap.is_({c: served(sim, c)[1] for c in moved}, {c: truth2.get(c, []) for c in moved},
            "moved companies serve the dump's membership")
    tap.is_([c["updated_at"] for c in sim.dump("companies")], [c["updated_at"] for c in comps],
            "no company's updated_at moved")
    tap.is_(sim.raw("POST", "/_sim/company_segments", {"id": c0, "add": ["nope"]}).status, 400,
            "an unknown segment is a 400")
    tap.is_(sim.raw("POST", "/_sim/company_segments", {"id": "nope", "add": []}).status, 400,
            "an unknown company is a 400")

    sim.reset_stats()
    for c in comps[:5]:
        sim.api("GET", "/companies/%s/segments" % c["id"])
    tap.is_(sim.stats()["by_route"], {"/companies/{id}/segments": 5}, "stats: one route for all companies")
tap.done_testing()
