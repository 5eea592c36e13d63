#!/usr/bin/python3
"""PostgreSQL: every asset, full load (`icx run --dest postgresql://...`),
compared with the simulator's truth record by record and value by value by
icx.pg's type mapping; then a second run changes nothing. The password
goes in the URI, percent-encoded (it holds : @ / # ? &)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ALL_ASSETS  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

KEYS = {"data_attributes": ("model", "full_name"),
        "contact_tags": ("contact_id", "tag_id"),
        "contact_companies": ("contact_id", "company_id"),
        "conversation_part_counts": ("conversation_id",)}

with pgserver.PgServer() as pg, \
        Sim(contacts=400, companies=80, conversations=40, tickets=30, articles=40, seed=11) as sim, \
        Workspace(sim) as ws:
    uri = pg.uri(schema="intercom")
    r = ws.run(*ALL_ASSETS, dest=uri)
    t.is_(r.rc, 0, "icx run of all eleven assets into PostgreSQL exits 0")
    con = pg.connect()
    for asset in ALL_ASSETS:
        if asset == "conversation_parts":
            continue
        landed_pg.compare(t, con, asset, sim.dump(asset), KEYS.get(asset, ("id",)), schema="intercom")
    shown, counts = landed.conversation_parts_truth(sim)
    landed_pg.compare(t, con, "conversation_parts", shown, schema="intercom")
    landed_pg.compare(t, con, "conversation_part_counts", counts, ("conversation_id",), schema="intercom")

    cur = con.cursor()
    cur.execute("select count(*), count(*) filter (where status = 'ok') from intercom._icx_runs")
    t.is_(cur.fetchone(), (len(ALL_ASSETS), len(ALL_ASSETS)), "one ok _icx_runs row per asset")
    cur.execute("select count(*) from intercom._icx_state")
    t.ok(cur.fetchone()[0] >= 5, "incremental assets stored their cursors")
    cur.execute("select count(*) from information_schema.tables where table_schema = 'public'")
    t.is_(cur.fetchone()[0], 0, "nothing landed outside the chosen schema")
    cur.execute("select data_type from information_schema.columns where table_schema = 'intercom' "
                "and table_name = 'contacts' and column_name in ('id', 'custom_attributes', "
                "'created_at', 'has_hard_bounced') order by column_name")
    t.is_([x[0] for x in cur.fetchall()], ["bigint", "json", "boolean", "text"],
          "declared types: created_at bigint, custom_attributes json, has_hard_bounced boolean, id text")

    cur.execute("select md5(string_agg(t::text, '|' order by t::text)) from intercom.contacts t")
    before = cur.fetchone()[0]
    r2 = ws.run(*ALL_ASSETS, dest=uri)
    t.is_(r2.rc, 0, "a second run exits 0")
    cur.execute("select md5(string_agg(t::text, '|' order by t::text)) from intercom.contacts t")
    t.is_(cur.fetchone()[0], before, "contacts unchanged by a second run")
    for asset in ("contacts", "conversations", "tickets", "tags"):
        landed_pg.compare(t, con, asset, sim.dump(asset), KEYS.get(asset, ("id",)),
                          name=asset + " after a second run", schema="intercom")
    con.close()

t.done_testing()
