#!/usr/bin/python3
"""Issue 19's tables that hang off parents, on SQLite: ticket_parts and
ticket_part_counts, company_tags, conversation_tags, conversation_contacts,
conversation_teammates and company_segments exact after a first load,
after mutations and an incremental run, and after deletes with --reconcile
(conversations' from GET /conversations/deleted, API 2.16); a workspace
that does not serve that feed gets a warning (tests/e2e/lib/links.py)."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import links  # noqa: E402
import tap as t  # noqa: E402


with Sim(**links.SIM_FLAGS) as sim, Workspace(sim) as ws:
    def compare(table, truth, key, name):
        landed.compare(t, ws.db, table, truth, key, name=name)

    def deleted_ids(asset):
        con = sqlite3.connect(ws.db)
        out = {r[0] for r in con.execute("select id from _icx_deleted where asset = ?", (asset,))}
        con.close()
        return out

    links.scenario(t, sim, ws, ws.db, compare, deleted_ids)

t.done_testing()
