#!/usr/bin/python3
"""Issue 19's tables that hang off parents, on PostgreSQL: the scenario of
0801 (tests/e2e/lib/links.py), compared by icx.pg's type mapping."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import links  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

with pgserver.PgServer() as pg, Sim(**links.SIM_FLAGS) as sim, Workspace(sim) as ws:
    con = pg.connect()

    def compare(table, truth, key, name):
        landed_pg.compare(t, con, table, truth, key, name=name, schema="intercom")

    def deleted_ids(asset):
        cur = con.cursor()
        cur.execute("select id from intercom._icx_deleted where asset = %s", (asset,))
        return {r[0] for r in cur.fetchall()}

    links.scenario(t, sim, ws, pg.uri(schema="intercom"), compare, deleted_ids)

t.done_testing()
