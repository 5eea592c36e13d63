#!/usr/bin/python3
"""The live display on a terminal: a first run of 5000 contacts (walked as
time slices) under a pseudo-terminal redraws one block in place, shows rows
of a total that ends within 2% of the truth, prints no periodic progress
lines, and leaves the terminal clean (no block, cursor shown), also when
stopped by Ctrl-C. Off a terminal the plain lines stay."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

TRUTH = 5000

with Sim(contacts=TRUTH, seed=5) as sim, icxtest.Case("0321-live-display", sim) as case:
    env = {"ICX_TEST_TOKEN": sim.token}
    argv = [icxtest.ICX, "run", "--config", case.config, "--dest", "icx.db", "contacts", "tags"]
    rc, out = icxtest.run_in_pty(argv, case.dir, env=env, cols=100)
    with open(os.path.join(case.dir, "pty.out"), "w") as f:
        f.write(out)
    t.is_(rc, 0, "icx run under a terminal exits 0")
    t.ok(re.search(r"\x1b\[\d+A", out) and "\x1b[J" in out, "the block is redrawn in place (cursor up, clear)")
    totals = [int(m.group(2)) for m in re.finditer(r"contacts +\[[#-]+\] +(\d+)/(\d+) rows", out)]
    t.ok(len(totals) >= 3, "%d frames show contacts' rows of a total" % len(totals))
    last = totals[-1] if totals else 0
    t.ok(abs(last - TRUTH) <= TRUTH * 0.02, "the total ends within 2%% of the truth (%d of %d)" % (last, TRUTH))
    t.ok(not re.search(r"contacts: \d+ rows of about", out), "no periodic progress lines while the display is up")
    block = [x for x in re.split(r"[\r\n]|\x1b\[[^A-Za-z]*[A-Za-z]", out)
             if re.match(r"(icx run|contacts|tags) +", x)]
    t.ok(block and all(len(x) <= 99 for x in block), "every line of the block fits the terminal's width")
    term = icxtest.Terminal(out)
    t.ok(term.cursor_shown, "the cursor is shown at the end")
    t.ok(not any(x.startswith("icx run ") or x.startswith("tags  ") for x in term.lines),
         "no live block is left on the screen")
    t.ok(any(x.startswith("contacts: 5000 rows (5000 new, 0 changed") for x in term.lines),
         "the summary line says how many records were new")
    t.ok(any(x.startswith("tags: ") for x in term.lines), "every asset's summary is on the screen")

    # An incremental run re-reads the cursor's day: said as unchanged.
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 3})
    r = case.run(argv)
    m = re.search(r"contacts: \d+ rows \((\d+) new, (\d+) changed, (\d+) re-read unchanged\)", r.err)
    t.ok(m, "off a terminal: the plain summary line, with new/changed/unchanged")
    if m:
        t.ok(int(m.group(2)) + int(m.group(1)) >= 3, "the mutated contacts count as changed (%s)" % m.group(0))
    t.ok("\x1b[" not in r.err, "off a terminal: no escape sequences")

    # Ctrl-C mid-run: exit 130, and the terminal is left clean.
    sent = []

    def interrupt(pid, text):
        if not sent and re.search(r"contacts +\[[#-]+\] +[1-9]\d*/", text):
            os.kill(pid, signal.SIGINT)
            sent.append(1)

    argv2 = argv[:-2] + ["--full-refresh", "contacts"]
    rc, out = icxtest.run_in_pty(argv2, case.dir, env=env, cols=100, on_output=interrupt)
    with open(os.path.join(case.dir, "pty-interrupt.out"), "w") as f:
        f.write(out)
    t.ok(sent, "SIGINT sent while contacts were landing")
    t.is_(rc, 130, "stopped by SIGINT: exit 130")
    term = icxtest.Terminal(out)
    t.ok(term.cursor_shown and not any(x.startswith("icx run ") for x in term.lines),
         "after Ctrl-C: no block left, cursor shown")
    t.ok(any("interrupted" in x for x in term.lines), "the interruption is said")

t.done_testing()
