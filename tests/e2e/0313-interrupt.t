#!/usr/bin/python3
"""Stopping a run: SIGTERM (a scheduler's timeout) or SIGINT (Ctrl-C) stops
icx between pages, promptly even while it sleeps out a retry backoff. What
committed stays, the cursor names only landed records, _icx_runs says
"interrupted", assets not yet started are named, the exit code is 128 plus
the signal's number, and the next run completes the table. A run killed
with SIGKILL cannot say so itself: its "running" row is closed as
interrupted by the next run on the same host."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402


def start(ws, *assets, extra=()):
    argv = [ICX, "run", "--config", ws.config, "--dest", ws.db] + list(extra)
    argv += [ws.script(a) for a in assets]
    env = dict(os.environ, ICX_TEST_TOKEN=ws.token)
    env.pop("ICX_CONFIG", None)
    return subprocess.Popen(argv, cwd=ws.dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def landed_rows(db, table):
    """Rows committed so far (0 while the table does not exist yet)."""
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute('select count(*) from "%s"' % table).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def wait_for_rows(proc, db, table, deadline=120):
    end = time.time() + deadline
    while time.time() < end and proc.poll() is None:
        if landed_rows(db, table) > 0:
            return True
        time.sleep(0.05)
    return False


def runs(db):
    con = sqlite3.connect(db)
    out = {a: (s, e) for a, s, e in con.execute("select asset, status, error from _icx_runs order by id")}
    con.close()
    return out


def cursor_is_safe(db, name, truth):
    """Every record below the stored cursor landed."""
    con = sqlite3.connect(db)
    cur = con.execute("select value from _icx_state where asset = ?", (name,)).fetchone()
    have = {r[0] for r in con.execute('select id from "%s"' % name)}
    con.close()
    below = [x["id"] for x in truth if cur and x["updated_at"] < int(cur[0])]
    return all(i in have for i in below), cur and cur[0]


with Sim(contacts=6000, latency_ms=150, seed=21) as sim, Workspace(sim) as ws:
    # One job: contacts walks while tags waits its turn.
    p = start(ws, "contacts", "tags", extra=["-j", "1"])
    t.ok(wait_for_rows(p, ws.db, "contacts"), "the first contacts page committed")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    t.is_(p.returncode, 128 + signal.SIGTERM, "SIGTERM: exit code 143")
    t.ok("interrupted by SIGTERM" in err and "run again to resume" in err,
         "stderr says the run was interrupted and how to resume")
    t.ok("not started: tags" in err, "stderr names the asset that never started")
    n = landed_rows(ws.db, "contacts")
    t.ok(0 < n < 6000, "the run stopped part-way (%d of 6000 contacts)" % n)
    r = runs(ws.db)
    t.is_(r.get("contacts", (None,))[0], "interrupted", "_icx_runs: contacts interrupted")
    t.ok("tags" not in r, "_icx_runs: tags never started")
    truth = sim.dump("contacts")
    safe, cur = cursor_is_safe(ws.db, "contacts", truth)
    t.ok(safe, "every contact below the stored cursor (%s) landed" % cur)
    got = landed.rows(ws.db, "contacts", ("id",))
    t.ok(all(landed.cell_matches(c, got[(x["id"],)][c], v) for x in truth if (x["id"],) in got
             for c, v in x.items()), "what landed equals the truth")

    r2 = ws.run("contacts", "tags")
    t.is_(r2.rc, 0, "the next run completes")
    landed.compare(t, ws.db, "contacts", truth, name="contacts after resuming")
    landed.compare(t, ws.db, "tags", sim.dump("tags"), name="tags after resuming")

# Ctrl-C while every attempt fails and icx sleeps out a 30 s backoff: it
# stops at once instead of finishing the retries.
SLOW_RETRY = "      max_attempts: 5\n      retry_base: 30\n      retry_cap: 30\n"
with Sim(seed=22) as sim, Workspace(sim, extra=SLOW_RETRY) as ws:
    sim.control("POST", "/_sim/fault", {"path": "/tags", "status": 503, "count": 100})
    p = start(ws, "tags")
    deadline = time.time() + 60
    while time.time() < deadline and not any(
            x.get("path") == "/tags" for x in sim.request_log()):
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    took = time.time() - t0
    t.is_(p.returncode, 128 + signal.SIGINT, "SIGINT during a backoff: exit code 130")
    t.ok(took < 20, "icx stopped without sleeping out the backoff (%.1f s)" % took)
    t.is_(runs(ws.db).get("tags", (None,))[0], "interrupted", "_icx_runs: tags interrupted")
    t.is_(landed_rows(ws.db, "tags"), 0, "no tags table: the replace never swapped in")

# SIGKILL: the row stays "running" until the next run on this host closes it.
with Sim(contacts=6000, latency_ms=150, seed=23) as sim, Workspace(sim) as ws:
    p = start(ws, "contacts", extra=["-j", "1"])
    t.ok(wait_for_rows(p, ws.db, "contacts"), "the first contacts page committed")
    p.kill()
    p.communicate()
    t.is_(runs(ws.db)["contacts"][0], "running", "a killed run's row still says running")
    r = ws.run("tags")
    t.is_(r.rc, 0, "the next run succeeds")
    con = sqlite3.connect(ws.db)
    rows = con.execute("select asset, status, error from _icx_runs order by id").fetchall()
    con.close()
    t.is_([(a, s) for a, s, _ in rows], [("contacts", "interrupted"), ("tags", "ok")],
          "the next run closed the killed run's row as interrupted")
    t.ok("pid %d" % p.pid in (rows[0][2] or "") and "killed or crashed" in (rows[0][2] or ""),
         "its error names the process and what happened: %s" % rows[0][2])

# After the first signal both get their default action back: a second one,
# of either kind, ends the process at once.
SECOND = """
local sys = require "icx.sys"
sys.trap_signals()
-- system() ignores SIGINT while it waits, so that one comes from a
-- background shell; the sleep ends when it arrives.
os.execute("(sleep 0.2; kill -INT " .. sys.pid() .. ") &")
sys.sleep(30)
io.stdout:write("caught ", tostring((sys.caught_signal())), "\\n")
io.stdout:flush()
os.execute("kill -TERM " .. sys.pid())
sys.sleep(5)
io.stdout:write("survived\\n")
"""
with Sim(seed=24) as sim, Workspace(sim) as ws:
    path = os.path.join(ws.dir, "second.lua")
    with open(path, "w") as f:
        f.write(SECOND)
    p = subprocess.run([ICX, "lua", path], capture_output=True, text=True, timeout=60)
    t.is_(p.stdout, "caught SIGINT\n", "the first signal (SIGINT) is only recorded")
    t.is_(p.returncode, -signal.SIGTERM, "a second signal (SIGTERM) kills at once")

t.done_testing()
