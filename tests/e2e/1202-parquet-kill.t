#!/usr/bin/python3
"""Parquet: a load SIGKILLed at random moments (mid-page, mid-publish,
between a file and its manifest or its cursor) and run again leaves the
latest-per-key view exact: no record lost, none stale. Files are published
before the cursors that vouch for them, so a kill can only make the rerun
read some records again, which the view folds into one row per key. The
same for the kills of a run after mutations (an incremental run)."""
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace  # noqa: E402
from icxtest import ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import dest_drivers  # noqa: E402
import tap as t  # noqa: E402

ASSETS = ["contacts", "conversations"]
rng = random.Random(int(os.environ.get("ICX_KILL_SEED", "1202")))


def killed_run(ws, uri, delay):
    """icx run, SIGKILLed after delay seconds (or finished before)."""
    env = dict(os.environ, ICX_TEST_TOKEN=ws.token)
    env.pop("ICX_CONFIG", None)
    p = subprocess.Popen([ICX, "run", "--config", ws.config, "--dest", uri] + [ws.script(a) for a in ASSETS],
                         cwd=ws.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return True
    return False


with Sim(contacts=1200, companies=20, conversations=120, seed=13) as sim, Workspace(sim) as ws:
    path = os.path.join(ws.dir, "lake")
    uri = "parquet:%s?rows=150" % path
    for phase in ("first load", "incremental"):
        kills = 0
        for _ in range(4):
            kills += killed_run(ws, uri, rng.uniform(0.3, 2.5))
        # A quiet machine may finish a run before its kill: sooner ones
        # until one is cut.
        for _ in range(10):
            if kills:
                break
            kills += killed_run(ws, uri, rng.uniform(0.05, 0.3))
        t.ok(kills >= 1, "%s: at least one run was killed mid-load (%d)" % (phase, kills))
        r = ws.run(*ASSETS, dest=uri)
        t.is_(r.rc, 0, "%s: the run after the kills exits 0" % phase)
        for asset in ASSETS:
            dest_drivers.compare_lake(t, "parquet", path, asset, sim.dump(asset),
                                      name="%s after kills (%s)" % (asset, phase))
        sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 200})
        sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 20})
        sim.control("POST", "/_sim/mutate", {"asset": "conversations", "count": 20})
    staging = [f for f in os.listdir(os.path.join(path, "_icx")) if f.startswith("staging-")]
    t.is_(staging, [], "no staging file of a killed run is left once a run ends")

t.done_testing()
