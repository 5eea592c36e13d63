#!/usr/bin/python3
"""The operator contract on PostgreSQL: a second run of a running asset
exits 4 at once naming the holder (a session advisory lock), --wait waits;
a run whose process was SIGKILLed leaves no lock (PostgreSQL drops it with
the connection) and its row shows and closes as interrupted; status and
reset; the summary matches what landed; another workspace is refused with
the data unchanged."""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)


def icx(ws, *args):
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]))


with pgserver.PgServer() as pg, Sim(contacts=200, companies=60, seed=8) as sim, Workspace(sim) as ws:
    uri = pg.uri(schema="ops")
    con = pg.connect()
    con.autocommit = True
    cur = con.cursor()
    summary = os.path.join(ws.dir, "s.json")
    r = ws.run("contacts", "tags", "--summary-json", summary, dest=uri)
    t.is_(r.rc, 0, "first run into PostgreSQL exits 0")
    with open(summary) as f:
        s = json.load(f)
    by = {a["asset"]: a for a in s["assets"]}
    for a in ("contacts", "tags"):
        cur.execute('select count(*) from ops."%s"' % a)
        t.is_(by[a]["rows"], cur.fetchone()[0], "summary rows of %s match PostgreSQL" % a)

    env = dict(os.environ, ICX_TEST_TOKEN=sim.token)
    argv = [ICX, "run", "--config", ws.config, "--dest", uri, ws.script("companies")]
    sim.control("POST", "/_sim/rate", {"limit": 2})
    first = subprocess.Popen(argv, cwd=ws.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline:
        cur.execute("select count(*) from ops._icx_runs where asset = 'companies' and status = 'running'")
        if cur.fetchone()[0]:
            break
        time.sleep(0.05)
    t0 = time.time()
    second = subprocess.run(argv, cwd=ws.dir, env=env, capture_output=True, text=True, timeout=120)
    t.is_(second.returncode, 4, "a second run of the running asset exits 4")
    t.ok("companies: another run holds it" in second.stderr and "pid %d" % first.pid in second.stderr,
         "naming the holder: " + second.stderr.strip()[-300:])
    t.ok(time.time() - t0 < 15, "without running the asset (%.1f s, the preflight waited on the budget)"
         % (time.time() - t0))
    r = icx(ws, "reset", "--dest", uri, "companies")
    t.is_(r.rc, 4, "reset of a running asset exits 4")
    # SIGKILL the holder: PostgreSQL ends its session, and with it the lock.
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    deadline = time.time() + 15
    while time.time() < deadline:
        cur.execute("select count(*) from pg_stat_activity where application_name <> 'psql' and "
                    "backend_type = 'client backend' and pid <> pg_backend_pid() and datname = current_database() "
                    "and state is not null and query like '%%_icx_%%'")
        time.sleep(0.2)
        r = icx(ws, "status", "--dest", uri, "--json")
        st = {o["asset"]: o for o in json.loads(r.out or "[]")} if r.rc == 0 else {}
        if st.get("companies", {}).get("last_status") == "interrupted":
            break
    t.is_(st.get("companies", {}).get("last_status"), "interrupted",
          "status shows the killed run as interrupted (its lock went with its session)")
    t.is_(st.get("contacts", {}).get("last_status"), "ok", "and the others as they are")
    sim.control("POST", "/_sim/rate", {"limit": 10000})
    r = ws.run("companies", "--wait", dest=uri)
    t.is_(r.rc, 0, "the next run runs")
    cur.execute("select count(*) from ops._icx_runs where status = 'running'")
    t.is_(cur.fetchone()[0], 0, "and no row is left running")
    landed_pg.compare(t, con, "companies", sim.dump("companies"), schema="ops")

    r = icx(ws, "reset", "--dest", uri, "contacts")
    t.is_(r.rc, 0, "reset exits 0")
    cur.execute("select count(*) from ops._icx_state where asset = 'contacts'")
    t.is_(cur.fetchone()[0], 0, "the contacts cursor is cleared")
    cur.execute("select count(*) from ops._icx_state where asset = 'companies'")
    t.is_(cur.fetchone()[0], 1, "others are kept")

    with Sim(contacts=10, seed=9, workspace_id="otherpg1") as other:
        cur.execute("select count(*) from ops.contacts")
        before = cur.fetchone()[0]
        ws2 = Workspace(other, name="0508-other")
        r = ws2.run("contacts", dest=uri)
        t.is_(r.rc, 2, "another workspace's token is refused on PostgreSQL")
        t.ok("otherpg1" in r.err and "ecahpwf5" in r.err, "naming both workspaces")
        cur.execute("select count(*) from ops.contacts")
        t.is_(cur.fetchone()[0], before, "the data is unchanged")
        ws2.__exit__(None, None, None)
    t.ok(pg.password not in (r.err + r.out) if getattr(pg, "password", None) else True, "no password printed")

t.done_testing()
