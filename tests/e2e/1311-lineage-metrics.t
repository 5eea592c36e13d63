#!/usr/bin/python3
"""Lineage and metrics on SQLite: a destination whose _icx_runs has an old
shape is upgraded in place (its rows kept); every JSON event, the summary
and each new _icx_runs row carry the run id and icx's version; columns a
run adds to an existing table are listed in the summary, an event and
_icx_runs; --metrics-file writes the run's figures in the Prometheus text
format (parsed strictly), renamed into place, also for a run that fails
and one that fails before any asset."""
import json
import os
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ROOT, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import promtext  # noqa: E402
import tap as t  # noqa: E402
from icxtest import query  # noqa: E402

with open(os.path.join(ROOT, "VERSION")) as f:
    VERSION = f.read().strip()

PLAIN = r'''
local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "labels", primary_key = "id", mode = "merge",
  pages = intercom.get("/tags", { list_key = "data" }) }
'''
# The same asset once Intercom's records grew two fields.
GROWN = r'''
local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset { name = "labels", primary_key = "id", mode = "merge",
  pages = intercom.get("/tags", { list_key = "data" }),
  transform = function(r) r.colour = "red"; r.archived = false; return r end }
'''

# _icx_runs as the first release made it.
OLD = """
CREATE TABLE _icx_runs (id INTEGER PRIMARY KEY, connection TEXT NOT NULL, asset TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, rows INTEGER, requests INTEGER,
  retries INTEGER, rate_limited INTEGER, error TEXT);
INSERT INTO _icx_runs (connection, asset, started_at, finished_at, status, rows, requests, retries, rate_limited)
  VALUES ('sim', 'labels', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:01.000Z', 'ok', 3, 1, 0, 0);
"""


def metrics(path):
    with open(path) as f:
        text = f.read()
    try:
        return promtext.parse(text)
    except ValueError as e:
        t.ok(False, "the metrics file parses: %s\n%s" % (e, text))
        return {}


def sample(fams, name, **labels):
    for lab, v in fams.get(name, {}).get("samples", []):
        if all(lab.get(k) == w for k, w in labels.items()):
            return v
    return None


