#!/usr/bin/python3
"""PostgreSQL: the cursor commits with its page. A writer killed with
SIGKILL inside a page, between pages, or at random moments leaves exactly
the pages its cursor names; a resumed run lands the rest with nothing lost
and nothing duplicated. Also `icx run` killed mid-run against the
simulator: the resumed run completes, the killed run's _icx_runs row is
closed as interrupted, and what landed equals the simulator's truth."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
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

PAGES, PER_PAGE = 30, 40

DRIVER = r'''
-- icx lua driver.lua DEST PAGES_DIR [pause=K:mid|between] [sleep=S]
local dest = require "icx.dest"
local json = require "icx.json"
local sys = require "icx.sys"
local uri, pdir = ...
local opts = {}
for i = 3, select("#", ...) do
  local k, v = select(i, ...):match("^(%w+)=(.*)$")
  opts[k] = v
end
local pause_at, where = (opts.pause or ""):match("^(%d+):(%a+)$")
pause_at = tonumber(pause_at)
local function say(s) io.stdout:write(s, "\n") io.stdout:flush() end
local d = dest.open(uri)
local t = d:table { name = "items", primary_key = "id" }
local i = (d:cursor_get("e2e", "items") or 0) + 1
while true do
  local f = io.open(pdir .. "/" .. i .. ".json", "rb")
  if not f then break end
  local body = f:read("a")
  f:close()
  d:begin()
  t:write(assert(json.page(body, "data")))
  if pause_at == i and where == "mid" then say("paused " .. i) sys.sleep(120) end
  if opts.sleep then sys.sleep(tonumber(opts.sleep)) end
  d:cursor_set("e2e", "items", "page", i)
  d:commit()
  say("committed " .. i)
  if pause_at == i and where == "between" then say("paused " .. i) sys.sleep(120) end
  if opts.sleep then sys.sleep(tonumber(opts.sleep)) end
  i = i + 1
end
say("done")
d:close()
'''

work = tempfile.mkdtemp(prefix="icx-0504-")
driver = os.path.join(work, "driver.lua")
with open(driver, "w") as f:
    f.write(DRIVER)
pages = os.path.join(work, "pages")
os.mkdir(pages)
for n in range(1, PAGES + 1):
    recs = [{"id": n * 1000 + j, "page": n, "big": 9007199254740993 + j, "s": "😀 %d" % j,
             "nested": {"k": [n, j]}} for j in range(PER_PAGE)]
    with open(os.path.join(pages, "%d.json" % n), "w") as f:
        json.dump({"type": "list", "data": recs}, f)
ALL_IDS = sorted(n * 1000 + j for n in range(1, PAGES + 1) for j in range(PER_PAGE))


def start(uri, *opts):
    return subprocess.Popen([ICX, "lua", driver, uri, pages] + list(opts), cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_line(p, prefix, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        line = p.stdout.readline().decode()
        if not line:
            return None
        if line.startswith(prefix):
            return line.strip()
    return None


def kill(p):
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    p.stderr.close()


def ids_through(k):
    return [i for i in ALL_IDS if i // 1000 <= k]


with pgserver.PgServer() as pg:
    uri = pg.uri()
    con = pg.connect()  # autocommit: every statement reads a fresh snapshot
    cur = con.cursor()

    def state():
        """The cursor and the landed ids, read by one statement and so from
        one snapshot: a killed client's backend may still be committing its
        last page, and two separate reads could straddle that commit and
        show a mismatch that no reader ever sees."""
        cur.execute("select to_regclass('public.items') is not null")
        if cur.fetchone()[0]:
            cur.execute("select (select value::text from _icx_state where asset = 'items'), "
                        "array(select id from items)")
            c, ids = cur.fetchone()
        else:
            cur.execute("select value::text from _icx_state where asset = 'items'")
            r = cur.fetchone()
            c, ids = (r[0] if r else None), []
        return (int(c) if c is not None else 0), sorted(int(i) for i in ids)

    p = start(uri, "pause=5:mid")
    t.is_(wait_line(p, "paused"), "paused 5", "writer paused inside page 5")
    kill(p)
    cur_, ids = state()
    t.is_(cur_, 4, "after kill -9 mid-page the cursor names page 4")
    t.ok(ids == ids_through(4), "exactly pages 1-4 landed, nothing of the killed page (%d rows)" % len(ids))

    p = start(uri, "pause=9:between")
    t.is_(wait_line(p, "paused"), "paused 9", "resumed writer paused after page 9")
    kill(p)
    cur_, ids = state()
    t.is_(cur_, 9, "after kill -9 between pages the cursor names page 9")
    t.ok(ids == ids_through(9), "exactly pages 1-9, each record once")

    rng = random.Random(11)
    consistent, kills = True, 0
    for _ in range(12):
        p = start(uri, "sleep=0.01")
        time.sleep(rng.uniform(0.05, 0.25))
        kill(p)
        kills += 1
        cur_, ids = state()
        if ids != ids_through(cur_):
            consistent = False
            t.diag("cursor %d but %d rows" % (cur_, len(ids)))
        if cur_ == PAGES:
            break
    t.ok(consistent, "after %d random kills the rows always match the cursor" % kills)
    p = subprocess.run([ICX, "lua", driver, uri, pages], cwd=work, capture_output=True, timeout=120)
    t.is_(p.returncode, 0, "the resumed run exits 0")
    cur_, ids = state()
    t.is_(cur_, PAGES, "cursor at the last page")
    t.ok(ids == ALL_IDS, "every record exactly once (%d of %d)" % (len(ids), len(ALL_IDS)))
    # A killed client's backend ends when it sees the closed socket: soon,
    # not at once on a busy machine.
    for _ in range(100):
        cur.execute("select count(*) from pg_stat_activity where datname = 'icx' and pid <> pg_backend_pid()")
        left = cur.fetchone()[0]
        if left == 0:
            break
        time.sleep(0.1)
    t.is_(left, 0, "killed writers' sessions are gone (their locks with them)")

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

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
