#!/usr/bin/python3
"""--reconcile: records deleted in Intercom (and contacts merged away) leave
the destination, with their child rows, and are noted in _icx_deleted; a
record every walk skipped but Intercom still has is read back by id and
landed, never deleted. Afterwards every table equals the simulator's truth.
Without --reconcile nothing is removed; a JSONL destination is refused."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

ASSETS = ["contacts", "companies", "tickets", "articles"]
PAIRS = ["contact_tags", "contact_companies"]


def ids(db, table):
    con = sqlite3.connect(db)
    out = {r[0] for r in con.execute('select id from "%s"' % table)}
    con.close()
    return out


with Sim(contacts=500, companies=80, tickets=60, articles=40, seed=41) as sim, Workspace(sim) as ws:
    r = ws.run(*ASSETS, *PAIRS)
    t.is_(r.rc, 0, "the first run lands everything")

    # Contacts in no company: a company's user_count would change with them.
    contacts = [c for c in sim.dump("contacts") if not c["companies"]["data"]]
    tagged = [c["id"] for c in contacts if c["tags"]["data"]][:3]
    merged = [c["id"] for c in contacts if c["id"] not in tagged][:2]
    gone = {"contacts": tagged + merged}
    for cid in tagged:
        sim.control("POST", "/_sim/delete", {"asset": "contacts", "id": cid})
    for cid in merged:
        sim.control("POST", "/_sim/merge_contact", {"id": cid})
    for a in ("companies", "tickets", "articles"):
        gone[a] = [x["id"] for x in sim.dump(a)[:2]]
        for rid in gone[a]:
            sim.control("POST", "/_sim/delete", {"asset": a, "id": rid})
    # A contact that changes and then slips past every walk: only a read by
    # id can land its new values, and it must not be taken for deleted.
    slipped = [c["id"] for c in sim.dump("contacts") if c["id"] not in gone["contacts"]][5]
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": [slipped]})
    sim.control("POST", "/_sim/skip", {"asset": "contacts", "id": slipped})

    r = ws.run(*ASSETS)
    t.is_(r.rc, 0, "an incremental run without --reconcile succeeds")
    for a in ASSETS:
        t.ok(set(gone[a]) <= ids(ws.db, a), "without --reconcile, deleted %s stay" % a)

    before = len(sim.request_log())
    r = ws.run(*ASSETS, *PAIRS, "--reconcile")
    t.is_(r.rc, 0, "a run with --reconcile succeeds")
    bodies = [json.dumps(x["body"]) for x in sim.request_log()[before:] if x["path"] == "/contacts/search"]
    t.ok(sum('"<"' in b for b in bodies) >= 3,
         "the contacts listing was walked as time slices (%d of %d searches bounded above)"
         % (sum('"<"' in b for b in bodies), len(bodies)))
    t.ok("reconciled: 5 gone from Intercom, 1 skipped by the walks and landed" in r.err,
         "the summary counts contacts gone and recovered")
    for a in ASSETS:
        landed.compare(t, ws.db, a, sim.dump(a), name="%s after --reconcile" % a)
    landed.compare(t, ws.db, "contact_tags", sim.dump("contact_tags"), key=("contact_id", "tag_id"),
                   name="contact_tags after --reconcile (deleted contacts' tags gone)")
    landed.compare(t, ws.db, "contact_companies", sim.dump("contact_companies"),
                   key=("contact_id", "company_id"), name="contact_companies after --reconcile")
    con = sqlite3.connect(ws.db)
    noted = {}
    for a, rid, at in con.execute("select asset, id, detected_at from _icx_deleted"):
        noted.setdefault(a, set()).add(rid)
    con.close()
    t.is_({a: sorted(v) for a, v in noted.items() if a in ASSETS}, {a: sorted(v) for a, v in gone.items()},
          "_icx_deleted lists exactly the records Intercom no longer has")
    t.ok(all(noted.get(p, set()) <= set(gone["contacts"]) for p in PAIRS) and noted.get("contact_tags"),
         "_icx_deleted: the pair assets name only gone contacts (%r)" % {p: sorted(noted.get(p, ())) for p in PAIRS})
    t.ok(slipped not in noted.get("contacts", set()), "the skipped contact was not taken for deleted")

    log = sim.request_log()
    reads = sorted(x["path"] for x in log if x["path"].startswith("/contacts/")
                   and x["path"].count("/") == 2 and x["path"] != "/contacts/search")
    want = sorted("/contacts/%s" % i for i in gone["contacts"] + [slipped])
    # contacts, contact_tags and contact_companies each read back their own.
    t.is_(sorted(set(reads)), want, "only the contacts missing from the listing were read by id")

    r = ws.run("contacts", "--reconcile")
    t.is_(r.rc, 0, "reconciling again finds nothing new")
    t.ok("reconciled: 0 gone from Intercom, 1 skipped by the walks and landed" in r.err,
         "the still-skipped contact is read back again, nothing deleted")

    r = ws.run("contacts", "--reconcile", dest="jsonl:" + os.path.join(ws.dir, "out"))
    t.is_(r.rc, 2, "--reconcile with a JSONL destination is a usage error")
    t.ok("--reconcile needs a SQLite destination" in r.err, "with a message saying why")

t.done_testing()
