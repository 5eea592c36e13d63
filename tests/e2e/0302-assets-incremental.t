#!/usr/bin/python3
"""Incremental runs after mutations: same-day contact updates (contact search
matches dates by day), new contacts behind the search index lag, changed
conversations, tickets, articles and companies. What landed must equal the
simulator's truth, and an incremental run's search requests must follow the
number of changed records, not the workspace size."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

INCREMENTAL = ["contacts", "contact_tags", "contact_companies", "companies", "conversations",
               "tickets", "articles", "conversation_parts"]
LAG = 3

with Sim(contacts=3000, companies=200, conversations=300, tickets=300,
         articles=400, seed=5, index_lag=LAG) as sim, Workspace(sim) as ws:
    r = ws.run(*INCREMENTAL)
    t.is_(r.rc, 0, "full load exits 0")
    full = sim.stats()["by_path"]

    # The newest contact sets the cursor; changing contacts of the cursor's
    # day again later that day is what `updated_at > cursor` on day-granular
    # search skips. (Older days cannot change: Intercom stamps changes now.)
    contacts = sim.dump("contacts")
    cursor = max(c["updated_at"] for c in contacts)
    same_day = [c["id"] for c in contacts if c["updated_at"] // 86400 == cursor // 86400]
    t.ok(len(same_day) >= 1, "%d contact(s) on the cursor's day" % len(same_day))
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": same_day, "same_day": True})
    changed = sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 20})
    created = sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 4})
    for asset, n in (("conversations", 6), ("tickets", 5), ("articles", 3), ("companies", 4)):
        sim.control("POST", "/_sim/mutate", {"asset": asset, "count": n})
    sim.control("POST", "/_sim/reset_stats", {})

    r = ws.run(*INCREMENTAL)
    t.is_(r.rc, 0, "incremental run exits 0")
    by_path = sim.stats()["by_path"]
    t.diag("full load search pages: contacts %s conversations %s tickets %s articles %s"
           % (full.get("/contacts/search"), full.get("/conversations/search"),
              full.get("/tickets/search"), full.get("/articles")))
    t.diag("incremental: contacts %s conversations %s tickets %s articles %s"
           % (by_path.get("/contacts/search"), by_path.get("/conversations/search"),
              by_path.get("/tickets/search"), by_path.get("/articles")))
    # contact search is walked three times: contacts, contact_tags, contact_companies.
    t.ok(by_path.get("/contacts/search", 0) <= 3 * 2,
         "contacts: 2 search pages per walk at most for ~25 changes (full load took %s)"
         % full.get("/contacts/search"))
    # conversations are walked twice: the conversations asset and conversation_parts.
    t.ok(by_path.get("/conversations/search", 0) <= 2 * 2, "conversations: one page per walk")
    t.ok(by_path.get("/tickets/search", 0) <= 2, "tickets: one page")
    t.ok(by_path.get("/articles", 0) <= 2, "articles: stops paging once past the cursor")
    t.ok(by_path.get("/conversations/{id}", 0) <= 6,
         "conversation parts: one GET per changed conversation, none for those re-read unchanged")

    truth = sim.dump("contacts")
    hidden = set(created["ids"])
    visible = [c for c in truth if c["id"] not in hidden]
    landed.compare(t, ws.db, "contacts", visible, name="contacts (new ones still behind the index lag)")
    for asset in ("companies", "conversations", "tickets", "articles"):
        landed.compare(t, ws.db, asset, sim.dump(asset), name=asset + " after mutations")
    shown, counts = landed.conversation_parts_truth(sim)
    landed.compare(t, ws.db, "conversation_parts", shown, name="conversation_parts after mutations")
    landed.compare(t, ws.db, "conversation_part_counts", counts, ("conversation_id",),
                   name="conversation_part_counts after mutations")

    # Once the index has caught up, the lookback brings the new contacts in.
    time.sleep(LAG + 1)
    r = ws.run("contacts", "contact_tags", "contact_companies")
    t.is_(r.rc, 0, "third run exits 0")
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"),
                      name="contacts once the index caught up")
    landed.compare(t, ws.db, "contact_tags", sim.dump("contact_tags"), ("contact_id", "tag_id"))
    landed.compare(t, ws.db, "contact_companies", sim.dump("contact_companies"), ("contact_id", "company_id"))

t.done_testing()
