#!/usr/bin/python3
"""List assets in the completeness check: a listing whose pages carry
total_count (articles on a first load, collections) compares the records it
landed with it, in _icx_completeness and the summary; a page that came back
short is healed by walking the listing again, and what that cannot find
exits 5 naming the asset and the count. A clean listing costs nothing more."""
import json
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(HERE, "..", "lib")]
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def checks(r):
    events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    return {e["asset"]: e for e in events if e.get("event") == "completeness"}, \
        [e for e in events if e.get("event") == "incomplete"]


with Sim(articles=120, contacts=1, seed=47) as sim, Workspace(sim) as ws:
    arts = sorted(sim.dump("articles"), key=lambda a: a["updated_at"])
    sim.control("POST", "/_sim/drop", {"asset": "articles", "ids": [arts[10]["id"], arts[50]["id"]], "times": 1})
    sim.control("POST", "/_sim/reset_stats", {})
    r = ws.run("articles", "collections", "--log-format", "json", "--summary-json", "-")
    comp, inc = checks(r)
    t.is_(r.rc, 0, "articles short on the first walk, healed: exit 0")
    a = comp.get("articles", {})
    t.is_((a.get("expected"), a.get("landed"), a.get("healed"), a.get("missing")), (120, 120, 2, 0),
          "articles: Intercom lists 120, 2 healed by a second walk")
    con = sqlite3.connect(ws.db)
    t.is_(con.execute("select count(*) from articles").fetchone()[0], 120, "every article landed")
    c = comp.get("collections", {})
    t.ok(c.get("complete") is True and c.get("requests") == 0, "collections: complete, at no cost (%s)" % c)
    summary = json.loads(r.out)
    t.ok(any(x["asset"] == "articles" and x["completeness"]["healed"] == 2 for x in summary["assets"]),
         "the summary carries each asset's completeness")
    t.is_(con.execute("select expected, landed, healed from _icx_completeness where asset = 'articles'").fetchall(),
          [(120, 120, 2)], "_icx_completeness: the listing's row")

    with Sim(articles=60, contacts=1, seed=48) as sim2, Workspace(sim2, name="1104-lost") as ws2:
        a2 = sim2.dump("articles")
        sim2.control("POST", "/_sim/drop", {"asset": "articles", "ids": [a2[3]["id"]], "times": None})
        r = ws2.run("articles", "--log-format", "json")
        comp, inc = checks(r)
        t.is_(r.rc, 5, "an article no walk returns: exit 5")
        t.is_([(e["asset"], e["missing"]) for e in inc], [("articles", 1)], "the event names articles and 1")
t.done_testing()
