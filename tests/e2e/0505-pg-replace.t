#!/usr/bin/python3
"""PostgreSQL's own part of replace mode (what every driver does is
0203-dest-replace-atomic.t): the swapped-in table's primary key is named
after the table, not after the staging table it was; a run killed half-way
leaves its staging table, which the next run drops with its _icx_columns
rows, so no column map of a staging table outlives it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

PAGES, PER_PAGE = 6, 25

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


def run(uri, pages, *opts):
    p = subprocess.run([ICX, "lua", driver, uri, pages] + list(opts), cwd=work, capture_output=True, timeout=120)
    if p.returncode != 0:
        t.diag(p.stderr.decode("utf-8", "replace")[-2000:])
    return p.returncode


def wait_line(p, prefix):
    while True:
        line = p.stdout.readline().decode()
        if not line or line.startswith(prefix):
            return line.strip()


with pgserver.PgServer() as pg:
    uri = pg.uri()
    con = pg.connect()
    cur = con.cursor()

    def columns_of(tbl):
        cur.execute("select count(*) from _icx_columns where tbl = %s", (tbl,))
        return cur.fetchone()[0]

    t.is_(run(uri, old_dir), 0, "first replace run exits 0")
    cur.execute("select conname from pg_constraint where conrelid = 'tags'::regclass and contype = 'p'")
    t.is_(cur.fetchone(), ("tags_pkey",), "the swapped-in table's primary key is named after it")
    t.ok(columns_of("tags") >= 3, "the table's column map is under its own name")

    p = subprocess.Popen([ICX, "lua", driver, uri, new_dir, "pause=3"], cwd=work, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    target = wait_line(p, "target").split()[1]
    t.is_(wait_line(p, "paused"), "paused 3", "second run paused after 3 pages")
    t.ok(target.startswith("_icx_new_tags_") and target[14:].isdigit(), "its table is named with the backend pid")
    t.ok(columns_of(target) >= 3, "the staging table has its own column map")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    p.stderr.close()
    t.is_(run(uri, new_dir), 0, "the next run completes")
    cur.execute("select count(*) from _icx_columns where tbl like '\\_icx\\_new%%'")
    t.is_(cur.fetchone()[0], 0, "no _icx_columns rows of staging tables are left")
    cur.execute("select conname from pg_constraint where conrelid = 'tags'::regclass and contype = 'p'")
    t.is_(cur.fetchone(), ("tags_pkey",), "the key keeps its name across swaps")
    con.close()

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
