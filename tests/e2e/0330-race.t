#!/usr/bin/python3
"""Concurrent runs lose nothing. 20 rounds of 2-4 `icx run` processes on one
destination, started at once or staggered, some with --wait, through full
loads (a new destination) and incremental runs (after mutations): every
process exits 0 or 4 (--wait ones 0), and after each round every table is
exactly what the simulator holds, with no run left `running` and no staging
table left. Then the destination layer alone, without the run locks: 3
processes replacing one table at once, 20 times, always leave exactly one
complete set (each stages into its own table)."""
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

ASSETS = ["data_attributes", "admins", "tags", "contacts", "companies"]
ROUNDS = 20


class Quiet:
    """A tap stand-in for landed.compare: counts failures, prints nothing."""

    def __init__(self):
        self.failures = []

    def is_(self, got, want, name):
        if got != want:
            self.failures.append("%s: got %r want %r" % (name, got, want))

    def ok(self, cond, name):
        if not cond:
            self.failures.append(name)

    def diag(self, msg):
        pass


def query(db, sql):
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


rng = random.Random(7)
with Sim(contacts=300, companies=40, seed=21) as sim, Workspace(sim) as ws:
    env = dict(os.environ, ICX_TEST_TOKEN=sim.token)
    db = None
    for rnd in range(ROUNDS):
        full = rnd % 2 == 0
        if full:
            db = os.path.join(ws.dir, "race%d.db" % rnd)
        else:
            sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5})
            sim.control("POST", "/_sim/mutate", {"asset": "companies", "count": 3})
        n = 2 + rnd % 3
        staggered = rnd % 4 >= 2
        procs, waits = [], []
        for k in range(n):
            wait = k % 2 == 1
            argv = [ICX, "run", "--config", ws.config, "--dest", db] + (["--wait"] if wait else []) \
                + [ws.script(a) for a in rng.sample(ASSETS, len(ASSETS))]
            procs.append(subprocess.Popen(argv, cwd=ws.dir, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
            waits.append(wait)
            if staggered:
                time.sleep(rng.uniform(0.02, 0.3))
        rcs, errs = [], []
        for p in procs:
            _, err = p.communicate(timeout=300)
            rcs.append(p.returncode)
            errs.append(err.decode("utf-8", "replace"))
        what = "round %d (%s, %d processes, %s)" % (rnd + 1, "full" if full else "incremental", n,
                                                     "staggered" if staggered else "at once")
        bad = [(rc, w) for rc, w in zip(rcs, waits) if rc not in (0, 4) or (w and rc != 0)]
        t.ok(not bad and 0 in rcs, "%s: exits %s" % (what, rcs))
        if bad:
            for e in errs:
                t.diag(e[-600:])
        q = Quiet()
        for asset in ASSETS:
            key = ("model", "full_name") if asset == "data_attributes" else ("id",)
            landed.compare(q, db, asset, sim.dump(asset), key, name=asset)
        t.is_(q.failures, [], "%s: every table equals the simulator's" % what)
        left = query(db, "select count(*) from _icx_runs where status = 'running'")[0][0]
        stages = query(db, "select name from sqlite_master where name like '\\_icx\\_stage\\_%' escape '\\'")
        t.ok(left == 0 and not stages, "%s: no run left running (%d), no staging table (%s)" % (what, left, stages))

# The destination alone, no run locks: three processes replace one table
# at once; each must swap in its own complete set, never a mix.
DRIVER = r'''
local dest, json, sys = require "icx.dest", require "icx.json", require "icx.sys"
local uri, gen, start = ...
-- A common start time, so the three overlap whatever their startup costs.
while sys.time() < tonumber(start) do sys.sleep(0.001) end
local d = dest.open(uri)
local t = d:table { name = "tags", primary_key = "id", mode = "replace" }
for page = 1, 6 do
  local recs = {}
  for j = 1, 20 do recs[j] = ('{"id":"%s-%d-%d","gen":%s}'):format(gen, page, j, gen) end
  d:transaction(function() t:write(assert(json.page("[" .. table.concat(recs, ",") .. "]", false))) end)
  sys.sleep(0.01 * tonumber(gen))
end
t:finish()
d:close()
'''
work = tempfile.mkdtemp(prefix="icx-0330-")
driver = os.path.join(work, "replace.lua")
with open(driver, "w") as f:
    f.write(DRIVER)
mixed = 0
for rnd in range(ROUNDS):
    db = os.path.join(work, "r%d.db" % rnd)
    start = "%.3f" % (time.time() + 0.3)
    procs = [subprocess.Popen([ICX, "lua", driver, db, str(g), start], cwd=work, stderr=subprocess.PIPE)
             for g in (1, 2, 3)]
    rcs = [p.wait(timeout=120) for p in procs]
    rows = query(db, "select gen, count(*) from tags group by gen")
    if rcs != [0, 0, 0] or len(rows) != 1 or rows[0][1] != 120:
        mixed += 1
        t.diag("round %d: exits %s, table %s" % (rnd + 1, rcs, rows))
t.is_(mixed, 0, "20 rounds of 3 concurrent replaces: each left exactly one complete set")

t.done_testing()
