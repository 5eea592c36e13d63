#!/usr/bin/python3
"""Issue 22, items 5 and 6, end to end: no input keeps nothing, lands in the
wrong place or puts a secret on a command line.

Every SQLite in-memory or temporary form exits 2 and leaves no file; a
libpq keyword string is refused (exit 2) without echoing its password and
without creating a file named after it; two assets whose names differ only
by case are refused at load; a corrupted-but-openable SQLite file is
refused before anything is written (its bytes unchanged); --jobs is
range-checked. The destination comes from $ICX_DEST or from a connection's
`destination:` in connections.yml (with env_var), for run and status."""
import hashlib
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def files(d):
    return sorted(f for f in os.listdir(d) if not f.startswith("run"))


def icx(ws, *args, env=None):
    """icx ARGS --config ... with no --dest (Workspace.run adds one)."""
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]), env=env)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


with Sim(contacts=5, companies=2, seed=602) as sim, Workspace(sim) as ws:
    before = files(ws.dir)
    for form in ("file::memory:", "file::memory:?cache=shared", "sqlite:///file::memory:", "file:",
                 "file:?cache=shared", "FILE::memory:", "file:%3Amemory%3A", "file://localhost",
                 "file://localhost?cache=shared", "sqlite:///file:", ":memory:", "file:x.db?mode=memory"):
        r = ws.run("tags", dest=form)
        t.is_(r.rc, 2, "--dest %s: exit 2" % form)
        t.ok("in-memory or temporary" in r.err or "unknown destination" in r.err,
             "--dest %s: says why" % form)
    t.is_(files(ws.dir), before, "no in-memory form left a file behind")

    secret = "s3cr/et-%s" % os.getpid()
    kw = "host=127.0.0.1 port=5432 user=icx password=%s dbname=icx" % secret
    r = ws.run("tags", dest=kw)
    t.is_(r.rc, 2, "a libpq keyword string: exit 2")
    t.ok("keyword string" in r.err, "a libpq keyword string: named as such")
    t.ok(secret not in r.err + r.out, "a libpq keyword string: the password is not echoed")
    t.is_(files(ws.dir), before, "a libpq keyword string: no file")
    r = icx(ws, "run", ws.script("tags"), env={"ICX_DEST": kw})
    t.is_(r.rc, 2, "a libpq keyword string in $ICX_DEST: exit 2")
    t.ok(secret not in r.err + r.out, "a libpq keyword string in $ICX_DEST: not echoed")

    # Two assets whose names differ only by case.
    for name in ("things", "Things"):
        with open(os.path.join(ws.dir, name + ".lua"), "w") as f:
            f.write('local icx = require "icx"\nreturn icx.asset{ name = "%s", primary_key = "id",\n'
                    '  pages = require("icx.intercom").get("/tags", { list_key = "data" }) }\n' % name)
    r = ws.run(os.path.join(ws.dir, "things.lua"), os.path.join(ws.dir, "Things.lua"))
    t.is_(r.rc, 2, "assets named things and Things: exit 2")
    t.ok("differ only by case" in r.err, "assets named things and Things: says why")
    t.ok(not os.path.exists(ws.db), "assets named things and Things: nothing created")

    # A corrupted file SQLite still opens: refused before any write.
    good = os.path.join(ws.dir, "good.db")
    t.is_(ws.run("tags", dest=good).rc, 0, "a first run lands tags")
    c = sqlite3.connect(good)
    c.execute("CREATE TABLE filler (a INTEGER PRIMARY KEY, b TEXT)")
    c.executemany("INSERT INTO filler VALUES (?, ?)", [(i, "x" * 300) for i in range(3000)])
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    with open(good, "r+b") as f:
        f.seek(4096 * 30)
        f.write(b"\x55" * 4000)
    was = digest(good)
    r = ws.run("tags", dest=good)
    t.is_(r.rc, 2, "a corrupted SQLite file: exit 2")
    t.ok("corrupted" in r.err and "quick_check" in r.err, "a corrupted SQLite file: says so")
    t.is_(digest(good), was, "a corrupted SQLite file: not written to")
    t.is_(icx(ws, "status", "--dest", good).rc, 2, "a corrupted SQLite file: status refuses it too")

    for bad in ("1e30", "0", "257", "2.5", "x"):
        r = ws.run("-j", bad, "tags")
        t.is_(r.rc, 2, "--jobs %s: exit 2" % bad)
        t.ok("--jobs" in r.err, "--jobs %s: names the option" % bad)

    # The destination from the environment, or from connections.yml.
    envdb = os.path.join(ws.dir, "fromenv.db")
    r = icx(ws, "run", ws.script("tags"), env={"ICX_DEST": envdb})
    t.is_(r.rc, 0, "ICX_DEST: the run lands")
    t.ok(os.path.exists(envdb) and not os.path.exists(ws.db), "ICX_DEST: in the file it names, not icx.db")
    r = icx(ws, "status", env={"ICX_DEST": envdb})
    t.ok(r.rc == 0 and "tags" in r.out, "ICX_DEST: status reads it")
    with open(ws.config, "a") as f:
        f.write("      destination: \"{{ env_var('MY_DEST') }}\"\n")
    ydb = os.path.join(ws.dir, "fromyml.db")
    r = icx(ws, "run", ws.script("tags"), env={"MY_DEST": ydb})
    t.is_(r.rc, 0, "destination: in connections.yml: the run lands")
    t.ok(os.path.exists(ydb) and not os.path.exists(ws.db), "destination: lands in the file it names")
    r = icx(ws, "status", env={"MY_DEST": ydb, "ICX_TEST_TOKEN": ""})
    t.ok(r.rc == 0 and "tags" in r.out, "destination: status reads it, with no token in the environment")
    r = icx(ws, "run", ws.script("tags"), env={"MY_DEST": ydb, "ICX_DEST": envdb})
    t.is_(r.rc, 0, "ICX_DEST over destination:")
    t.is_(len(sqlite3.connect(envdb).execute("SELECT * FROM _icx_runs").fetchall()), 2,
          "ICX_DEST wins over destination:")

t.done_testing()
