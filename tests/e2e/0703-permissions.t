#!/usr/bin/python3
"""A 403 fails only its asset, at once, with a message that says what to do:
a missing permission is named from icx.permissions (README's Token
permissions table) with the route that needs it; api_plan_restricted says
the workspace's plan lacks the endpoint, naming no permission. The other
assets of the same run land exactly, and the run exits 1."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

# asset -> (fault, what its message must say, what it must not)
CASES = {
    "tickets": ({"path": "/tickets/search", "code": "forbidden", "message": "Forbidden"},
                "lacks Intercom's \"Read tickets\" permission, which POST /tickets/search needs",
                "plan"),
    "conversation_parts": ({"path": "/conversations/*", "method": "GET", "code": "forbidden",
                            "message": "Forbidden"},
                           "lacks Intercom's \"Read conversations\" permission, which "
                           "GET /conversations/{id} needs", "plan"),
    "collections": ({"path": "/help_center/collections", "code": "forbidden", "message": "Forbidden"},
                    "lacks Intercom's \"Read and list articles\" permission", "plan"),
    "activity_logs": ({"path": "/admins/activity_logs"},
                      "the workspace's Intercom plan does not include GET /admins/activity_logs: "
                      "no token permission grants it", "Read admin activity logs"),
}
LAND = ("tags", "teams", "ticket_types", "conversations")


def runs(db):
    con = sqlite3.connect(db)
    try:
        return {a: (s, e or "") for a, s, e in con.execute("select asset, status, error from _icx_runs")}
    finally:
        con.close()


with Sim(contacts=20, conversations=30, tickets=20, seed=73) as sim, Workspace(sim) as ws:
    for asset, (fault, _, _) in CASES.items():
        sim.fault(status=403, count=1000, **fault)
    r = ws.run(*[ws.script(a) for a in list(CASES) + list(LAND)])
    t.is_(r.rc, 1, "a run where some assets meet a 403 exits 1")
    got = runs(ws.db)
    by_path = sim.stats()["by_path"]
    for asset, (fault, says, not_said) in CASES.items():
        status, err = got.get(asset, (None, ""))
        t.is_(status, "failed", "%s: its run row says failed" % asset)
        t.ok(says in err, "%s: the error names what to do (%s)" % (asset, says))
        t.ok("HTTP 403" in err, "%s: the status is said" % asset)
        t.ok(says in r.err, "%s: stderr says it too" % asset)
        t.ok(not_said not in err, "%s: and does not say '%s'" % (asset, not_said))
    t.ok("Developer Hub" in got["tickets"][1], "a missing permission says where it is granted")
    t.ok("api_plan_restricted" in got["activity_logs"][1] and "Active subscription needed." in
         got["activity_logs"][1], "the plan's refusal keeps Intercom's code and message")
    for path in ("/tickets/search", "/help_center/collections"):
        t.is_(by_path.get(path), 1, "%s: one request, no retry of a 403" % path)
    t.is_(sum(n for p, n in by_path.items() if p.startswith("/admins/activity_logs")), 1,
          "/admins/activity_logs: one request, no retry of a 403")
    for asset in LAND:
        t.is_(got.get(asset, (None,))[0], "ok", "%s: the other assets of the run land" % asset)
        landed.compare(t, ws.db, asset, sim.dump(asset))

    # Alone, the plan-restricted asset exits 1 with the same message.
    sim.control("POST", "/_sim/clear_faults")
    sim.fault(status=403, count=1000, path="/admins/activity_logs")
    r = ws.run(ws.script("activity_logs"))
    t.is_(r.rc, 1, "api_plan_restricted alone: exit 1")
    t.ok(CASES["activity_logs"][1] in r.err, "api_plan_restricted alone: the plan is named on stderr")

    # Once the permission is granted the asset lands.
    sim.control("POST", "/_sim/clear_faults")
    r = ws.run(ws.script("tickets"))
    t.is_(r.rc, 0, "tickets after the permission is granted: exit 0")
    landed.compare(t, ws.db, "tickets", sim.dump("tickets"))
t.done_testing()
