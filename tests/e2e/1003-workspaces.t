#!/usr/bin/python3
"""Several workspaces in one process: `icx run --connection A --connection B`
and `--all-connections`, each workspace (its own simulator, token and rate
budget) into a destination of its own ({connection} in --dest).

- every workspace lands exactly what its simulator holds, value by value;
- JSON events and the summary name the workspace;
- a workspace whose asset fails (5xx past max_attempts) and one whose token
  is refused leave the others exact; the exit code is the worst (2);
- --dest without {connection} is refused before any request (exit 2);
- budgets are independent: a workspace waiting on its server's budget
  (5 requests per 10 s) does not slow another's;
- shards: --shard I/3 for I = 0..2 take every connection exactly once, and
  JOB_COMPLETION_INDEX with ICX_SHARD_COUNT means the same as --shard;
- SIGTERM stops every workspace: exit 143, each interrupted."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402
from icxtest import events  # noqa: E402
from simctl import Sim  # noqa: E402


def write_config(case, conns, extra=""):
    """conns: [(name, sim, token_env)]."""
    lines = ["connections:", "  intercom:"]
    for name, sim, env in conns:
        lines += ["    - name: %s" % name, "      access_token: \"{{ env_var('%s') }}\"" % env,
                  "      base_url: %s" % sim.url] + (["      " + x for x in extra.split("\n") if x] if extra else [])
    with open(case.config, "w") as f:
        f.write("\n".join(lines) + "\n")


with Sim(token="tok-a", contacts=180, companies=30, seed=31, workspace_id="wsaaaaaa") as a, \
        Sim(token="tok-b", contacts=95, companies=12, seed=32, workspace_id="wsbbbbbb") as b, \
        Sim(token="tok-c", contacts=40, seed=33, workspace_id="wscccccc") as c, \
        icxtest.Case("1003-workspaces", a) as case:
    env = {"TOK_A": "tok-a", "TOK_B": "tok-b", "TOK_C": "tok-c", "TOK_D": "wrong-token"}
    write_config(case, [("alpha", a, "TOK_A"), ("beta", b, "TOK_B"), ("gamma", c, "TOK_C"), ("delta", c, "TOK_D")],
                 "max_attempts: 2\nretry_base: 0.01\nretry_cap: 0.02")
    dest = os.path.join(case.dir, "ws-{connection}.db")
    db = lambda n: os.path.join(case.dir, "ws-%s.db" % n)  # noqa: E731

    r = case.run([icxtest.ICX, "run", "--config", case.config, "--connection", "alpha", "--connection", "beta",
                  "--dest", os.path.join(case.dir, "one.db"), "contacts"], env=env)
    t.is_(r.rc, 2, "several workspaces into one --dest (no {connection}) exit 2")
    t.ok("{connection}" in r.err, "the message says to use {connection}")
    t.ok(not os.path.exists(os.path.join(case.dir, "one.db")), "nothing was created")
    t.is_(len(a.request_log()) + len(b.request_log()), 0, "and no request was sent")

    r = case.run([icxtest.ICX, "run", "--config", case.config, "--connection", "alpha", "--connection", "beta",
                  "--dest", dest, "--log-format", "json", "--summary-json", "-", "contacts", "companies", "tags"],
                 env=env)
    t.is_(r.rc, 0, "two workspaces at once exit 0")
    if r.rc:
        t.diag(r.err[-3000:])
    for name, sim in (("alpha", a), ("beta", b)):
        for table in ("contacts", "companies", "tags"):
            landed.compare(t, db(name), table, sim.dump(table), name="%s: %s" % (name, table))
    s = r.json()
    t.is_(s["status"], "ok", "the summary says ok")
    t.is_([w["connection"] for w in s["workspaces"]], ["alpha", "beta"], "the summary names each workspace")
    t.is_(sorted((x["connection"], x["asset"]) for x in s["assets"]),
          sorted((n, x) for n in ("alpha", "beta") for x in ("contacts", "companies", "tags")),
          "each asset of the summary names its workspace")
    ends = [e for e in events(r.err) if e.get("event") == "asset_end"]
    t.is_(sorted((e.get("connection"), e["asset"]) for e in ends), sorted((x["connection"], x["asset"])
          for x in s["assets"]), "each asset_end event names its workspace")
    t.ok(all(e.get("connection") for e in events(r.err) if e.get("event") in ("page", "asset_start", "run_start",
                                                                           "run_end")),
         "page, asset_start, run_start and run_end events name the workspace")

    # One workspace's asset fails, one's token is refused: the others land.
    c.fault(path="/tags", status=500, count=100)
    os.remove(db("alpha"))
    os.remove(db("beta"))
    summary = os.path.join(case.dir, "failures.json")
    r = case.run([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--dest", dest,
                  "--log-format", "json", "--summary-json", summary, "contacts", "tags"], env=env)
    t.is_(r.rc, 2, "a refused token in one workspace: the exit code is the worst (2)")
    with open(summary) as f:
        s = json.load(f)
    retries = [e for e in events(r.err) if e.get("event") == "retry"]
    t.ok(retries and all(e.get("connection") == "gamma" and e.get("asset") == "tags" for e in retries),
         "retry events name the workspace whose server failed (gamma): %s"
         % sorted({(e.get("connection"), e.get("asset")) for e in retries}))
    by = {w["connection"]: w for w in s["workspaces"]}
    t.is_(sorted(by), ["alpha", "beta", "delta", "gamma"], "--all-connections ran every workspace")
    t.is_((by["alpha"]["status"], by["beta"]["status"]), ("ok", "ok"), "alpha and beta ok")
    t.is_((by["gamma"]["status"], by["gamma"]["exit_code"]), ("partial", 1), "gamma partial, exit 1")
    t.is_((by["delta"]["status"], by["delta"]["exit_code"]), ("error", 2), "delta refused, exit 2")
    t.is_(s["status"], "partial", "the run is partial")
    t.is_(sorted(s["failed"]), ["delta", "gamma/tags"], "failed names the workspace and asset")
    for name, sim in (("alpha", a), ("beta", b)):
        for table in ("contacts", "tags"):
            landed.compare(t, db(name), table, sim.dump(table), name="beside the failures, %s: %s" % (name, table))
    landed.compare(t, db("gamma"), "contacts", c.dump("contacts"), name="gamma: contacts, beside its failed tags")
    t.ok(not os.path.exists(db("delta")), "the refused workspace's destination was not created")
    c.control("POST", "/_sim/clear_faults", {})

    # Shards: 0..2 of 3 take each connection once; the Indexed Job's
    # environment means the same.
    seen = []
    for i in range(3):
        r = case.run([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--shard", "%d/3" % i,
                      "--dest", os.path.join(case.dir, "sh-{connection}.db"), "--summary-json", "-", "tags"],
                     env=dict(env, TOK_D="tok-c"))
        got = [w["connection"] for w in r.json()["workspaces"]]
        t.ok(r.rc == 0 and r.json()["shard"] == "%d/3" % i, "shard %d/3 exits 0 and says so (%s)" % (i, got))
        seen += got
        e = case.run([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--dest",
                      os.path.join(case.dir, "sh-{connection}.db"), "--summary-json", "-", "tags"],
                     env=dict(env, TOK_D="tok-c", JOB_COMPLETION_INDEX=str(i), ICX_SHARD_COUNT="3"))
        t.is_([w["connection"] for w in e.json()["workspaces"]], got,
              "JOB_COMPLETION_INDEX=%d ICX_SHARD_COUNT=3 is shard %d/3" % (i, i))
    t.is_(sorted(seen), ["alpha", "beta", "delta", "gamma"], "shards 0..2 cover every connection exactly once")
    r = case.run([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--shard", "3/3",
                  "--dest", dest, "tags"], env=env)
    t.is_(r.rc, 2, "--shard 3/3 is refused")

# Independent budgets: alpha's server grants 5 requests per 10 s, beta's
# 166; icx follows each one's X-RateLimit headers in that workspace's own
# bucket, so alpha waiting on its budget does not slow beta. One bucket for
# both would hold beta to alpha's remaining requests.
with Sim(token="tok-a", contacts=1500, seed=41, rate=5, workspace_id="wsaaaaaa") as a, \
        Sim(token="tok-b", contacts=1500, seed=42, workspace_id="wsbbbbbb") as b, \
        icxtest.Case("1003-budgets", a) as case:
    env = {"TOK_A": "tok-a", "TOK_B": "tok-b"}
    write_config(case, [("alpha", a, "TOK_A"), ("beta", b, "TOK_B")])
    dest = os.path.join(case.dir, "b-{connection}.db")
    r = case.run([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--dest", dest,
                  "--log-format", "json", "--summary-json", "-", "contacts", "-j", "1"], env=env)
    t.is_(r.rc, 0, "both workspaces exit 0")
    waits = [e for e in events(r.err) if e.get("event") == "rate_wait"]
    # A wait is an event only when long (5 s or more), which alpha's split
    # waits are not always; any there is names alpha, never beta.
    t.ok(all(e.get("connection") == "alpha" for e in waits),
         "rate_wait events name the waiting workspace, alpha: %s"
         % sorted({e.get("connection") for e in waits}))
    secs = {w["connection"]: w["seconds"] for w in r.json()["workspaces"]}
    t.ok(secs["alpha"] > 9, "alpha (11 requests, 5 per 10 s) waits on its budget: %.1f s" % secs["alpha"])
    t.ok(secs["beta"] < 4, "beta, with a budget of its own, does not wait for alpha's: %.1f s" % secs["beta"])
    t.is_([x["status"] for sim in (a, b) for x in sim.request_log() if x["status"] == 429], [],
          "neither server answered 429")
    for name, sim in (("alpha", a), ("beta", b)):
        landed.compare(t, os.path.join(case.dir, "b-%s.db" % name), "contacts", sim.dump("contacts"),
                       name="%s: contacts" % name)

# SIGTERM stops every workspace between pages, as it stops one run.
with Sim(token="tok-a", contacts=1500, seed=51, rate=5, workspace_id="wsaaaaaa") as a, \
        Sim(token="tok-b", contacts=1500, seed=52, rate=5, workspace_id="wsbbbbbb") as b, \
        icxtest.Case("1003-signal", a) as case:
    env = dict(os.environ, TOK_A="tok-a", TOK_B="tok-b")
    write_config(case, [("alpha", a, "TOK_A"), ("beta", b, "TOK_B")])
    summary = os.path.join(case.dir, "summary.json")
    p = subprocess.Popen([icxtest.ICX, "run", "--config", case.config, "--all-connections", "--dest",
                          os.path.join(case.dir, "s-{connection}.db"), "--summary-json", summary, "contacts"],
                         cwd=case.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    t.is_(p.wait(timeout=120), 143, "SIGTERM: exit 143")
    with open(summary) as f:
        s = json.load(f)
    t.is_((s["status"], [w["status"] for w in s["workspaces"]]), ("interrupted", ["interrupted", "interrupted"]),
          "the summary and each workspace say interrupted")
    for name in ("alpha", "beta"):
        con = sqlite3.connect(os.path.join(case.dir, "s-%s.db" % name))
        runs = con.execute("select status from _icx_runs").fetchall()
        con.close()
        t.is_(runs, [("interrupted",)], "%s: its run row says interrupted" % name)

t.done_testing()
