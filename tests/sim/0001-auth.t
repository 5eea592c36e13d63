#!/usr/bin/python3
# Auth: a missing or wrong Bearer token gets 401 unauthorized in Intercom's
# error body and no rate-limit headers; the right one gets 200 with them.
# Intercom-Version is recorded per request; the token never reaches the log.
# The process prints READY <port> and exits 0 on SIGTERM.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

RL = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")

with Sim(contacts=20, token="s3cret-token") as sim:
    tap.ok(sim.port > 0 and sim.url == "http://127.0.0.1:%d" % sim.port,
           "READY line gives the port")
    for label, hdrs in (("missing", {}),
                        ("wrong", {"Authorization": "Bearer nope"}),
                        ("not bearer", {"Authorization": "Basic s3cret-token"})):
        r = sim.api("GET", "/me", auth=False, headers=hdrs)
        tap.is_(r.status, 401, "%s token -> 401" % label)
        b = r.json()
        tap.is_((b["type"], b["errors"][0]["code"]), ("error.list", "unauthorized"),
                "%s token -> error.list unauthorized" % label)
        tap.ok(isinstance(b["request_id"], str) and b["request_id"],
               "%s token -> request_id" % label)
        tap.ok(not any(h in r.headers for h in RL),
               "%s token -> no rate-limit headers" % label)
    r = sim.api("GET", "/me")
    tap.is_(r.status, 200, "right token -> 200")
    tap.ok(all(h in r.headers for h in RL), "right token -> rate-limit headers")
    tap.is_(r.json()["type"], "admin", "GET /me is an admin")
    sim.api("GET", "/tags", version=None)
    sim.api("GET", "/tags", version="2.11")
    st = sim.stats()
    tap.is_(st["versions"], {"2.14": 4, "missing": 1, "2.11": 1},
            "stats count Intercom-Version values, 'missing' when absent")
    log = sim.request_log()
    tap.is_(len(log), 6, "one log line per request")
    tap.is_([x["headers"].get("Intercom-Version") for x in log],
            ["2.14", "2.14", "2.14", "2.14", None, "2.11"],
            "log records Intercom-Version per request")
    tap.is_([x["status"] for x in log], [401, 401, 401, 200, 200, 200],
            "log records status")
    with open(sim.log_path, encoding="utf-8") as f:
        text = f.read()
    tap.ok("s3cret-token" not in text and "Authorization" not in text,
           "the log never holds the Authorization value")
    tap.is_([x["auth"] for x in log][:4], ["missing", "bad", "bad", "ok"],
            "log says whether auth was missing, bad or ok")
rc = sim.returncode
tap.is_(rc, 0, "SIGTERM stops the sim with exit 0")
tap.done_testing()
