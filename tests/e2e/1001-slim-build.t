#!/usr/bin/python3
"""A slim build: `make` and `make install` need only icx's build packages.

Runs make with a PATH from which every test, lint and packaging tool is
hidden (python3, prove, perl, PostgreSQL, clang, cppcheck, luacheck, lua5.4,
man, sqlite3, openssl, nghttpd, and apt-get, so a probe that wanted to install
them fails the build instead of quietly succeeding). The engine is built into
a directory of its own, so the suite's ./icx is not relinked under the other
tests. The Dockerfile's build stage (make image-test) proves the same on a
root holding nothing but DEB_PKGS."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402

HIDDEN = ("python", "prove", "perl", "pg_", "postgres", "psql", "initdb", "clang", "cppcheck", "luacheck",
          "lua5", "luac", "man", "sqlite3", "openssl", "nghttp", "valgrind", "apt", "dpkg", "mmdebstrap")

tmp = tempfile.mkdtemp(prefix="icx-slim-")
try:
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    seen, kept = set(), 0
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name in seen or any(name.startswith(h) for h in HIDDEN):
                continue
            seen.add(name)
            os.symlink(os.path.join(d, name), os.path.join(bindir, name))
            kept += 1
    env = {"PATH": bindir, "HOME": tmp, "LANG": "C"}
    for tool in ("python3", "prove", "psql", "clang", "luacheck", "apt-get"):
        t.ok(shutil.which(tool, path=bindir) is None, "%s is hidden from make" % tool)

    build = os.path.join(tmp, "build")
    p = subprocess.run(["make", "-s", "BUILD=" + build, build + "/icx-bin"], cwd=icxtest.ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    t.is_(p.returncode, 0, "make builds icx with only the build packages on PATH")
    if p.returncode:
        t.diag((p.stdout + p.stderr)[-3000:])
    t.ok("deps" not in p.stdout + p.stderr, "no package install was asked for")
    v = subprocess.run([os.path.join(build, "icx"), "version"], env=env, capture_output=True, text=True)
    t.ok(v.returncode == 0 and v.stdout.startswith("icx "), "the slim build runs: %r" % v.stdout.strip())

    prefix = os.path.join(tmp, "prefix")
    p = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix], cwd=icxtest.ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    t.is_(p.returncode, 0, "make install needs nothing beyond the build packages")
    if p.returncode:
        t.diag((p.stdout + p.stderr)[-3000:])
    t.ok(os.access(os.path.join(prefix, "bin", "icx"), os.X_OK), "bin/icx is installed")

    # The README lists the two package sets the Makefile installs.
    out = subprocess.run(["make", "-s", "print-pkgs"], cwd=icxtest.ROOT, capture_output=True, text=True).stdout
    lists = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    with open(os.path.join(icxtest.ROOT, "README.md")) as f:
        readme = f.read()
    for kind in ("build", "runtime"):
        pkgs = lists.get(kind, "").split()
        line = "apt-get install -y --no-install-recommends " + " ".join(pkgs)
        t.ok(pkgs and line in readme, "the README's %s packages are the Makefile's: %s" % (kind, line))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

t.done_testing()
