#!/usr/bin/python3
"""A first run of a search asset walks time slices at once: several requests
in flight against a slow server, every record landed exactly (contacts'
day-granular edges included), the cursor at the newest record; an
incremental run afterwards is one walk again."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

with Sim(tickets=900, contacts=1200, seed=23, latency_ms=80) as sim, Workspace(sim) as ws:
    r = ws.run("tickets")
    t.is_(r.rc, 0, "tickets first run exits 0")
    peak = sim.stats()["max_in_flight"]
    t.ok(peak >= 4, "%d searches in flight at peak (4 slices)" % peak)
    bodies = [json.loads(x["body"]) if isinstance(x["body"], str) else x["body"]
              for x in sim.request_log() if x["path"] == "/tickets/search"]
    # The completeness check's counts (one record each) are not slices.
    groups = [b["query"]["value"] for b in bodies if b["query"].get("operator") == "AND"
              and b["pagination"]["per_page"] > 1]
    uppers = {f["value"] for g in groups for f in g if f.get("operator") == "<"}
    # Four slices and the newest day's (its first page the survey's own).
    t.is_(len(uppers), 4, "four slices have an upper bound, the last none")
    landed.compare(t, ws.db, "tickets", sim.dump("tickets"), name="tickets from slices")
    con = sqlite3.connect(ws.db)
    cur = con.execute("select value from _icx_state where asset = 'tickets'").fetchone()[0]
    t.is_(int(cur), max(x["updated_at"] for x in sim.dump("tickets")), "cursor at the newest ticket")
    con.close()

    sim.control("POST", "/_sim/reset_stats", {})
    r = ws.run("contacts", "contact_tags")
    t.is_(r.rc, 0, "contacts and contact_tags first run exits 0")
    # 2 assets x 4 slices, and contact_tags' sub-list fetches (8 per page),
    # could put 40 on the wire at once.
    peak = sim.stats()["max_in_flight"]
    t.ok(8 <= peak <= 16, "contacts: %d requests in flight at peak, within the client's cap of 16" % peak)
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts from day-granular slices")
    landed.compare(t, ws.db, "contact_tags", sim.dump("contact_tags"), ("contact_id", "tag_id"))

    sim.control("POST", "/_sim/mutate", {"asset": "tickets", "count": 3})
    sim.control("POST", "/_sim/reset_stats", {})
    seen = len(sim.request_log())
    r = ws.run("tickets")
    t.is_(r.rc, 0, "incremental run exits 0")
    walks = [x for x in sim.request_log()[seen:] if x["path"] == "/tickets/search"
             and (json.loads(x["body"]) if isinstance(x["body"], str) else x["body"])["pagination"]["per_page"] > 1]
    t.is_(len(walks), 1, "an incremental run is one walk, one page (and the completeness check's counts)")
    landed.compare(t, ws.db, "tickets", sim.dump("tickets"), name="tickets after the incremental run")

t.done_testing()
