#!/usr/bin/python3
"""icx.http on its own: option checking (unknown keys, schemes, header
injection), completions (status, lower-case headers, gzip undone, bytes),
POST with and without a body, the body cap, refused connections, TLS that
cannot be switched off, timeouts, cancel, requests over plain http:// that
do not wait behind a slow one, close (idempotent, to-be-closed).
The checks run in tests/e2e/lua/http.lua; this file adds the sim's view."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

with Sim(contacts=5, companies=3, seed=14) as sim, icxtest.Case("0112-http", sim) as case:
    sim.fault(path="/tags", kind="delay", delay_ms=1500, count=1)
    sim.fault(path="/teams", kind="delay", delay_ms=1500, count=1)
    sim.fault(path="/segments", kind="delay", delay_ms=3000, count=1)
    r = case.lua("http.lua")
    checks = r.json() if r.rc == 0 else []
    t.ok(r.rc == 0 and checks, "the driver ran (%s)" % r.err[-300:])
    for c in checks:
        if not t.ok(c["ok"], c["name"]):
            t.diag("got: %s" % c.get("got"))
    log = sim.request_log()
    post = [x for x in log if x["path"] == "/companies/list"]
    t.ok(post and "Content-Type" not in post[0]["headers"],
         "a bodiless POST is not labelled as a form")
    search = [x for x in log if x["path"] == "/contacts/search"]
    t.is_(search[0]["body"]["query"]["field"] if search else None, "updated_at", "the POST body arrived")

t.done_testing()
