#!/usr/bin/python3
"""No failure is silent: a destination that cannot be written (a read-only
file, an immutable file, a full disk at several margins) fails the run with
a message naming the destination or the asset and a non-zero exit, never
exit 0 with nothing landed; no run row is left `running` where the file can
still be written; and a table name of icx's own is refused when the script
loads. After each, a run with room again lands exactly what the simulator
holds."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

ROOT = os.geteuid() == 0


def count(db, sql):
    c = sqlite3.connect(db)
    try:
        return c.execute(sql).fetchone()[0]
    finally:
        c.close()


with Sim(contacts=1500, companies=30, seed=3) as sim, Workspace(sim) as ws:
    base = os.path.join(ws.dir, "base.db")
    r = ws.run("tags", "contacts", dest=base)
    t.is_(r.rc, 0, "a first run lands tags and contacts")
    tags_before = count(base, "select count(*) from tags")

    # ------------------------------------------------------ read-only file
    ro = os.path.join(ws.dir, "ro")
    os.mkdir(ro)
    db = os.path.join(ro, "r.db")
    shutil.copy(base, db)
    os.chmod(db, 0o444)
    argv = [ICX, "run", "--config", ws.config, "--dest", db, ws.script("tags"), ws.script("contacts")]
    if ROOT:
        # root writes through file modes: run as an unprivileged user, with
        # a copy of the binary and the built-in scripts (the checkout may
        # sit in a directory only root can enter, as mktemp -d makes it)
        os.chmod(ws.dir, 0o755)
        os.chmod(ro, 0o755)
        os.chmod(ws.config, 0o644)
        exe = os.path.join(ws.dir, "icx")
        shutil.copy(ICX, exe)
        os.chmod(exe, 0o755)
        # The libraries icx links from outside the system (DuckDB's, from
        # the checkout through its rpath) go beside the copy, found through
        # LD_LIBRARY_PATH.
        env = []
        for line in subprocess.run(["ldd", ICX], capture_output=True, text=True).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "=>" and not parts[2].startswith(("/lib", "/usr", "(")):
                shutil.copy(parts[2], os.path.join(ws.dir, os.path.basename(parts[2])))
                os.chmod(os.path.join(ws.dir, os.path.basename(parts[2])), 0o755)
                env = ["env", "LD_LIBRARY_PATH=" + ws.dir]
        argv = ["runuser", "-u", "nobody", "--"] + env + [exe, "run", "--config", ws.config, "--dest", db, "tags",
                                                          "contacts"]
    r = Case.run(ws, argv)
    t.ok(r.rc not in (0, -1), "read-only destination: non-zero exit (%d)" % r.rc)
    t.ok("r.db" in r.err and "read-only" in r.err, "and a message naming it: " + r.err.strip()[-300:])
    t.is_(count(db, "select count(*) from tags"), tags_before, "read-only destination: unchanged")

    # ------------------------------------------------------ immutable file
    db = os.path.join(ws.dir, "immutable.db")
    shutil.copy(base, db)
    if ROOT and subprocess.run(["chattr", "+i", db], capture_output=True).returncode == 0:
        r = ws.run("tags", "contacts", dest=db)
        subprocess.run(["chattr", "-i", db])
        t.ok(r.rc not in (0, -1), "immutable destination: non-zero exit (%d)" % r.rc)
        t.ok("immutable.db" in r.err and "read-only" in r.err,
             "and a message naming it: " + r.err.strip()[-300:])
        t.is_(count(db, "select count(*) from tags"), tags_before, "immutable destination: unchanged")
    else:
        t.skip("chattr +i needs root and a filesystem that supports it", 3)

    # ------------------------------------------------------ full disk
    mnt = tempfile.mkdtemp(prefix="icx-full-")
    mounted = ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
                                      capture_output=True).returncode == 0
    if mounted:
        subprocess.run(["umount", mnt])
        for kb in (96, 160, 256, 512, 1024, 2048):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % kb, "tmpfs", mnt], check=True)
            try:
                db = os.path.join(mnt, "full.db")
                r = ws.run("tags", "contacts", "companies", dest=db)
                full = "full" in r.err.lower() or "no space" in r.err.lower()
                t.ok(r.rc not in (0, -1) and full and r.err.strip(),
                     "full disk at %d KiB: exit %d with a message: %s" % (kb, r.rc, r.err.strip()[-200:]))
                failed = [a for a in ("tags", "contacts", "companies") if a in r.err]
                t.ok(failed, "%d KiB: the message names the asset(s) that failed (%s)" % (kb, failed))
                # With room again the same file resumes to the exact result.
                moved = os.path.join(ws.dir, "after-%d.db" % kb)
                if os.path.exists(db):
                    shutil.copy(db, moved)
                    for ext in ("-wal", "-shm"):
                        if os.path.exists(db + ext):
                            shutil.copy(db + ext, moved + ext)
            finally:
                subprocess.run(["umount", mnt])
            r = ws.run("tags", "contacts", "companies", dest=moved)
            q = {}
            for asset in ("tags", "contacts", "companies"):
                q[asset] = (len(landed.rows(moved, asset, ("id",))), len(sim.dump(asset)))
            t.ok(r.rc == 0 and all(a == b for a, b in q.values()),
                 "%d KiB: a rerun with room lands everything (exit %d, landed/truth %s)" % (kb, r.rc, q))
            t.is_(count(moved, "select count(*) from _icx_runs where status = 'running'"), 0,
                  "%d KiB: no run row left running" % kb)
        os.rmdir(mnt)
    else:
        t.skip("a small tmpfs needs root", 24)

    # ------------------------------------------------------ reserved names
    for name in ("_icx_state", "sqlite_master"):
        path = os.path.join(ws.dir, "bad_%s.lua" % name)
        with open(path, "w") as f:
            f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
                    'return icx.asset {\n  name = "x",\n  table = "%s",\n  mode = "replace",\n'
                    '  pages = intercom.get "/tags",\n}\n' % name)
        r = ws.run(path, dest=base)
        t.is_(r.rc, 2, "a script writing %s exits 2" % name)
        t.ok("bad_%s.lua:5: icx.asset: 'table' '%s' is reserved" % (name, name) in r.err,
             "at its line: " + r.err.strip()[-200:])
    t.is_(count(base, "select count(*) from tags"), tags_before, "the destination is as it was")

t.done_testing()
