#!/usr/bin/python3
"""Time to data on a real-shaped workspace (the simulator's --recent-share:
60% of records updated in the last 3 days, the rest over two years), each
figure next to a plain sequential client (one request in flight) run against
the same simulator in the same run:

 1. 20,000 contacts, 150 ms per response, 166 requests / 10 s: the contacts
    asset's wall time against the limit, max(requests a walk needs / 16.6
    per s, the longest chain of requests that must follow each other x
    latency) (target <= 1.15), and its requests against the search pages a
    walk needs (target <= 1.05). Contact search matches dates by whole day,
    so the densest day's pages are a chain no slicing can cut: the limit
    counts it.
 3. After 1% of records changed: each search asset's requests against the
    pages of its changed records plus one per asset (target <= 1.2), and
    what the run had to read (contact search matches whole days: icx walks
    an incremental run of contacts newest first, so it need not read the
    cursor's whole day again).

Prints figures and whether each target is met; run once (the machine is
shared: figures are noisy). REAL_CONTACTS changes the size.
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "tests", "sim")]
import economy  # noqa: E402
from simctl import Sim  # noqa: E402

N = int(os.environ.get("REAL_CONTACTS", "20000"))
LATENCY = 0.150
BUDGET = 16.6
PER_PAGE = 150
SHAPE = {"recent_share": 0.6, "recent_days": 3}
DAY = 86400
verdict = economy.verdict


def pages(n):
    return -(-n // PER_PAGE)


def bounds(q):
    """A search query's (`>` value, `<` value), None where absent."""
    parts = q["value"] if q.get("operator") == "AND" else [q]
    lo = [p["value"] for p in parts if p.get("operator") == ">"]
    hi = [p["value"] for p in parts if p.get("operator") == "<"]
    return (lo[0] if lo else None, hi[0] if hi else None)


def in_range(u, lo, hi):
    """Whether contact search (whole UTC days) reads updated_at u."""
    return (lo is None or u >= (lo // DAY + 1) * DAY) and (hi is None or u < hi // DAY * DAY)


def part1(d):
    print("== 1: %d real-shaped contacts, %d ms per response, 166 requests / 10 s" % (N, LATENCY * 1000))
    with Sim(contacts=N, companies=60, conversations=1, tickets=1, articles=1, seed=7,
             latency_ms=LATENCY * 1000, **SHAPE) as sim:
        conf = economy.conf_for(d, sim)
        truth = sim.dump("contacts")
        per_day = {}
        for c in truth:
            per_day[c["updated_at"] // DAY] = per_day.get(c["updated_at"] // DAY, 0) + 1
        floor = pages(N)
        chain = max(pages(n) for n in per_day.values())
        limit = max(floor / BUDGET, chain * LATENCY)
        b = economy.baseline(sim.url, sim.token, os.path.join(d, "base.db"))
        time.sleep(10)  # a fresh rate window for icx
        before = len(sim.request_log())
        rc, wall, cpu, rss = economy.icx(conf, os.path.join(d, "one.db"), "contacts")
        log = sim.request_log()[before:]
        reqs = len(log)
        counts1 = sum(1 for x in log if isinstance(x.get("body"), dict)
                      and x["body"].get("pagination", {}).get("per_page") == 1)
        # The slices' first pages; the survey's newest count is a whole page
        # with no upper bound too: a slice's only where the last slice
        # started with it.
        firsts = [bounds(x["body"]["query"]) for x in log if isinstance(x.get("body"), dict)
                  and x["body"].get("pagination", {}).get("per_page") != 1
                  and "starting_after" not in x["body"]["pagination"]]
        ranges = {b for b in firsts if b[1] is not None} | set([b for b in firsts if b[1] is None][-1:])
        counts = sorted((sum(1 for c in truth if in_range(c["updated_at"], lo, hi)) for lo, hi in ranges),
                        reverse=True)
        slices = len(ranges)
        print("  limit: max(%d pages / %.1f per s = %.1f s, densest day %d pages x %d ms = %.1f s) = %.1f s"
              % (floor, BUDGET, floor / BUDGET, chain, LATENCY * 1000, chain * LATENCY, limit))
        print("  icx contacts asset: %d requests (%d per_page=1 counts: the survey's and the completeness"
              " check's; %d slices) in %.1f s (exit %d), %.2f CPU-s" % (reqs, counts1, slices, wall, rc, cpu))
        print("  slices' contacts: %s (the longest chain %d pages)" % (" ".join(map(str, counts)),
                                                                    pages(counts[0]) if counts else 0))
        print("  one in flight:      %d requests in %.1f s" % (b["requests"], b["wall"]))
        print("  " + verdict("wall / limit", wall / limit, 1.15))
        print("    (one in flight: %.2f)" % (b["wall"] / limit))
        print("  " + verdict("requests / search pages", reqs / floor, 1.05))
        print("    (one in flight: %.2f)" % (b["requests"] / floor))


ASSETS = (("contacts", "/contacts/search"), ("tickets", "/tickets/search"))


def part3(d):
    print("== 3: real shape, 1%% of records changed: incremental runs of %s"
          % ", ".join(a for a, _ in ASSETS))
    with Sim(contacts=N, companies=60, conversations=1, tickets=N // 10, articles=1, seed=8, **SHAPE) as sim:
        conf = economy.conf_for(d, sim)
        db = os.path.join(d, "inc.db")
        sim.control("POST", "/_sim/rate", {"limit": 100000})  # the first load is not what is measured
        rc, _, _, _ = economy.icx(conf, db, *[a for a, _ in ASSETS])
        print("  first load exit %d" % rc)
        sim.control("POST", "/_sim/rate", {"limit": 166})
        changed = {}
        for a, _ in ASSETS:
            n = len(sim.dump(a))
            changed[a] = len(sim.control("POST", "/_sim/mutate", {"asset": a, "count": n // 100})["ids"])
        time.sleep(10)
        before = len(sim.request_log())
        rc, wall, _, _ = economy.icx(conf, db, *[a for a, _ in ASSETS])
        log = sim.request_log()[before:]
        total, want = 0, 0
        for a, path in ASSETS:
            got = sum(1 for x in log if x["path"] == path)
            w = pages(changed[a]) + 1
            total, want = total + got, want + w
            print("  %-9s %3d changed: %3d requests; pages of changed + 1 = %d" % (a, changed[a], got, w))
        others = len(log) - total
        print("  run exit %d in %.1f s; %d other requests" % (rc, wall, others))
        print("  " + verdict("requests / (pages of changed + one per asset)", (total + others) / want, 1.2))
        print("    (contact search matches whole days: walked ascending from the cursor, an incremental run"
              " reads the cursor's whole day again, on this shape thousands of contacts)")


def main():
    only = set(sys.argv[1:]) or {"1", "3"}
    with tempfile.TemporaryDirectory() as d:
        if "1" in only:
            part1(d)
        if "3" in only:
            part3(d)
    print("real_shape: %d of %d targets met" % (sum(economy.results), len(economy.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
