#!/usr/bin/python3
"""PostgreSQL: incremental runs after mutations (same-day contact updates,
new contacts, changed conversations, tickets, articles, companies) land
exactly the simulator's truth; 5xx answers and connection resets on the way
are retried and lose nothing; the cursors live in _icx_state."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

INCREMENTAL = ["contacts", "contact_tags", "contact_companies", "companies", "conversations", "tickets",
               "articles", "conversation_parts"]
FAST = "      retry_base: 0.01\n      retry_cap: 0.05\n"

with pgserver.PgServer() as pg, \
        Sim(contacts=600, companies=60, conversations=60, tickets=60, articles=80, seed=5) as sim, \
        Workspace(sim, extra=FAST) as ws:
    uri = pg.uri()
    con = pg.connect()
    # Faults during the full load: every one is retried.
    sim.fault(path="/contacts/search", status=502, count=2)
    sim.fault(path="/tickets/search", kind="reset", count=1)
    sim.fault(path="/tickets/search", status=503, count=1)
    r = ws.run(*INCREMENTAL, dest=uri)
    t.is_(r.rc, 0, "full load through 5xx answers and a reset exits 0")
    faulted = sim.stats().get("faults", {})
    t.diag("sim stats: %r" % {k: v for k, v in sim.stats().items() if k != "by_path"})
    for asset in ("contacts", "companies", "tickets"):
        landed_pg.compare(t, con, asset, sim.dump(asset), name=asset + " after faults")
    cur = con.cursor()
    cur.execute("select asset, key, value::text from _icx_state order by asset")
    state = {a: (k, v) for a, k, v in cur.fetchall()}
    newest = max(c["updated_at"] for c in sim.dump("contacts"))
    t.is_(state.get("contacts"), ("updated_at", str(newest)), "contacts cursor = the newest updated_at, as JSON")

    contacts = sim.dump("contacts")
    same_day = [c["id"] for c in contacts if c["updated_at"] // 86400 == newest // 86400]
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": same_day, "same_day": True})
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 20})
    sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 4})
    for asset, n in (("conversations", 6), ("tickets", 5), ("articles", 3), ("companies", 4)):
        sim.control("POST", "/_sim/mutate", {"asset": asset, "count": n})
    sim.control("POST", "/_sim/reset_stats", {})
    sim.fault(path="/conversations/search", kind="reset", count=1)

    r = ws.run(*INCREMENTAL, dest=uri)
    t.is_(r.rc, 0, "incremental run exits 0")
    # three walks of the contact search: contacts, contact_tags, contact_companies
    t.ok(sim.stats()["by_path"].get("/contacts/search", 0) <= 3 * 2,
         "contacts: the incremental run reads only the changes")
    for asset in ("contacts", "companies", "conversations", "tickets", "articles"):
        landed_pg.compare(t, con, asset, sim.dump(asset), name=asset + " after mutations")
    shown, counts = landed.conversation_parts_truth(sim)
    landed_pg.compare(t, con, "conversation_parts", shown, name="conversation_parts after mutations")
    landed_pg.compare(t, con, "contact_tags", sim.dump("contact_tags"), ("contact_id", "tag_id"))
    cur.execute("select count(*) from _icx_runs where status = 'ok'")
    t.is_(cur.fetchone()[0], 2 * len(INCREMENTAL), "one ok run row per asset per run")
    con.close()

t.done_testing()
