#!/usr/bin/python3
# Rate limit in 10-second windows: X-RateLimit-Limit/Remaining/Reset on every
# authenticated response, 429 rate_limit_exceeded past the limit, counted in
# stats; /_sim/rate drops the limit at once; the control API is never limited.
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def wait_fresh_window():
    """Sleep until at least 3 s remain in the current 10 s window."""
    if time.time() % 10 > 7:
        time.sleep(10 - time.time() % 10 + 0.05)


with Sim(contacts=10, rate=5) as sim:
    wait_fresh_window()
    rem, resets = [], set()
    for _ in range(5):
        r = sim.api("GET", "/tags")
        tap.is_(r.status, 200, "request within the limit -> 200")
        tap.is_(r.headers["x-ratelimit-limit"], "5", "X-RateLimit-Limit is the window limit")
        rem.append(int(r.headers["x-ratelimit-remaining"]))
        resets.add(int(r.headers["x-ratelimit-reset"]))
    tap.is_(rem, [4, 3, 2, 1, 0], "X-RateLimit-Remaining counts down")
    reset = resets.pop()
    tap.ok(not resets and reset % 10 == 0 and 0 < reset - time.time() <= 10,
           "X-RateLimit-Reset is the window end in Unix seconds")
    r = sim.api("GET", "/tags")
    tap.is_(r.status, 429, "over the limit -> 429")
    tap.is_(r.json()["errors"][0]["code"], "rate_limit_exceeded", "429 code")
    tap.is_(r.headers.get("x-ratelimit-remaining"), "0", "429 has Remaining 0")
    tap.is_(sim.api("GET", "/me", auth=False).status, 401,
            "unauthenticated requests still get 401, not 429")
    for _ in range(3):
        sim.control("GET", "/_sim/stats")
    st = sim.stats()
    tap.is_(st["rate_limited"], 1, "stats count the 429")
    tap.is_(st["by_status"].get("429"), 1, "by_status has the 429")
    tap.is_(st["total"], 7, "control requests are not counted")
    time.sleep(max(0, reset - time.time()) + 0.05)
    r = sim.api("GET", "/tags")
    tap.is_((r.status, r.headers["x-ratelimit-remaining"]), (200, "4"),
            "a new window starts fresh")
    wait_fresh_window()
    sim.control("POST", "/_sim/rate", {"limit": 2})
    got = [sim.api("GET", "/tags").status for _ in range(3)]
    tap.ok(got[-1] == 429 and got.count(429) >= 1,
           "after /_sim/rate 2 the window's budget is gone sooner: %s" % got)
    tap.is_(sim.api("GET", "/tags").headers["x-ratelimit-limit"], "2",
            "Limit header follows the sudden drop")
tap.done_testing()
