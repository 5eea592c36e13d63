#!/usr/bin/python3
"""icx plan needs no token (it sends no request), takes --since/--until and
shows the window's first request and what the walk costs, with the stored
cursor of an existing destination; it refuses a window for an asset
without an incremental key (exit 2), as run does."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def plan(ws, *args):
    """icx plan with the token's variable unset."""
    env = dict(os.environ)
    env.pop("ICX_TEST_TOKEN", None)
    env.pop("ICX_CONFIG", None)
    p = subprocess.run([ICX, "plan", "--config", ws.config] + list(args), cwd=ws.dir, env=env,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def seen(sim):
    with open(sim.log_path) as f:
        return len(f.read().splitlines())


with Sim(tickets=30, seed=1303) as sim, Workspace(sim) as ws:
    rc, out, err = plan(ws, ws.script("tickets"), ws.script("tags"), ws.script("data_attributes"))
    t.is_(rc, 0, "plan without the token's variable exits 0: " + err.strip()[-300:])
    t.ok("POST %s/tickets/search" % sim.url in out, "it shows the first request")
    t.ok("requests: 1\n" in out, "a single GET costs 1 request")
    t.ok("requests: 3\n" in out, "data_attributes costs 3 (one per model)")
    t.ok("requests: at least 1: 1 request per 150 records" in out, "a search costs 1 request per 150 records")
    t.is_(seen(sim), 0, "no request reached the simulator")

    r = ws.run("tickets")
    t.is_(r.rc, 0, "a run stores a cursor")
    before = seen(sim)
    rc, out, err = plan(ws, "--dest", ws.db, "--since", "2026-01-01", "--until", "2026-02-01", ws.script("tickets"))
    t.is_(rc, 0, "plan of a backfill window exits 0: " + err.strip()[-300:])
    t.ok("window: backfill 2026-01-01 .. 2026-02-01 (updated_at); cursor stays at" in out,
         "it says what the window does with the stored cursor")
    t.ok('{"field":"updated_at","operator":">","value":1767225599}' in out
         and '{"field":"updated_at","operator":"<","value":1769904000}' in out,
         "the first request asks for the window only")
    t.ok("with updated_at in 2026-01-01 .. 2026-02-01" in out, "the cost is the window's")
    t.is_(seen(sim), before, "still no request")
    rc2, out2, _ = plan(ws, "--dest", ws.db, "--since", "2026-01-01", "--until", "2026-02-01",
                        ws.script("tickets"))
    t.is_(out2, out, "the same plan twice prints the same text")

    rc, out, err = plan(ws, "--since", "2026-01-01", ws.script("tags"))
    t.is_(rc, 2, "plan --since of a replace asset exits 2")
    t.ok("asset 'tags' has no incremental key" in err, err.strip())

t.done_testing()
