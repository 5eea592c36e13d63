#!/usr/bin/python3
"""One exit-code table: README.md, man/icx.1 and `icx help` carry the same
codes with the same words; and each case behaves as the table says: a
rejected token is 2 for check as for run; an error in a script's code (its
pages function, its transform) is 2 naming file:line, for run and plan; a
host that does not resolve fails at once naming it (1, no retries); a
reader that closes jsonl:- gets a message and 1, not a silent 141."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX, ROOT  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def norm(s):
    return " ".join(s.replace("\\-", "-").replace("`", "").split())


def from_help():
    text = subprocess.run([ICX, "help"], capture_output=True, text=True).stdout
    block = text[text.index("exit codes:\n") + len("exit codes:\n"):]
    rows = []
    for line in block.splitlines():
        m = re.match(r"^  (\d+(?:, \d+)*)  (.*)$", line)
        if m:
            rows.append([m.group(1), m.group(2)])
        elif line.startswith("     ") and rows:
            rows[-1][1] += " " + line.strip()
    return [(c, norm(x)) for c, x in rows]


def from_readme():
    text = open(os.path.join(ROOT, "README.md")).read()
    sec = text[text.index("### Exit codes"):]
    sec = sec[:sec.index("\n### ", 5)]
    rows = []
    for line in sec.splitlines():
        m = re.match(r"^\| ([\d, ]+) \| (.*) \|$", line)
        if m:
            rows.append((m.group(1).strip(), norm(m.group(2))))
    return rows


def from_man():
    text = open(os.path.join(ROOT, "man", "icx.1")).read()
    sec = text[text.index(".SH EXIT STATUS"):]
    sec = sec[:sec.index(".PP")]
    rows = []
    for item in sec.split(".TP\n")[1:]:
        lines = item.strip().splitlines()
        head = lines[0].replace(".BR ", "").replace(".B ", "").replace('" "', "").replace('"', "")
        head = " ".join(head.split()).replace(" ,", ",")
        rows.append((head, norm(" ".join(lines[1:]))))
    return rows


h, r, m = from_help(), from_readme(), from_man()
t.is_([c for c, _ in h], ["0", "1", "2", "3", "4", "5", "6", "130, 143"],
      "icx help lists the codes 0-6 and the signals")
t.is_(r, h, "README's exit-code table is icx help's")
t.is_(m, h, "the man page's EXIT STATUS is icx help's")
t.ok(any("another run holds it" in x for c, x in h if c == "4"), "4 says another run holds the asset")


def write(case, name, text):
    path = os.path.join(case.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


with Sim(contacts=600, seed=1305) as sim, Workspace(sim) as ws:
    r = ws.run("tags")
    t.is_(r.rc, 0, "a run that lands: exit 0")

    # ------------------------------------------------ a rejected token
    with Workspace(sim, name="1305-bad-token") as bad:
        bad.token = "wrong-token"
        r = Case.run(bad, [ICX, "check", "--config", bad.config])
        t.is_(r.rc, 2, "check with a rejected token: exit 2")
        t.ok("401" in r.err, r.err.strip()[-200:])
        r = bad.run("tags")
        t.is_(r.rc, 2, "run with a rejected token: exit 2")

    # ------------------------------------------------ a script's own error
    typo = write(ws, "typo.lua", 'local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
                 'return icx.asset { name = "typo", primary_key = "id", mode = "replace",\n'
                 '  pages = function(ctx)\n    return intercom.lsit("/tags")\n  end,\n}\n')
    r = ws.run("./typo.lua")
    t.is_(r.rc, 2, "a typo inside pages = function(ctx): exit 2")
    t.ok("typo.lua:5:" in r.err and "internal error" not in r.err, "naming file:line: " + r.err.strip()[-200:])
    r = Case.run(ws, [ICX, "plan", "--config", ws.config, typo])
    t.is_(r.rc, 2, "plan of it: exit 2, not 3")
    t.ok("typo.lua:5:" in r.err and "internal error" not in r.err, "naming file:line: " + r.err.strip()[-200:])
    tr = write(ws, "transform.lua", 'local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
               'return icx.asset { name = "tr", primary_key = "id", mode = "replace",\n'
               '  pages = intercom.get("/tags", { list_key = "data" }),\n'
               '  transform = function(r) return r.nope.x end,\n}\n')
    r = ws.run(tr)
    t.is_(r.rc, 2, "an error inside transform: exit 2")
    t.ok("transform.lua:5:" in r.err, "naming file:line")
    r = ws.run("tags", tr)
    t.is_(r.rc, 2, "with another asset that landed: still 2 (the worst)")

    # ------------------------------------------------ a host that does not resolve
    path = write(ws, "nohost.yml", "connections:\n  intercom:\n    - name: x\n      access_token: tok-123456789\n"
                 "      base_url: http://no-such-host.invalid\n")
    start = time.time()
    r = Case.run(ws, [ICX, "run", "--config", path, "--dest", os.path.join(ws.dir, "n.db"), "tags"])
    took = time.time() - start
    t.is_(r.rc, 1, "run against a host that does not resolve: exit 1")
    t.ok("no-such-host.invalid" in r.err, "naming the host: " + r.err.strip()[-200:])
    t.ok(took < 10 and "retry" not in r.err, "at once, without retries (%.1f s)" % took)

    # ------------------------------------------------ a closed output pipe
    p = subprocess.Popen([ICX, "run", "--config", ws.config, "--dest", "jsonl:-", "--state",
                          os.path.join(ws.dir, "st.db"), "contacts"], cwd=ws.dir, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ, ICX_TEST_TOKEN=sim.token))
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    rc = p.wait(timeout=120)
    t.ok(first.startswith(b'{"table":"contacts"'), "the reader got a line")
    t.is_(rc, 1, "the reader closing jsonl:-: exit 1, not 141")
    t.ok("closed by its reader" in err, "said on stderr: " + err.strip()[-200:])

t.done_testing()
