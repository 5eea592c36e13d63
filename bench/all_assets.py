#!/usr/bin/python3
"""Benchmark 2 of issue 21: every shipped asset at once (`icx run` of every
script) on a real-shaped medium workspace (the simulator's --recent-share),
150 ms per response, 166 requests / 10 s, as a first load.

Prints the requests per second over the run against the budget (16.6/s;
target >= 0.9 where the budget binds) and, where a chain of requests that
must follow each other dominates, the printed critical path: the longest
such chain x latency, worked out from the simulator's truth (GET /me, then
the longest of: the companies scroll's pages, twice in a row for companies
and company_segments since Intercom keeps one open scroll per app, plus a
segments GET; contact search's densest day in pages, plus a tag or company
list GET; activity logs' fixed 20-record pages; a page-number list's first
page then the rest at once; one page of any other search plus its GET);
target wall <= 1.15 x that path. Next to it, in the same run, a client with
one request in flight: icx's own requests replayed one after another
against the same simulator (a companies scroll follows its live
scroll_param), which is the least time such a client needs for them.

Figures, not pass/fail of the machine: it is shared and noisy; run once.
Two workspaces: (a) where GETs per company and per conversation make the
budget bind, (b) with few of them, where the chains decide.
ALL_ASSETS_CONTACTS scales them (default 3000 contacts).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests", "sim")]
import economy  # noqa: E402
from simctl import Sim  # noqa: E402

ICX = economy.ICX
N = int(os.environ.get("ALL_ASSETS_CONTACTS", "3000"))
LATENCY = 0.150
BUDGET = 16.6
DAY = 86400
SEARCH, SCROLL, LOGS = 150, 50, 20
ASSETS = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "scripts")) if f.endswith(".lua"))
verdict = economy.verdict


def ceil(n, per):
    return max(1, int(math.ceil(n / float(per))))


def chains(sim):
    """[(requests, what)] of the chains a first load of every asset holds,
    longest first; each starts after the run's GET /me."""
    per_day = {}
    for c in sim.dump("contacts"):
        per_day[c["updated_at"] // DAY] = per_day.get(c["updated_at"] // DAY, 0) + 1
    ncomp = len(sim.dump("companies"))
    scroll = ceil(ncomp, SCROLL) + 1
    out = [
        (1 + 2 * scroll + 1, "GET /me, the companies scroll (%d companies / %d + 1 = %d pages) for companies "
         "and again for company_segments (one open scroll per app), a segments GET" % (ncomp, SCROLL, scroll)),
        (1 + ceil(max(per_day.values()), SEARCH) + 1, "GET /me, contact search's densest day (%d contacts), "
         "a tag or company list GET" % max(per_day.values())),
        (1 + ceil(len(sim.dump("activity_logs")), LOGS), "GET /me, activity logs' pages of %d" % LOGS),
        (1 + 1 + 1, "GET /me, one search page, one GET per record (conversation parts)"),
    ]
    return sorted(out, reverse=True)


def replay(url, token, log):
    """Sends log's requests again one after another; a companies scroll
    follows the scroll_param of the live response. -> (requests, wall s)."""
    t0 = time.monotonic()
    scroll, n = None, 0
    for x in log:
        q = {k: v[-1] for k, v in (x.get("query") or {}).items()}
        if x["path"] == "/companies/scroll":
            if "scroll_param" in q:
                if not scroll:
                    continue
                q["scroll_param"] = scroll
        body = x.get("body")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url + x["path"] + ("?" + urllib.parse.urlencode(q) if q else ""),
                                     data=data, method=x["method"],
                                     headers={"Authorization": "Bearer " + token, "Accept": "application/json",
                                              "Content-Type": "application/json",
                                              "Intercom-Version": (x.get("headers") or {}).get("Intercom-Version")
                                              or "2.14"})
        while True:
            n += 1
            try:
                with urllib.request.urlopen(req) as r:
                    page = r.read()
                break
            except urllib.error.HTTPError as e:
                if e.code != 429:
                    page = b"{}"
                    break
                time.sleep(max(0.1, int(e.headers.get("X-RateLimit-Reset", "0")) - time.time()))
        if x["path"] == "/companies/scroll":
            try:
                j = json.loads(page)
                scroll = j.get("scroll_param") if j.get("data") else None
            except ValueError:
                scroll = None
    return n, time.monotonic() - t0


