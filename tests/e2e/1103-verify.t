#!/usr/bin/python3
"""icx verify: the completeness check over the whole stored history, on
demand. A row deleted by hand from the destination is found (its window is
short of Intercom's count) and healed; one Intercom's search will not return
is reported with exit 5; its cost is one request per window, printed; icx
status shows the last check; a JSONL destination is refused."""
import json
import os
import re
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(HERE, "..", "lib")]
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import tap as t  # noqa: E402


def icx(ws, *args):
    return Case.run(ws, [ICX, args[0], "--config", ws.config] + list(args[1:]))


with Sim(contacts=2500, conversations=200, tickets=300, seed=43) as sim, Workspace(sim) as ws:
    r = ws.run("contacts", "conversations", "tickets", "companies")
    t.is_(r.rc, 0, "a first load exits 0")
    con = sqlite3.connect(ws.db)
    cut = time.time() - 3 * 86400
    victims = [x[0] for x in con.execute("select id from contacts where updated_at < ? order by updated_at "
                                         "limit 2 offset 900", (int(cut),))]
    ticket = con.execute("select id from tickets where updated_at < ? order by updated_at limit 1 offset 100",
                         (int(cut),)).fetchone()[0]
    con.execute("delete from contacts where id in (?, ?)", victims)
    con.execute("delete from tickets where id = ?", (ticket,))
    con.commit()

    sim.control("POST", "/_sim/reset_stats", {})
    r = icx(ws, "verify", "--dest", ws.db)
    t.is_(r.rc, 0, "icx verify heals rows deleted by hand: exit 0")
    got = {x[0] for x in con.execute("select id from contacts")}
    t.ok(set(victims) <= got, "the deleted contacts are back")
    t.ok(con.execute("select 1 from tickets where id = ?", (ticket,)).fetchone(), "the deleted ticket is back")
    t.ok(re.search(r"contacts: complete: (\d+) windows?, Intercom counts \d+ records there and all landed; "
                   r"2 missing records were found", r.err), "a line says contacts are complete, 2 healed")
    m = re.search(r"contacts: complete: (\d+) windows?.*the check cost (\d+) requests", r.err)
    t.ok(m and int(m.group(1)) == 2, "contacts: one window per 1,500 stored rows (%s)" % (m and m.group(1)))
    t.ok(re.search(r"tickets: complete: .*1 missing record was found", r.err), "the ticket line says it healed 1")
    t.ok(re.search(r"conversations: complete: 1 window, .*the check cost 1 request\b", r.err),
         "conversations: nothing short, one request")
    t.ok("companies" not in r.err, "a list asset is not verified (no search counts)")
    st = icx(ws, "status", "--dest", ws.db, "--json").out
    t.ok('"healed":2' in st.replace(" ", "") and '"complete":true' in st.replace(" ", ""),
         "icx status --json shows the last check")
    rows = con.execute("select count(*), sum(healed) from _icx_completeness where asset = 'contacts'").fetchone()
    t.ok(rows[0] >= 3 and rows[1] == 2, "_icx_completeness: the run's window and verify's windows")

    r = icx(ws, "verify", "tickets", "--dest", ws.db)
    t.ok(r.rc == 0 and "healed" not in r.err and "found" not in r.err, "a second verify finds nothing to heal")
    r = icx(ws, "verify", "tickets", "--dest", ws.db, "--log-format", "json")
    ids = [json.loads(x).get("run_id") for x in r.err.splitlines() if x.startswith("{")]
    t.ok(r.rc == 0 and ids and len(set(ids)) == 1 and ids[0] and len(ids[0]) >= 16,
         "every JSON line of a verify carries one run id (%d lines, ids %s)" % (len(ids), sorted(set(map(str, ids)))))

    con.execute("delete from tickets where id = ?", (ticket,))
    con.commit()
    sim.control("POST", "/_sim/drop", {"asset": "tickets", "ids": [ticket], "times": None})
    r = icx(ws, "verify", "tickets", "--dest", ws.db)
    t.is_(r.rc, 5, "a row Intercom's search will not return: exit 5")
    t.ok(re.search(r"tickets: INCOMPLETE: 1 record missing in window \S+/\S+: Intercom counts \d+, \d+ landed",
                   r.err), "the line names the asset, the window and the count")

    r = icx(ws, "verify", "companies", "--dest", ws.db)
    t.ok(r.rc == 0 and "not verified" in r.err, "a named list asset: said, not verified")
    r = icx(ws, "verify", "--dest", "jsonl:" + os.path.join(ws.dir, "out"))
    t.ok(r.rc == 2 and "SQLite or PostgreSQL" in r.err, "a JSONL destination is refused (exit 2)")
t.done_testing()
