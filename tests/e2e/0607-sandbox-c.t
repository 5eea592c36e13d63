#!/usr/bin/python3
"""Issue 22, item 2: a script stuck in C and a script that yields fail as
script errors, not as a killed process or an internal error.

A backtracking pattern (string.find, ("x"):match, gmatch, gsub) runs in the
sandbox's step-counted matcher, so it ends within seconds with an ordinary
error naming the script's line; coroutine.yield() in a transform or a
pages function is the script's error too. Each: exit 2, the run row
`failed` (not left `running` for the next run to close), the summary JSON
written with the asset failed, and the message naming the script and line.
A coroutine the script makes, and patterns that are only slow-looking,
keep working."""
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def query(db, sql, *args):
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def script(name, transform=None, pages=None, top=""):
    """An asset script; the first line of the transform's body (or of the
    pages function's, without a transform) is line 6."""
    lines = ["local icx = require 'icx'", "local intercom = require 'icx.intercom'", top,
             "return icx.asset {"]
    if transform:
        lines.append("  transform = function(rec)\n%s\n    return rec\n  end," % transform)
    if pages:
        lines.append("  pages = function(ctx)\n%s\n  end," % pages)
    else:
        lines.append("  pages = intercom.get '/tags',")
    lines.append("  name = '%s', primary_key = 'id',\n}\n" % name)
    return "\n".join(lines)


BAD = 'local s, p = ("a"):rep(40), ("a*"):rep(40) .. "b"'
FAILING = [
    ("find", script("find", transform="    string.find(('a'):rep(40), ('a*'):rep(40) .. 'b')"),
     "find.lua:6:", "pattern"),
    ("method", script("method", transform="    %s\n    local _ = s:match(p)" % BAD),
     "method.lua:7:", "pattern"),
    ("gmatch", script("gmatch", transform="    %s\n    for _ in s:gmatch(p) do end" % BAD),
     "gmatch.lua:7:", "pattern"),
    ("gsub", script("gsub", transform="    %s\n    local _ = string.gsub(s, p, '')" % BAD),
     "gsub.lua:7:", "pattern"),
    ("toplevel", "local s = ('a'):rep(40)\nlocal _ = s:find(('a*'):rep(40) .. 'b')\nreturn nil\n",
     "toplevel.lua:2:", "pattern"),
    ("yield", script("yield", transform="    coroutine.yield()"), "yield.lua:6:",
     "coroutine.yield() outside a coroutine the script created"),
    ("yield_pages", script("yield_pages", pages="    coroutine.yield(ctx)"), "yield_pages.lua:6:",
     "coroutine.yield() outside a coroutine the script created"),
]

OWN_COROUTINE = script("own_co", transform="""\
    local co = coroutine.wrap(function(a)
      local b = coroutine.yield(a + 1)
      return b * 2
    end)
    assert(co(1) == 2 and co(5) == 10)
    local n = 0
    for w in ("a,b,,c"):gmatch("([^,]*)") do n = n + #w end
    local s, k = ("x-y-z"):gsub("%-", "+")
    assert(n == 3 and s == "x+y+z" and k == 2)
    assert(("aaaaaaaaaaaaaaaaaaaaaaaab"):find(("a*"):rep(8) .. "b") == 1)
    rec.probe = ("%d:%s"):format(#("key=value"):match("^(%w+)="), s)""")

with Sim(contacts=0, companies=0, seed=22) as sim, Workspace(sim) as ws:
    for name, text, where, says in FAILING:
        path = os.path.join(ws.dir, name + ".lua")
        with open(path, "w") as f:
            f.write(text)
        db = os.path.join(ws.dir, name + ".db")
        summary = os.path.join(ws.dir, name + ".json")
        started = time.time()
        r = ws.run(path, "admins", "--summary-json", summary, dest=db, timeout=120)
        took = time.time() - started
        t.ok(took < 15, "%s: stopped within seconds (%.1f s)" % (name, took))
        t.is_(r.rc, 2, "%s: a script error, exit 2" % name)
        t.ok(where in r.err and says in r.err,
             "%s: the error names the script and line (%s) and says %r: %s"
             % (name, where, says, r.err.strip()[-300:]))
        t.ok("internal error" not in r.err and "watchdog" not in r.err and "icx stops" not in r.err,
             "%s: not an internal error nor the watchdog" % name)
        if name != "toplevel":
            status = query(db, "select status from _icx_runs where asset = ?", name)
            t.is_(status, [("failed",)], "%s: its run row is closed as failed" % name)
            ok = query(db, "select status from _icx_runs where asset = 'admins'")
            t.is_(ok, [("ok",)], "%s: the other asset of the run lands" % name)
        doc = None
        try:
            with open(summary) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            t.diag("%s: %s" % (name, e))
        t.ok(doc is not None and doc.get("exit_code") == 2,
             "%s: the summary is written, exit_code 2: %s" % (name, doc and doc.get("exit_code")))
        if name != "toplevel":
            t.ok(doc is not None and name in (doc.get("failed") or []),
                 "%s: the summary names the asset failed: %s" % (name, doc and doc.get("failed")))

    path = os.path.join(ws.dir, "own_co.lua")
    with open(path, "w") as f:
        f.write(OWN_COROUTINE)
    db = os.path.join(ws.dir, "own_co.db")
    r = ws.run(path, dest=db)
    t.is_(r.rc, 0, "a coroutine the script makes yields, and fair patterns match (exit %d)" % r.rc)
    got = query(db, "select distinct probe from own_co") if r.rc == 0 else []
    t.is_(got, [("3:x+y+z",)], "what they computed lands")

t.done_testing()