def run(name, shape):
    print("== 2%s: every shipped asset (%d), real-shaped workspace (%s), %d ms per response, "
          "166 requests / 10 s, first load" % (name, len(ASSETS), ", ".join("%d %s" % (v, k) for k, v in shape.items()),
                                              LATENCY * 1000))
    with Sim(articles=120, collections=40, activity_logs=150, seed=12, latency_ms=LATENCY * 1000,
             recent_share=0.6, recent_days=3, ready_timeout=600, **shape) as sim, \
            tempfile.TemporaryDirectory() as d:
        conf = economy.conf_for(d, sim)
        path = chains(sim)
        time.sleep(10 - time.time() % 10 + 0.05)  # a fresh rate window
        before = len(sim.request_log())
        rc, wall, cpu, _ = economy.icx(conf, os.path.join(d, "all.db"), *ASSETS)
        log = sim.request_log()[before:]
        reqs = len(log)
        limited = sum(1 for x in log if x["status"] == 429)
        t = sorted(x["time"] for x in log)
        time.sleep(10 - time.time() % 10 + 0.05)
        breqs, bwall = replay(sim.url, sim.token, [x for x in log if x["status"] != 429])
    crit = path[0][0] * LATENCY
    budget_s = reqs / BUDGET
    limit = max(budget_s, crit)
    print("  icx: %d requests (%d 429s) in %.1f s (exit %d), %.2f CPU-s; requests' span %.1f s"
          % (reqs, limited, wall, rc, cpu, t[-1] - t[0] if t else 0))
    print("  one in flight: the same %d requests one after another in %.1f s" % (breqs, bwall))
    print("  requests / 16.6 per s = %.1f s; critical path %d requests x %d ms = %.1f s:"
          % (budget_s, path[0][0], LATENCY * 1000, crit))
    for n, what in path:
        print("    %3d  %s" % (n, what))
    rate = reqs / wall / BUDGET
    print("  requests per second / budget: %.2f (one in flight: %.2f)" % (rate, breqs / bwall / BUDGET))
    # Both ways of reaching the limit are printed; either meets it.
    print("  wall / critical path %.2f (target <= 1.15 where the chain dominates)" % (wall / crit))
    if crit >= budget_s:
        print("  the chain dominates (%.1f s >= %.1f s):" % (crit, budget_s))
        print("  " + verdict("wall / critical path", wall / crit, 1.15))
    else:
        print("  the budget dominates (%.1f s > %.1f s):" % (budget_s, crit))
        economy.results.append(rate >= 0.9)
        print("  requests per second / budget %.2f (target >= 0.90): %s" % (rate, "met" if rate >= 0.9
                                                                            else "NOT MET"))
    print("    (one in flight: wall / limit %.2f; icx %.2f)" % (bwall / limit, wall / limit))
    # The budget comes in fixed 10 s windows of 166: a run's last window
    # cannot begin before (windows - 1) x 10 s, whatever the client does.
    win = (int(math.ceil(reqs / 166.0)) - 1) * 10 + crit
    print("  fixed windows: %d requests begin their last window at %d s at the earliest; wall / (that + "
          "critical path %.1f s) = %.2f" % (reqs, win - crit, crit, wall / win))
    return rc


def main():
    # a: GETs per company and per conversation make the budget bind; b: few
    # of them, so the chains (the companies scroll) decide.
    rcs = [run("a", {"contacts": N, "companies": N // 30, "conversations": N // 30, "tickets": N // 15}),
           run("b", {"contacts": N, "companies": 20, "conversations": 20, "tickets": 20})]
    print("all_assets: %d of %d targets met%s" % (sum(economy.results), len(economy.results),
                                                  "" if rcs == [0, 0] else "; icx FAILED"))
    return 0 if rcs == [0, 0] else 1


if __name__ == "__main__":
    sys.exit(main())
