#!/usr/bin/python3
"""make demo's driver: every asset into a fresh database, then one line per
table whose count matches what is in the database."""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import ICX, ROOT  # noqa: E402
import tap as t  # noqa: E402

d = tempfile.mkdtemp(prefix="icx-demo-")
db = os.path.join(d, "demo.db")
p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "demo.py"), ICX, db],
                   capture_output=True, text=True, timeout=600)
t.is_(p.returncode, 0, "the demo exits 0")
if p.returncode:
    t.diag(p.stderr[-2000:])
printed = dict(re.findall(r"^(\w+)\s+(\d+)$", p.stdout, re.M))
con = sqlite3.connect(db)
tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
for name in ("contacts", "contact_tags", "contact_companies", "companies", "conversations",
             "conversation_parts", "conversation_part_counts", "tickets", "articles", "tags",
             "segments", "teams", "admins", "data_attributes", "ticket_types", "ticket_states",
             "help_centers", "collections", "subscription_types", "activity_logs",
             "_icx_runs", "_icx_state"):
    n = con.execute('select count(*) from "%s"' % name).fetchone()[0] if name in tables else None
    t.ok(n and printed.get(name) == str(n), "%s: %s rows printed, %s in the database"
         % (name, printed.get(name), n))
t.is_(con.execute("select count(*) from _icx_runs where status != 'ok'").fetchone()[0], 0,
      "every asset's run is ok")
con.close()
t.done_testing()
