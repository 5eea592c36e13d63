#!/usr/bin/python3
"""Replace mode swaps a complete new table in atomically: a reader polling
the table while a replace run writes page after page only ever sees the
whole old table or the whole new one; a run killed with SIGKILL half-way
leaves the old table untouched (SQLite) or the old file (JSONL); the next
run cleans up the stale staging and completes."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX, ROOT  # noqa: E402,F401
import tap as t  # noqa: E402

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

work = tempfile.mkdtemp(prefix="icx-0203-")
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


def run(uri, pages, *opts):
    p = subprocess.run([ICX, "lua", driver, uri, pages] + list(opts), cwd=work,
                       capture_output=True, timeout=120)
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


def table_ids(db, name="tags"):
    c = sqlite3.connect(db, timeout=30)
    try:
        return sorted(r[0] for r in c.execute('select id from "%s"' % name))
    finally:
        c.close()


def stage_tables(db):
    c = sqlite3.connect(db)
    try:
        return [r[0] for r in c.execute("select name from sqlite_schema where name like '\\_icx\\_stage\\_%' escape '\\'")]
    finally:
        c.close()


# ------------------------------------------------------------------ SQLite
db = os.path.join(work, "r.db")
t.is_(run(db, old_dir), 0, "sqlite: first replace run exits 0")
t.ok(table_ids(db) == OLD, "sqlite: the first run's table is complete")

p = start(db, new_dir, "pause=7")
t.is_(wait_line(p, "paused"), "paused 7", "sqlite: second run committed 7 pages into staging")
t.ok(table_ids(db) == OLD, "sqlite: meanwhile readers see the old table")
t.is_(len(table_ids(db, "_icx_stage_%d_tags" % p.pid)), 7 * PER_PAGE,
      "sqlite: the new rows wait in the run's own _icx_stage_<pid>_tags")
kill(p)
t.ok(table_ids(db) == OLD, "sqlite: killed mid-way, the old table is untouched")

# A reader polling through a whole run sees only the old or the new set.
p = start(db, new_dir, "sleep=0.02")
seen, bad = set(), 0
while p.poll() is None:
    try:
        ids = table_ids(db)
    except sqlite3.OperationalError as e:  # only between DROP and RENAME would this fail
        bad += 1
        t.diag("reader error: %s" % e)
        continue
    if ids == OLD:
        seen.add("old")
    elif ids == NEW:
        seen.add("new")
    else:
        bad += 1
        t.diag("reader saw %d rows, neither set" % len(ids))
    time.sleep(0.005)
p.wait()
p.stdout.close()
p.stderr.close()
t.is_(p.returncode, 0, "sqlite: the next replace run completes")
t.ok(bad == 0 and "old" in seen, "sqlite: a polling reader saw only the old or the new table (%s)"
     % ",".join(sorted(seen)))
t.ok(table_ids(db) == NEW, "sqlite: after finish the table is exactly the new set")
t.is_(stage_tables(db), [], "sqlite: no staging table is left (the killed run's is dropped too)")

# ------------------------------------------------------------------- JSONL
out = os.path.join(work, "out")


def file_ids(path):
    with open(path) as f:
        return sorted(json.loads(x)["id"] for x in f)


t.is_(run("jsonl:" + out, old_dir), 0, "jsonl: first replace run exits 0")
target = os.path.join(out, "tags.jsonl")
t.ok(file_ids(target) == OLD, "jsonl: tags.jsonl complete")
p = start("jsonl:" + out, new_dir, "pause=5")
t.is_(wait_line(p, "paused"), "paused 5", "jsonl: second run paused after 5 pages")
kill(p)
t.ok(file_ids(target) == OLD, "jsonl: killed mid-way, tags.jsonl is the old file")
t.is_(run("jsonl:" + out, new_dir), 0, "jsonl: the next run completes")
t.ok(file_ids(target) == NEW, "jsonl: tags.jsonl is exactly the new set")
t.is_([f for f in os.listdir(out) if f.endswith(".tmp")], [], "jsonl: no tmp file left (the killed run's is removed too)")

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
