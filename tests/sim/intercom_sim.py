#!/usr/bin/python3
"""Intercom 2.14 simulator: a local stand-in for api.intercom.io.

    /usr/bin/python3 tests/sim/intercom_sim.py [--port 0] [--seed 1]
        [--contacts 200] ... [--request-log FILE]

Binds 127.0.0.1 (HTTPS with --tls-cert/--tls-key), prints 'READY <port>'
on stdout once listening, stops cleanly (exit 0) on SIGTERM or SIGINT.
Standard library only.

Modules: sim_gen (fake records), sim_store (the truth and its changes),
sim_search (query language, sort, cursors), sim_api (Intercom endpoints),
sim_guard (stats, rate limit, faults, request log), sim_control (/_sim/),
sim_http (the HTTP/1.1 server); sim_gen_more, sim_store_more and
sim_api_more do the same for the routes beyond the ten seed assets (ticket
types and states, company segments, activity logs, help centers, 2.16
deleted conversations).
"""

import argparse
import os
import signal
import sys
import threading
import time
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sim_api import Api              # noqa: E402
from sim_control import Control      # noqa: E402
from sim_guard import Faults, RateLimiter, RequestLog, Stats  # noqa: E402
from sim_http import Server          # noqa: E402
from sim_store import World          # noqa: E402


def parse_args(argv):
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a = p.add_argument
    a("--port", type=int, default=0, help="0 = a free port (default)")
    a("--token", default="test-token", help="accepted Bearer token")
    a("--seed", type=int, default=1)
    a("--now", type=int, default=None,
      help="Unix time the generated data is relative to (default: now)")
    a("--contacts", type=int, default=200)
    a("--companies", type=int, default=50)
    a("--conversations", type=int, default=30)
    a("--tickets", type=int, default=20)
    a("--articles", type=int, default=25)
    a("--tags", type=int, default=15)
    a("--segments", type=int, default=5)
    a("--teams", type=int, default=3)
    a("--admins", type=int, default=4)
    a("--big-conversations", type=int, default=None,
      help="conversations with more than 500 parts (default 1 if any)")
    a("--max-parts", type=int, default=500,
      help="most recent parts GET /conversations/{id} returns (Intercom: 500)")
    a("--big-tickets", type=int, default=None,
      help="tickets with more parts than --max-ticket-parts (default 1 if any)")
    a("--max-ticket-parts", type=int, default=500,
      help="most recent parts a ticket carries (500, as conversations)")
    a("--collections", type=int, default=20,
      help="help center collections (the first 3 are articles' parents)")
    a("--activity-logs", type=int, default=45, help="admin activity logs")
    a("--old-version-deleted", type=int, choices=(404, 400), default=404,
      help="status of GET /conversations/deleted before API 2.16: 404 (the "
           "route does not exist) or 400 intercom_version_invalid")
    a("--recent-share", type=float, default=0,
      help="real shape: this share of records updated in the last "
           "--recent-days, the rest over two years near their creation "
           "(0, the default: updates spread evenly over 400 days)")
    a("--recent-days", type=float, default=3,
      help="the recent span of --recent-share, in days")
    a("--timezone", default="UTC", help="workspace IANA timezone")
    a("--workspace-id", default="ecahpwf5", help="the app id_code GET /me reports")
    a("--index-lag", type=float, default=0,
      help="seconds before a new contact is searchable")
    a("--scroll-expiry", type=float, default=60,
      help="seconds an idle companies scroll lives")
    a("--scroll-size", type=int, default=50, help="companies per scroll page")
    a("--rate", type=int, default=166, help="requests per 10 s window")
    a("--latency-ms", type=float, default=0)
    a("--fail-rate", type=float, default=0, help="random 500/502/503")
    a("--reset-rate", type=float, default=0, help="connection reset mid-body")
    a("--truncate-rate", type=float, default=0, help="body cut short")
    a("--bad-json-rate", type=float, default=0, help="200 with broken JSON")
    a("--request-log", default=None, help="append JSON lines per request")
    a("--verbose", action="store_true", help="access log on stderr")
    a("--tls-cert", default=None, help="serve HTTPS with this PEM certificate")
    a("--tls-key", default=None, help="the certificate's PEM private key")
    o = p.parse_args(argv)
    if o.big_conversations is None:
        o.big_conversations = 1 if o.conversations > 0 else 0
    if o.big_tickets is None:
        o.big_tickets = 1 if o.tickets > 0 else 0
    try:
        o.tz = zoneinfo.ZoneInfo(o.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        p.error("unknown timezone %r" % o.timezone)
    for k in ("contacts", "companies", "conversations", "tickets", "articles",
              "tags", "segments", "teams", "admins", "rate", "collections",
              "activity_logs", "big_tickets", "max_ticket_parts"):
        if getattr(o, k) < 0:
            p.error("--%s must be >= 0" % k)
    if not 0 <= o.recent_share <= 1 or o.recent_days <= 0:
        p.error("--recent-share must be in [0, 1] and --recent-days > 0")
    if bool(o.tls_cert) != bool(o.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return o


class App:
    """Everything one simulator process serves."""

    def __init__(self, opts):
        self.opts = opts
        now = opts.now if opts.now is not None else int(time.time())
        self.world = World(opts, now, opts.tz)
        self.api = Api(self.world, opts)
        self.stats = Stats()
        self.rate = RateLimiter(opts.rate)
        self.faults = Faults(opts)
        self.log = RequestLog(opts.request_log)
        self.control = Control(self)
        self.port = None


def main(argv=None):
    """Run until SIGTERM/SIGINT; exit status 0 on a clean stop."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    app = App(opts)
    server = Server(opts.port, app, (opts.tls_cert, opts.tls_key) if opts.tls_cert else None)
    app.port = server.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True)
    t.start()
    sys.stdout.write("READY %d\n" % app.port)
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    app.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
