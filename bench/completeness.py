#!/usr/bin/python3
"""The completeness check's cost, printed next to the load it checks, against
the simulator (no latency, no rate limit: the figures are request counts):

 1. A first load of contacts, conversations and tickets: the check's
    requests / the load's (target <= 2%, at least one window each).
 2. An incremental run after 1% of the records changed: the check's
    requests per asset (target <= 2).
 3. A first load whose search pages silently drop 5 records of each asset
    once (reachable): every record healed in the same run; what healing
    cost next to the load (target: every record landed, exit 0).

Each run also loads conversation_parts, whose check compares every
conversation's parts with statistics.count_conversation_parts at no request
(the counts come with the GETs the load makes); in 3, five conversations'
GETs leave out a part once, and the check fetches those five again.

BENCH_CONTACTS changes the size (default 30,000 contacts; conversations and
tickets a third of that each).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
from simctl import Sim  # noqa: E402

ICX = os.path.abspath(os.environ.get("ICX", os.path.join(ROOT, "icx")))
N = int(os.environ.get("BENCH_CONTACTS", "30000"))
ASSETS = ("contacts", "conversations", "tickets")
PARTS = "conversation_parts"
results = []


def verdict(ok):
    results.append(ok)
    return "met" if ok else "NOT MET"


def conf_for(d, sim):
    conf = os.path.join(d, "c.yml")
    with open(conf, "w") as f:
        f.write("connections:\n  intercom:\n    - name: bench\n      access_token: %s\n      base_url: %s\n"
                "      rate_limit: 5000\n" % (sim.token, sim.url))
    return conf


def run(conf, db):
    """icx run of the three assets; (exit code, {asset: completeness event})."""
    argv = [ICX, "run", "--config", conf, "--dest", db, "--log-format", "json"] + list(ASSETS) + [PARTS]
    p = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, ICX_CONFIG=""))
    events = [json.loads(x) for x in p.stderr.splitlines() if x.startswith("{")]
    return p.returncode, {e["asset"]: e for e in events if e.get("event") == "completeness"}


def show(comp, limit_share=None, limit_requests=None):
    for a in ASSETS + (PARTS,):
        c = comp.get(a)
        if not c:
            print("  %-18s no completeness check ran: %s" % (a, verdict(False)))
            continue
        share = 100.0 * c["requests"] / max(1, c["load_requests"])
        ok = True
        if limit_share is not None:
            ok = c["windows"] >= 1 and (c["requests"] <= max(1, c["load_requests"] * limit_share))
        if limit_requests is not None:
            ok = ok and c["requests"] <= limit_requests
        if a == PARTS:
            # Its counts come with the load's GETs: only healing costs.
            ok = c["requests"] == c["healed"] and c["missing"] == 0 if limit_share is None else c["requests"] == 0
            print("  %-18s load %5d requests | check %3d requests (%4.1f%%) over %d conversations, %d parts "
                  "counted, %d healed, %d missing: %s" % (a, c["load_requests"], c["requests"], share,
                                                         c["conversations"], c["expected"], c["healed"],
                                                         c["missing"], verdict(ok)))
            continue
        print("  %-18s load %5d requests | check %3d requests (%4.1f%%) over %3d windows, %d records counted, "
              "%d healed, %d missing: %s" % (a, c["load_requests"], c["requests"], share, c["windows"],
                                            c["expected"], c["healed"], c["missing"], verdict(ok)))


def main():
    with tempfile.TemporaryDirectory(prefix="icx-bench-completeness-") as d:
        kw = dict(contacts=N, conversations=N // 3, tickets=N // 3, companies=1, articles=1, seed=17, rate=100000)
        print("== 1: first load, %d contacts, %d conversations, %d tickets" % (N, N // 3, N // 3))
        with Sim(**kw) as sim:
            conf = conf_for(d, sim)
            db = os.path.join(d, "clean.db")
            rc, comp = run(conf, db)
            print("  exit %d" % rc)
            show(comp, limit_share=0.02)

            print("== 2: incremental run after 1% of the records changed")
            for a in ASSETS:
                n = max(1, len(sim.dump(a)) // 100)
                sim.control("POST", "/_sim/mutate", {"asset": a, "count": n})
            time.sleep(1)
            rc, comp = run(conf, db)
            print("  exit %d" % rc)
            show(comp, limit_requests=2)

        print("== 3: first load, 5 records of each asset dropped once from search pages, a part of 5 conversations "
              "from their GET")
        with Sim(**kw) as sim:
            conf = conf_for(d, sim)
            cut = time.time() - 3 * 86400
            for a in ASSETS:
                recs = sorted((r for r in sim.dump(a) if r["updated_at"] < cut), key=lambda r: r["updated_at"])
                step = max(1, len(recs) // 6)
                ids = [r["id"] for r in recs[step::step][:5]]
                sim.control("POST", "/_sim/drop", {"asset": a, "ids": ids, "times": 1})
            convs = [r["id"] for r in sim.dump("conversations")
                     if 2 <= r["statistics"]["count_conversation_parts"] < 500]
            sim.control("POST", "/_sim/drop_parts", {"ids": convs[7::97][:5], "count": 1, "times": 1})
            rc, comp = run(conf, os.path.join(d, "heal.db"))
            healed = all(comp.get(a, {}).get("healed") == 5 and comp[a]["missing"] == 0 for a in ASSETS + (PARTS,))
            print("  exit %d; every dropped record healed in the same run: %s" % (rc, verdict(rc == 0 and healed)))
            show(comp)
    print("completeness: %s" % ("every target met" if all(results) else "SOME TARGET NOT MET"))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
