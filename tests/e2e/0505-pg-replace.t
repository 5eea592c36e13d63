#!/usr/bin/python3
"""PostgreSQL replace mode: a reader polling the table while a replace run
writes page after page only ever sees the whole old table or the whole new
one; a run killed with SIGKILL half-way leaves the old table untouched and
its half-built table is dropped by the next run; two replace runs of the
same table at once each build their own table (named with their backend's
pid) and the table ends as one complete set, nothing lost or mixed."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

PAGES, PER_PAGE = 12, 25

DRIVER = r'''
-- icx lua driver.lua DEST PAGES_DIR [pause=K] [sleep=S]: a replace run.
local dest = require "icx.dest"
local json = require "icx.json"
local sys = require "icx.sys"
local uri, pdir = ...
local opts = {}
for i = 3, select("#", ...) do
  local k, v = select(i, ...):match("^(%w+)=(.*)$")
  opts[k] = v
end
local function say(s) io.stdout:write(s, "\n") io.stdout:flush() end
local d = dest.open(uri)
local t = d:table { name = "tags", primary_key = "id", mode = "replace" }
say("target " .. t.handle.target)
local i = 1
while true do
  local f = io.open(pdir .. "/" .. i .. ".json", "rb")
  if not f then break end
  local body = f:read("a")
  f:close()
  d:begin()
  t:write(assert(json.page(body, "data")))
  d:commit()
  say("committed " .. i)
  if tonumber(opts.pause) == i then say("paused " .. i) sys.sleep(120) end
  if opts.sleep then sys.sleep(tonumber(opts.sleep)) end
  i = i + 1
end
t:finish()
say("done")
d:close()
'''

work = tempfile.mkdtemp(prefix="icx-0505-")
driver = os.path.join(work, "driver.lua")
with open(driver, "w") as f:
    f.write(DRIVER)


def make_pages(name, gen):
    d = os.path.join(work, name)
    os.mkdir(d)
    for n in range(1, PAGES + 1):
        recs = [{"id": "%s-%d-%d" % (name, n, j), "gen": gen, "n": j} for j in range(PER_PAGE)]
        with open(os.path.join(d, "%d.json" % n), "w") as f:
            json.dump({"data": recs}, f)
    return d, sorted("%s-%d-%d" % (name, n, j) for n in range(1, PAGES + 1) for j in range(PER_PAGE))


old_dir, OLD = make_pages("old", 1)
new_dir, NEW = make_pages("new", 2)
b_dir, B = make_pages("bbb", 3)


def run(uri, pages, *opts):
    p = subprocess.run([ICX, "lua", driver, uri, pages] + list(opts), cwd=work, capture_output=True, timeout=120)
    if p.returncode != 0:
        t.diag(p.stderr.decode("utf-8", "replace")[-2000:])
    return p.returncode


def start(uri, pages, *opts):
    return subprocess.Popen([ICX, "lua", driver, uri, pages] + list(opts), cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_line(p, prefix):
    while True:
        line = p.stdout.readline().decode()
        if not line or line.startswith(prefix):
            return line.strip()


def kill(p):
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    p.stderr.close()


with pgserver.PgServer() as pg:
    uri = pg.uri()
    con = pg.connect()
    cur = con.cursor()

    def ids(name="tags"):
        cur.execute('select id from "%s"' % name)
        return sorted(r[0] for r in cur.fetchall())

    def new_tables():
        cur.execute("select relname from pg_class where relname like '\\_icx\\_new\\_%' and relkind = 'r'")
        return [r[0] for r in cur.fetchall()]

    t.is_(run(uri, old_dir), 0, "first replace run exits 0")
    t.ok(ids() == OLD, "the first run's table is complete")
    cur.execute("select conname from pg_constraint where conrelid = 'tags'::regclass and contype = 'p'")
    t.is_(cur.fetchone(), ("tags_pkey",), "the swapped-in table's primary key is named after it")

    p = start(uri, new_dir, "pause=7")
    target = wait_line(p, "target").split()[1]
    t.is_(wait_line(p, "paused"), "paused 7", "second run committed 7 pages into its new table")
    t.ok(target.startswith("_icx_new_tags_") and target[14:].isdigit(), "new table named with the backend pid")
    t.ok(ids() == OLD, "meanwhile readers see the old table")
    t.is_(len(ids(target)), 7 * PER_PAGE, "the new rows wait in %s" % target)
    kill(p)
    t.ok(ids() == OLD, "killed mid-way, the old table is untouched")

    # A reader polling through a whole run sees only the old or the new set.
    p = start(uri, new_dir, "sleep=0.02")
    seen, bad = set(), 0
    reader = pg.connect()
    rcur = reader.cursor()
    while p.poll() is None:
        rcur.execute("select id from tags")
        got = sorted(r[0] for r in rcur.fetchall())
        if got == OLD:
            seen.add("old")
        elif got == NEW:
            seen.add("new")
        else:
            bad += 1
            t.diag("reader saw %d rows, neither set" % len(got))
        time.sleep(0.005)
    reader.close()
    p.wait()
    p.stdout.close()
    p.stderr.close()
    t.is_(p.returncode, 0, "the next replace run completes")
    t.ok(bad == 0 and "old" in seen, "a polling reader saw only the old or the new table (%s)"
         % ",".join(sorted(seen)))
    t.ok(ids() == NEW, "after finish the table is exactly the new set")
    t.is_(new_tables(), [], "the killed run's table was dropped, no new table is left")

    # Two replace runs of one table at once: both complete, nothing mixed.
    results = {}

    def go(name, d):
        results[name] = run(uri, d, "sleep=0.01")

    th = [threading.Thread(target=go, args=(n, d)) for n, d in (("old", old_dir), ("bbb", b_dir))]
    for x in th:
        x.start()
    for x in th:
        x.join()
    t.is_(results, {"old": 0, "bbb": 0}, "two concurrent replace runs both exit 0")
    final = ids()
    t.ok(final in (OLD, B), "the table is one complete set, never a mix (%d rows)" % len(final))
    t.is_(new_tables(), [], "no new table left behind")
    cur.execute("select count(*) from _icx_columns where tbl like '\\_icx\\_new%'")
    t.is_(cur.fetchone()[0], 0, "no _icx_columns rows of new tables left")
    con.close()

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
