#!/usr/bin/python3
"""An interrupted first load resumes every time slice where it stopped:
each slice's range and high-water mark are stored with each committed page
(an _icx_state row of their own, '<asset>/slices'), the asset's own row
keeps its integer cursor, and the next run walks only what is left. After
SIGTERM or SIGKILL half way, the resumed table is exact (nothing lost,
nothing doubled) and the resume costs well under a full load."""
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import subprocess  # noqa: E402
import tap as t  # noqa: E402

N = 6000


def start(ws, db, asset):
    argv = [ICX, "run", "-q", "--config", ws.config, "--dest", db, ws.script(asset)]
    env = dict(os.environ, ICX_TEST_TOKEN=ws.token)
    env.pop("ICX_CONFIG", None)
    return subprocess.Popen(argv, cwd=ws.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def count(db, sql, *args):
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql, args).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def state(db):
    con = sqlite3.connect(db)
    out = dict(con.execute("select asset, value from _icx_state"))
    con.close()
    return out


def requests_of(sim, fn):
    before = len(sim.request_log())
    fn()
    return len(sim.request_log()) - before


with Sim(contacts=N, companies=40, latency_ms=150, seed=33) as sim, Workspace(sim) as ws:
    full_db = os.path.join(ws.dir, "full.db")
    full = {}
    for asset in ("contacts", "contact_tags"):
        full[asset] = requests_of(sim, lambda: ws.run(asset, "--dest", full_db))
    t.diag("uninterrupted loads: %r requests" % full)

    for asset, sig, progress in (
            ("contacts", signal.SIGTERM, "select count(*) from contacts"),
            ("contact_tags", signal.SIGKILL, "select count(*) from _icx_seen where asset = 'contact_tags'")):
        db = os.path.join(ws.dir, asset + "-cut.db")
        before = len(sim.request_log())
        p = start(ws, db, asset)
        end = time.time() + 120
        while time.time() < end and p.poll() is None and count(db, progress) < N // 2:
            time.sleep(0.05)
        p.send_signal(sig)
        p.communicate(timeout=60)
        first = len(sim.request_log()) - before
        got = count(db, progress)
        t.ok(0 < got < N, "%s: %s stopped part-way (%d of %d contacts)" % (asset, sig.name, got, N))
        st = state(db)
        t.ok(asset + "/slices" in st, "%s: every slice's progress is stored in its own _icx_state row" % asset)
        t.ok(isinstance(st.get(asset), int), "%s: the asset's cursor stays an integer (%r)" % (asset, st.get(asset)))
        resumed = requests_of(sim, lambda: ws.run(asset, "--dest", db))
        t.diag("%s: interrupted run %d requests, resume %d, full load %d" % (asset, first, resumed, full[asset]))
        t.ok(resumed < 0.75 * full[asset],
             "%s: the resume costs well under a full load (%d vs %d requests)" % (asset, resumed, full[asset]))
        t.ok(first + resumed <= 1.2 * full[asset],
             "%s: interrupted + resumed costs at most 1.2x a full load (%d vs %d)"
             % (asset, first + resumed, full[asset]))
        st = state(db)
        t.ok(asset + "/slices" not in st, "%s: the slices row is gone once the walk completed" % asset)
        t.is_(st.get(asset), max(c["updated_at"] for c in sim.dump("contacts")), "%s: cursor at the newest contact" % asset)
        if asset == "contacts":
            landed.compare(t, db, "contacts", sim.dump("contacts"), name="contacts after SIGTERM and resume")
        else:
            landed.compare(t, db, "contact_tags", sim.dump("contact_tags"), ("contact_id", "tag_id"),
                           name="contact_tags after SIGKILL and resume")

t.done_testing()
