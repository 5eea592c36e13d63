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

# From a stored cursor: what the next run will ask for.
import sqlite3  # noqa: E402
db = os.path.join(d, "planned.db")
con = sqlite3.connect(db)
con.executescript("CREATE TABLE _icx_state (connection TEXT NOT NULL, asset TEXT NOT NULL, key TEXT NOT NULL, "
                  "value, updated_at TEXT NOT NULL, PRIMARY KEY (connection, asset));"
                  "INSERT INTO _icx_state VALUES ('p', 'contacts', 'updated_at', 1700000000, 'x');"
                  "INSERT INTO _icx_state VALUES ('p', 'tickets', 'updated_at', 1700000000, 'x');")
con.commit()
con.close()
contacts, tickets = (os.path.join(SCRIPTS, x + ".lua") for x in ("contacts", "tickets"))
rc, out, err = plan("--dest", db, contacts, tickets)
t.is_(rc, 0, "plan --dest exits 0")
t.ok("cursor: 1700000000 (2023-11-14 22:13:20 UTC)" in out, "it shows the stored cursor")
# contacts: cursor - 1 h lookback - (a day and an hour: day-granular search)
t.ok('"value":%d' % (1700000000 - 3600 - 90000) in out, "contacts: the next search starts a day and 2 h back")
# tickets: cursor - 1 h lookback, inclusive (> since - 1)
t.ok('"value":%d' % (1700000000 - 3600 - 1) in out, "tickets: the next search starts an hour back")
rc, out, err = plan(contacts)
t.ok('"value":0' in out and "none (a first run reads everything)" in out, "without --dest: a first run")
rc, out, err = plan("--dest", os.path.join(d, "nothing-here.db"), contacts)
t.ok(rc == 0 and not os.path.exists(os.path.join(d, "nothing-here.db")) and '"value":0' in out,
     "a --dest that does not exist is not created; plan shows a first run")

# A custom-style source: plan calls the same first() the walk sends.
custom = os.path.join(d, "custom.lua")
with open(custom, "w") as f:
    f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
            'return icx.asset {\n  name = "pages_by_hand",\n  mode = "replace",\n'
            '  pages = intercom.custom(function(prev)\n'
            '    local n = prev and prev.request.query.page + 1 or 1\n'
            '    return { method = "GET", path = "/help_center/collections", query = { page = n } }\n'
            '  end),\n}\n')
raw = os.path.join(d, "raw.lua")
with open(raw, "w") as f:
    f.write('local icx = require "icx"\n'
            'return icx.asset {\n  name = "raw_custom",\n  mode = "replace",\n'
            '  pages = { style = "custom", list_key = "data", next = function(prev)\n'
            '    if prev then return nil end\n'
            '    return { method = "GET", path = "/tags" }\n'
            '  end },\n}\n')
rc, out, err = plan(custom, raw)
t.is_(rc, 0, "plan of custom-style sources exits 0 (it used to crash with exit 3)")
t.ok("GET https://api.eu.intercom.io/help_center/collections?page=1" in out, "intercom.custom: its first request")
t.ok("GET https://api.eu.intercom.io/tags" in out, "a plain-table custom source: its first request")

t.done_testing()
