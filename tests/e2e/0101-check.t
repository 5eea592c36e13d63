#!/usr/bin/python3
"""icx check against the simulator's GET /me: what it prints, its exit code,
the headers every Intercom request carries, and a rejected token (exit 2,
one request, the hint naming the connection, the request_id shown)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

with Sim(contacts=5, companies=2, conversations=1, tickets=1, articles=1) as sim:
    with icxtest.Case("0101-check", sim) as case:
        r = case.icx("check")
        t.is_(r.rc, 0, "icx check exits 0 with a good token")
        admin = sim.dump("admins")[0]
        t.ok("icx sim" in r.out and "ecahpwf5" in r.out,
             "prints the workspace name and id")
        t.ok(admin is not None and admin["name"] in r.out and admin["email"] in r.out
             and admin["id"] in r.out, "prints the admin's name, email and id")
        t.ok("US" in r.out and sim.url in r.out, "prints the region and the API base URL")
        t.ok("connection  sim" in r.out, "names the connection")
        me = icxtest.requests_to(sim, "/me")
        t.is_(len(me), 1, "one GET /me")
        h = me[0]["headers"] if me else {}
        t.is_(h.get("Intercom-Version"), "2.14", "Intercom-Version: 2.14")
        t.is_(h.get("Accept"), "application/json", "Accept: application/json")
        t.ok((h.get("User-Agent") or "").startswith("icx/"), "User-Agent: icx/<version>")
        t.ok("gzip" in (h.get("Accept-Encoding") or ""), "Accept-Encoding offers gzip")
        t.ok("Content-Type" not in h, "no Content-Type on a GET without body")
        t.is_(me[0]["auth"] if me else None, "ok", "Authorization: Bearer <token> accepted")

    with icxtest.Case("0101-check-bad-token", sim, token="not-the-token-0123456789") as case:
        before = len(icxtest.requests_to(sim, "/me"))
        r = case.icx("check")
        t.is_(r.rc, 2, "a rejected token exits 2 (as for run)")
        t.ok("the access token was rejected: check connection 'sim'" in r.err,
             "the hint names the connection")
        t.ok("401" in r.err and "unauthorized" in r.err, "Intercom's status and code are shown")
        t.ok("request_id" in r.err, "the request_id is shown for Intercom support")
        t.is_(len(icxtest.requests_to(sim, "/me")) - before, 1, "401 is not retried")
        t.is_(r.out, "", "nothing on stdout")
        t.ok("not-the-token-0123456789" not in r.err, "the token is not echoed")

t.done_testing()
