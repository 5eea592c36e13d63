#!/usr/bin/python3
"""make install PREFIX=...: the binary, the man page (its version filled in
from VERSION) and the shipped asset scripts; the installed icx runs `icx run
contacts` from another directory (the scripts are built in) and `man` finds
its page. With DuckDB, libduckdb.so is installed beside it (lib/icx) and
the installed icx finds it there, relative to itself, when it loads it (on
first use, engine/duckapi.h): moved to another prefix, it runs `icx run
contacts --dest duckdb:FILE`; without the library, --dest duckdb: is a
usage error (exit 2) naming the file it tried."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

prefix = tempfile.mkdtemp(prefix="icx-prefix-")
try:
    p = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix], cwd=icxtest.ROOT,
                       capture_output=True, text=True)
    t.is_(p.returncode, 0, "make install PREFIX=... exits 0")
    if p.returncode:
        t.diag(p.stdout + p.stderr)
    icx = os.path.join(prefix, "bin", "icx")
    t.ok(os.access(icx, os.X_OK), "bin/icx is installed")
    t.ok(os.path.isfile(os.path.join(prefix, "share", "man", "man1", "icx.1")), "share/man/man1/icx.1 is installed")
    shipped = sorted(x for x in os.listdir(os.path.join(icxtest.ROOT, "scripts")) if x.endswith(".lua"))
    t.is_(sorted(os.listdir(os.path.join(prefix, "share", "icx", "scripts"))), shipped,
          "share/icx/scripts holds the shipped asset scripts")
    m = subprocess.run(["man", "-M", os.path.join(prefix, "share", "man"), "icx"], capture_output=True,
                       text=True, env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    t.ok(m.returncode == 0 and "icx - pull an Intercom workspace" in m.stdout, "man finds the installed page")
    with open(os.path.join(icxtest.ROOT, "VERSION")) as f:
        version = f.read().strip()
    footer = m.stdout.rstrip().splitlines()[-1] if m.stdout.strip() else ""
    t.ok(("icx " + version) in footer and "@VERSION@" not in m.stdout,
         "the installed page's footer says icx %s (from VERSION): %r" % (version, footer))

    with Sim(contacts=40, seed=9) as sim, icxtest.Case("0323-install", sim) as case:
        elsewhere = tempfile.mkdtemp(prefix="icx-elsewhere-")
        shutil.copy(case.config, os.path.join(elsewhere, "connections.yml"))
        e = dict(os.environ, ICX_TEST_TOKEN=sim.token)
        e.pop("ICX_LUALIB", None)
        e.pop("ICX_CONFIG", None)
        r = subprocess.run([icx, "run", "contacts"], cwd=elsewhere, env=e, capture_output=True, text=True)
        t.is_(r.returncode, 0, "the installed icx runs `icx run contacts` from another directory")
        if r.returncode:
            t.diag(r.stderr[-2000:])
        con = sqlite3.connect(os.path.join(elsewhere, "icx.db"))
        n = con.execute("select count(*) from contacts").fetchone()[0]
        con.close()
        t.is_(n, 40, "every contact landed in ./icx.db")
        r = subprocess.run([icx, "list"], cwd=elsewhere, env=e, capture_output=True, text=True)
        t.ok(r.returncode == 0 and "conversation_parts" in r.stdout, "icx list names the built-in assets")

        # Where the icx given loads libduckdb.so from, once icx.duckdb is
        # required ("none" when it is built without DuckDB).
        probe = os.path.join(elsewhere, "probe.lua")
        with open(probe, "w") as f:
            f.write('if not package.preload["icx.duckdb"] then print("none") return end\n'
                    'require "icx.duckdb"\n'
                    'for l in io.lines("/proc/self/maps") do\n'
                    '  local p = l:match("%s(/%S*libduckdb%S*)$")\n'
                    '  if p then print(p) return end\n'
                    'end\n')

        def loads(binary):
            return subprocess.run([binary, "lua", probe], env=e, capture_output=True, text=True).stdout.strip()
        duck = loads(icxtest.ICX) != "none"
        if duck:
            lib = os.path.join(prefix, "lib", "icx", "libduckdb.so")
            t.ok(os.path.isfile(lib), "DuckDB build: lib/icx/libduckdb.so is installed")
            dyn = subprocess.run(["readelf", "-d", icx], capture_output=True, text=True).stdout
            runpath = [x for x in dyn.splitlines() if "RUNPATH" in x or "RPATH" in x]
            t.ok(len(runpath) == 1 and "[$ORIGIN/../lib/icx]" in runpath[0],
                 "the installed icx's RUNPATH is $ORIGIN/../lib/icx only, no build tree: %r" % runpath)
            moved = prefix + "-moved"
            os.rename(prefix, moved)
            try:
                mic = os.path.join(moved, "bin", "icx")
                t.is_(loads(mic), os.path.join(moved, "lib", "icx", "libduckdb.so"),
                      "moved, it loads the library installed beside it")
                dest = "duckdb:" + os.path.join(elsewhere, "c.duckdb")
                r = subprocess.run([mic, "run", "contacts", "--dest", dest],
                                   cwd=elsewhere, env=e, capture_output=True, text=True)
                t.is_(r.returncode, 0, "the moved icx runs `icx run contacts --dest duckdb:FILE`")
                if r.returncode:
                    t.diag(r.stderr[-2000:])
                lib = os.path.join(moved, "lib", "icx", "libduckdb.so")
                os.rename(lib, lib + ".away")
                try:
                    r = subprocess.run([mic, "run", "contacts", "--dest", dest],
                                       cwd=elsewhere, env=e, capture_output=True, text=True)
                finally:
                    os.rename(lib + ".away", lib)
                t.is_(r.returncode, 2, "without its libduckdb.so, --dest duckdb: is a usage error (exit 2)")
                tried = os.path.join(moved, "bin", "..", "lib", "icx", "libduckdb.so")
                t.ok("cannot load libduckdb.so" in r.stderr and tried in r.stderr
                     and "LD_LIBRARY_PATH" in r.stderr and "Traceback" not in r.stderr,
                     "the error names the file tried and what to do: %r" % r.stderr[-600:])
                r = subprocess.run([mic, "run", "contacts"], cwd=elsewhere, env=e, capture_output=True, text=True)
                t.is_(r.returncode, 0, "while the SQLite destination never needed it")
            finally:
                os.rename(moved, prefix)
        else:
            t.ok(not os.path.exists(os.path.join(prefix, "lib", "icx")), "built without DuckDB: no lib/icx")
        shutil.rmtree(elsewhere, ignore_errors=True)
finally:
    shutil.rmtree(prefix, ignore_errors=True)

t.done_testing()
