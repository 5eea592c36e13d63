#!/usr/bin/python3
"""Friendlier starts (issue 23): icx init writes a commented
connections.yml that works once INTERCOM_ACCESS_TOKEN is exported and never
overwrites a file; a tab or a bad indentation gets a hint naming the file and
line; a missing connections.yml points at icx init, not at examples/ (which
make install does not install); icx run all (and icx plan all) takes every
built-in asset in icx list's order; and the README's Quick start, followed as written, runs against
the simulator it shows."""
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

ICX = icxtest.ICX


def icx(cwd, *args, env=None):
    e = dict(os.environ)
    e.pop("ICX_CONFIG", None)
    e.pop("INTERCOM_ACCESS_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([ICX] + list(args), cwd=cwd, env=e, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


with Sim(contacts=120, companies=20, conversations=15, tickets=10, seed=1322) as sim, \
        icxtest.Case("1322-friendlier-starts", sim) as case:
    # A directory of its own: the case's holds its connections.yml.
    d = os.path.join(case.dir, "fresh")
    os.mkdir(d)
    # A missing file: icx init, not examples/.
    rc, out, err = icx(d, "check")
    t.is_(rc, 2, "no connections.yml: exit 2")
    t.ok("create one with `icx init`" in err and "examples/" not in err,
         "the message points at icx init, not at examples/ (%s)" % err.strip()[-120:])

    # icx init: a commented file, the token from $INTERCOM_ACCESS_TOKEN.
    rc, out, err = icx(d, "init")
    t.is_(rc, 0, "icx init exits 0")
    path = os.path.join(d, "connections.yml")
    with open(path) as f:
        text = f.read()
    t.ok("access_token: \"{{ env_var('INTERCOM_ACCESS_TOKEN') }}\"" in text and 'region: "us"' in text,
         "the file reads the token from INTERCOM_ACCESS_TOKEN and names the region")
    t.ok(text.count("\n#") + text.count("\n      #") >= 10, "and is commented")
    rc, out, err = icx(d, "init")
    t.is_(rc, 2, "a second icx init exits 2")
    with open(path) as f:
        t.is_(f.read(), text, "and leaves the file as it was")
    # Pointed at the simulator (its commented base_url line), it works as is.
    with open(path, "w") as f:
        f.write(text.replace('# base_url: "http://127.0.0.1:8080"', 'base_url: "%s"' % sim.url))
    rc, out, err = icx(d, "check")
    t.is_(rc, 2, "without INTERCOM_ACCESS_TOKEN: exit 2")
    t.ok("environment variable 'INTERCOM_ACCESS_TOKEN' is not set" in err, "naming the variable")
    rc, out, err = icx(d, "check", env={"INTERCOM_ACCESS_TOKEN": sim.token})
    t.is_(rc, 0, "with INTERCOM_ACCESS_TOKEN exported, icx check exits 0")
    t.ok("connection  my_intercom" in out, "the connection icx init named")

    # YAML syntax errors: file, line, and what to look at.
    bad = os.path.join(d, "tab.yml")
    with open(bad, "w") as f:
        f.write("connections:\n  intercom:\n\t- name: a\n      access_token: x\n")
    rc, out, err = icx(d, "check", "--config", bad)
    t.is_(rc, 2, "a tab in connections.yml: exit 2")
    t.ok(re.search(r"tab\.yml:3:\d+: YAML syntax error: .*; line 3 is indented with a tab: YAML indents with "
                   r"spaces only", err), "the message names the file, the line and the tab (%s)" % err.strip())
    with open(bad, "w") as f:
        f.write("connections:\n  intercom:\n    - name: a\n     access_token: x\n")
    rc, out, err = icx(d, "check", "--config", bad)
    t.ok(rc == 2 and re.search(r"tab\.yml:4:\d+: YAML syntax error: .*; check the indentation of line 4 "
                               r"\(5 spaces\)", err), "a misindented key: the indentation hint (%s)" % err.strip())

    # icx run all: every built-in asset, in icx list's order.
    rc, out, err = icx(d, "list")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    t.ok(len(names) >= 19, "icx list names %d assets" % len(names))
    env = {"INTERCOM_ACCESS_TOKEN": sim.token}
    rc, out, err = icx(d, "run", "all", "--dest", "all.db", "--log-format", "json", env=env)
    t.is_(rc, 0, "icx run all exits 0")
    ev = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    start = [e for e in ev if e.get("event") == "run_start"]
    t.is_(start[0].get("assets") if start else None, names, "run_start names every built-in asset in icx list's order")
    ended = [e["asset"] for e in ev if e.get("event") == "asset_end" and e.get("status") == "ok"]
    t.is_(sorted(ended), sorted(names), "every one of them ended ok")
    rc, out, err = icx(d, "run", "tags", "all", "--dest", "all.db", "--log-format", "json", env=env)
    ev = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    start = [e for e in ev if e.get("event") == "run_start"]
    t.ok(rc == 0 and start and sorted(start[0]["assets"]) == sorted(names),
         "tags and all: every asset once (exit %d)" % rc)
    # icx plan all: the same assets, offline, in the same order.
    rc, out, err = icx(d, "plan", "all", "--dest", "all.db", env=env)
    planned = re.findall(r"^(\S+) \(built in\) -> table", out, re.M)
    t.ok(rc == 0 and planned == names, "icx plan all plans every built-in asset in icx list's order (exit %d: %s)"
         % (rc, planned))

# The README's Quick start, as written: the simulator's command line (on a
# free port), its connections.yml, its commands.
readme = open(os.path.join(icxtest.ROOT, "README.md")).read()
quick = readme[readme.index("## Quick start"):readme.index("## Assets")]
sim_cmd = re.search(r"\n(/usr/bin/python3 tests/sim/intercom_sim\.py [^\n]*)\n", quick)
t.ok(sim_cmd, "the Quick start shows how to start the simulator")
argv = shlex.split(sim_cmd.group(1))[2:] if sim_cmd else []
flags = {}
i = 0
while i < len(argv):
    k = argv[i][2:].replace("-", "_")
    flags[k] = argv[i + 1]
    i += 2
port = flags.pop("port", None)
t.is_(port, "8080", "on the port its connections.yml names")
token = flags.pop("token", "test-token")
yml = re.search(r"```yaml\n(connections:\n  intercom:\n    - name: \"sim\"\n.*?)```", quick, re.S)
t.ok(yml, "the Quick start shows a connections.yml for the simulator")
cmds = re.findall(r"^(\./icx [^\n#]*?)\s*(?:#[^\n]*)?$", quick[quick.index("### Without a workspace"):], re.M)
t.ok(len(cmds) >= 2, "and the commands to run against it: %s" % cmds)
with Sim(token=token, **{k: int(v) if v.isdigit() else v for k, v in flags.items()}) as sim, \
        icxtest.Case("1322-quick-start", sim) as case:
    with open(os.path.join(case.dir, "sim.yml"), "w") as f:
        f.write((yml.group(1) if yml else "").replace("http://127.0.0.1:8080", sim.url))
    for c in cmds:
        rc, out, err = icx(case.dir, *shlex.split(c)[1:])
        t.is_(rc, 0, "%s exits 0" % c)
    db = os.path.join(case.dir, "sim.db")
    n = sqlite3.connect(db).execute("select count(*) from contacts").fetchone()[0] if os.path.exists(db) else 0
    t.is_(n, int(flags.get("contacts", 200)), "every simulated contact landed in sim.db")

t.done_testing()
