#!/usr/bin/python3
"""contact_tags and contact_companies as assets of their own: complete and
exact (past the ten items a contact embeds) after a first run, after tags
and companies are added and removed, and after a run with nothing changed.
The contacts asset sends search requests only. Sub-resources are fetched
only for contacts whose embedded list is truncated and that changed (a
first load may walk the tags instead: icx.tagwalk, test 0317): a contact
re-read unchanged costs no request. conversation_parts likewise
skips conversations re-read unchanged."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, SCRIPTS  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

PAIRS = {"contact_tags": ("contact_id", "tag_id"), "contact_companies": ("contact_id", "company_id")}
ASSOC = ["contact_tags", "contact_companies"]


def run(ws, *assets):
    return ws.run(*[os.path.join(SCRIPTS, a + ".lua") for a in assets])


def sub_requests(log, kind):
    """contact ids of GET /contacts/{id}/<kind> requests in log."""
    out = []
    for x in log:
        parts = x["path"].split("/")
        if x["method"] == "GET" and len(parts) == 4 and parts[1] == "contacts" and parts[3] == kind:
            out.append(parts[2])
    return out


def compare_pairs(ws, sim, what):
    for a in ASSOC:
        landed.compare(t, ws.db, a, sim.dump(a), PAIRS[a], name="%s %s" % (a, what))


def truncated(c, kind):
    ref = c[kind]
    return ref.get("has_more") or ref.get("total_count", 0) > len(ref["data"])


with Sim(contacts=1500, companies=40, tags=20, conversations=40, seed=31) as sim, Workspace(sim) as ws:
    r = run(ws, "contacts")
    t.is_(r.rc, 0, "contacts alone exits 0")
    paths = {x["path"] for x in sim.request_log()}
    t.is_(paths, {"/me", "/contacts/search"}, "the contacts asset sends contact searches only (and the preflight)")
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts (embedded lists as sent)")

    before = len(sim.request_log())
    r = run(ws, *ASSOC)
    t.is_(r.rc, 0, "contact_tags and contact_companies: first run exits 0")
    compare_pairs(ws, sim, "after a first run")
    contacts = sim.dump("contacts")
    log = sim.request_log()[before:]
    for kind in ("tags", "companies"):
        want = sorted(c["id"] for c in contacts if truncated(c, kind))
        t.ok(len(want) > 0, "%d contacts have more than ten %s" % (len(want), kind))
        walked = any(x["path"] == "/contacts/search" and isinstance(x.get("body"), dict)
                     and (x["body"].get("query") or {}).get("field") == "tag_id" for x in log)
        if kind == "tags" and walked:
            # icx.tagwalk found the tag walk cheaper for this first load (0317
            # tests both ways of its choice): every list came from it.
            t.is_(sub_requests(log, kind), [], "first run: the tag walk leaves no GET /contacts/{id}/tags")
            continue
        t.is_(sorted(set(sub_requests(log, kind))), want,
              "first run: GET /contacts/{id}/%s for exactly the truncated contacts" % kind)

    # Mutations through the sim's control API (each moves the contact's updated_at).
    tag_ids = [x["id"] for x in sim.dump("tags")]
    comp_ids = [x["id"] for x in sim.dump("companies")]
    many_tags = [c for c in contacts if truncated(c, "tags")]
    many_comps = [c for c in contacts if truncated(c, "companies")]
    plain = [c for c in contacts if not truncated(c, "tags") and not truncated(c, "companies")]
    few_tagged = [c for c in plain if c["tags"]["data"]]
    ctl = lambda body: sim.control("POST", "/_sim/contact_lists", body)  # noqa: E731
    # a truncated contact loses three tags (removed pairs must leave)
    big = many_tags[0]
    cur = [x["tag_id"] for x in sim.dump("contact_tags") if x["contact_id"] == big["id"]]
    ctl({"id": big["id"], "remove_tags": cur[:3]})
    # a contact with a few tags loses them all; another gains enough to pass ten
    ctl({"id": few_tagged[0]["id"], "remove_tags": [d["id"] for d in few_tagged[0]["tags"]["data"]]})
    ctl({"id": plain[1]["id"], "add_tags": tag_ids[:12]})
    # companies: a truncated contact leaves two, a plain one joins twelve
    cur = [x["company_id"] for x in sim.dump("contact_companies") if x["contact_id"] == many_comps[0]["id"]]
    ctl({"id": many_comps[0]["id"], "remove_companies": cur[:2]})
    ctl({"id": plain[2]["id"], "add_companies": comp_ids[:12]})
    # an ordinary change on a truncated contact: its pairs are re-read
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": [many_tags[1]["id"]]})
    changed = {big["id"], few_tagged[0]["id"], plain[1]["id"], many_comps[0]["id"], plain[2]["id"],
               many_tags[1]["id"]}

    before = len(sim.request_log())
    r = run(ws, *ASSOC)
    t.is_(r.rc, 0, "second run after tag and company mutations exits 0")
    compare_pairs(ws, sim, "after tags and companies were added and removed")
    contacts = {c["id"]: c for c in sim.dump("contacts")}
    log = sim.request_log()[before:]
    for kind in ("tags", "companies"):
        want = sorted(i for i in changed if truncated(contacts[i], kind))
        t.is_(sorted(sub_requests(log, kind)), want,
              "second run: GET .../%s only for changed contacts with truncated lists %r" % (kind, want))
    searched = sum(1 for x in log if x["path"] == "/contacts/search")
    t.ok(searched >= 2, "the re-read day was searched (%d searches)" % searched)

    # Nothing changed: the cursor's day is re-read, no sub-resource fetched.
    before = len(sim.request_log())
    r = run(ws, *ASSOC)
    t.is_(r.rc, 0, "third run (no change) exits 0")
    log = sim.request_log()[before:]
    t.is_(sub_requests(log, "tags") + sub_requests(log, "companies"), [],
          "contacts re-read unchanged cost no association request")
    t.ok(any(x["path"] == "/contacts/search" for x in log), "the contacts were re-read by search")
    compare_pairs(ws, sim, "after a run with no change")

    # --full-refresh re-reads every association (a user's way to re-sync).
    before = len(sim.request_log())
    r = ws.run(os.path.join(SCRIPTS, "contact_tags.lua"), "--full-refresh")
    t.is_(r.rc, 0, "--full-refresh exits 0")
    got = sub_requests(sim.request_log()[before:], "tags")
    t.is_(len(got), sum(1 for c in contacts.values() if truncated(c, "tags")),
          "--full-refresh fetches every truncated contact's tags again")
    compare_pairs(ws, sim, "after --full-refresh")

    # conversation_parts: one GET per changed conversation; none for one
    # re-read unchanged.
    r = run(ws, "conversation_parts")
    t.is_(r.rc, 0, "conversation_parts first run exits 0")
    mutated = sim.control("POST", "/_sim/mutate", {"asset": "conversations", "count": 3})["ids"]
    before = len(sim.request_log())
    r = run(ws, "conversation_parts")
    t.is_(r.rc, 0, "conversation_parts after 3 changes exits 0")
    gets = sorted(x["path"].split("/")[2] for x in sim.request_log()[before:]
                  if x["path"].startswith("/conversations/") and x["path"] != "/conversations/search")
    t.is_(gets, sorted(mutated), "one GET /conversations/{id} per changed conversation")
    before = len(sim.request_log())
    r = run(ws, "conversation_parts")
    t.is_(r.rc, 0, "conversation_parts with nothing changed exits 0")
    log = sim.request_log()[before:]
    t.ok(any(x["path"] == "/conversations/search" for x in log), "the lookback re-read the changed conversations")
    t.is_([x["path"] for x in log if x["path"] not in ("/conversations/search", "/me")], [],
          "no GET for conversations re-read unchanged")
    shown, counts = landed.conversation_parts_truth(sim)
    landed.compare(t, ws.db, "conversation_parts", shown)
    landed.compare(t, ws.db, "conversation_part_counts", counts, ("conversation_id",))

# A typo in the incremental key fails at once, naming the key and the fields.
TYPO = """local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "typo", primary_key = "id", mode = "merge",
  incremental = { key = "modified_at" }, pages = intercom.search "/contacts/search" }
"""
with Sim(contacts=50, seed=32) as sim, Workspace(sim) as ws:
    path = os.path.join(ws.dir, "typo.lua")
    with open(path, "w") as f:
        f.write(TYPO)
    r = ws.run(path)
    t.is_(r.rc, 1, "an incremental key no record has: exit 1")
    t.ok("'modified_at'" in r.err and "updated_at" in r.err and "created_at" in r.err,
         "the error names the key and the fields the records have")

t.done_testing()
