#!/usr/bin/python3
# Every newer route sits behind what guards the older ones: the bearer token
# (401), the 10-second rate limit (429 with X-RateLimit-* headers), queued
# faults (status, bad_json, reset, after=) and --fail-rate; each is counted
# in stats by route.
import json
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def routes(sim):
    cid = sim.dump("companies")[0]["id"]
    return [("/ticket_types", "2.14"), ("/ticket_states", "2.14"),
            ("/companies/%s/segments" % cid, "2.14"),
            ("/admins/activity_logs?created_at_after=0", "2.14"),
            ("/help_center/help_centers", "2.14"), ("/help_center/collections?page=2", "2.14"),
            ("/subscription_types", "2.14"), ("/conversations/deleted", "2.16")]


with Sim(companies=5, contacts=10, conversations=4, tickets=3, seed=27) as sim:
    R = routes(sim)
    for path, v in R:
        r = sim.api("GET", path, version=v)
        tap.ok(r.status == 200 and "x-ratelimit-remaining" in r.headers, "%s: 200 with rate headers" % path)
        r = sim.api("GET", path, version=v, auth=False)
        tap.is_((r.status, r.json()["errors"][0]["code"]), (401, "unauthorized"), "%s: 401 without token" % path)
    sim.control("POST", "/_sim/rate", {"limit": 0})
    for path, v in R:
        r = sim.api("GET", path, version=v)
        tap.ok(r.status == 429 and r.headers.get("x-ratelimit-remaining") == "0" and
               r.json()["errors"][0]["code"] == "rate_limit_exceeded", "%s: 429 over the limit" % path)
    sim.control("POST", "/_sim/rate", {"limit": 100000})
    for path, v in R:
        p = path.split("?")[0]
        sim.fault(path=p, status=502)
        tap.is_(sim.api("GET", path, version=v).status, 502, "%s: queued 502" % p)
        sim.fault(path=p, kind="bad_json")
        r = sim.api("GET", path, version=v)
        try:
            json.loads(r.body)
            broken = False
        except ValueError:
            broken = True
        tap.ok(r.status == 200 and broken, "%s: bad_json" % p)
        sim.fault(path=p, kind="reset")
        try:
            sim.api("GET", path, version=v)
            reset = False
        except Exception:
            reset = True
        tap.ok(reset, "%s: connection reset" % p)
        sim.fault(path=p, status=500, after=1)
        tap.is_((sim.api("GET", path, version=v).status, sim.api("GET", path, version=v).status),
                (200, 500), "%s: after=1 lets one through" % p)
    st = sim.stats()["by_route"]
    tap.ok(st.get("/companies/{id}/segments", 0) >= 6 and st.get("/conversations/deleted", 0) >= 6,
           "stats count the new routes")

with Sim(companies=5, contacts=10, conversations=4, tickets=3, seed=27, fail_rate=1.0) as sim:
    R = routes(sim)
    tap.ok(all(sim.api("GET", p, version=v).status in (500, 502, 503) for p, v in R),
           "--fail-rate 1: every new route fails with a 5xx")
tap.done_testing()
