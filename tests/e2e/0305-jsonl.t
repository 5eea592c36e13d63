#!/usr/bin/python3
"""The JSONL destinations carry every record byte-exact in value: stdout
(`jsonl:-`, logs on stderr only) and a directory of TABLE.jsonl files."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402


def same(a, b):
    return a == b and landed._same_types(a, b)


with Sim(contacts=120, tickets=40, seed=9) as sim, Workspace(sim) as ws:
    r = ws.run("contacts", "tags", dest="jsonl:-")
    t.is_(r.rc, 0, "jsonl:- run exits 0")
    lines = [json.loads(x) for x in r.out.splitlines() if x.strip()]
    t.ok(all(set(x) == {"table", "record"} for x in lines), "every stdout line is {table, record}")
    got = {x["record"]["id"]: x["record"] for x in lines if x["table"] == "contacts"}
    want = {c["id"]: c for c in sim.dump("contacts")}
    t.is_(sorted(got), sorted(want), "every contact on stdout once")
    t.ok(all(same(got[k], want[k]) for k in want), "every contact value-equal, types included")
    tags = [x["record"] for x in lines if x["table"] == "tags"]
    t.is_(len(tags), len(sim.dump("tags")), "tags on stdout too")
    t.ok(os.path.exists(os.path.join(ws.dir, "icx-state.db")), "state kept in ./icx-state.db")

    out = os.path.join(ws.dir, "out")
    r = ws.run("tickets", dest="jsonl:" + out)
    t.is_(r.rc, 0, "jsonl:DIR run exits 0")
    with open(os.path.join(out, "tickets.jsonl")) as f:
        recs = [json.loads(x) for x in f]
    got = {x["id"]: x for x in recs}
    want = {x["id"]: x for x in sim.dump("tickets")}
    t.is_(sorted(got), sorted(want), "tickets.jsonl holds every ticket")
    t.ok(all(same(got[k], want[k]) for k in want), "every ticket value-equal, types included")
    r = ws.run("tickets", dest="jsonl:" + out)
    t.is_(r.rc, 0, "second run exits 0")
    with open(os.path.join(out, "tickets.jsonl")) as f:
        again = len(f.readlines()) - len(recs)
    t.ok(0 <= again < len(want) // 2,
         "the second run appends only the lookback window (%d of %d)" % (again, len(want)))

t.done_testing()
