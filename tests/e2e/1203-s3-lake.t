#!/usr/bin/python3
"""The lake route on S3 (s3://BUCKET/PREFIX against a moto_server of the
test's own): every asset exact after a first load, an incremental run
over mutated and new records and a replace run, read back through DuckDB
from a mirror of the bucket (as 1201 reads parquet:DIR). The bucket is the
whole destination: the local cache (staging and a copy of the state) is
deleted between runs and nothing is lost. Then runs SIGKILLed at random
moments and a rerun leave the latest-per-key view exact; the credentials,
given in AWS_* variables or in the connection's destination:, appear in no
output, even with -v."""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ALL_ASSETS  # noqa: E402
from icxtest import Case, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import dest_drivers  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

KEYS = {"data_attributes": ("model", "full_name"),
        "contact_tags": ("contact_id", "tag_id"),
        "contact_companies": ("contact_id", "company_id"),
        "conversation_part_counts": ("conversation_id",)}
rng = random.Random(int(os.environ.get("ICX_KILL_SEED", "1203")))


def check_all(mirror, sim, when):
    for asset in ALL_ASSETS:
        if asset == "conversation_parts":
            continue
        dest_drivers.compare_lake(t, "parquet", mirror, asset, sim.dump(asset), KEYS.get(asset, ("id",)),
                                  name="s3 %s %s" % (asset, when))
    shown, counts = landed.conversation_parts_truth(sim)
    dest_drivers.compare_lake(t, "parquet", mirror, "conversation_parts", shown, name="s3 parts %s" % when)
    dest_drivers.compare_lake(t, "parquet", mirror, "conversation_part_counts", counts, ("conversation_id",),
                              name="s3 part counts %s" % when)


def killed_run(ws, uri, assets, delay):
    """icx run, SIGKILLed after delay seconds (or finished before)."""
    env = dict(os.environ, ICX_TEST_TOKEN=ws.token)
    env.pop("ICX_CONFIG", None)
    p = subprocess.Popen([ICX, "run", "--config", ws.config, "--dest", uri] + [ws.script(a) for a in assets],
                         cwd=ws.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return True
    return False


with Sim(contacts=300, companies=60, conversations=30, tickets=20, articles=30, seed=12) as sim, \
        Workspace(sim) as ws:
    cache = os.path.join(ws.dir, "cache")
    with dest_drivers.Moto(cache=cache) as s3:
        secret = os.environ["AWS_SECRET_ACCESS_KEY"]
        uri = s3.uri("intercom")
        mirror = os.path.join(ws.dir, "mirror")

        r = ws.run(*ALL_ASSETS, "-v", dest=uri)
        t.is_(r.rc, 0, "a first load of every asset into %s exits 0" % uri)
        t.ok(secret not in r.out + r.err, "the secret access key is in no output (-v)")
        t.ok("s3 PUT s3://lake/intercom/" in r.err, "-v shows the uploads, by bucket and key")
        keys = s3.keys("intercom")
        t.ok("_icx/state.duckdb" in keys and any(k.startswith("contacts/") for k in keys),
             "the bucket holds the files and the state (%d objects)" % len(keys))
        t.ok(not [k for k in keys if k.startswith("_icx/locks/")], "no run lock object is left once the run ends")
        check_all(s3.mirror("intercom", mirror), sim, "first load")

        # The cache is safe to lose: the incremental run reads its cursors from the bucket.
        shutil.rmtree(cache)
        sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 25})
        sim.control("POST", "/_sim/create", {"asset": "contacts", "count": 5})
        for asset, n in (("companies", 5), ("conversations", 4), ("tickets", 3), ("articles", 3)):
            sim.control("POST", "/_sim/mutate", {"asset": asset, "count": n})
        r = ws.run(*ALL_ASSETS, dest=uri)
        t.is_(r.rc, 0, "an incremental run after the cache was deleted exits 0")
        check_all(s3.mirror("intercom", mirror), sim, "incremental")
        r = Case.run(ws, [ICX, "status", "--config", ws.config, "--dest", uri])
        t.ok(r.rc == 0 and "contacts" in r.out, "icx status reads the state from the bucket")

        r = ws.run("tags", "teams", "admins", dest=uri)
        t.is_(r.rc, 0, "a replace run exits 0")
        s3.mirror("intercom", mirror)
        for asset in ("tags", "teams", "admins"):
            dest_drivers.compare_lake(t, "parquet", mirror, asset, sim.dump(asset), name="s3 %s replaced" % asset)
        with open(os.path.join(mirror, "_icx", "tables", "tags.json")) as f:
            cur = json.load(f)
        tag_files = [k for k in s3.keys("intercom") if k.startswith("tags/")]
        t.ok(sorted(cur["files"]) == sorted(tag_files), "the tags manifest names the only tags files in the bucket")

        # The place and credentials in the connection's destination: (a
        # template over variables of other names), no AWS_* variable: the
        # secret is in no output either.
        cfg = os.path.join(ws.dir, "dest.yml")
        with open(ws.config) as f, open(cfg, "w") as g:
            g.write(f.read() + "      destination: \"s3://lake/cfg?endpoint_url=%s&access_key_id=AKIDCFG&"
                    "secret_access_key={{ env_var('LAKE_SECRET') }}\"\n" % s3.endpoint)
        env = {k: "" for k in os.environ if k.startswith("AWS_")}
        env["LAKE_SECRET"] = "cfg-secret-Never-Shown-42"
        r = Case.run(ws, [ICX, "run", "-v", "--config", cfg, ws.script("tags")], env=env)
        t.is_(r.rc, 0, "credentials and endpoint from the connection's destination: alone")
        t.ok("cfg-secret-Never-Shown-42" not in r.out + r.err, "that secret is in no output (-v)")
        t.ok("tags/" in " ".join(s3.keys("cfg")), "the files went to the bucket it names")

        # Killed at random moments (mid-page, mid-upload, between a file and
        # the state), then run to the end: the latest-per-key view is exact.
        kuri = s3.uri("killed", rows=150)
        kassets = ["contacts", "conversations"]
        for phase in ("first load", "incremental"):
            kills = 0
            for _ in range(3):
                kills += killed_run(ws, kuri, kassets, rng.uniform(0.5, 3.0))
            # A quiet machine may finish a run before its kill: sooner
            # ones until one is cut (an incremental run takes well under 1 s).
            for _ in range(10):
                if kills:
                    break
                kills += killed_run(ws, kuri, kassets, rng.uniform(0.05, 0.5))
            t.ok(kills >= 1, "%s: at least one run was killed mid-load (%d)" % (phase, kills))
            r = ws.run(*kassets, dest=kuri)
            t.is_(r.rc, 0, "%s: the run after the kills exits 0" % phase)
            s3.mirror("killed", mirror)
            for asset in kassets:
                dest_drivers.compare_lake(t, "parquet", mirror, asset, sim.dump(asset),
                                          name="s3 %s after kills (%s)" % (asset, phase))
            sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 40})
            sim.control("POST", "/_sim/mutate", {"asset": "conversations", "count": 5})
        left = [os.path.basename(f) for f in glob.glob(os.path.join(cache, "icx", "s3-*", "*"))
                if os.path.basename(f).startswith(("staging-", "state-", "out-"))]
        t.is_(left, [], "no staging, state copy or Parquet file of a killed run is left in the cache once a run ends")

t.done_testing()
