#!/usr/bin/python3
"""401 and 403 fail at once (one request, no retry) with Intercom's code, a
hint saying what to do and the request_id; 404 and 400 are not retried
either; an allowed 404 comes back to the caller."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

with Sim(contacts=5, conversations=5, seed=4) as sim, \
        icxtest.Case("0104-no-retry-4xx", sim, conn_name="my_intercom") as case:
    def fails(status, path, *args):
        sim.fault(path=path, status=status, count=5)
        before = sim.stats()["by_path"].get(path, 0)
        rep = case.lua("walk.lua", "--path", path, *args).json()
        sim.control("POST", "/_sim/clear_faults")
        t.ok(not rep["ok"], "%d on %s: the walk fails" % (status, path))
        t.is_(sim.stats()["by_path"].get(path, 0) - before, 1, "%d: exactly one request" % status)
        t.is_(rep["stats"]["retries"], 0, "%d: no retry" % status)
        return rep.get("error") or {}

    err = fails(401, "/contacts", "--style", "cursor")
    t.is_((err.get("status"), err.get("code")), (401, "unauthorized"), "401: status and Intercom's code")
    t.ok("the access token was rejected: check connection 'my_intercom'" in err.get("text", ""),
         "401: the hint names the connection")
    t.ok(err.get("request_id") and err["request_id"] in err.get("text", ""), "401: request_id shown")

    err = fails(403, "/conversations", "--style", "cursor", "--list-key", "conversations")
    t.is_((err.get("status"), err.get("code")), (403, "api_plan_restricted"), "403: status and code")
    t.ok("the workspace's Intercom plan does not include GET /conversations" in err.get("text", ""),
         "403 api_plan_restricted: the hint names the plan, not a permission")
    t.ok("Active subscription needed." in err.get("text", ""), "403: Intercom's message is kept")

    err = fails(404, "/tags", "--style", "single")
    t.is_((err.get("status"), err.get("code")), (404, "not_found"), "404: an error unless allowed")
    err = fails(400, "/teams", "--style", "single", "--list-key", "teams")
    t.is_(err.get("status"), 400, "400: not retried")

    rep = case.lua("request.lua", "GET", "/contacts/0000000000000000deadbeef", "--allow-404").json()
    t.is_((rep["ok"], rep.get("status"), rep.get("body_type")), (True, 404, "error.list"),
          "an allowed 404 comes back to the caller (a walk may treat it as gone)")
    rep = case.lua("request.lua", "GET", "/contacts/0000000000000000deadbeef").json()
    t.is_((rep["ok"], rep["error"].get("status"), rep["stats"].get("requests")), (False, 404, 1),
          "the same 404 not allowed: an error after one request")
    rep = case.lua("request.lua", "GET", "https://elsewhere.example/contacts").json()
    t.is_((rep["ok"], rep["error"].get("code")), (False, "foreign_url"),
          "a URL on another host is refused (the token would go with it)")
    t.is_(rep["stats"].get("requests"), None, "nothing is sent to another host")

    # The real 401 (wrong token, no fault): same handling.
    with icxtest.Case("0104-bad-token", sim, conn_name="my_intercom", token="wrong-token-abcdef123") as bad:
        rep = bad.lua("walk.lua", "--style", "single", "--path", "/admins", "--list-key", "admins").json()
        t.ok(not rep["ok"] and "check connection 'my_intercom'" in rep["error"]["text"],
             "a wrong token fails with the hint")
        t.ok("wrong-token-abcdef123" not in rep["error"]["text"], "the token is not in the message")

t.done_testing()
