#!/usr/bin/python3
"""Replace mode swaps a complete new table in atomically, on every
destination driver (tests/e2e/lib/dest_drivers.py): a reader polling the
table while a replace run writes page after page only ever sees the whole
old table or the whole new one; the new rows wait in the run's own staging
table (or file); a run killed with SIGKILL half-way leaves the old table
untouched; the next run cleans up the stale staging and completes; two
replace runs of one table at once leave one complete set, never a mix."""
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
from icxtest import ICX, ROOT  # noqa: E402,F401
import dest_drivers  # noqa: E402
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
-- Where the new rows wait: a staging table, or a file for JSONL.
say("target " .. (t.handle.target or t.handle.tmp))
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
b_dir, B = make_pages("bbb", 3)


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


with dest_drivers.each(t, work) as drivers:
    for d in drivers:
        kind, uri = d.name, d.uri
        t.is_(run(uri, old_dir), 0, "%s: first replace run exits 0" % kind)
        t.ok(d.ids("tags") == OLD, "%s: the first run's table is complete" % kind)

        p = start(uri, new_dir, "pause=7")
        target = wait_line(p, "target").split(" ", 1)[1]
        t.is_(wait_line(p, "paused"), "paused 7", "%s: second run committed 7 pages into its staging" % kind)
        t.ok(d.ids("tags") == OLD, "%s: meanwhile readers see the old table" % kind)
        t.is_(len(d.ids(target)), 7 * PER_PAGE, "%s: the new rows wait in %s" % (kind, os.path.basename(target)))
        t.ok(os.path.basename(target) in d.staged("tags"), "%s: the run's own staging (%s)"
             % (kind, ", ".join(d.staged("tags"))))
        kill(p)
        t.ok(d.ids("tags") == OLD, "%s: killed mid-way, the old table is untouched" % kind)

        # A reader polling through a whole run sees only the old or the new set.
        p = start(uri, new_dir, "sleep=0.02")
        seen, bad = set(), 0
        while p.poll() is None:
            try:
                ids = d.ids("tags")
            except Exception as e:  # only between DROP and RENAME would this fail
                bad += 1
                t.diag("%s: reader error: %s" % (kind, e))
                continue
            if ids == OLD:
                seen.add("old")
            elif ids == NEW:
                seen.add("new")
            else:
                bad += 1
                t.diag("%s: reader saw %d rows, neither set" % (kind, len(ids)))
            time.sleep(0.005)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        t.is_(p.returncode, 0, "%s: the next replace run completes" % kind)
        t.ok(bad == 0 and "old" in seen, "%s: a polling reader saw only the old or the new table (%s)"
             % (kind, ",".join(sorted(seen))))
        t.ok(d.ids("tags") == NEW, "%s: after finish the table is exactly the new set" % kind)
        t.is_(d.staged("tags"), [], "%s: no staging is left (the killed run's is dropped too)" % kind)

        # Two replace runs of one table at once: both complete, nothing mixed.
        results = {}

        def go(name, pages):
            results[name] = run(uri, pages, "sleep=0.01")

        th = [threading.Thread(target=go, args=(n, x)) for n, x in (("old", old_dir), ("bbb", b_dir))]
        for x in th:
            x.start()
        for x in th:
            x.join()
        t.is_(results, {"old": 0, "bbb": 0}, "%s: two concurrent replace runs both exit 0" % kind)
        final = d.ids("tags")
        t.ok(final in (OLD, B), "%s: the table is one complete set, never a mix (%d rows)" % (kind, len(final)))
        t.is_(d.staged("tags"), [], "%s: no staging left behind" % kind)

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
