#!/usr/bin/python3
"""The README's scheduler recipes, taken from its text and run the way each
scheduler runs them, against the simulator (tests/e2e/lib/recipes.py maps
the host paths they name into a temporary root):

- cron: the crontab line is one line (no `\\` continuation), split into its
  five time fields and its command, and the command run by /bin/sh with
  cron's environment (HOME, LOGNAME, SHELL, PATH=/usr/bin:/bin, nothing
  else) in the home directory;
- Airflow: the DAG file compiles and, with the Airflow names it imports
  standing in, declares one BashOperator whose templated command runs by
  bash in a new temporary directory with the worker's environment plus env;
- Dagster: the asset compiles and runs with Dagster's names standing in;
  its metadata holds each asset's rows, and a run that writes no summary
  raises Failure instead of crashing;
- Kubernetes: the CronJob and the Indexed Job parse (python3-yaml); their
  container's args, with $(VAR) expanded from the env they set, run in a
  fresh directory with only that env (and the image's PATH and HOME); the
  Indexed Job once per completion index, its pods together pulling every
  workspace exactly once.

Each must name the config file and a deadline."""
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import recipes  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402
import yaml  # noqa: E402

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def count(db, table):
    con = sqlite3.connect(db)
    try:
        return con.execute("select count(*) from %s" % table).fetchone()[0]
    finally:
        con.close()


def fresh_root(sim, name):
    base = tempfile.mkdtemp(prefix="icx-recipe-%s-" % name)
    root = recipes.Root(base, icxtest.ICX)
    root.config(sim)
    with open(root.path("/etc/icx/token"), "w") as f:
        f.write(sim.token + "\n")
    return root


