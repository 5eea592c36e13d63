#!/usr/bin/python3
"""Truthful progress (issue 23): for every asset kind, what the page events
and the live display count is what lands: rows of the main table for plain
assets (contacts walked as time slices, tickets with child tables, the
companies scroll), parents walked of their total for expansions
(conversation_parts, contact_companies, company_segments). Neither figure
ever goes back, done never passes the total, and a finished walk's total is
exact. Off a terminal, each rate-budget wait is one line per asset: an
asset's next line comes only after its previous wait has passed."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from icxtest import events  # noqa: E402
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402

CONTACTS, CONVERSATIONS, COMPANIES, TICKETS = 2400, 60, 40, 30
# conversation_parts in pages of 20 conversations: several pages, so
# several page events and frames, at a small cost.
PARTS = """local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "parts_by_20", table = "parts_by_20", primary_key = "id", mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.conversation_parts { per_page = 20 } }
"""
UNITS = {"contacts": "rows", "tickets": "rows", "companies": "rows", "parts_by_20": "conversations",
         "contact_companies": "contacts", "company_segments": "companies"}


def check_pages(evs, label, final=None):
    """Monotone, bounded progress per asset from page events."""
    by = {}
    for e in evs:
        if e.get("event") == "page":
            by.setdefault(e["asset"], []).append(e)
    for asset, unit in UNITS.items():
        pages = by.get(asset, [])
        if not pages:
            t.ok(False, "%s: %s has page events" % (label, asset))
            continue
        if unit == "rows":
            seq = [(p["rows"], p.get("total")) for p in pages]
            t.ok(all("parents" not in p for p in pages), "%s: %s counts rows of its table" % (label, asset))
        else:
            seq = [(p.get("parents"), p.get("parents_total")) for p in pages]
            t.ok(all(p.get("parent") == unit for p in pages) and "total" not in pages[-1],
                 "%s: %s counts %s walked (no rows total)" % (label, asset, unit))
        done = [d for d, _ in seq]
        tot = [x for _, x in seq if x is not None]
        t.ok(done == sorted(done), "%s: %s done never goes back" % (label, asset))
        t.ok(tot == sorted(tot), "%s: %s total never goes back (%s)" % (label, asset, tot[:8]))
        t.ok(all(x is None or d <= x for d, x in seq), "%s: %s done never passes the total" % (label, asset))
        if final and asset in final and tot:
            t.is_(tot[-1], final[asset], "%s: %s ends at the true total" % (label, asset))


# 35 requests per 10 s: the run needs about five windows, so the budget
# runs out early in each and the waits are long enough (5 s) to be said.
with Sim(contacts=CONTACTS, conversations=CONVERSATIONS, companies=COMPANIES, tickets=TICKETS, seed=1320,
         rate=35) as sim, Workspace(sim) as ws:
    parts = os.path.join(ws.dir, "parts_by_20.lua")
    with open(parts, "w") as f:
        f.write(PARTS)
    assets = ["contacts", "tickets", "companies", parts, "contact_companies", "company_segments"]
    r = ws.run(*assets, "--log-format", "json")
    t.is_(r.rc, 0, "a first run of every asset kind exits 0")
    evs = events(r.err)
    check_pages(evs, "first run", final={"parts_by_20": CONVERSATIONS, "tickets": TICKETS,
                                         "contact_companies": CONTACTS, "company_segments": COMPANIES})
    last = [e for e in evs if e.get("event") == "page" and e["asset"] == "contacts"][-1]
    t.ok(abs(last["total"] - CONTACTS) <= CONTACTS * 0.02,
         "contacts, walked as slices: a total within 2%% of the truth (%d)" % last["total"])
    # Each rate-budget wait is said once per asset: an asset's next wait
    # begins only once the one before it has passed.
    waits = [e for e in evs if e.get("event") == "rate_wait"]
    t.ok(len(waits) >= 2, "the run waited for the rate budget (%d waits said)" % len(waits))
    by = {}
    for e in waits:
        by.setdefault(e.get("asset"), []).append(e)

    def secs(e):
        h, m, s = e["ts"][11:-1].split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    overlapping = [(a, secs(x), secs(y), x["seconds"]) for a, w in by.items() for x, y in zip(w, w[1:])
                   if secs(y) - secs(x) < x["seconds"] - 0.5]
    t.is_(overlapping, [], "one rate-wait line per asset per wait (%d assets waited)" % len(by))

    # An incremental run: most parents are re-read unchanged and land no
    # rows; the progress still only grows.
    sim.control("POST", "/_sim/mutate", {"asset": "conversations", "count": 5})
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5})
    r = ws.run(*assets, "--log-format", "json")
    t.is_(r.rc, 0, "an incremental run exits 0")
    check_pages(events(r.err), "incremental run")

# The live display: the same figures, frame after frame.
with Sim(contacts=CONTACTS, conversations=CONVERSATIONS, seed=1321) as sim, \
        icxtest.Case("1320-display", sim) as case:
    parts = os.path.join(case.dir, "parts_by_20.lua")
    with open(parts, "w") as f:
        f.write(PARTS)
    argv = [icxtest.ICX, "run", "--config", case.config, "--dest", "icx.db", "contacts", parts]
    rc, out = icxtest.run_in_pty(argv, case.dir, env={"ICX_TEST_TOKEN": sim.token}, cols=160)
    with open(os.path.join(case.dir, "pty.out"), "w") as f:
        f.write(out)
    t.is_(rc, 0, "under a terminal: exit 0")
    for asset, unit in (("contacts", "rows"), ("parts_by_20", "conversations")):
        frames = [(int(m.group(1)), int(m.group(2))) for m in
                  re.finditer(r"\n%s +(?:\[[#-]+\] +)?(\d+)/(\d+) %s" % (asset, unit), out)]
        t.ok(len(frames) >= 2, "%s: %d frames show %s of a total" % (asset, len(frames), unit))
        done = [d for d, _ in frames]
        tot = [x for _, x in frames]
        t.ok(done == sorted(done) and tot == sorted(tot), "%s: the display never goes back" % asset)
        t.ok(all(d <= x for d, x in frames), "%s: never more done than the total" % asset)
    frames = re.findall(r"\nparts_by_20 +\[[#-]+\] +\d+/(\d+) conversations +(\d+) rows", out)
    t.ok(frames and all(int(x) == CONVERSATIONS for x, _ in frames),
         "conversation parts: every frame's total is the conversations' (%d), the rows beside it" % CONVERSATIONS)

t.done_testing()
