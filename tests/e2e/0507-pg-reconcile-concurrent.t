#!/usr/bin/python3
"""PostgreSQL: --reconcile removes the rows of records Intercom no longer
has (with their child rows, noted in _icx_deleted) and lands a record the
walks skipped; afterwards every table equals the simulator's truth. Then
concurrent writers: four processes merging overlapping pages into one table
at once, with fields whose kinds differ between the processes (so columns
are added and widened while the others write) all succeed, and the table
holds the latest record per key with every value exact."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from icxtest import ICX  # noqa: E402
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

ASSETS = ["contacts", "companies", "tickets"]

DRIVER = r'''
-- icx lua driver.lua DEST WORKER PAGES: pages of records written by one worker.
local dest = require "icx.dest"
local json = require "icx.json"
local uri, worker, pages = ...
local d = dest.open(uri)
local t = d:table { name = "shared", primary_key = "id" }
for p = 1, tonumber(pages) do
  local recs = {}
  for j = 1, 40 do
    local id = (p * 40 + j) % 97
    local w = tonumber(worker)
    -- worker-specific kinds for the same field names
    local v = ({ 7, "text", 2.5, true })[w]
    recs[#recs + 1] = ('{"id":%d,"w%d":%s,"mixed":%s,"n":%d}'):format(id, w, json.encode(v), json.encode(v), p)
  end
  d:begin()
  t:write("[" .. table.concat(recs, ",") .. "]")
  d:commit()
end
d:close()
'''

with pgserver.PgServer() as pg:
    con = pg.connect()
    cur = con.cursor()
    with Sim(contacts=300, companies=40, tickets=40, seed=41) as sim, Workspace(sim) as ws:
        uri = pg.uri()
        r = ws.run(*ASSETS, "contact_tags", dest=uri)
        t.is_(r.rc, 0, "the first run lands everything")
        contacts = [c for c in sim.dump("contacts") if not c["companies"]["data"]]
        tagged = [c["id"] for c in contacts if c["tags"]["data"]][:3]
        gone = {"contacts": tagged}
        for cid in tagged:
            sim.control("POST", "/_sim/delete", {"asset": "contacts", "id": cid})
        for a in ("companies", "tickets"):
            gone[a] = [x["id"] for x in sim.dump(a)[:2]]
            for rid in gone[a]:
                sim.control("POST", "/_sim/delete", {"asset": a, "id": rid})
        slipped = [c["id"] for c in sim.dump("contacts")][5]
        sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": [slipped]})
        sim.control("POST", "/_sim/skip", {"asset": "contacts", "id": slipped})
        r = ws.run(*ASSETS, "contact_tags", "--reconcile", dest=uri)
        t.is_(r.rc, 0, "a run with --reconcile succeeds on PostgreSQL")
        t.ok("reconciled: 3 gone from Intercom, 1 skipped by the walks and landed" in r.err,
             "the summary counts contacts gone and recovered")
        for a in ASSETS:
            landed_pg.compare(t, con, a, sim.dump(a), name="%s after --reconcile" % a)
        landed_pg.compare(t, con, "contact_tags", sim.dump("contact_tags"), ("contact_id", "tag_id"),
                          name="contact_tags after --reconcile")
        cur.execute("select asset, id from _icx_deleted")
        noted = {}
        gone["contact_tags"] = tagged  # their pairs go with them
        for a, rid in cur.fetchall():
            noted.setdefault(a, set()).add(rid)
        t.is_({a: sorted(v) for a, v in noted.items()}, {a: sorted(v) for a, v in gone.items()},
              "_icx_deleted lists exactly the records Intercom no longer has")

    work = tempfile.mkdtemp(prefix="icx-0507-")
    driver = os.path.join(work, "driver.lua")
    with open(driver, "w") as f:
        f.write(DRIVER)
    procs = [subprocess.Popen([ICX, "lua", driver, pg.uri(schema="conc"), str(w), "25"], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for w in (1, 2, 3, 4)]
    outs = [p.communicate(timeout=300) for p in procs]
    rcs = [p.returncode for p in procs]
    t.is_(rcs, [0, 0, 0, 0], "four concurrent writers of one table all exit 0")
    for o in outs:
        if o[1]:
            t.diag(o[1].decode("utf-8", "replace")[-1500:])
    kinds = {f: k for f, (c, k) in landed_pg.columns(con, "conc", "shared").items()}
    t.is_((kinds["w1"], kinds["w2"], kinds["w3"], kinds["w4"], kinds["mixed"]),
          ("bigint", "text", "double", "boolean", "json"),
          "each worker's own field keeps its kind; the shared one widened to json")
    cur.execute("select count(*), count(distinct id) from conc.shared")
    t.is_(cur.fetchone(), (97, 97), "one row per key")
    cur.execute("select mixed::text, n, w1, w2, w3, w4 from conc.shared")
    ok = True
    for mixed, n, *ws_ in cur.fetchall():
        vals = [v for v in ws_ if v is not None]
        if len(vals) != 1 or json.loads(mixed) != vals[0] or type(json.loads(mixed)) is not type(vals[0]):
            ok = False
            t.diag("row mixed=%r w=%r" % (mixed, ws_))
            break
    t.ok(ok, "every row is one worker's whole record: its own field and the mixed one agree")
    shutil.rmtree(work, ignore_errors=True)
    con.close()

t.done_testing()
