#!/usr/bin/python3
"""The container image, built from Debian packages (base images cannot be
pulled here) by following the Dockerfile's own text: each stage's root is
made by mmdebstrap from the packages its `apt-get install` names, then its
WORKDIR, COPY, RUN and USER instructions are carried out in a chroot. So
the build stage proves `make` and `make install` need only the build
packages (no python3, prove or PostgreSQL there), and the runtime stage
proves its package list: the image's icx, as its non-root user, runs
`check`, a run and `status` against the simulator.

Slow (two Debian roots from the mirror, a build): run by `make image-test`,
not `make test`. Needs root (chroot) and mmdebstrap. IMAGE_TEST_KEEP=DIR
keeps the roots in DIR."""
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

SUITE = os.environ.get("IMAGE_TEST_SUITE", "bookworm")
started = time.monotonic()

if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
    print("1..0 # SKIP needs root (chroot) and mmdebstrap (make image-test installs it)")
    sys.exit(0)


def instructions(text):
    """The Dockerfile's instructions: (KEYWORD, argument), continuations
    joined, comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        kw, _, arg = cur.strip().partition(" ")
        out.append((kw.upper(), arg.strip()))
        cur = ""
    return out


def stages(instrs):
    """[{name, base, steps}] in order, ARGs substituted into FROM."""
    args, out = {}, []
    for kw, arg in instrs:
        if kw == "ARG" and not out:
            k, _, v = arg.partition("=")
            args[k] = v
        elif kw == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), arg)
            parts = base.split()
            out.append({"base": parts[0], "name": parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None,
                        "steps": []})
        else:
            out[-1]["steps"].append((kw, arg))
    return out


def apt_packages(cmd):
    """The packages of `apt-get install ... PKG...` in a RUN command."""
    m = re.search(r"apt-get install((?:\s+[^&;|]+)+)", cmd)
    return [w for w in m.group(1).split() if not w.startswith("-")] if m else []


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def in_root(root, cmd, user=None, cwd="/", env=None):
    """cmd (a shell command) in the chroot, as `user` (a name in its passwd)."""
    argv = ["chroot"] + (["--userspec=%s:%s" % (user, user)] if user and user != "root" else []) + \
        [root, "/bin/sh", "-c", "cd %s && %s" % (shlex.quote(cwd), cmd)]
    env = env or {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return sh(["env", "-i"] + ["%s=%s" % kv for kv in env.items()] + argv, timeout=1800)


with open(os.path.join(ROOT, "Dockerfile")) as f:
    st = stages(instructions(f.read()))
t.is_(len(st), 2, "the Dockerfile has two stages")
build, runtime = st[0], st[-1]
t.is_(build["name"], "build", "the first is the build stage")
out = sh(["make", "-s", "print-pkgs"], cwd=ROOT).stdout
lists = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
pk = {id(s): [p for kw, a in s["steps"] if kw == "RUN" for p in apt_packages(a)] for s in st}
t.is_(pk[id(build)], lists["build"].split(), "the build stage installs the Makefile's DEB_PKGS")
t.is_(pk[id(runtime)], lists["runtime"].split(), "the runtime stage installs the Makefile's RUNTIME_PKGS")
user = [a for kw, a in runtime["steps"] if kw == "USER"]
t.ok(user and user[-1] not in ("root", "0"), "the runtime runs as a non-root user (%s)" % user)
entry = [json.loads(a) for kw, a in runtime["steps"] if kw == "ENTRYPOINT"]
t.ok(entry and entry[-1][0].endswith("/icx"), "icx is the entry point (%s)" % entry)

work = os.environ.get("IMAGE_TEST_KEEP") or tempfile.mkdtemp(prefix="icx-image-", dir="/var/tmp")
roots = {}
try:
    sources = sh(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for s in st:
        name = s["name"] or "runtime"
        root = os.path.join(work, name)
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.monotonic()
        p = sh(["mmdebstrap", "--quiet", "--variant=minbase", "--include=" + ",".join(pk[id(s)]), SUITE, root],
               timeout=1800)
        t.is_(p.returncode, 0, "%s stage: mmdebstrap %s with its packages (%.0f s)"
              % (name, SUITE, time.monotonic() - t0))
        if p.returncode:
            t.diag(p.stderr[-3000:])
            break
        roots[name] = root
        cwd, who = "/", "root"
        for kw, arg in s["steps"]:
            if kw == "WORKDIR":
                cwd = arg
                os.makedirs(root + cwd, exist_ok=True)
            elif kw == "USER":
                who = arg
            elif kw == "COPY" and arg.startswith("--from="):
                frm, src, dst = arg.split()
                shutil.copytree(roots[frm.split("=", 1)[1]] + src, root + dst, dirs_exist_ok=True, symlinks=True)
            elif kw == "COPY":
                src, dst = arg.split()
                t.is_((src, dst), (".", "."), "COPY . . (the source tree into WORKDIR)")
                for f in sources:
                    if f and os.path.isfile(os.path.join(ROOT, f)):
                        os.makedirs(os.path.dirname(os.path.join(root + cwd, f)), exist_ok=True)
                        shutil.copy2(os.path.join(ROOT, f), os.path.join(root + cwd, f))
            elif kw == "RUN" and "apt-get" not in arg:
                t0 = time.monotonic()
                p = in_root(root, arg, who, cwd, {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                  "HOME": "/root"})
                t.is_(p.returncode, 0, "%s stage: RUN %s (%.0f s)" % (name, arg[:60], time.monotonic() - t0))
                if p.returncode:
                    t.diag((p.stdout + p.stderr)[-3000:])
        if name == "build":
            missing = [x for x in ("python3", "prove", "psql", "clang", "cppcheck", "luacheck")
                       if in_root(root, "command -v %s" % x, env={"PATH": "/usr/bin:/bin"}).returncode == 0]
            t.is_(missing, [], "the build stage holds no test or lint tool")

    run_root = roots.get("runtime")
    if not run_root:
        t.ok(False, "the runtime stage was built")
    else:
        icx = entry[-1][0]
        p = in_root(run_root, "ldd %s" % icx)
        t.ok(p.returncode == 0 and "not found" not in p.stdout, "every library icx links is in the runtime")
        if "not found" in p.stdout:
            t.diag(p.stdout)
        who = user[-1]
        home = [a for kw, a in runtime["steps"] if kw == "WORKDIR"][-1]
        with Sim(contacts=150, companies=20, seed=4) as sim:
            with open(os.path.join(run_root + home, "connections.yml"), "w") as f:
                f.write("connections:\n  intercom:\n    - name: img\n"
                        "      access_token: \"{{ env_var('INTERCOM_ACCESS_TOKEN') }}\"\n"
                        "      base_url: %s\n" % sim.url)
            env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
                   "INTERCOM_ACCESS_TOKEN": sim.token}

            def icx_in_image(args):
                return in_root(run_root, " ".join([icx] + [shlex.quote(a) for a in args]), who, home, env)

            r = icx_in_image(["version"])
            t.ok(r.returncode == 0 and r.stdout.startswith("icx "), "icx version in the image: %s" % r.stdout.strip())
            r = icx_in_image(["check", "--config", "connections.yml"])
            t.ok(r.returncode == 0 and "connection  img" in r.stdout, "icx check in the image, as %s" % who)
            if r.returncode:
                t.diag(r.stderr[-2000:])
            r = icx_in_image(["run", "--config", "connections.yml", "--dest", "icx.db", "--summary-json", "-",
                              "contacts", "companies", "tags"])
            t.is_(r.returncode, 0, "icx run (built-in assets) in the image")
            if r.returncode:
                t.diag(r.stderr[-2000:])
            db = os.path.join(run_root + home, "icx.db")
            con = sqlite3.connect(db)
            got = {x: con.execute("select count(*) from %s" % x).fetchone()[0] for x in ("contacts", "companies", "tags")}
            con.close()
            t.is_(got, {x: len(sim.dump(x)) for x in got}, "every record landed")
            t.is_(os.stat(db).st_uid, int(in_root(run_root, "id -u %s" % who).stdout.strip() or -1),
                  "the destination belongs to the image's user")
            r = icx_in_image(["status", "--dest", "icx.db", "--json"])
            st_rows = json.loads(r.stdout) if r.returncode == 0 else []
            t.is_(sorted(x["asset"] for x in st_rows if x.get("last_status") == "ok"),
                  ["companies", "contacts", "tags"], "icx status in the image")
finally:
    if not os.environ.get("IMAGE_TEST_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    t.diag("image test: %.0f s" % (time.monotonic() - started))

t.done_testing()
