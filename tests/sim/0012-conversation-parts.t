#!/usr/bin/python3
# GET /conversations/{id} returns conversation_parts: at most the 500 most
# recent, oldest first; total_count and statistics.count_conversation_parts
# give the true count (the dump conversation_parts has them all). Deleted
# conversations -> 404. --big-conversations sets how many exceed 500 parts.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(conversations=25, contacts=30, big_conversations=2, seed=9) as sim:
    parts = {}
    for p in sim.dump("conversation_parts"):
        parts.setdefault(p["conversation_id"], []).append(p)
    convs = sim.dump("conversations")
    big = [c for c in convs if len(parts.get(c["id"], [])) > 500]
    tap.is_(len(big), 2, "--big-conversations 2 -> two conversations over 500 parts")
    for c in big + convs[:3]:
        j = sim.api("GET", "/conversations/" + c["id"]).json()
        cp = j["conversation_parts"]
        allp = parts[c["id"]]
        tap.is_(cp["type"], "conversation_part.list", "parts list type")
        tap.is_(len(cp["conversation_parts"]), min(500, len(allp)), "at most 500 parts")
        tap.is_(cp["total_count"], len(allp), "total_count is the true count")
        tap.is_(j["statistics"]["count_conversation_parts"], len(allp),
                "statistics.count_conversation_parts is the true count")
        want = [p["id"] for p in allp[-500:]]
        tap.is_([p["id"] for p in cp["conversation_parts"]], want,
                "the 500 most recent, oldest first")
        ts = [p["created_at"] for p in cp["conversation_parts"]]
        tap.ok(ts == sorted(ts), "parts in created_at order")
        tap.is_({k: v for k, v in j.items() if k != "conversation_parts"}, c,
                "the rest equals the dump (list rendering)")
    c = big[0]
    m = sim.control("POST", "/_sim/mutate", {"asset": "conversations", "ids": [c["id"]]})
    j = sim.api("GET", "/conversations/" + c["id"]).json()
    tap.is_(j["conversation_parts"]["total_count"], len(parts[c["id"]]) + 1,
            "a mutation adds a part")
    tap.is_(j["conversation_parts"]["conversation_parts"][-1]["created_at"],
            m["updated_at"][c["id"]], "the new part is the newest")
    tap.is_(j["updated_at"], m["updated_at"][c["id"]], "updated_at bumped")
    sim.control("POST", "/_sim/delete", {"asset": "conversations", "id": c["id"]})
    r = sim.api("GET", "/conversations/" + c["id"])
    tap.is_((r.status, r.json()["errors"][0]["code"]), (404, "not_found"), "deleted -> 404")
with Sim(conversations=8, contacts=5, max_parts=3, seed=2) as sim:
    for c in sim.dump("conversations"):
        j = sim.api("GET", "/conversations/" + c["id"]).json()["conversation_parts"]
        n = c["statistics"]["count_conversation_parts"]
        if not (len(j["conversation_parts"]) == min(3, n) and j["total_count"] == n):
            break
    else:
        c = None
    tap.ok(c is None, "--max-parts 3 caps the parts returned, total_count stays true")
with Sim(conversations=5, contacts=5) as sim:
    n = sum(1 for c in sim.dump("conversations")
            if c["statistics"]["count_conversation_parts"] > 500)
    tap.is_(n, 1, "default: one big conversation when there are conversations")
tap.done_testing()
