#!/usr/bin/python3
"""contact_tags' first load takes the cheaper way for the workspace's shape
(icx.tagwalk): with few tags and many contacts past ten tags it walks
contact search per tag (no GET /contacts/{id}/tags at all, fewer requests
than one per truncated contact); with many tags and few truncated contacts
it fetches per contact. Either way the pairs land exact, a later run goes
per contact for the changed ones only, and a first load cut short in the
tag walk or just after it, then run again, lands exact too."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

KEY = ("contact_id", "tag_id")


def tag_gets(log):
    return [x["path"].split("/")[2] for x in log
            if x["method"] == "GET" and x["path"].startswith("/contacts/") and x["path"].endswith("/tags")]


def tag_searches(log):
    """The tag ids walked: POST /contacts/search bodies with tag_id = T."""
    out = []
    for x in log:
        q = (x.get("body") or {}).get("query") if isinstance(x.get("body"), dict) else None
        if x["path"] == "/contacts/search" and isinstance(q, dict) and q.get("field") == "tag_id":
            out.append(q.get("value"))
    return out


def truncated(c):
    ref = c["tags"]
    return ref.get("has_more") or ref.get("total_count", 0) > len(ref["data"])


def exact(ws, sim, what):
    return landed.compare(t, ws.db, "contact_tags", sim.dump("contact_tags"), KEY, name="contact_tags " + what)


FORCED = """local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "contact_tags", primary_key = { "contact_id", "tag_id" }, mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.contact_tag_pairs { first_load = "tag walk" } }
"""

# 12 tags: every contact past ten holds nearly all of them, and walking 12
# tags is clearly cheaper than one GET per such contact.
with Sim(contacts=1500, companies=20, tags=12, conversations=1, seed=31) as sim:
    contacts = sim.dump("contacts")
    cut = sorted(c["id"] for c in contacts if truncated(c))
    tags = [x["id"] for x in sim.dump("tags")]
    t.ok(len(cut) > 30, "this workspace: %d contacts past ten tags, %d tags" % (len(cut), len(tags)))

    with Workspace(sim, name="0317-tag-walk-a") as ws:
        before = len(sim.request_log())
        r = ws.run("contact_tags", "-v")
        t.is_(r.rc, 0, "first load exits 0")
        log = sim.request_log()[before:]
        t.ok(": tag walk (estimated" in r.err, "the first load says it chose the tag walk")
        # A tag walk with no survey first (first_load = "tag walk") sends
        # this many searches before the walk of contacts.
        contacts_from = len(tag_searches(log))
        t.is_(sorted(set(tag_searches(log))), sorted(tags), "every tag of GET /tags was walked")
        t.is_(tag_gets(log), [], "no GET /contacts/{id}/tags: the tag walk gave every truncated list")
        pages = -(-len(contacts) // 150)
        t.ok(len(log) < len(cut) + pages,
             "%d requests in all, fewer than per-contact's %d GETs + %d search pages"
             % (len(log), len(cut), pages))
        exact(ws, sim, "after a first load by tag walk")

        # Changes after the first load: per contact, the changed ones only.
        ctl = lambda body: sim.control("POST", "/_sim/contact_lists", body)  # noqa: E731
        big = [c for c in contacts if truncated(c)]
        cur = [x["tag_id"] for x in sim.dump("contact_tags") if x["contact_id"] == big[0]["id"]]
        ctl({"id": big[0]["id"], "remove_tags": cur[:3]})
        plain = [c for c in contacts if not truncated(c)]
        ctl({"id": plain[0]["id"], "add_tags": tags[:12]})
        before = len(sim.request_log())
        r = ws.run("contact_tags")
        t.is_(r.rc, 0, "second run exits 0")
        log = sim.request_log()[before:]
        t.is_(tag_searches(log), [], "a later run walks no tag")
        now = {c["id"]: c for c in sim.dump("contacts")}
        t.is_(sorted(tag_gets(log)), sorted(i for i in (big[0]["id"], plain[0]["id"]) if truncated(now[i])),
              "a later run fetches the changed contacts still past ten tags, only")
        exact(ws, sim, "after tags were added and removed")

    # A first load cut short: in the tag walk, then just after it.
    for name, after in (("in the tag walk", 6), ("in the walk of contacts", None)):
        with Workspace(sim, name="0317-tag-walk-cut-%d" % (after or 0), extra="      max_attempts: 1\n") as ws:
            if after is None:
                # Past every tag's searches, the slices' survey (up to six
                # per_page=1 searches) and two pages of contacts.
                after = contacts_from + 8
            # The tag walk forced (first_load), so the cut is where it says
            # whatever the survey would estimate for the sim as it is now.
            script = os.path.join(ws.dir, "contact_tags_walk.lua")
            with open(script, "w") as f:
                f.write(FORCED)
            sim.control("POST", "/_sim/clear_faults", {})
            sim.fault(path="/contacts/search", kind="status", status=500, count=1000, after=after)
            before = len(sim.request_log())
            r = ws.run(script, "-v")
            t.ok(r.rc != 0 and ": tag walk" in r.err, "a first load by tag walk cut %s fails" % name)
            cut_log = [x for x in sim.request_log()[before:] if x["path"] == "/contacts/search"]
            walked = tag_searches(cut_log)
            others = len(cut_log) - len(walked)
            if name == "in the tag walk":
                t.ok(walked and others == 0, "it was cut in the tag walk (%d tag searches, %d others)"
                     % (len(walked), others))
            else:
                t.ok(sorted(set(walked)) == sorted(tags) and others >= 3,
                     "it was cut after every tag was walked (%d tag searches, %d others)" % (len(walked), others))
            sim.control("POST", "/_sim/clear_faults", {})
            before = len(sim.request_log())
            r = ws.run(script)
            t.is_(r.rc, 0, "run again after a cut %s: exits 0" % name)
            if name != "in the tag walk":
                again = sim.request_log()[before:]
                t.ok(not tag_searches(again) and not tag_gets(again),
                     "and it resumes the walk of contacts: no tag walked again, no GET (%d tag searches, "
                     "%d GETs): the first page of contacts stamped what the tag walk gave"
                     % (len(tag_searches(again)), len(tag_gets(again))))
            exact(ws, sim, "after a first load cut %s and run again" % name)

with Sim(contacts=400, companies=5, tags=300, conversations=1, seed=7) as sim:
    contacts = sim.dump("contacts")
    cut = sorted(c["id"] for c in contacts if truncated(c))
    with Workspace(sim, name="0317-tag-walk-b") as ws:
        before = len(sim.request_log())
        r = ws.run("contact_tags", "-v")
        t.is_(r.rc, 0, "300 tags, %d truncated contacts: first load exits 0" % len(cut))
        log = sim.request_log()[before:]
        t.ok(": per contact (estimated" in r.err, "the first load says it chose per contact")
        t.is_(tag_searches(log), [], "no tag was walked")
        t.is_(sorted(tag_gets(log)), cut, "one GET /contacts/{id}/tags per truncated contact")
        exact(ws, sim, "after a first load per contact")

t.done_testing()
