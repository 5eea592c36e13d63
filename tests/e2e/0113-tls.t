#!/usr/bin/python3
"""TLS for real: the simulator serves HTTPS with a certificate from a test CA
made here with openssl. With that CA as ca_file, icx check works and assets
land exactly (next-page URLs stay on https). Without it, or for a
certificate naming another host, the request is refused at once (no
retries: a certificate does not fix itself) with a hint at ca_file, and
nothing lands. Verification has no off switch to test, by design."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, Case, ICX  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
from pki import Pki  # noqa: E402
import tap as t  # noqa: E402


def check(ws):
    """icx check with the workspace's connections file."""
    return Case.run(ws, [ICX, "check", "--config", ws.config])


def has_table(db, name):
    if not os.path.exists(db):
        return False
    con = sqlite3.connect(db)
    try:
        return con.execute("select 1 from sqlite_master where name = ?", (name,)).fetchone() is not None
    finally:
        con.close()


pki = Pki()
CA = pki.ca
good = pki.server("localhost", "IP:127.0.0.1,DNS:localhost")
wrong = pki.server("elsewhere", "DNS:elsewhere.example")
FAST = "      max_attempts: 5\n      retry_base: 2\n      retry_cap: 2\n"

with Sim(tls_cert=good[0], tls_key=good[1], articles=40, seed=31) as sim:
    t.ok(sim.url.startswith("https://"), "the simulator serves %s" % sim.url)

    with Workspace(sim, name="0113-tls-ca", extra="      ca_file: %s\n" % CA) as ws:
        r = check(ws)
        t.is_(r.rc, 0, "with the test CA as ca_file, icx check succeeds (%s)" % r.err.strip()[-200:])
        r = ws.run("tags", "articles", "-j", "1")
        t.is_(r.rc, 0, "with ca_file, a run over HTTPS succeeds")
        landed.compare(t, ws.db, "tags", sim.dump("tags"), name="tags over https")
        landed.compare(t, ws.db, "articles", sim.dump("articles"), name="articles over https (next URLs)")

    with Workspace(sim, name="0113-tls-noca", extra=FAST) as ws:
        r = check(ws)
        t.is_(r.rc, 1, "without ca_file the certificate is refused: exit 1")
        t.ok("TLS verification failed" in r.err and "ca_file of connection 'sim'" in r.err,
             "the error says TLS verification failed and points at ca_file: %s" % r.err.strip()[-300:])
        t.ok("after" not in r.err, "refused at once, not after retries")
        r = ws.run("tags")
        t.is_(r.rc, 1, "a run without ca_file fails")
        t.ok(not has_table(ws.db, "tags"), "and no tags landed")

with Sim(tls_cert=wrong[0], tls_key=wrong[1], seed=32) as sim:
    with Workspace(sim, name="0113-tls-host", extra="      ca_file: %s\n" % CA + FAST) as ws:
        r = check(ws)
        t.is_(r.rc, 1, "a certificate for another host is refused even with the right CA")
        t.ok("TLS verification failed" in r.err and "127.0.0.1" in r.err
             and "check base_url of connection 'sim'" in r.err,
             "the error names the host mismatch and points at base_url: %s" % r.err.strip()[-300:])

pki.__exit__(None, None, None)
t.done_testing()
