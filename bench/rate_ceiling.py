#!/usr/bin/python3
"""The rate ceiling: how much of Intercom's budget (166 requests per 10 s)
icx uses when every response takes LATENCY ms, against what a client with
one request in flight could reach (1000/LATENCY requests/s at best).

Runs contacts, contact_tags (a first load: a survey, then the tag walk or a
GET per contact that embeds only ten of its tags, whichever icx.tagwalk
finds cheaper) and conversation_parts (one GET per conversation) against the simulator
and prints requests/s, the share of the budget, the ratio to the
one-in-flight bound, the simulator's peak requests in flight, and 429s.
Figures, not pass/fail: the machine is shared and noisy."""
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
from simctl import Sim  # noqa: E402

LATENCY = int(os.environ.get("RATE_BENCH_LATENCY_MS", "150"))
ICX = os.path.abspath(os.environ.get("ICX", os.path.join(ROOT, "icx")))
BUDGET = 166 / 10.0


def main():
    with Sim(contacts=3000, conversations=400, tickets=1, articles=1, companies=20,
             seed=4, latency_ms=LATENCY) as sim, tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "c.yml")
        with open(conf, "w") as f:
            f.write("connections:\n  intercom:\n    - name: bench\n"
                    "      access_token: %s\n      base_url: %s\n" % (sim.token, sim.url))
        t0 = time.monotonic()
        rc = subprocess.call([ICX, "run", "-q", "--config", conf, "--dest", os.path.join(d, "b.db"),
                              os.path.join(ROOT, "scripts", "contacts.lua"),
                              os.path.join(ROOT, "scripts", "contact_tags.lua"),
                              os.path.join(ROOT, "scripts", "conversation_parts.lua")])
        wall = time.monotonic() - t0
        st = sim.stats()
        rows = sqlite3.connect(os.path.join(d, "b.db")).execute(
            "select sum(requests) from _icx_runs").fetchone()[0]
    if rc != 0:
        print("rate_ceiling: icx run failed (exit %d)" % rc)
        return 1
    rps = st["total"] / wall
    # The most any client could send in this wall time: one full window at
    # once, then the refill rate.
    ceiling = 166 + BUDGET * wall
    share = st["total"] / ceiling
    single = 1000.0 / LATENCY
    print("rate ceiling, %d ms per response:" % LATENCY)
    print("  requests            %d (icx counted %s)" % (st["total"], rows))
    print("  wall time           %.1f s" % wall)
    print("  requests/s          %.1f" % rps)
    print("  budget used         %.0f%% of the %d requests the budget allows in that time"
          % (100 * share, ceiling))
    print("  vs one in flight    %.1fx (one in flight: at most %.1f/s = %.0f%% of the budget)"
          % (rps / single, single, 100 * min(single, BUDGET) / BUDGET))
    print("  max in flight       %d" % st["max_in_flight"])
    print("  429s                %d" % st["rate_limited"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
