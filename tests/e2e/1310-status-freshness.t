#!/usr/bin/python3
"""Freshness and history on SQLite: icx status shows each asset's last
success, its last failure with the error text (secrets masked, as stored in
_icx_runs) and, with --history N, its last N runs newest first (table and
--json); --max-age DURATION exits 6 naming only the stale assets, and 0
when every asset is fresh."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402
from icxtest import query  # noqa: E402


def icx(ws, *args):
    """./icx COMMAND --config ... ARGS in the case directory."""
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]))


with Sim(contacts=60, companies=10, seed=31) as sim, Workspace(sim) as ws:
    r = ws.run("tags", "companies")
    t.is_(r.rc, 0, "first run lands tags and companies")
    first_ok = time.time()

    # tags fails with Intercom's message echoing the token: the text is
    # kept, the token is not.
    sim.fault(path="/tags", kind="status", status=400, code="parameter_invalid",
              message="tag filter rejected for token %s" % sim.token, count=5)
    r = ws.run("tags")
    t.is_(r.rc, 1, "the failed run exits 1")
    rows = query(ws.db, "select status, error from _icx_runs where asset = 'tags' order by id desc")
    t.is_(rows[0][0], "failed", "_icx_runs: the failed run's status")
    t.ok(rows[0][1] and "tag filter rejected" in rows[0][1], "_icx_runs keeps its error text: %r" % rows[0][1])
    t.ok(sim.token not in (rows[0][1] or ""), "with the token masked")

    r = icx(ws, "status", "--dest", ws.db, "--json", "--history", "5")
    t.is_(r.rc, 0, "status --json --history 5 exits 0")
    st = {o["asset"]: o for o in json.loads(r.out or "[]")}
    tags = st.get("tags", {})
    t.is_(tags.get("last_status"), "failed", "tags: the last run failed")
    t.ok(tags.get("last_success_at") and tags["last_success_at"] < tags.get("last_failure_at", ""),
         "tags: last success (%s) before the last failure (%s)" % (tags.get("last_success_at"),
                                                                  tags.get("last_failure_at")))
    t.ok("tag filter rejected" in (tags.get("last_error") or "") and sim.token not in tags.get("last_error", ""),
         "tags: the last failure's error text, masked: %r" % tags.get("last_error"))
    hist = tags.get("history") or []
    t.is_([h["status"] for h in hist], ["failed", "ok"], "tags: its runs, newest first")
    t.ok(hist and "tag filter rejected" in (hist[0].get("error") or ""), "the history holds the failure's text")
    t.ok(len({h["run_id"] for h in hist}) == 2 and all(h["run_id"] for h in hist), "each run its own run id")
    comp = st.get("companies", {})
    t.is_((comp.get("last_status"), comp.get("last_failure_at"), comp.get("last_error")), ("ok", None, None),
          "companies: ok, no failure")
    t.is_(len(comp.get("history") or []), 1, "companies: one run")
    r = icx(ws, "status", "--dest", ws.db, "--json")
    t.ok(r.rc == 0 and all("history" not in o for o in json.loads(r.out)), "no history without --history")

    r = icx(ws, "status", "--dest", ws.db, "--history", "1")
    t.is_(r.rc, 0, "status --history 1 (table) exits 0")
    t.ok("LAST SUCCESS" in r.out, "the table has a LAST SUCCESS column")
    t.ok("last failure" in r.out and "tag filter rejected" in r.out and sim.token not in r.out,
         "the table shows the failure's text under the asset:\n" + r.out)

    # --max-age: both fresh, then only tags stale (companies lands again).
    r = icx(ws, "status", "--dest", ws.db, "--max-age", "1h")
    t.is_(r.rc, 0, "--max-age 1h: every asset fresh, exit 0")
    time.sleep(max(0, first_ok + 3.2 - time.time()))
    r = ws.run("companies")
    t.is_(r.rc, 0, "companies lands again")
    r = icx(ws, "status", "--dest", ws.db, "--max-age", "3s")
    t.is_(r.rc, 6, "--max-age 3s: tags is stale, exit 6")
    t.ok("sim/tags: stale" in r.err, "names tags on stderr: " + r.err.strip())
    t.ok("companies" not in r.err, "and not the fresh companies")
    t.ok("last success" in r.err and "ago" in r.err, "saying how old its last success is")
    r = icx(ws, "status", "--dest", ws.db, "--max-age", "3s", "--json")
    t.is_(r.rc, 6, "--max-age with --json: exit 6 too")
    st = {o["asset"]: o for o in json.loads(r.out or "[]")}
    t.is_((st.get("tags", {}).get("fresh"), st.get("companies", {}).get("fresh")), (False, True),
          "--json says which is fresh")
    r = icx(ws, "status", "--dest", ws.db, "--max-age", "soon")
    t.is_(r.rc, 2, "a bad --max-age is a usage error")
    t.ok("--max-age=soon" in r.err, "naming it: " + r.err.strip())

    # An asset that never succeeded is stale whatever the age.
    sim.fault(path="/admins", kind="status", status=400, count=5)
    ws.run("admins")
    r = icx(ws, "status", "--dest", ws.db, "--max-age", "1h")
    t.is_(r.rc, 6, "an asset that never succeeded: exit 6")
    t.ok("sim/admins: stale: never succeeded" in r.err, "saying so: " + r.err.strip())

t.done_testing()
