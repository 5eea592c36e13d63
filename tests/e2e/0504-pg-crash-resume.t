#!/usr/bin/python3
"""PostgreSQL: `icx run` killed with SIGKILL mid-run against the simulator,
then resumed: the resumed run completes, the killed run's _icx_runs row is
closed as interrupted, and what landed equals the simulator's truth. (A
writer killed inside a page, between pages or at random moments is checked
for every driver by 0202-dest-crash-resume.t.)"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX  # noqa: E402
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

with pgserver.PgServer() as pg:
    con = pg.connect()  # autocommit: every statement reads a fresh snapshot
    cur = con.cursor()

    # icx run killed mid-run against the simulator, then resumed.
    with Sim(contacts=900, seed=21) as sim, Workspace(sim) as ws:
        dest = pg.uri(schema="run")
        argv = [ICX, "run", "--config", ws.config, "--dest", dest, ws.script("contacts")]
        env = dict(os.environ, ICX_TEST_TOKEN=sim.token)
        sim.fault(path="/contacts/search", kind="delay", delay_ms=400, count=1000)
        p = subprocess.Popen(argv, cwd=ws.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        landed = 0
        while time.time() < deadline and landed < 100:
            time.sleep(0.2)
            cur.execute("select to_regclass('run.contacts') is not null")
            if cur.fetchone()[0]:
                cur.execute("select count(*) from run.contacts")
                landed = cur.fetchone()[0]
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        t.ok(landed >= 100, "icx run killed with SIGKILL after %d contacts landed" % landed)
        sim.control("POST", "/_sim/clear_faults")
        r = ws.run("contacts", dest=dest)
        t.is_(r.rc, 0, "the resumed icx run exits 0")
        landed_pg.compare(t, con, "contacts", sim.dump("contacts"), schema="run", name="contacts after kill + resume")
        cur.execute("select status, error from run._icx_runs order by id")
        runs = cur.fetchall()
        t.is_([s for s, _ in runs], ["interrupted", "ok"], "the killed run's row is closed as interrupted")
        t.ok("killed or crashed" in (runs[0][1] or ""), "and says why")
    con.close()

t.done_testing()
