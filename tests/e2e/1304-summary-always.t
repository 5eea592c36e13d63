#!/usr/bin/python3
"""Every `icx run --summary-json FILE` writes FILE, also when the run is
refused before any asset starts: a bad option value, an unknown option, no
asset, an unreadable configuration, a window refused. The summary says
status "error", the exit code the process exits with, and the message."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402

with Sim(tickets=5, seed=1304) as sim, Workspace(sim) as ws:
    out = os.path.join(ws.dir, "out.json")
    cases = [
        ("--jobs x", ["run", "--jobs", "x", "--summary-json", out, "tags"], 2, "--jobs 'x' must be a whole number"),
        ("an unknown option", ["run", "--summary-json=" + out, "--bogus", "tags"], 2, "unknown option '--bogus'"),
        ("no asset", ["run", "--summary-json", out], 2, "needs at least one ASSET"),
        ("a missing configuration", ["run", "--config", os.path.join(ws.dir, "none.yml"), "--summary-json", out,
                                     "tags"], 2, "none.yml: cannot read the configuration"),
        ("--until before --since", ["run", "--since", "2026-02-01", "--until", "2026-01-01", "--summary-json", out,
                                    "tickets"], 2, "--until must be later than --since"),
        ("a window for a replace asset", ["run", "--config", ws.config, "--since", "2026-01-01", "--summary-json",
                                          out, "tags"], 2, "has no incremental key"),
    ]
    for name, argv, code, message in cases:
        if os.path.exists(out):
            os.remove(out)
        r = Case.run(ws, [ICX] + argv)
        t.is_(r.rc, code, "%s: exit %d" % (name, code))
        t.ok(os.path.exists(out), "%s: the summary is written" % name)
        if not os.path.exists(out):
            continue
        with open(out) as f:
            s = json.load(f)
        t.is_((s["status"], s["exit_code"], s["requests"], s["assets"]), ("error", code, 0, []),
              "%s: status error, the exit code, no request, no asset" % name)
        t.ok(message in s["error"]["message"], "%s: the error's message: %s" % (name, s["error"]["message"]))

    # Not a run: nothing is owed (and --summary-json is refused by check).
    os.remove(out)
    r = Case.run(ws, [ICX, "check", "--config", ws.config, "--summary-json", out])
    t.is_(r.rc, 2, "check refuses --summary-json")
    t.ok(not os.path.exists(out), "and writes no summary")

t.done_testing()
