#!/usr/bin/python3
"""Locks per asset: while another process holds one asset's run lock, a
run of several skips that asset with a clear line and a "skipped" status in
the summary, lands the others exactly, and exits 4 (1 when another asset
failed: the worse wins); --wait=2s waits about that long, then skips the
same way; once the lock is free the asset runs."""
import json
import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

# Holds (connection, asset)'s run lock in DEST for SECS seconds, the way a
# running icx does; READY is created once it holds it.
HOLDER = r'''
local dest, sys = require "icx.dest", require "icx.sys"
local uri, conn, asset, secs, ready = ...
local d = dest.open(uri)
local lk = assert(d:lock(conn, asset))
local f = assert(io.open(ready, "w"))
f:close()
sys.sleep(tonumber(secs))
lk:release()
d:close()
'''


def hold(ws, asset, secs):
    path = os.path.join(ws.dir, "holder.lua")
    with open(path, "w") as f:
        f.write(HOLDER)
    ready = os.path.join(ws.dir, "ready-%s-%f" % (asset, time.time()))
    p = subprocess.Popen([ICX, "lua", path, ws.db, "sim", asset, str(secs), ready], cwd=ws.dir)
    deadline = time.time() + 20
    while not os.path.exists(ready) and time.time() < deadline:
        time.sleep(0.02)
    t.ok(os.path.exists(ready), "a holder of %s's lock runs (pid %d)" % (asset, p.pid))
    return p


def summary_of(path):
    with open(path) as f:
        return json.load(f)


with Sim(contacts=20, companies=25, seed=43) as sim, Workspace(sim) as ws:
    s_path = os.path.join(ws.dir, "s.json")
    holder = hold(ws, "companies", 25)

    r = ws.run("tags", "companies", "admins", "--summary-json", s_path)
    t.is_(r.rc, 4, "a run with one locked asset exits 4")
    t.ok("companies: another run holds it on this destination (pid %d)" % holder.pid in r.err
         and "skipped, the other assets run" in r.err, "the skip is said at once:\n" + r.err)
    t.ok("run it again when that one ends, or pass --wait" in r.err, "and again at the end, with what to do")
    t.ok("tags: 15 rows" in r.err or "tags: %d rows" % len(sim.dump("tags")) in r.err, "the others' lines")
    s = summary_of(s_path)
    by = {a["asset"]: a for a in s["assets"]}
    t.is_({a: by[a]["status"] for a in by}, {"tags": "ok", "companies": "skipped", "admins": "ok"},
          "summary: companies skipped, the others ok")
    t.is_((s["exit_code"], s["skipped"], s["failed"]), (4, ["companies"], []), "summary: exit 4, what was skipped")
    t.is_(by["companies"]["error"]["kind"], "locked", "the skipped asset's error kind is locked")
    t.is_(by["companies"]["requests"], 0, "no request for the skipped asset")
    landed.compare(t, ws.db, "tags", sim.dump("tags"))
    landed.compare(t, ws.db, "admins", sim.dump("admins"))
    c = sqlite3.connect(ws.db)
    t.is_(c.execute("select count(*) from _icx_runs where asset = 'companies'").fetchone()[0], 0,
          "no run row for the skipped asset")
    t.is_(c.execute("select count(*) from sqlite_master where name = 'companies'").fetchone()[0], 0,
          "and no companies table")
    c.close()

    # Something worse wins: a failed asset beside a skipped one exits 1.
    sim.fault(path="/admins", kind="status", status=400, count=3)
    r = ws.run("companies", "admins", "--summary-json", s_path)
    t.is_(r.rc, 1, "a failed and a skipped asset: exit 1")
    s = summary_of(s_path)
    t.is_(sorted((a["asset"], a["status"]) for a in s["assets"]), [("admins", "failed"), ("companies", "skipped")],
          "summary: one failed, one skipped")

    # --wait=2s: waits about 2 s, then skips like above.
    t0 = time.time()
    r = ws.run("--wait=2s", "companies", "tags", "--summary-json", s_path)
    took = time.time() - t0
    t.is_(r.rc, 4, "--wait=2s on a lock held longer: exit 4")
    t.ok(2.0 <= took < 8, "after waiting about 2 s (%.1f s)" % took)
    t.ok("waiting for the run that holds it" in r.err and "still after waiting 2 s (--wait=2s)" in r.err,
         "saying it waited:\n" + r.err)
    s = summary_of(s_path)
    t.is_(sorted((a["asset"], a["status"]) for a in s["assets"]), [("companies", "skipped"), ("tags", "ok")],
          "the other asset ran")
    r = ws.run("--wait=later", "tags")
    t.is_(r.rc, 2, "a bad --wait duration is a usage error")

    # Only locked assets: nothing runs, exit 4 at once.
    t0 = time.time()
    r = ws.run("companies")
    t.ok(r.rc == 4 and time.time() - t0 < 2, "a run of the locked asset alone exits 4 at once (%.1f s)"
         % (time.time() - t0))

    holder.kill()
    holder.wait()
    r = ws.run("--wait=30s", "companies", "--summary-json", s_path)
    t.is_(r.rc, 0, "once the lock is free the asset runs")
    landed.compare(t, ws.db, "companies", sim.dump("companies"))

t.done_testing()
