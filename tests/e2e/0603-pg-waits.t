#!/usr/bin/python3
"""Issue 22, items 3, 7 and 8 on PostgreSQL, end to end through `icx run`.

A replace swap behind an open reader waits a bounded time per attempt and
says so, naming the reader's backend; a reader arriving during that wait is
not held behind the swap; once the reader ends the run lands. A run lock
held by the backend of an icx process that is gone (a SIGKILL while its
backend was busy, a pooler) is reclaimed; one held by a live session makes
exit 4 naming that backend, even before any run row exists (it used to say
"(another session)"). Fields named like system columns (xmin, ctid ...)
land, in NAME_2 columns, as on SQLite under their own names."""
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

SYSTEM = ("xmin", "xmax", "cmin", "cmax", "ctid", "tableoid")

with pgserver.PgServer() as pg, Sim(contacts=10, companies=3, seed=603) as sim, Workspace(sim) as ws:
    uri = pg.uri(schema="w")
    con = pg.connect()
    cur = con.cursor()

    r = ws.run("tags", dest=uri)
    t.is_(r.rc, 0, "a first replace run of tags")
    cur.execute('select count(*) from w.tags')
    n_tags = cur.fetchone()[0]
    t.ok(n_tags > 0, "tags landed")

    # A reader holds tags (an open transaction that read it) for 6 s.
    reader = pg.connect(application_name="slow-report")
    reader.autocommit = False
    rcur = reader.cursor()
    rcur.execute("select count(*) from w.tags")
    rcur.fetchone()
    env = dict(os.environ, ICX_TEST_TOKEN=sim.token)
    started = time.time()
    p = subprocess.Popen([ICX, "run", "--config", ws.config, "--dest", uri, ws.script("tags")], cwd=ws.dir,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # A second reader arriving while the swap waits: not queued behind it
    # for more than a lock attempt.
    time.sleep(3)
    late = pg.connect()
    lcur = late.cursor()
    lcur.execute("set statement_timeout = '8s'")  # main's swap queued it for as long as it waited
    t0 = time.time()
    try:
        lcur.execute("select count(*) from w.tags")
        lcur.fetchone()
    except Exception as exc:
        t.diag("the late reader: %s" % exc)
    late_wait = time.time() - t0
    t.ok(late_wait < 3.5, "a reader arriving during the swap's wait is served in %.1f s" % late_wait)
    late.close()
    time.sleep(3)
    reader.rollback()
    reader.close()
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    err = err.decode("utf-8", "replace")
    t.is_(p.returncode, 0, "the replace run lands once the reader has gone")
    t.ok(time.time() - started >= 5, "it waited for the reader")
    t.ok("waiting for its lock" in err and "slow-report" in err,
         "the wait is printed, naming the reader's backend")
    t.ok(err.count("waiting for its lock") <= 2, "one line per 10 s of waiting, not one per attempt")

    # A bounded wait: a reader that never lets go fails the asset.
    reader = pg.connect(application_name="stuck-report")
    reader.autocommit = False
    rcur = reader.cursor()
    rcur.execute("select count(*) from w.tags")
    rcur.fetchone()
    r = ws.run("tags", dest=uri, env={"ICX_PG_LOCK_WAIT_MAX": "4"}, timeout=60)
    t.is_(r.rc, 1, "a reader that never lets go: the asset fails (exit 1)")
    t.ok("gave up after waiting" in r.err and "stuck-report" in r.err, "the failure names the reader")
    reader.rollback()
    reader.close()
    cur.execute('select count(*) from w.tags')
    t.is_(cur.fetchone()[0], n_tags, "the old table is intact")

    # Run locks. The key is icx's: (schema, connection/asset).
    lock_sql = "select pg_advisory_lock(hashtext('icx-run:w'), hashtext('sim/tags'))"
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    orphan = pg.connect(application_name="icx pid %d on %s" % (dead.pid, host))
    ocur = orphan.cursor()
    ocur.execute(lock_sql)
    r = ws.run("tags", dest=uri)
    t.is_(r.rc, 0, "a run lock left by a dead icx's backend is reclaimed")
    t.ok("which is gone" in r.err, "the reclaim is said")
    try:
        ocur.execute("select 1")
        t.ok(False, "the orphaned backend was ended")
    except Exception:
        t.ok(True, "the orphaned backend was ended")

    live = pg.connect(application_name="psql")
    lcur = live.cursor()
    lcur.execute(lock_sql)
    r = ws.run("tags", dest=uri)
    t.is_(r.rc, 4, "a run lock held by a live session: exit 4")
    t.ok("PostgreSQL backend" in r.err and "'psql'" in r.err, "the message names the backend that holds it")
    t.ok("another session" not in r.err, "not '(another session)'")
    live.close()

    # System column names.
    script = os.path.join(ws.dir, "sys.lua")
    with open(script, "w") as f:
        f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
                'return icx.asset { name = "systags", primary_key = "id",\n'
                '  pages = intercom.get("/tags", { list_key = "data" }),\n'
                '  transform = function(r)\n')
        for i, name in enumerate(SYSTEM):
            f.write('    r.%s = "%s-" .. r.id\n' % (name, name))
        f.write('    return r\n  end }\n')
    r = ws.run(script, dest=uri)
    t.is_(r.rc, 0, "fields named xmin, xmax, cmin, cmax, ctid, tableoid land on PostgreSQL")
    cur.execute("select count(*) from w.systags where xmin_2 = 'xmin-' || id and ctid_2 = 'ctid-' || id "
                "and tableoid_2 = 'tableoid-' || id and cmax_2 = 'cmax-' || id")
    t.is_(cur.fetchone()[0], n_tags, "each in its NAME_2 column")
    cur.execute("select field, col from w._icx_columns where tbl = 'systags' and field = 'xmin'")
    t.is_(cur.fetchall(), [("xmin", "xmin_2")], "_icx_columns maps xmin to xmin_2")
    db = os.path.join(ws.dir, "sys.db")
    r = ws.run(script, dest=db)
    t.is_(r.rc, 0, "the same asset lands on SQLite")
    import sqlite3
    c = sqlite3.connect(db)
    t.is_(c.execute("select count(*) from systags where xmin = 'xmin-' || id").fetchone()[0], n_tags,
          "on SQLite under its own name")
    c.close()

    # A lost connection: every asset still has its line and the summary
    # is written (the run locks' release used to raise first).
    uri2 = pg.uri(schema="lost")
    summary = os.path.join(ws.dir, "lost.json")
    sim.control("POST", "/_sim/rate", {"limit": 3})
    p = subprocess.Popen([ICX, "run", "--config", ws.config, "--dest", uri2, "--summary-json", summary,
                          ws.script("contacts"), ws.script("tags"), ws.script("companies")], cwd=ws.dir, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:  # until contacts' run row is open
        cur.execute("select to_regclass('lost._icx_runs') is not null")
        if cur.fetchone()[0]:
            cur.execute("select count(*) from lost._icx_runs where asset = 'contacts' and status = 'running'")
            if cur.fetchone()[0]:
                break
        time.sleep(0.2)
    cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'icx pid%'")
    out, err = p.communicate(timeout=120)
    err = err.decode("utf-8", "replace")
    t.is_(p.returncode, 1, "a lost connection: exit 1")
    if p.returncode != 1:
        t.diag(err[-2000:])
    import json
    with open(summary) as f:
        s = json.load(f)
    t.is_(sorted(a["asset"] for a in s["assets"]), ["companies", "contacts", "tags"],
          "a lost connection: the summary has every asset")
    t.ok(s["status"] in ("partial", "failed") and "contacts" in s["failed"], "a lost connection: failed assets named")
    t.ok("contacts.lua: failed" in err and "companies.lua: failed" in err, "a lost connection: each asset's line")
    # The rate wait: one line per asset per wait, not one per waiting request.
    lines = [ln.split(" ", 1)[1] for ln in err.splitlines() if "for the rate budget" in ln and " " in ln]
    stamps = [ln.split(" ", 1)[0][:19] + ln.split(" ", 1)[1] for ln in err.splitlines()
              if "for the rate budget" in ln]
    t.ok(len(lines) > 0 and len(stamps) == len(set(stamps)),
         "a rate wait is one line per asset (%d lines)" % len(lines))
    sim.control("POST", "/_sim/rate", {"limit": 1000})

    # What every icx connection sets: a statement bound and its name (the
    # keepalives are libpq's socket options, which the server cannot show).
    driver = os.path.join(ws.dir, "settings.lua")
    with open(driver, "w") as f:
        f.write('local pg = require "icx.pg"\n'
                'local c = assert(pg.connect(..., { application_name = "icx pid 1 on h" }))\n'
                'for _, k in ipairs({ "statement_timeout", "application_name" }) do\n'
                '  print(k .. "=" .. assert(c:query("SHOW " .. k))[1][k])\nend\n')
    r = subprocess.run([ICX, "lua", driver, pg.uri()], capture_output=True, text=True, timeout=60)
    got = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    t.is_((got.get("statement_timeout"), got.get("application_name")), ("1h", "icx pid 1 on h"),
          "a connection sets a statement_timeout and names itself")
    r = subprocess.run([ICX, "lua", driver, pg.uri(extra="options=-c%20statement_timeout%3D5min")],
                       capture_output=True, text=True, timeout=60)
    t.ok("statement_timeout=5min" in r.stdout, "a statement_timeout the URI sets is kept")

t.done_testing()
