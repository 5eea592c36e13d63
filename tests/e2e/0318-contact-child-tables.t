#!/usr/bin/python3
"""The child tables of contacts (intercom.contact_tags() and
contact_companies(), the older and costlier way to complete pairs): after
a run they hold exactly the simulator's pairs, past the ten items a
contact embeds. A contact whose sub-resource answers 404 (deleted after
the search page that named it) gets no child rows, and the run goes on;
a --full-refresh then lands its pairs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

PAIRS = {"contact_tags": ("contact_id", "tag_id"), "contact_companies": ("contact_id", "company_id")}

SCRIPT = '''local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset {
  name = "contacts", primary_key = "id", mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/contacts/search",
  children = { intercom.contact_tags(), intercom.contact_companies() },
}
'''


def truncated(c, kind):
    ref = c[kind]
    return ref.get("has_more") or ref.get("total_count", 0) > len(ref["data"])


with Sim(contacts=600, companies=40, tags=20, seed=32) as sim, Workspace(sim) as ws:
    script = os.path.join(ws.dir, "contacts_children.lua")
    with open(script, "w") as f:
        f.write(SCRIPT)
    contacts = sim.dump("contacts")
    cut = {k: [c["id"] for c in contacts if truncated(c, k)] for k in ("tags", "companies")}
    t.ok(cut["tags"] and cut["companies"], "the workspace has contacts past ten tags (%d) and companies (%d)"
         % (len(cut["tags"]), len(cut["companies"])))
    gone = cut["tags"][0]
    sim.fault(path="/contacts/%s/tags" % gone, kind="status", status=404, count=1)

    r = ws.run(script, "-v")
    t.is_(r.rc, 0, "a run with the child tables exits 0, though one contact's tags answered 404")
    t.ok("/contacts/%s/tags: 404" % gone in r.err, "-v says which contact was gone")
    landed.compare(t, ws.db, "contacts", contacts, name="contacts")
    tags = sim.dump("contact_tags")
    t.ok(any(p["contact_id"] == gone for p in tags), "the simulator holds pairs of the 404 contact")
    landed.compare(t, ws.db, "contact_tags", [p for p in tags if p["contact_id"] != gone],
                   PAIRS["contact_tags"], name="contact_tags, all but the 404 contact's")
    landed.compare(t, ws.db, "contact_companies", sim.dump("contact_companies"), PAIRS["contact_companies"],
                   name="contact_companies")
    fetched = {x["path"] for x in sim.request_log() if x["method"] == "GET"}
    t.is_(sorted(p for p in fetched if p.endswith("/tags")), sorted("/contacts/%s/tags" % i for i in cut["tags"]),
          "GET /contacts/{id}/tags for exactly the truncated contacts")

    r = ws.run(script, "--full-refresh")
    t.is_(r.rc, 0, "a --full-refresh exits 0")
    for a, key in PAIRS.items():
        landed.compare(t, ws.db, a, sim.dump(a), key, name="%s after --full-refresh" % a)

t.done_testing()
