#!/usr/bin/python3
"""PostgreSQL: the database password is a secret like the token. It appears
in no output (also with -v, also in a wrong-password error), in no file of
the case directory and in no _icx_runs row. Bad inputs leave data and
cursors unchanged with a clear message and the right exit code: a bad URI
(2), a mistyped scheme (2, URI masked), --state (2), an unreachable server
(1), a wrong password (1). libpq's own conventions work: a URI without a
password takes PGPASSWORD."""
import os
import sys
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

pgserver.require_or_skip(t)

with pgserver.PgServer() as pg, Sim(contacts=120, seed=3) as sim, Workspace(sim) as ws:
    pw = pg.password
    forms = [pw, quote(pw, safe="")]
    uri = pg.uri()
    con = pg.connect()
    cur = con.cursor()

    def leaks(text):
        return [f for f in forms if f in text]

    r = ws.run("-v", "contacts", "tags", dest=uri)
    t.is_(r.rc, 0, "a verbose run exits 0")
    t.is_(leaks(r.out + r.err), [], "the password is in no output of a -v run")
    landed_pg.compare(t, con, "contacts", sim.dump("contacts"))

    def snapshot():
        cur.execute("select md5(string_agg(c::text, '|' order by c::text)) from contacts c")
        a = cur.fetchone()[0]
        cur.execute("select string_agg(asset || '=' || value::text, ',' order by asset) from _icx_state")
        return a, cur.fetchone()[0]

    before = snapshot()
    sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5})

    # A wrong password: libpq's error, under -v.
    wrong = "Wr0ng:pass@word!"
    bad = pg.uri(password=wrong)
    r = ws.run("-v", "contacts", dest=bad)
    t.is_(r.rc, 1, "wrong password: exit 1")
    t.ok("password authentication failed" in r.err, "wrong password: the message says so")
    t.ok(wrong not in r.err and quote(wrong, safe="") not in r.err and not leaks(r.err),
         "wrong password: neither password in the message")
    t.ok("icx:****@127.0.0.1" in r.err, "the URI is shown with the password masked")
    t.is_(snapshot(), before, "wrong password: data and cursors unchanged")

    port = pgserver.free_port()
    r = ws.run("contacts", dest="postgresql://icx:%s@127.0.0.1:%d/icx" % (quote(pw, safe=""), port))
    t.is_(r.rc, 1, "unreachable server: exit 1")
    t.ok("Connection refused" in r.err or "connection" in r.err.lower(), "unreachable server: a clear message")
    t.is_(leaks(r.err), [], "unreachable server: no password in the message")

    r = ws.run("contacts", dest=uri + "?bogus=1")
    t.is_(r.rc, 2, "a URI libpq cannot parse: exit 2")
    t.ok("invalid" in r.err and not leaks(r.err), "a clear message without the password: %s" % r.err.strip()[:200])

    r = ws.run("contacts", dest=uri.replace("postgresql://", "postgresq://"))
    t.is_(r.rc, 2, "a mistyped scheme: exit 2")
    t.ok("did you mean 'postgresql'" in r.err and not leaks(r.err) and "****" in r.err,
         "a mistyped scheme: did-you-mean, URI masked")

    r = ws.run("contacts", "--state", "x.db", dest=uri)
    t.is_(r.rc, 2, "--state with PostgreSQL: exit 2")
    t.is_(snapshot(), before, "after every bad input data and cursors are unchanged")

    # libpq's conventions: no password in the URI, PGPASSWORD supplies it.
    r = ws.run("-v", "contacts", dest="postgresql://icx@127.0.0.1:%d/icx" % pg.port, env={"PGPASSWORD": pw})
    t.is_(r.rc, 0, "PGPASSWORD: the run exits 0")
    t.is_(leaks(r.out + r.err), [], "PGPASSWORD: not in the output")
    landed_pg.compare(t, con, "contacts", sim.dump("contacts"), name="contacts after the mutations")

    cur.execute("select coalesce(string_agg(coalesce(error, ''), ' '), '') from _icx_runs")
    t.is_(leaks(cur.fetchone()[0]), [], "no _icx_runs row holds the password")
    cur.execute("select string_agg(t::text, ' ') from (select * from _icx_state) t")
    t.is_(leaks(cur.fetchone()[0] or ""), [], "no _icx_state row holds it")
    found = []
    for root, _, files in os.walk(ws.dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read().decode("utf-8", "replace")
            # run*.cmd files hold the command line, where the test itself
            # put the URI; everything icx wrote is checked.
            if not f.endswith(".cmd") and leaks(data):
                found.append(f)
    t.is_(found, [], "no file icx wrote holds the password")
    con.close()

t.done_testing()
