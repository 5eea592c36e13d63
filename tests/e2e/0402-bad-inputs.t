#!/usr/bin/python3
"""The catalogue of bad inputs (tests/e2e/lib/bad_inputs.py): configuration,
flags, scripts, destinations and server answers, each with the exit code and
the first stderr line it must produce. Cases icx gets wrong today are TAP
TODO with what it does now, so this file is the checklist for the fixes.
Every case also proves the token is nowhere in stdout, stderr or the files
the run left. observed.tsv (name, exit, first stderr line) is kept in
tests/e2e/cases-kept/0402-bad-inputs/ when a case fails."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from bad_inputs import CASES, GOOD  # noqa: E402
from hostile import Hostile  # noqa: E402

LIMIT = 30  # seconds per case; none should need more than a few


def setup_corrupt_db(d):
    """A file that starts like SQLite and then is garbage."""
    with open(os.path.join(d, "bad.db"), "wb") as f:
        f.write(b"SQLite format 3\x00" + bytes(range(256)) * 64)


def setup_mkdir_dir(d):
    os.mkdir(os.path.join(d, "dir"))


SETUP = {"corrupt_db": setup_corrupt_db, "mkdir_dir": setup_mkdir_dir}


def run_case(case, hs, top):
    """Runs one case in its own directory; returns (rc, out, err, dir)."""
    d = os.path.join(top, case["name"])
    os.makedirs(d)
    url = hs.at(case.get("mode", "good")).url
    cfg = case.get("config", GOOD)
    with open(os.path.join(d, "connections.yml"), "w") as f:
        f.write(cfg.replace("{url}", url).replace("{other}", hs.url))
    if "script" in case:
        with open(os.path.join(d, "s.lua"), "w") as f:
            f.write(case["script"])
    if case.get("setup"):
        SETUP[case["setup"]](d)
    env = dict(os.environ, ICX_TEST_TOKEN=hs.token)
    env.pop("ICX_CONFIG", None)
    env.update(case.get("env", {}))
    argv = [icxtest.ICX] + [a.replace("{root}", icxtest.ROOT) for a in case["argv"]]
    try:
        p = subprocess.run(argv, cwd=d, env=env, capture_output=True, timeout=LIMIT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", exc.stdout or b"", (exc.stderr or b"") + b"\n(killed after %ds)" % LIMIT
    with open(os.path.join(d, "stdout"), "wb") as f:
        f.write(out)
    with open(os.path.join(d, "stderr"), "wb") as f:
        f.write(err)
    return rc, out, err, d


def token_leaks(token, out, err, d):
    """Where the token shows up: stdout, stderr or a file icx left."""
    tok = token.encode()
    where = [n for n, b in (("stdout", out), ("stderr", err)) if tok in b]
    for root, _, files in os.walk(d):
        for name in files:
            if name in ("stdout", "stderr"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                if tok in f.read():
                    where.append(os.path.relpath(os.path.join(root, name), d))
    return where


names = [c["name"] for c in CASES]
t.ok(len(CASES) >= 60 and len(set(names)) == len(names), "%d cases, names unique" % len(CASES))

with Hostile() as hs, icxtest.Case("0402-bad-inputs", hs.at("good")) as case:
    rows, leaks = [], []
    for c in CASES:
        rc, out, err, d = run_case(c, hs, case.dir)
        text = err.decode("utf-8", "replace")
        first = next((x for x in text.splitlines() if x.strip()), "")
        # Off a terminal every line starts with its time: match what follows.
        first = re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", "", first)
        rows.append("%s\t%s\t%s" % (c["name"], rc, first))
        good = rc == c["exit"] and re.match(c["err"], first) is not None
        name = "%s: exit %d, stderr /%s/" % (c["name"], c["exit"], c["err"])
        if c.get("todo"):
            t.todo(good, name, "%s [now: exit %s: %s]" % (c["todo"], rc, first[:160]))
        else:
            t.ok(good, name)
            if not good:
                t.diag("got exit %s, first stderr line: %s" % (rc, first))
        token = c.get("env", {}).get("ICX_TEST_TOKEN", hs.token)
        if len(token) >= 8:
            where = token_leaks(token, out, err, d)
            if where:
                leaks.append("%s: %s" % (c["name"], ", ".join(where)))
    with open(os.path.join(case.dir, "observed.tsv"), "w") as f:
        f.write("name\texit\tfirst stderr line\n" + "\n".join(rows) + "\n")
    t.is_(leaks, [], "the token is in no output and no file of any case")

t.done_testing()
