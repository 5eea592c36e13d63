#!/usr/bin/python3
"""The operator contract: --log-format json (every stderr line an event),
--summary-json matching what landed, icx status / reset, --since, one run
per asset (exit 4 at once, --wait), a run SIGKILLed under another hostname
not left running, the token preflight (a rejected token writes nothing)
and one workspace per destination."""
import json
import re
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402
from icxtest import query  # noqa: E402


def icx(ws, *args):
    """./icx COMMAND --config ... ARGS in the case directory."""
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]))


def count(db, table):
    c = sqlite3.connect(db)
    try:
        return c.execute('select count(*) from "%s"' % table).fetchone()[0]
    finally:
        c.close()


with Sim(contacts=400, companies=60, conversations=40, tickets=30, seed=11) as sim, Workspace(sim) as ws:
    # ---------------------------------------------------------- JSON logs
    sim.control("POST", "/_sim/fault", {"path": "/tickets/search", "status": 503, "count": 1})
    summary_path = os.path.join(ws.dir, "summary.json")
    r = ws.run("contacts", "tickets", "tags", "--log-format", "json", "--summary-json", summary_path)
    t.is_(r.rc, 0, "json run exits 0")
    events, bad = [], []
    for line in r.err.splitlines():
        try:
            ev = json.loads(line)
            events.append(ev)
            if not all(k in ev for k in ("ts", "level", "event")):
                bad.append(line)
        except ValueError:
            bad.append(line)
    t.is_(bad, [], "every stderr line is a JSON object with ts, level and event")
    kinds = {e["event"] for e in events}
    for k in ("run_start", "asset_start", "page", "retry", "asset_end", "run_end"):
        t.ok(k in kinds, "event %s appears" % k)
    t.ok(all(e["ts"].endswith("Z") and "T" in e["ts"] for e in events), "ts is ISO 8601 UTC")
    page = [e for e in events if e["event"] == "page" and e["asset"] == "contacts"]
    t.ok(page and all(isinstance(e["rows"], int) and isinstance(e["requests"], int) for e in page),
         "page events carry asset, rows and requests")
    ends = {e["asset"]: e for e in events if e["event"] == "asset_end"}
    t.is_(sorted(ends), ["contacts", "tags", "tickets"], "one asset_end per asset")
    t.is_(ends["tickets"]["retries"], 1, "asset_end counts the tickets retry")
    t.ok("test-token" not in r.err, "no token in the JSON log")

    with open(summary_path) as f:
        summary = json.load(f)
    t.is_(summary["status"], "ok", "summary: status ok")
    t.is_(summary["exit_code"], 0, "summary: exit_code 0")
    by = {a["asset"]: a for a in summary["assets"]}
    for asset in ("contacts", "tickets", "tags"):
        t.is_(by[asset]["rows"], count(ws.db, asset), "summary rows of %s match the destination" % asset)
        t.is_(by[asset]["error"], None, "%s: error is null" % asset)
    t.is_(by["contacts"]["cursor"], query(ws.db, "select value from _icx_state where asset='contacts'")[0][0],
          "summary cursor is the stored cursor")
    t.is_(by["tags"]["cursor"], None, "a replace asset has no cursor")
    t.is_(summary["requests"], sum(a["requests"] for a in summary["assets"]) + 1,
          "summary requests: the assets' plus the token preflight")
    t.ok(all(k in by["contacts"] for k in ("status", "retries", "rate_limited", "seconds")), "asset fields")

    # summary on stdout, and a partial failure names the failed asset
    sim.control("POST", "/_sim/fault", {"path": "/tickets/search", "status": 400, "count": 1})
    r = ws.run("tickets", "tags", "--summary-json", "-")
    t.is_(r.rc, 1, "a failed asset exits 1")
    s = json.loads(r.out.strip().splitlines()[-1])
    t.is_((s["status"], s["failed"]), ("partial", ["tickets"]), "summary says partial and which failed")
    tk = [a for a in s["assets"] if a["asset"] == "tickets"][0]
    t.ok(tk["error"] and tk["error"]["kind"] == "http" and "400" in tk["error"]["message"],
         "the failed asset's error has kind and message")

    # ---------------------------------------------------------- status
    r = icx(ws, "status", "--dest", ws.db, "--json")
    t.is_(r.rc, 0, "icx status --json exits 0")
    st = {(o["connection"], o["asset"]): o for o in json.loads(r.out)}
    c = st[("sim", "contacts")]
    stored = query(ws.db, "select value from _icx_state where asset='contacts'")[0][0]
    t.is_(c["cursor"], stored, "status: cursor as stored")
    t.is_(c["cursor_utc"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stored)), "status: cursor_utc")
    t.is_(c["last_status"], "ok", "status: last_status")
    t.is_(c["rows"], count(ws.db, "contacts"), "status: rows of the last run")
    t.is_(st[("sim", "tickets")]["last_status"], "failed", "status: the failed run shows failed")
    t.ok(st[("sim", "tags")]["cursor"] is None, "status: no cursor for a replace asset")
    r = icx(ws, "status", "--dest", ws.db)
    t.ok(r.rc == 0 and "contacts" in r.out and "CURSOR (UTC)" in r.out, "status prints a table")

    # ---------------------------------------------------------- reset
    before = count(ws.db, "contacts")
    r = icx(ws, "reset", "--dest", ws.db, "contacts")
    t.is_(r.rc, 0, "reset exits 0")
    t.is_(query(ws.db, "select count(*) from _icx_state where asset='contacts'")[0][0], 0, "contacts cursor cleared")
    t.is_(query(ws.db, "select count(*) from _icx_state where asset='tickets'")[0][0], 1, "other cursors kept")
    t.is_(count(ws.db, "contacts"), before, "rows untouched by reset")
    r = icx(ws, "reset", "--dest", ws.db, "contcts")
    t.is_(r.rc, 2, "reset of an unknown asset exits 2")
    t.ok("did you mean 'contacts'" in r.err, "with a suggestion")
    sim.control("POST", "/_sim/reset_stats", {})
    r = ws.run("contacts")
    pages = sim.stats()["by_path"].get("/contacts/search", 0)
    t.ok(r.rc == 0 and pages >= 3, "after reset the next run re-reads contacts whole (%d pages)" % pages)

    # ---------------------------------------------------------- --since
    contacts = sim.dump("contacts")
    since = sorted(c["updated_at"] for c in contacts)[len(contacts) * 3 // 4]
    db2 = os.path.join(ws.dir, "since.db")
    r = ws.run("contacts", "--since", str(since), dest=db2)
    t.is_(r.rc, 0, "--since run exits 0")
    ids = {x[0] for x in query(db2, "select id from contacts")}
    newer = {c["id"] for c in contacts if c["updated_at"] >= since}
    # contact search matches by day: the whole day of `since` (and the day
    # before, in the workspace timezone) may come along, nothing older.
    day = since - 86400 - 3600
    t.ok(newer <= ids, "--since: every contact changed since then landed")
    t.ok(all(c["updated_at"] >= day for c in contacts if c["id"] in ids), "--since: nothing older than its day")
    t.ok(len(ids) < len(contacts), "--since: fewer than all (%d of %d)" % (len(ids), len(contacts)))
    r = ws.run("contacts", "--since", "2024-13-01", dest=db2)
    t.is_(r.rc, 2, "a bad --since exits 2")
    t.ok("--since '2024-13-01' is not a date" in r.err, "and says so")
    db3 = os.path.join(ws.dir, "since-date.db")
    day0 = time.strftime("%Y-%m-%d", time.gmtime(since))
    r = ws.run("tickets", "--since", day0, dest=db3)
    want = {x["id"] for x in sim.dump("tickets") if x["updated_at"] >= since - since % 86400}
    got = {x[0] for x in query(db3, "select id from tickets")}
    t.ok(r.rc == 0 and want <= got and len(got) <= len(want) + 0, "--since YYYY-MM-DD is UTC midnight")

    # ---------------------------------------------------------- one run per asset
    slow = os.path.join(ws.dir, "slow.db")
    ws.run("tags", dest=slow)
    ws_env = dict(os.environ, ICX_TEST_TOKEN=sim.token)
    argv = [ICX, "run", "--config", ws.config, "--dest", slow, ws.script("companies")]
    sim.control("POST", "/_sim/rate", {"limit": 2})
    first = subprocess.Popen(argv, cwd=ws.dir, env=ws_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        if query(slow, "select count(*) from _icx_runs where asset='companies' and status='running'")[0][0]:
            break
        time.sleep(0.05)
    t0 = time.time()
    second = subprocess.run(argv, cwd=ws.dir, env=ws_env, capture_output=True, text=True, timeout=60)
    took = time.time() - t0
    t.is_(second.returncode, 4, "a second run of a running asset exits 4")
    t.ok(took < 1.0, "within a second (%.2f s), before any request" % took)
    t.ok("companies: another run holds it" in second.stderr and "pid %d" % first.pid in second.stderr,
         "naming the holder's pid: " + second.stderr.strip()[-300:])
    r = icx(ws, "reset", "--dest", slow, "companies")
    t.is_(r.rc, 4, "reset of a running asset exits 4")
    waited = subprocess.Popen(argv + ["--wait"], cwd=ws.dir, env=ws_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    sim.control("POST", "/_sim/rate", {"limit": 10000})
    first.wait(timeout=120)
    out, err = waited.communicate(timeout=120)
    t.is_((first.returncode, waited.returncode), (0, 0), "--wait waits for the first, then runs")
    t.ok(b"waiting for the run that holds it" in err, "--wait says what it waits for")
    first_err = first.stderr.read()
    t.ok(re.search(rb"companies: waiting \d+ s for the rate budget \(166 requests per 10 s\)", first_err),
         "a long wait for the rate budget is said at the default verbosity")
    landed.compare(t, slow, "companies", sim.dump("companies"), name="companies after two runs in turn")

    # ---------------------------------------------------------- SIGKILL under another hostname
    if shutil.which("unshare") and os.geteuid() == 0:
        sim.control("POST", "/_sim/rate", {"limit": 2})
        cmd = "hostname icx-other-host && exec " + " ".join("'%s'" % a for a in argv)
        p = subprocess.Popen(["unshare", "-u", "sh", "-c", cmd], cwd=ws.dir, env=ws_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        row = None
        while time.time() < deadline and not row:
            rows = query(slow, "select host from _icx_runs where asset='companies' and status='running'")
            row = rows[0] if rows else None
            time.sleep(0.05)
        t.is_(row and row[0], "icx-other-host", "the run row names the other host")
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        sim.control("POST", "/_sim/rate", {"limit": 10000})
        r = icx(ws, "status", "--dest", slow, "--json")
        comp = [o for o in json.loads(r.out) if o["asset"] == "companies"][0]
        t.is_(comp["last_status"], "interrupted", "status shows the killed run as interrupted (its lock is free)")
        r = ws.run("companies", dest=slow)
        t.is_(r.rc, 0, "the next run (on this host) runs")
        t.is_(query(slow, "select count(*) from _icx_runs where status='running'")[0][0], 0,
              "and no run row is left running")
        t.is_(query(slow, "select status from _icx_runs where host='icx-other-host'")[0][0], "interrupted",
              "the other host's row is closed as interrupted")
    else:
        t.skip("unshare -u needs root", 5)

    # ---------------------------------------------------------- token preflight
    fresh = os.path.join(ws.dir, "fresh.db")
    r = ws.run("contacts", "tags", dest=fresh, env={"ICX_TEST_TOKEN": "wrong-token-0123456789"})
    t.is_(r.rc, 2, "a rejected token exits 2")
    t.ok(not os.path.exists(fresh), "and the destination is not even created")
    t.is_(len([x for x in r.err.splitlines() if x.strip()]), 1, "one message: " + r.err.strip()[:300])
    t.ok("connection 'sim'" in r.err and "refused the access token" in r.err and "HTTP 401" in r.err,
         "naming the connection and what to check")
    t.ok("wrong-token-0123456789" not in r.err, "the token is not printed")

    # ---------------------------------------------------------- one workspace per destination
    with Sim(contacts=20, seed=12, workspace_id="otherws1") as other:
        before = {t_: count(ws.db, t_) for t_ in ("contacts", "tags")}
        state = query(ws.db, "select * from _icx_state order by asset")
        ws2 = Workspace(other, name="0315-other")
        ws2.db = ws.db
        r = ws2.run("contacts", "tags")
        t.is_(r.rc, 2, "a second workspace's token is refused with exit 2")
        t.ok("holds workspace" in r.err and "ecahpwf5" in r.err and "otherws1" in r.err,
             "naming both workspaces: " + r.err.strip()[-300:])
        t.is_({t_: count(ws.db, t_) for t_ in ("contacts", "tags")}, before, "data unchanged")
        t.is_(query(ws.db, "select * from _icx_state order by asset"), state, "cursors unchanged")
        t.is_([x["path"] for x in other.request_log()], ["/me"], "nothing but the preflight was requested")
        ws2.__exit__(None, None, None)

t.done_testing()
