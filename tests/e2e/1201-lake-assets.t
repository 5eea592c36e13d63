#!/usr/bin/python3
"""The lake route against the simulator: every asset into DuckDB
(duckdb:FILE) and into Parquet files (parquet:DIR), exact after a first
load, after an incremental run over mutated and new records, and after a
replace run, read back through DuckDB (tests/e2e/lua/duckread.lua: Python
has no DuckDB module) by the kinds landed_pg judges PostgreSQL's by.
Parquet is read through its latest-per-key view; its manifests list every
file with its rows."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ALL_ASSETS  # noqa: E402
from simctl import Sim  # noqa: E402
import dest_drivers  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

KEYS = {"data_attributes": ("model", "full_name"),
        "contact_tags": ("contact_id", "tag_id"),
        "contact_companies": ("contact_id", "company_id"),
        "conversation_part_counts": ("conversation_id",)}


def check_all(kind, path, sim, when):
    for asset in ALL_ASSETS:
        if asset == "conversation_parts":
            continue
        dest_drivers.compare_lake(t, kind, path, asset, sim.dump(asset), KEYS.get(asset, ("id",)),
                                  name="%s %s %s" % (kind, asset, when))
    shown, counts = landed.conversation_parts_truth(sim)
    dest_drivers.compare_lake(t, kind, path, "conversation_parts", shown, name="%s parts %s" % (kind, when))
    dest_drivers.compare_lake(t, kind, path, "conversation_part_counts", counts, ("conversation_id",),
                              name="%s part counts %s" % (kind, when))


with Sim(contacts=300, companies=60, conversations=30, tickets=20, articles=30, seed=12) as sim, \
        Workspace(sim) as ws:
    targets = [("duckdb", os.path.join(ws.dir, "lake.duckdb")), ("parquet", os.path.join(ws.dir, "lake"))]
    for kind, path in targets:
        uri = "%s:%s" % (kind, path)
        r = ws.run(*ALL_ASSETS, dest=uri)
        t.is_(r.rc, 0, "%s: a first load of every asset exits 0" % kind)
        check_all(kind, path, sim, "first load")

    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 25})
    sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 5})
    for asset, n in (("companies", 5), ("conversations", 4), ("tickets", 3), ("articles", 3)):
        sim.control("POST", "/_sim/mutate", {"asset": asset, "count": n})
    for kind, path in targets:
        uri = "%s:%s" % (kind, path)
        r = ws.run(*ALL_ASSETS, dest=uri)
        t.is_(r.rc, 0, "%s: an incremental run exits 0" % kind)
        check_all(kind, path, sim, "incremental")
        # tags, segments, teams, admins and data_attributes are replace
        # assets: one more run replaces them whole.
        r = ws.run("tags", "teams", "admins", dest=uri)
        t.is_(r.rc, 0, "%s: a replace run exits 0" % kind)
        for asset in ("tags", "teams", "admins"):
            dest_drivers.compare_lake(t, kind, path, asset, sim.dump(asset), name="%s %s replaced" % (kind, asset))

    path = targets[1][1]
    manifests = sorted(os.listdir(os.path.join(path, "_icx", "manifests")))
    t.ok(len(manifests) >= 2, "parquet: one manifest per publish (%d)" % len(manifests))
    listed, on_disk = set(), set()
    for m in manifests:
        with open(os.path.join(path, "_icx", "manifests", m)) as f:
            doc = json.load(f)
        t.ok(doc["load_id"] and doc["loaded_at"] and all(x["rows"] > 0 and x["schema"] for x in doc["files"]),
             "parquet: manifest %s names its load, and each file's rows and schema" % m)
        listed.update(x["key"] for x in doc["files"])
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".parquet"):
                on_disk.add(os.path.relpath(os.path.join(root, f), path))
    t.ok(on_disk <= listed, "parquet: every file on disk is listed in a manifest")
    with open(os.path.join(path, "_icx", "tables", "tags.json")) as f:
        cur = json.load(f)
    t.ok(cur["mode"] == "replace" and all(k in on_disk for k in cur["files"]),
         "parquet: the tags manifest names the current files, all present")
    t.ok(not [f for f in on_disk if f.startswith("tags/") and f not in cur["files"]],
         "parquet: no earlier load of a replace table is left")

t.done_testing()
