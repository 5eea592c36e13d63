#!/usr/bin/python3
"""icx plan prints the same text every time: request bodies come out with
their keys sorted at every level (icx.json's order, the one the client
sends), not in the order of a Lua table's hash, which changes per process."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import ICX, SCRIPTS  # noqa: E402
import tap as t  # noqa: E402

RUNS = 12

d = tempfile.mkdtemp(prefix="icx-plan-stable-")
conf = os.path.join(d, "connections.yml")
with open(conf, "w") as f:
    f.write("connections:\n  intercom:\n    - name: p\n      access_token: tok-plan-123456789\n")
# The search assets: bodies with several keys, nested two levels deep.
scripts = [os.path.join(SCRIPTS, x + ".lua") for x in ("contacts", "conversations", "tickets")]


def bodies(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("{")]


def unsorted_objects(text):
    """The key lists, in printed order, of the objects whose keys are not sorted."""
    bad = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        if keys != sorted(keys):
            bad.append(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return bad


outs = []
for _ in range(RUNS):
    p = subprocess.run([ICX, "plan", "--config", conf] + scripts, capture_output=True, text=True, cwd=d)
    if p.returncode != 0:
        t.diag(p.stderr)
    outs.append(p.stdout)

first = bodies(outs[0])
t.is_(len(first), len(scripts), "each search asset's plan prints its body")
t.ok(all(len(json.loads(b)) >= 3 for b in first), "each body has several keys")
t.is_(len(set(outs)), 1, "%d runs of icx plan print the same text" % RUNS)
bad = [(b, u) for out in outs for b in bodies(out) for u in unsorted_objects(b)]
t.ok(not bad, "every object of every body lists its keys sorted")
for body, keys in bad[:3]:
    t.diag("unsorted %s in %s" % (keys, body))

t.done_testing()
