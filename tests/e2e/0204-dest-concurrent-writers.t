#!/usr/bin/python3
"""Several processes writing one SQLite destination never fail with
"database is locked": WAL, BEGIN IMMEDIATE and the busy timeout make a
writer wait its turn. Two processes start at once on a new file (racing the
WAL switch and the state tables), write their own tables and one shared
table, while a third holds a write transaction open for a second."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX, ROOT  # noqa: E402,F401
import tap as t  # noqa: E402

PAGES, PER_PAGE = 60, 20

DRIVER = r'''
-- icx lua driver.lua DB WHO [hold=S]: WHO writes PAGES pages to its own
-- table and to "shared", cursor and _icx_runs included; hold keeps one
-- page's transaction open for S seconds.
local dest = require "icx.dest"
local json = require "icx.json"
local sys = require "icx.sys"
local db, who, hold = ...
local pages, per = %d, %d
hold = hold and tonumber(hold:match("^hold=(.*)$"))
local d = dest.open(db)
local own = d:table { name = "t_" .. who, primary_key = "id" }
local shared = d:table { name = "shared", primary_key = { "who", "id" } }
local run = d:run_start { connection = "e2e", asset = who }
local rows = 0
for i = 1, pages do
  local recs = {}
  for j = 1, per do
    recs[j] = ('{"id":%%d,"who":"%%s","page":%%d,"v":"%%s-%%d"}'):format(i * 1000 + j, who, i, who, j)
  end
  local page = assert(json.page("[" .. table.concat(recs, ",") .. "]", false))
  d:begin()
  rows = rows + own:write(page) + shared:write(page)
  d:cursor_set("e2e", who, "page", i)
  if hold and i == 2 then
    io.stdout:write("holding\n")
    io.stdout:flush()
    sys.sleep(hold)
  end
  d:commit()
end
d:run_finish(run, { status = "ok", rows = rows })
d:close()
io.stdout:write("done ", rows, "\n")
''' % (PAGES, PER_PAGE)

work = tempfile.mkdtemp(prefix="icx-0204-")
driver = os.path.join(work, "driver.lua")
with open(driver, "w") as f:
    f.write(DRIVER)
db = os.path.join(work, "shared.db")


def start(who, *extra):
    return subprocess.Popen([ICX, "lua", driver, db, who] + list(extra), cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# Two writers racing on a file that does not exist yet.
procs = {who: start(who) for who in ("a", "b")}
results = {who: p.communicate(timeout=120) + (p.returncode,) for who, p in procs.items()}
for who, (out, err, rc) in results.items():
    t.is_(rc, 0, "writer %s exits 0" % who)
    t.ok(b"locked" not in err and b"busy" not in err, "writer %s never saw 'database is locked'" % who)
    if err:
        t.diag(err.decode("utf-8", "replace")[-1500:])

con = sqlite3.connect(db)
t.is_(con.execute("pragma journal_mode").fetchone()[0], "wal", "the file is in WAL mode")
for who in ("a", "b"):
    n = con.execute('select count(*) from "t_%s"' % who).fetchone()[0]
    t.is_(n, PAGES * PER_PAGE, "table t_%s complete" % who)
t.is_(con.execute("select who, count(*) from shared group by who order by who").fetchall(),
      [("a", PAGES * PER_PAGE), ("b", PAGES * PER_PAGE)], "the shared table holds both writers' rows")
t.is_(con.execute("select asset, value from _icx_state order by asset").fetchall(),
      [("a", PAGES), ("b", PAGES)], "both cursors committed")
t.is_(con.execute("select asset, status, rows from _icx_runs order by asset").fetchall(),
      [("a", "ok", 2 * PAGES * PER_PAGE), ("b", "ok", 2 * PAGES * PER_PAGE)], "both runs recorded")
con.close()

# Many processes opening one new file at once: the switch to WAL needs the
# exclusive lock, and SQLite reports the lock-upgrade deadlock as "busy"
# without waiting, so icx must retry it rather than fail the run.
opener = os.path.join(work, "open.lua")
with open(opener, "w") as f:
    f.write('local d = require("icx.dest").open((...)); d:close()\n')
failures = []
for round_ in range(5):
    fresh = os.path.join(work, "fresh%d.db" % round_)
    openers = [subprocess.Popen([ICX, "lua", opener, fresh], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for _ in range(6)]
    for p in openers:
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            failures.append(err.decode("utf-8", "replace").splitlines()[0:1])
t.is_(failures, [], "30 processes opening 5 new files six at a time all succeed")

# A writer that holds its transaction for a second: the other waits, then
# lands everything (the busy timeout is 30 s).
holder = start("c", "hold=1.0")
line = holder.stdout.readline().decode().strip()
t.is_(line, "holding", "writer c holds a write transaction")
t0 = time.time()
other = start("d")
out, err = other.communicate(timeout=120)
waited = time.time() - t0
t.is_(other.returncode, 0, "writer d exits 0 although c held the lock")
t.ok(waited >= 0.5, "writer d waited for the lock (%.2f s) instead of failing" % waited)
t.ok(b"locked" not in err, "writer d never saw 'database is locked'")
hout, herr = holder.communicate(timeout=120)
t.is_(holder.returncode, 0, "writer c exits 0")
con = sqlite3.connect(db)
t.is_(con.execute("select count(*) from shared").fetchone()[0], 4 * PAGES * PER_PAGE,
      "every writer's rows landed in the shared table")
con.close()

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