with Sim(contacts=20, seed=41) as sim, Workspace(sim) as ws:
    plain, grown = os.path.join(ws.dir, "plain.lua"), os.path.join(ws.dir, "grown.lua")
    for path, text in ((plain, PLAIN), (grown, GROWN)):
        with open(path, "w") as f:
            f.write(text)
    c = sqlite3.connect(ws.db)
    c.executescript(OLD)
    c.close()
    prom = os.path.join(ws.dir, "metrics", "icx.prom")
    os.mkdir(os.path.dirname(prom))
    summary_path = os.path.join(ws.dir, "s.json")

    t0 = time.time()
    r = ws.run(plain, "tags", "--log-format", "json", "--summary-json", summary_path, "--metrics-file", prom)
    t.is_(r.rc, 0, "the run into an old destination exits 0")
    cols = {row[1] for row in query(ws.db, "pragma table_info(_icx_runs)")}
    t.ok({"run_id", "icx_version", "columns_added"} <= cols, "_icx_runs gained the lineage columns")
    t.is_(query(ws.db, "select status, rows from _icx_runs where started_at like '2020%'"), [("ok", 3)],
          "the old row is kept")
    with open(summary_path) as f:
        s = json.load(f)
    run_id = s.get("run_id")
    t.ok(run_id and len(run_id) >= 16, "the summary has a run id: %r" % run_id)
    t.is_(s.get("icx_version"), VERSION, "and icx's version")
    events = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    t.ok(len(events) > 5, "JSON events (%d)" % len(events))
    t.is_([e for e in events if e.get("run_id") != run_id or e.get("icx_version") != VERSION], [],
          "every event carries the run id and the version")
    rows = query(ws.db, "select asset, run_id, icx_version from _icx_runs where started_at not like '2020%'")
    t.is_(sorted(rows), [("labels", run_id, VERSION), ("tags", run_id, VERSION)],
          "each new _icx_runs row carries them")
    by = {a["asset"]: a for a in s["assets"]}
    t.is_(by["labels"].get("columns_added"), {}, "a new table's columns are not news")

    fams = metrics(prom)
    t.is_(os.listdir(os.path.dirname(prom)), ["icx.prom"], "only the metrics file is left in its directory")
    t.ok(fams and all(f["type"] == "gauge" and f["help"] for f in fams.values()), "every family has HELP and TYPE")
    for name, key in (("icx_asset_rows", "rows"), ("icx_asset_requests", "requests"),
                      ("icx_asset_retries", "retries"), ("icx_asset_rate_limited", "rate_limited")):
        t.is_(sample(fams, name, connection="sim", asset="tags"), float(by["tags"][key]),
              "%s of tags is the summary's %s" % (name, key))
    t.is_(sample(fams, "icx_asset_rows", connection="sim", asset="labels"),
          float(query(ws.db, "select count(*) from labels")[0][0]), "rows of labels: what landed")
    t.ok(abs(sample(fams, "icx_asset_duration_seconds", connection="sim", asset="tags") - by["tags"]["seconds"])
         < 0.01, "duration of tags")
    t.is_(sample(fams, "icx_run_exit_code", connection="sim"), 0.0, "run exit code 0")
    t.is_(sample(fams, "icx_run_requests", connection="sim"), float(s["requests"]), "run requests")
    last = sample(fams, "icx_asset_last_success_timestamp_seconds", connection="sim", asset="tags")
    t.ok(last and t0 - 1 <= last <= time.time() + 1, "tags' last success is this run (%s)" % last)
    t.ok(sample(fams, "icx_run_last_success_timestamp_seconds", connection="sim"), "the run's last success")

    # The table grows two columns: said in the summary, an event, _icx_runs.
    r = ws.run(grown, "--log-format", "json", "--summary-json", summary_path)
    t.is_(r.rc, 0, "the grown asset lands")
    with open(summary_path) as f:
        s2 = json.load(f)
    t.ok(s2["run_id"] != run_id, "a new run id per run")
    t.is_(s2["assets"][0].get("columns_added"), {"labels": ["archived", "colour"]}, "the summary lists the new columns")
    ev = [json.loads(x) for x in r.err.splitlines() if '"columns_added"' in x]
    ev = [e for e in ev if e.get("event") == "columns_added"]
    t.is_([(e.get("asset"), e.get("table"), e.get("columns")) for e in ev], [("labels", "labels", ["archived", "colour"])],
          "one columns_added event")
    row = query(ws.db, "select columns_added from _icx_runs where run_id = ?", s2["run_id"])
    t.is_(row and json.loads(row[0][0]), {"labels": ["archived", "colour"]}, "_icx_runs.columns_added")
    r = ws.run(grown)
    t.ok(r.rc == 0 and "new column" not in r.err, "the next run adds none and says nothing")

    # A failing run still writes the file: exit 1, the last success kept.
    # Two runs reach /tags below: this one and the unwritable file's.
    sim.fault(path="/tags", kind="status", status=400, count=2)
    r = ws.run("tags", "--metrics-file", prom)
    t.is_(r.rc, 1, "the failing run exits 1")
    fams = metrics(prom)
    t.is_(sample(fams, "icx_run_exit_code", connection="sim"), 1.0, "metrics: exit code 1")
    t.is_(sample(fams, "icx_asset_success", connection="sim", asset="tags"), 0.0, "metrics: tags did not land")
    t.is_(sample(fams, "icx_asset_last_success_timestamp_seconds", connection="sim", asset="tags"), last,
          "metrics: tags' last success is still the first run's")

    # A run that fails before any asset (a rejected token): exit code only.
    r = ws.run("tags", "--metrics-file", prom, env={"ICX_TEST_TOKEN": "rejected"})
    t.is_(r.rc, 2, "a rejected token exits 2")
    fams = metrics(prom)
    t.is_(sample(fams, "icx_run_exit_code"), 2.0, "metrics: exit code 2")
    t.is_(sample(fams, "icx_run_success"), 0.0, "metrics: no success")
    r = ws.run("tags", "--metrics-file", os.path.join(ws.dir, "nodir", "x.prom"))
    t.is_(r.rc, 2, "an unwritable metrics file is a usage error")
    t.ok("--metrics-file: cannot write" in r.err, "said: " + r.err.strip()[-200:])

    # Several workspaces in one process: one series per connection.
    cfg2 = os.path.join(ws.dir, "two.yml")
    with open(cfg2, "w") as f:
        f.write("connections:\n  intercom:\n" + "".join(
            "    - name: %s\n      access_token: \"{{ env_var('ICX_TEST_TOKEN') }}\"\n      base_url: %s\n"
            % (n, sim.url) for n in ("east", "west")))
    r = Case.run(ws, [ICX, "run", "--config", cfg2, "--all-connections", "--dest",
                      os.path.join(ws.dir, "w-{connection}.db"), "--metrics-file", prom,
                      "--summary-json", summary_path, plain])
    t.is_(r.rc, 0, "two workspaces in one process exit 0")
    fams = metrics(prom)
    with open(summary_path) as f:
        s3 = json.load(f)
    for n in ("east", "west"):
        t.is_(sample(fams, "icx_run_exit_code", connection=n), 0.0, "metrics: %s's exit code" % n)
        t.is_(sample(fams, "icx_asset_rows", connection=n, asset="labels"),
              float(query(os.path.join(ws.dir, "w-%s.db" % n), "select count(*) from labels")[0][0]),
              "metrics: %s's rows" % n)
        rid = query(os.path.join(ws.dir, "w-%s.db" % n), "select distinct run_id from _icx_runs")
        t.is_(rid, [(s3["run_id"],)], "%s's run rows carry the one run id of the process" % n)

t.done_testing()
