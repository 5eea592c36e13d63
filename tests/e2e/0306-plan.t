#!/usr/bin/python3
"""icx plan: validates every script and the config offline and prints the
first request each would send; a broken script is exit 2 naming its line."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import ICX, ROOT, SCRIPTS  # noqa: E402
import tap as t  # noqa: E402

d = tempfile.mkdtemp(prefix="icx-plan-")
conf = os.path.join(d, "connections.yml")
with open(conf, "w") as f:
    # Port 9 on loopback: nothing listens, so any request would fail loudly.
    f.write("connections:\n  intercom:\n    - name: p\n      access_token: tok-plan-123456789\n"
            "      region: eu\n")
scripts = sorted(os.path.join(SCRIPTS, x) for x in os.listdir(SCRIPTS))


def plan(*args):
    p = subprocess.run([ICX, "plan", "--config", conf] + list(args), capture_output=True,
                       text=True, cwd=d)
    return p.returncode, p.stdout, p.stderr


rc, out, err = plan(*scripts)
t.is_(rc, 0, "plan of every script exits 0")
t.ok("POST https://api.eu.intercom.io/contacts/search" in out, "contacts: search on the eu host")
t.ok('"sort":{' in out and '"order":"ascending"' in out, "search bodies sort ascending")
t.ok("GET https://api.eu.intercom.io/companies/scroll" in out, "companies: scroll")
t.ok("GET https://api.eu.intercom.io/articles?page=1&per_page=150" in out, "articles: page 1 of 150")
t.ok("GET https://api.eu.intercom.io/segments?include_count=true" in out, "segments with counts")
t.ok("tok-plan" not in out + err, "token not printed")

bad = os.path.join(d, "bad.lua")
with open(bad, "w") as f:
    f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
            'return icx.asset {\n  name = "x",\n  primay_key = "id",\n  pages = intercom.get "/tags",\n}\n')
rc, out, err = plan(bad)
t.is_(rc, 2, "a script with an unknown field exits 2")
t.ok("bad.lua:5: icx.asset: unknown field 'primay_key' (did you mean 'primary_key'?)" in err,
     "the error names file, line and the fix: " + err.strip())

t.done_testing()
