#!/usr/bin/python3
"""Issue 21's question: can the companies asset walk `POST /companies/list`
pages at once (page=N) instead of the companies scroll, which is one chain
of requests, when the workspace holds at most 10,000 companies?

Against the simulator (2,000 companies, 150 ms per response), the list's
pages of 60 are fetched 8 at a time while companies are created and
contacts move between companies (which moves companies' user counts), and
the ids seen are held against the companies Intercom holds before and
after. Prints, for the scroll and for the parallel list walk: requests,
wall time, and the companies missed: those without users (the list leaves
them out by design) and those with users at both ends of the walk that no
page returned (page shifts). Figures; the verdict is the docs'.
"""
import json
import os
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "sim"))
from simctl import Sim  # noqa: E402

N = int(os.environ.get("COMPANIES_LIST_N", "2000"))
PER = 60


def call(sim, method, path):
    req = urllib.request.Request(sim.url + path, data=b"" if method == "POST" else None, method=method,
                                 headers={"Authorization": "Bearer " + sim.token, "Accept": "application/json",
                                          "Intercom-Version": "2.14"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def churn(sim, stop, rounds):
    """Companies created, contacts changed (a changed contact may move to
    another company, which moves both companies' user counts)."""
    while not stop.is_set():
        sim.control("POST", "/_sim/create", {"asset": "companies", "count": 3})
        sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 20})
        rounds.append(1)
        time.sleep(0.05)


def walk_list(sim):
    first = call(sim, "POST", "/companies/list?page=1&per_page=%d" % PER)
    pages = first["pages"]["total_pages"]
    seen = {c["id"] for c in first["data"]}
    totals = {first["total_count"]}
    with ThreadPoolExecutor(8) as ex:
        for p in ex.map(lambda n: call(sim, "POST", "/companies/list?page=%d&per_page=%d" % (n, PER)),
                        range(2, pages + 1)):
            seen |= {c["id"] for c in p["data"]}
            totals.add(p["total_count"])
    return seen, pages, totals


def walk_scroll(sim):
    seen, n, param = set(), 0, None
    while True:
        p = call(sim, "GET", "/companies/scroll" + ("?scroll_param=" + param if param else ""))
        n += 1
        if not p["data"]:
            return seen, n
        seen |= {c["id"] for c in p["data"]}
        param = p["scroll_param"]


def measure(sim, walk, changes):
    """-> {requests, wall, seen ids, total_counts seen (the list's)}."""
    stop, rounds = threading.Event(), []
    th = threading.Thread(target=churn, args=(sim, stop, rounds)) if changes else None
    if th:
        th.start()
    t0 = time.monotonic()
    try:
        out = walk(sim)
    finally:
        wall = time.monotonic() - t0
        stop.set()
        if th:
            th.join()
    return {"requests": out[1], "wall": wall, "seen": out[0], "totals": out[2] if len(out) == 3 else None}


def main():
    print("== companies: the scroll against POST /companies/list pages at once, %d companies, 150 ms" % N)
    with Sim(contacts=3 * N, companies=N, conversations=1, tickets=1, articles=1, seed=5, latency_ms=150,
             rate=10 ** 6) as sim:
        for changes in (False, True):
            everyone = {c["id"] for c in sim.dump("companies")}
            listed0 = walk_list(sim)[0]
            sc = measure(sim, walk_scroll, changes)
            li = measure(sim, walk_list, changes)
            listed1 = walk_list(sim)[0]
            how = "concurrent changes" if changes else "quiet"
            print("  %-18s scroll: %3d requests in %4.1f s, missed %d of the %d companies before the walk"
                  % (how, sc["requests"], sc["wall"], len(everyone - sc["seen"]), len(everyone)))
            print("  %-18s list, 8 pages at once: %3d requests in %4.1f s, missed %d without users (the list "
                  "leaves them out) and %d listed before and after the walk (pages shifted); total_count seen: %s"
                  % (how, li["requests"], li["wall"], len(everyone - listed0 - li["seen"]),
                     len((listed0 & listed1) - li["seen"]), sorted(li["totals"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
