#!/usr/bin/python3
"""The cursor is committed with its page, on every destination driver
(tests/e2e/lib/dest_drivers.py): a writer killed with SIGKILL in the middle
of a page, between pages, or at random moments leaves exactly the pages its
cursor names, and a resumed run lands the rest with nothing lost and
nothing duplicated. For append-only JSONL files a duplicate would show as
a second line: bytes written past the committed length by a page killed
before its state commit are cut off when the file is next opened.
Parquet files (parquet:DIR and s3:// on moto, one publish per page here)
are published before the cursor that vouches for them: a kill between the
two leaves rows one publish ahead of the cursor, never behind, and the
rerun's repeats fold into one row per key in the latest-per-key view."""
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
from icxtest import ICX, ROOT  # noqa: E402,F401
import dest_drivers  # noqa: E402
import tap as t  # noqa: E402

PAGES, PER_PAGE = 30, 40

DRIVER = r'''
-- icx lua driver.lua DEST PAGES_DIR [pause=K:mid|between] [sleep=S]
-- (sleep: seconds inside each page's transaction and again after it)
-- Resumes after the stored cursor; prints "committed N" after each commit
-- and "paused N" where told to wait (to be killed).
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

work = tempfile.mkdtemp(prefix="icx-0202-")
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
    """Read stdout lines until one starts with prefix; returns it or None."""
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


def run_to_end(uri):
    p = subprocess.run([ICX, "lua", driver, uri, pages], cwd=work, capture_output=True, timeout=120)
    if p.returncode != 0:
        t.diag(p.stderr.decode("utf-8", "replace")[-2000:])
    return p.returncode


def ids_through(k):
    return [i for i in ALL_IDS if i // 1000 <= k]


with dest_drivers.each(t, work, lake=True) as drivers:
    for d in drivers:
        kind, uri = d.name, d.uri

        def state():
            cur, ids = d.landed("items", "e2e")
            return cur, sorted(int(i) for i in ids)

        # Killed in the middle of page 5: pages 1-4 and cursor 4, nothing of 5.
        p = start(uri, "pause=5:mid")
        t.is_(wait_line(p, "paused"), "paused 5", "%s: writer paused inside page 5" % kind)
        kill(p)
        cur, ids = state()
        t.is_(cur, 4, "%s: after kill -9 mid-page the cursor names page 4" % kind)
        t.ok(ids == ids_through(4), "%s: exactly pages 1-4 landed, nothing of the killed page (%d rows)"
             % (kind, len(ids)))

        # Killed between pages 9 and 10: pages 1-9 and cursor 9.
        p = start(uri, "pause=9:between")
        t.is_(wait_line(p, "paused"), "paused 9", "%s: resumed writer paused after page 9" % kind)
        kill(p)
        cur, ids = state()
        t.is_(cur, 9, "%s: after kill -9 between pages the cursor names page 9" % kind)
        t.ok(ids == ids_through(9), "%s: exactly pages 1-9, each record once" % kind)

        # Random kills: at every one, the rows are exactly the pages the
        # cursor names (a lake's: those and at most the next page). A lake
        # run's open and publishes take longer, so its kills come later.
        rng = random.Random(11)
        consistent, kills = True, 0
        window = (0.2, 1.2) if d.ahead else (0.03, 0.2)
        for _ in range(12):
            p = start(uri, "sleep=0.01")
            time.sleep(rng.uniform(*window))
            kill(p)
            kills += 1
            cur, ids = state()
            if not (ids == ids_through(cur) or (d.ahead and ids == ids_through(cur + 1))):
                consistent = False
                t.diag("%s: cursor %d but %d rows" % (kind, cur, len(ids)))
            if cur == PAGES:
                break
        t.ok(consistent, "%s: after %d random kills the rows always match the cursor%s"
             % (kind, kills, " (or run one page ahead)" if d.ahead else ""))

        t.is_(run_to_end(uri), 0, "%s: the resumed run exits 0" % kind)
        cur, ids = state()
        t.is_(cur, PAGES, "%s: cursor at the last page" % kind)
        t.ok(ids == ALL_IDS, "%s: every record exactly once: nothing lost, nothing duplicated (%d of %d)"
             % (kind, len(ids), len(ALL_IDS)))

if t.failed():
    t.diag("case kept in %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
t.done_testing()
