#!/usr/bin/python3
# Fault injection: POST /_sim/fault gives the next N matching requests a
# status (500 502 503 504 429 401 403, with Retry-After / X-RateLimit-Reset
# when asked), a connection reset mid-body, a truncated body, broken JSON, or
# a delay. --fail-rate/--reset-rate/--truncate-rate/--bad-json-rate are
# seeded: the same seed gives the same faults. --latency-ms delays every
# request.
import http.client
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def outcome(sim, path="/tags"):
    """'200', '500', ... or 'reset' / 'truncated' / 'bad_json'."""
    try:
        r = sim.api("GET", path)
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "reset"
    except http.client.IncompleteRead:
        return "truncated"
    try:
        r.json()
    except ValueError:
        return "bad_json"
    return str(r.status)


with Sim(contacts=10) as sim:
    for status, code in ((500, "server_error"), (502, "server_error"),
                         (503, "service_unavailable"), (504, "request_timeout"),
                         (403, "api_plan_restricted")):
        sim.fault(path="/tags", status=status, count=1)
        r = sim.api("GET", "/tags")
        tap.is_((r.status, r.json()["errors"][0]["code"]), (status, code),
                "injected %d -> %s" % (status, code))
        tap.ok("x-ratelimit-limit" in r.headers, "injected %d keeps rate headers" % status)
    tap.is_(sim.api("GET", "/tags").status, 200, "a count=1 fault hits once")
    sim.fault(path="/tags", status=403, code="forbidden", message="Missing scope")
    err = sim.api("GET", "/tags").json()["errors"][0]
    tap.is_((err["code"], err["message"]), ("forbidden", "Missing scope"),
            "a fault's own code and message replace the status's")
    try:
        sim.fault(path="/tags", status=403, code=7)
        tap.ok(False, "a code that is not a string is refused")
    except RuntimeError:  # simctl raises on the 400
        tap.ok(True, "a code that is not a string is refused")
    sim.control("POST", "/_sim/clear_faults")
    sim.fault(path="/tags", status=503, count=3)
    tap.is_([sim.api("GET", "/tags").status for _ in range(4)], [503, 503, 503, 200],
            "count=3 -> exactly three faults")
    sim.fault(path="/contacts/search", status=500)
    tap.is_(sim.api("GET", "/tags").status, 200, "a fault only hits its path")
    tap.is_(sim.api("POST", "/contacts/search",
                    {"query": {"field": "role", "operator": "=", "value": "user"}}).status,
            500, "... and does hit it")
    sim.fault(path="/contacts*", status=502)
    tap.is_(sim.api("GET", "/contacts").status, 502, "'prefix*' patterns match")
    t = time.time()
    sim.fault(path="/tags", status=429, retry_after=2, reset_in=7)
    r = sim.api("GET", "/tags")
    tap.is_((r.status, r.json()["errors"][0]["code"]), (429, "rate_limit_exceeded"),
            "injected 429")
    tap.is_(r.headers.get("retry-after"), "2", "Retry-After when asked")
    tap.ok(abs(int(r.headers["x-ratelimit-reset"]) - (t + 7)) <= 1.5,
           "reset_in sets X-RateLimit-Reset")
    tap.is_(r.headers.get("x-ratelimit-remaining"), "0", "injected 429: Remaining 0")
    sim.fault(path="/tags", status=401)
    r = sim.api("GET", "/tags")
    tap.ok(r.status == 401 and "x-ratelimit-limit" not in r.headers,
           "injected 401 has no rate headers")
    sim.fault(path="/tags", kind="reset")
    tap.is_(outcome(sim), "reset", "kind reset drops the connection mid-response")
    sim.fault(path="/tags", kind="truncate")
    tap.is_(outcome(sim), "truncated", "kind truncate sends fewer bytes than Content-Length")
    sim.fault(path="/tags", kind="bad_json")
    tap.is_(outcome(sim), "bad_json", "kind bad_json sends a 200 that is not JSON")
    sim.fault(path="/tags", kind="delay", delay_ms=300)
    t = time.time()
    tap.is_(outcome(sim), "200", "kind delay still answers")
    tap.ok(time.time() - t >= 0.3, "after the delay")
    sim.fault(path="/tags", kind="reset", reset_in=5)
    sim.control("POST", "/_sim/clear_faults")
    tap.is_(outcome(sim), "200", "clear_faults drops queued faults")
    st = sim.stats()
    tap.ok(st["faults"] >= 14, "stats count faults (%d)" % st["faults"])
    tap.is_(st["by_status"].get("503"), 4, "by_status counts injected statuses")

runs = []
for _ in range(2):
    with Sim(contacts=10, seed=42, fail_rate=0.2, reset_rate=0.1, truncate_rate=0.1,
             bad_json_rate=0.1) as sim:
        runs.append([outcome(sim) for _ in range(40)])
tap.is_(runs[0], runs[1], "random faults are reproducible for a seed")
kinds = set(runs[0])
tap.ok({"reset", "truncated", "bad_json", "200"} <= kinds and
       kinds & {"500", "502", "503"}, "all random fault kinds occur: %s" % sorted(kinds))
with Sim(contacts=10, seed=43, fail_rate=0.2, reset_rate=0.1, truncate_rate=0.1,
         bad_json_rate=0.1) as sim:
    other = [outcome(sim) for _ in range(40)]
tap.ok(other != runs[0], "another seed gives other faults")

with Sim(contacts=5, latency_ms=150) as sim:
    t = time.time()
    sim.api("GET", "/tags")
    sim.api("GET", "/tags")
    tap.ok(time.time() - t >= 0.3, "--latency-ms delays each request")
    t = time.time()
    sim.stats()
    tap.ok(time.time() - t < 0.15, "the control API is never delayed")
tap.done_testing()
