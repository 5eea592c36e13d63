#!/usr/bin/python3
# POST /_sim/drop_parts: a conversation's GET silently comes back short of
# parts. The conversations named leave out `count` parts from their next
# `times` GET answers (null: every one) while statistics.count_conversation_
# parts and the list's total_count still count them; search pages and the
# dump are unchanged; count 0 ends it.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def get(sim, cid):
    """(part ids shown, total_count, statistics.count_conversation_parts)."""
    c = sim.api("GET", "/conversations/" + cid).json()
    parts = c["conversation_parts"]
    return [p["id"] for p in parts["conversation_parts"]], parts["total_count"], \
        c["statistics"]["count_conversation_parts"]


with Sim(conversations=30, contacts=10, seed=9) as sim:
    convs = [c for c in sim.dump("conversations") if c["statistics"]["count_conversation_parts"] >= 4]
    a, b = convs[0]["id"], convs[1]["id"]
    whole, total, count = get(sim, a)
    tap.is_((len(whole), total), (count, count), "a clean GET shows every part, both counts agree")

    r = sim.control("POST", "/_sim/drop_parts", {"ids": [a], "count": 2, "times": 1})
    tap.is_((r["count"], r["times"]), (2, 1), "drop_parts accepted")
    short, total2, count2 = get(sim, a)
    tap.is_((len(short), total2, count2), (count - 2, count, count),
            "the GET comes back 2 parts short while total_count and the statistics still count them")
    tap.is_(short, whole[2:], "the oldest shown parts are the ones left out")
    tap.is_(get(sim, a)[0], whole, "times=1: the next GET is whole again")

    sim.control("POST", "/_sim/drop_parts", {"ids": [b], "count": 1, "times": None})
    n = get(sim, b)[2]
    for i in range(3):
        tap.is_(len(get(sim, b)[0]), n - 1, "times=null: GET %d is short every time" % (i + 1))
    dumped = [p for p in sim.dump("conversation_parts") if p["conversation_id"] == b]
    tap.is_(len(dumped), n, "the dump still has every part")
    sim.control("POST", "/_sim/drop_parts", {"ids": [b], "count": 0})
    tap.is_(len(get(sim, b)[0]), n, "count 0 ends the drop")

    bad = sim.raw("POST", "/_sim/drop_parts", b'{"ids": ["nope"]}')
    tap.is_(bad.status, 400, "an unknown conversation is refused")
    bad = sim.raw("POST", "/_sim/drop_parts", b'{"ids": []}')
    tap.is_(bad.status, 400, "no ids is refused")
    bad = sim.raw("POST", "/_sim/drop_parts", ('{"ids": ["%s"], "times": 0}' % a).encode())
    tap.is_(bad.status, 400, "times 0 is refused")
tap.done_testing()
