#!/usr/bin/python3
"""A first load of a real-shaped workspace (most contacts updated in the last
days) is cut into slices of about equal record counts, planned from a bounded
survey of per_page=1 searches; what lands is exact value by value, also with
contacts changed and created during the walk (after the next incremental
run); an incremental run walks newest first, reading the pages of what
changed instead of the cursor's whole day, exact under concurrent changes;
and an incremental run that finds few changes since an old cursor walks
once instead of walking slices."""
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

DAY = 86400


def searches(log, since=0):
    """The contact searches in the log from index since: (per_page, bounds)."""
    out = []
    for x in log[since:]:
        if x["path"] != "/contacts/search":
            continue
        b = x["body"]
        q = b["query"]
        parts = q["value"] if q.get("operator") == "AND" else [q]
        lo = [p["value"] for p in parts if p.get("operator") == ">"]
        hi = [p["value"] for p in parts if p.get("operator") == "<"]
        out.append((b["pagination"]["per_page"], b["pagination"].get("starting_after"),
                    lo[0] if lo else None, hi[0] if hi else None))
    return out


def slice_firsts(s):
    """The slices' ranges: the first pages (no starting_after) of whole
    pages, less the survey's newest count (a whole page too, with no upper
    bound) where the last slice did not start with it."""
    firsts = [(lo, hi) for pp, sa, lo, hi in s if pp != 1 and sa is None]
    open_ended = [b for b in firsts if b[1] is None]
    firsts = [b for b in firsts if b[1] is not None] + open_ended[-1:]
    return sorted(set(firsts), key=lambda b: (b[0] is not None, b[0] or 0))


def in_slice(u, lo, hi):
    """Whether updated_at u is read by a slice (`>` lo, `<` hi), by UTC day
    as the simulator matches contact dates."""
    return (lo is None or u >= (lo // DAY + 1) * DAY) and (hi is None or u < hi // DAY * DAY)


with Sim(contacts=6000, seed=31, latency_ms=40, recent_share=0.6, recent_days=3) as sim, \
        Workspace(sim) as ws:
    truth0 = sim.dump("contacts")
    stop = threading.Event()
    changed = []

    def churn():
        """Contacts changed and created while the first load walks."""
        while not stop.wait(0.15):
            sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5})
            sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 2})
            changed.append(time.time())

    th = threading.Thread(target=churn)
    th.start()
    try:
        r = ws.run("contacts", "-v")
    finally:
        stop.set()
        th.join()
    t.is_(r.rc, 0, "a first load under concurrent changes exits 0")
    t.ok(len(changed) >= 2, "contacts changed and created during the walk (%d rounds)" % len(changed))
    t.ok("survey of" in r.err, "the survey is said: %s" % next(
        (line.strip() for line in r.err.splitlines() if "survey of" in line), "(nothing)"))

    s = searches(sim.request_log())
    survey = [x for x in s if x[0] == 1]
    t.ok(1 < len(survey) <= 6, "the survey costs %d per_page=1 requests (at most 6)" % len(survey))
    firsts = slice_firsts(s)
    t.ok(len(firsts) >= 4, "%d slices walked at once" % len(firsts))
    counts = [sum(1 for c in truth0 if in_slice(c["updated_at"], lo, hi)) for lo, hi in firsts]
    t.is_(sum(counts), len(truth0), "the slices partition the contacts: each read by exactly one slice")
    t.ok(max(counts) <= 2.2 * len(truth0) / len(firsts),
         "counts balanced to the day: %s (equal spans: the newest of %d would hold %d)" % (
             counts, len(firsts),
             sum(1 for c in truth0 if c["updated_at"] >= time.time() - 727 * DAY / len(firsts))))
    pages = sum(1 for x in s if x[0] != 1)
    floor = -(-len(truth0) // 150)
    t.ok(pages <= floor + len(firsts) + 2,
         "pages walked: %d for a floor of %d (one partial page a slice)" % (pages, floor))

    # What the walk read before a change is exact now; the rest after the
    # next run, which reads from the cursor on.
    got = landed.rows(ws.db, "contacts", ("id",))
    start = min(changed) - 1 if changed else time.time()
    steady = [c for c in sim.dump("contacts") if c["updated_at"] < start]
    bad = [c["id"] for c in steady if (c["id"],) not in got or not all(
        landed.cell_matches(k, got[(c["id"],)].get(k), v) for k, v in c.items())]
    t.ok(steady and not bad, "every contact untouched during the walk landed exact (%d; %d wrong)"
         % (len(steady), len(bad)))
    r = ws.run("contacts")
    t.is_(r.rc, 0, "the incremental run after it exits 0")
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts after the churn")
    con = sqlite3.connect(ws.db)
    left = con.execute("select count(*) from _icx_state where asset = 'contacts/slices'").fetchone()[0]
    con.close()
    t.is_(left, 0, "no slice plan left behind")

    # 1% changed: today holds thousands of contacts, which an ascending walk
    # from the cursor's day would read again; newest first, only the pages
    # of what changed and one more. Changes during that walk land by the
    # next run.
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 60})
    before = len(sim.request_log())
    stop.clear()
    changed.clear()
    th = threading.Thread(target=churn)
    th.start()
    try:
        r = ws.run("contacts")
    finally:
        stop.set()
        th.join()
    t.is_(r.rc, 0, "an incremental run under concurrent changes exits 0")
    s = searches(sim.request_log(), before)
    t.ok(len(s) <= 4, "60 changed (and %d rounds of churn): %d searches, newest first (today holds %d)"
         % (len(changed), len(s), sum(1 for c in sim.dump("contacts") if c["updated_at"] // DAY == time.time() // DAY)))
    descending = [x for x in sim.request_log()[before:] if x["path"] == "/contacts/search"
                  and x["body"]["sort"]["order"] == "descending"]
    t.is_(len(descending), len(s), "every search of the incremental run sorts newest first")
    t.is_(ws.run("contacts").rc, 0, "and the run after it exits 0")
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts after newest-first runs")
    con = sqlite3.connect(ws.db)
    cur = int(con.execute("select value from _icx_state where asset = 'contacts'").fetchone()[0])
    con.close()
    t.is_(cur, max(c["updated_at"] for c in sim.dump("contacts")), "the cursor at the newest contact")

# Few changes since a cursor older than a week: one count, one page. (The
# even spread: on the real shape the cursor's whole day, re-read on
# day-granular search, holds thousands of contacts and is no sparse run.)
NOW = int(time.time()) - 30 * DAY
with Sim(contacts=3000, seed=32, now=NOW) as sim, Workspace(sim) as ws:
    t.is_(ws.run("contacts").rc, 0, "a first load with its newest contact a month old")
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 3})
    before = len(sim.request_log())
    t.is_(ws.run("contacts").rc, 0, "the incremental run exits 0")
    # The completeness check's counts are closed windows (one record, both
    # bounds); the walk's survey count has a lower bound only.
    every = searches(sim.request_log(), before)
    s = [x for x in every if not (x[0] == 1 and x[3] is not None)]
    t.ok(len(s) <= 2, "3 changes since a month-old cursor: %d searches (a count and one page): %r" % (len(s), s))
    t.ok(len(every) - len(s) <= 2, "...and at most two completeness counts: %r" % every)
    landed.compare(t, ws.db, "contacts", sim.dump("contacts"), name="contacts after the sparse run")

t.done_testing()
