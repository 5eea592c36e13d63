#!/usr/bin/python3
# Scale: --contacts 100000 serves a full contacts search walk (150 a page,
# one keep-alive connection) without error, every contact exactly once, a
# page in a few milliseconds, and the process stays well under 1 GiB RSS.
import http.client
import json
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

N = 100000


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


t0 = time.time()
with Sim(contacts=N, companies=200, conversations=10, tickets=5, articles=5,
         rate=1000000, seed=1) as sim:
    tap.diag("started in %.1f s" % (time.time() - t0))
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=60)
    hdr = {"Authorization": "Bearer test-token", "Accept": "application/json",
           "Content-Type": "application/json", "Intercom-Version": "2.14"}
    seen, after, pages, errors, slow = set(), None, 0, [], []
    dup = 0
    t1 = time.time()
    while True:
        body = {"query": {"operator": "AND", "value": [
                    {"field": "updated_at", "operator": ">", "value": 0}]},
                "sort": {"field": "updated_at", "order": "ascending"},
                "pagination": {"per_page": 150}}
        if after:
            body["pagination"]["starting_after"] = after
        ts = time.time()
        conn.request("POST", "/contacts/search", body=json.dumps(body), headers=hdr)
        r = conn.getresponse()
        raw = r.read()
        slow.append(time.time() - ts)
        if r.status != 200:
            errors.append((r.status, raw[:200]))
            break
        j = json.loads(raw)
        pages += 1
        for c in j["data"]:
            if c["id"] in seen:
                dup += 1
            seen.add(c["id"])
        nxt = j["pages"].get("next")
        if not nxt:
            break
        after = nxt["starting_after"]
    walk = time.time() - t1
    conn.close()
    tap.is_(errors, [], "full walk without error")
    tap.is_(len(seen), N, "every contact returned")
    tap.is_(dup, 0, "no contact twice")
    tap.is_(pages, (N + 149) // 150, "667 pages of 150")
    slow.sort()
    median = slow[len(slow) // 2] * 1000
    tap.diag("walk %.1f s, page median %.1f ms, p95 %.1f ms" %
             (walk, median, slow[int(len(slow) * 0.95)] * 1000))
    tap.ok(median < 25, "a 150-record page in a few ms (median %.1f ms)" % median)
    kib = rss_kib(sim.pid)
    tap.diag("VmRSS %.0f MiB" % (kib / 1024.0))
    tap.ok(0 < kib < 1024 * 1024, "RSS %.0f MiB < 1 GiB" % (kib / 1024.0))
tap.diag("total %.1f s" % (time.time() - t0))
tap.done_testing()