with Sim(contacts=120, companies=20, conversations=30, seed=24) as sim:
    n_contacts = len(sim.dump("contacts"))

    # ------------------------------------------------------------- cron
    text = recipes.block("cron")
    lines = [x for x in text.splitlines() if x.strip() and not x.startswith("#")]
    t.is_(len(lines), 1, "the crontab entry is one line")
    t.ok(not text.rstrip().endswith("\\") and "\\\n" not in text, "no backslash continuation")
    t.ok("%" not in lines[0], "no unescaped % (cron turns it into a newline)")
    fields = lines[0].split(None, 5)
    t.is_(len(fields), 6, "five time fields and a command")
    cmd = fields[5]
    t.ok("--config /etc/icx/connections.yml" in cmd, "the config path is explicit")
    t.ok(re.search(r"\btimeout \d+m\b", cmd) is not None, "a deadline (timeout)")
    root = fresh_root(sim, "cron")
    home = root.path("/home/icx")
    env = {"HOME": home, "LOGNAME": "icx", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    p = subprocess.run(["/bin/sh", "-c", root.map(cmd)], cwd=home, env=env, capture_output=True, text=True,
                       timeout=600)
    t.is_(p.returncode, 0, "the cron command exits 0 under cron's environment")
    logf = root.path("/var/log/icx.log")
    log_text = open(logf).read() if os.path.exists(logf) else ""
    if p.returncode:
        t.diag(p.stderr[-2000:] + log_text[-2000:])
    t.ok(log_text and all(json.loads(x)["event"] for x in log_text.splitlines()), "the log is JSON lines")
    with open(root.path("/srv/icx/last.json")) as f:
        summary = json.load(f)
    t.is_(summary["status"], "ok", "the summary says ok")
    t.is_(count(root.path("/srv/icx/intercom.db"), "contacts"), n_contacts, "every contact landed")
    shutil.rmtree(root.base, ignore_errors=True)

    # ------------------------------------------------------------ Airflow
    text = recipes.block("airflow")
    code = compile(text, "README.md:airflow", "exec")
    t.ok(code is not None, "the Airflow DAG compiles")
    made = []

    class DAG:
        def __init__(self, dag_id, **kw):
            self.dag_id, self.kw = dag_id, kw

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    class BashOperator:
        def __init__(self, **kw):
            made.append(kw)

    fake = {"airflow": types.ModuleType("airflow"), "airflow.operators": types.ModuleType("airflow.operators"),
            "airflow.operators.bash": types.ModuleType("airflow.operators.bash")}
    fake["airflow"].DAG = DAG
    fake["airflow.operators.bash"].BashOperator = BashOperator
    saved = {k: sys.modules.get(k) for k in fake}
    sys.modules.update(fake)
    try:
        exec(code, {"__name__": "dag"})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    t.is_(len(made), 1, "the DAG declares one BashOperator")
    op = made[0] if made else {}
    t.ok("execution_timeout" in op, "a deadline (execution_timeout)")
    t.ok("--config /etc/icx/connections.yml" in op.get("bash_command", ""), "the config path is explicit")
    root = fresh_root(sim, "airflow")
    variables = {"intercom_token": sim.token, "icx_dest": root.path("/srv/icx/intercom.db")}

    def render(s):
        return re.sub(r"\{\{\s*var\.value\.(\w+)\s*\}\}", lambda m: variables[m.group(1)], s)

    worker_env = {"PATH": "/usr/bin:/bin", "HOME": root.path("/home/icx"), "AIRFLOW_HOME": root.path("/home/icx")}
    env = dict(worker_env) if op.get("append_env") else {}
    env.update({k: render(v) for k, v in op.get("env", {}).items()})
    cwd = tempfile.mkdtemp(prefix="airflowtmp", dir=root.base)
    p = subprocess.run(["bash", "-c", root.map(render(op.get("bash_command", "false")))], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    t.is_(p.returncode, 0, "the BashOperator command exits 0 from a temporary directory")
    if p.returncode:
        t.diag(p.stderr[-2000:])
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    t.is_(json.loads(last).get("status"), "ok", "the last stdout line (XCom) is the summary")
    t.is_(count(variables["icx_dest"], "contacts"), n_contacts, "every contact landed")
    t.is_(os.listdir(cwd), [], "nothing was written in the task's temporary directory")
    shutil.rmtree(root.base, ignore_errors=True)

    # ------------------------------------------------------------ Dagster
    text = recipes.block("dagster")

    class Failure(Exception):
        pass

    class Context:
        def __init__(self):
            self.metadata = {}

        def add_output_metadata(self, m):
            self.metadata.update(m)

    def run_dagster(root, icx_path):
        """The asset's function as Dagster calls it: in-process, in the
        code location's directory, with the process's environment."""
        mod = types.ModuleType("dagster")
        mod.Failure, mod.asset = Failure, (lambda fn: fn)
        saved = sys.modules.get("dagster")
        sys.modules["dagster"] = mod
        ns = {"__name__": "defs"}
        try:
            exec(compile(root.map(text).replace(icxtest.ICX, icx_path), "README.md:dagster", "exec"), ns)
        finally:
            if saved is None:
                sys.modules.pop("dagster", None)
            else:
                sys.modules["dagster"] = saved
        ctx = Context()
        old_env, old_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": root.path("/home/icx"),
                           "INTERCOM_ACCESS_TOKEN": sim.token, "ICX_DEST": root.path("/srv/icx/intercom.db")})
        os.chdir(root.path("/home/icx"))
        # icx's stderr goes where Dagster's compute log would be, not into TAP.
        saved_err = os.dup(2)
        with open(root.path("/var/log/dagster.log"), "w") as log:
            os.dup2(log.fileno(), 2)
        try:
            ns["intercom"](ctx)
            return ctx, None
        except Exception as e:  # noqa: BLE001 - what the asset raised is the result
            return ctx, e
        finally:
            os.dup2(saved_err, 2)
            os.close(saved_err)
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)

    t.ok(compile(text, "README.md:dagster", "exec") is not None, "the Dagster asset compiles")
    t.ok("--config" in text and "/etc/icx/connections.yml" in text, "the config path is explicit")
    t.ok("timeout" in text, "a deadline (timeout)")
    root = fresh_root(sim, "dagster")
    ctx, exc = run_dagster(root, icxtest.ICX)
    t.ok(exc is None, "the asset succeeds: %r" % (exc,))
    t.is_(ctx.metadata.get("contacts"), n_contacts, "the metadata holds the contacts' rows")
    t.is_(count(root.path("/srv/icx/intercom.db"), "contacts"), n_contacts, "every contact landed")
    ctx, exc = run_dagster(root, "/bin/false")
    t.ok(isinstance(exc, Failure), "no summary written: the asset raises Failure, not %r" % (exc,))
    t.ok(exc is not None and "exited 1" in str(exc), "naming the exit code: %s" % exc)
    shutil.rmtree(root.base, ignore_errors=True)

    # --------------------------------------------------------- Kubernetes
    def run_container(root, container, secrets, extra_env=None):
        """The container's command as the kubelet runs it: the image's entry
        point (icx) with args, $(VAR) expanded from the container's env,
        that env alone beside the image's PATH and HOME."""
        env = {"PATH": IMAGE_PATH, "HOME": root.path("/home/icx"), "HOSTNAME": "icx-pod"}
        env.update(extra_env or {})
        for ref in container.get("envFrom", []):
            env.update(secrets[ref["secretRef"]["name"]])
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = secrets[ref["key"]]
        args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), root.map(a))
                for a in container["args"]]
        return subprocess.run([icxtest.ICX] + args, cwd=root.path("/home/icx"), env=env, capture_output=True,
                              text=True, timeout=600)

    text = recipes.block("k8s-cronjob")
    doc = yaml.safe_load(text)
    t.is_(doc.get("kind"), "CronJob", "the CronJob parses")
    job = doc["spec"]["jobTemplate"]["spec"]
    t.is_(doc["spec"].get("concurrencyPolicy"), "Forbid", "concurrencyPolicy: Forbid")
    t.ok(isinstance(job.get("activeDeadlineSeconds"), int), "a deadline (activeDeadlineSeconds)")
    pod = job["template"]["spec"]
    c = pod["containers"][0]
    t.ok("--config" in c["args"], "the config path is explicit")
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    cfg = c["args"][c["args"].index("--config") + 1]
    t.ok(os.path.dirname(cfg) in mounts, "the config file is in a mounted volume (%s)" % cfg)
    root = fresh_root(sim, "k8s")
    secrets = {"intercom-token": sim.token, "dest": root.path("/srv/icx/intercom.db")}
    p = run_container(root, c, secrets)
    t.is_(p.returncode, 0, "the container's command exits 0")
    if p.returncode:
        t.diag(p.stderr[-2000:])
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    t.is_(json.loads(last).get("status"), "ok", "the last stdout line is the summary")
    t.is_(count(secrets["dest"], "contacts"), n_contacts, "every contact landed")
    shutil.rmtree(root.base, ignore_errors=True)

    # The Indexed Job: five workspaces (one simulator behind five
    # connections, each with its own token variable and destination), one
    # pod per index.
    text = recipes.block("k8s-indexed-job")
    doc = yaml.safe_load(text)
    t.is_((doc.get("kind"), doc["spec"].get("completionMode")), ("Job", "Indexed"), "the Indexed Job parses")
    spec = doc["spec"]
    t.ok(isinstance(spec.get("activeDeadlineSeconds"), int), "a deadline (activeDeadlineSeconds)")
    c = spec["template"]["spec"]["containers"][0]
    shard_count = {e["name"]: e.get("value") for e in c["env"]}.get("ICX_SHARD_COUNT")
    t.is_(shard_count, str(spec["completions"]), "ICX_SHARD_COUNT is the Job's completions")
    t.ok("--config" in c["args"] and "--all-connections" in c["args"], "explicit config, every connection")
    names = ["acme", "globex", "hooli", "initech", "umbrella"]
    root = fresh_root(sim, "k8s-indexed")
    lines = ["connections:", "  intercom:"]
    for n in names:
        lines += ["    - name: %s" % n, "      access_token: \"{{ env_var('INTERCOM_TOKEN_%s') }}\"" % n.upper(),
                  "      base_url: %s" % sim.url]
    with open(root.path("/etc/icx/connections.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    secrets = {"dest": root.path("/srv/icx/{connection}.db"),
               "icx-tokens": {"INTERCOM_TOKEN_%s" % n.upper(): sim.token for n in names}}
    pulled = []
    for i in range(spec["completions"]):
        p = run_container(root, c, secrets, {"JOB_COMPLETION_INDEX": str(i)})
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
        s = json.loads(last)
        got = [w["connection"] for w in s.get("workspaces", [])]
        t.ok(p.returncode == 0 and s.get("status") == "ok", "pod %d exits 0, pulling %s" % (i, got))
        if p.returncode:
            t.diag(p.stderr[-2000:])
        pulled += got
    t.is_(sorted(pulled), names, "the pods pull every workspace exactly once")
    t.is_([count(root.path("/srv/icx/%s.db" % n), "contacts") for n in names], [n_contacts] * len(names),
          "each workspace's contacts landed in its own destination")
    shutil.rmtree(root.base, ignore_errors=True)

t.done_testing()
