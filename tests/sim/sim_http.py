"""HTTP/1.1 front of the simulator: parses requests, applies auth, rate
limits, latency and faults around the Intercom endpoints (sim_api), and
serves the control API (sim_control) under /_sim/.

Every response carries Content-Length so clients can keep connections
alive; bodies are gzipped when the request accepts gzip.
"""

import gzip
import http.server
import socket
import ssl
import struct
import time
import traceback
import urllib.parse
import uuid

from sim_api import SCROLL_500, Request
from sim_util import ApiError, dumpb, error_body

STATUS_ERRORS = {
    400: ("bad_request", "Bad Request"),
    401: ("unauthorized", "Access Token Invalid"),
    403: ("api_plan_restricted", "Active subscription needed."),
    404: ("not_found", "Resource Not Found"),
    429: ("rate_limit_exceeded", "Exceeded rate limit"),
    500: ("server_error", "Request failed due to an internal error. "
                          "Please retry the request."),
    502: ("server_error", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("request_timeout", "Gateway Timeout"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection; self.server.app is the simulator (intercom_sim.App)."""

    protocol_version = "HTTP/1.1"
    server_version = "intercom-sim/2.14"
    sys_version = ""

    def version_string(self):
        """The Server header."""
        return self.server_version

    def log_message(self, fmt, *args):
        """Quiet unless --verbose."""
        if self.server.app.opts.verbose:
            super().log_message(fmt, *args)

    def finish(self):
        """Tolerate sockets we reset on purpose."""
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    def do_GET(self):
        """GET."""
        self._serve()

    def do_POST(self):
        """POST."""
        self._serve()

    def do_PUT(self):
        """PUT (Intercom answers unknown method/path pairs with 404)."""
        self._serve()

    def do_DELETE(self):
        """DELETE."""
        self._serve()

    def _read_body(self):
        """The request body (Content-Length or chunked)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _base_url(self):
        """http(s)://host:port as the client addressed us."""
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_port
        return ("https://" if self.server.tls else "http://") + host

    def _serve(self):
        """Parse and route one request."""
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self._read_body()
        if path.startswith("/_sim/"):
            status, out = app.control.handle(self.command, path, query, body)
            self._send(status, dumpb(out) if not isinstance(out, bytes) else out,
                       {"Content-Type": "application/json" if not isinstance(
                           out, bytes) else "application/x-ndjson"}, gzip_ok=False)
            return
        self._intercom(app, path, query, body)

    def _intercom(self, app, path, query, body):
        """An Intercom API request: stats, auth, rate limit, faults, handler."""
        h = self.headers
        rid = str(uuid.uuid4())
        app.stats.begin(path, h.get("Intercom-Version"), h.get("User-Agent"))
        status, limited, fault_kind = 500, False, None
        auth = "missing"
        # The arrival order: the log line is written after the answer, so
        # two quick requests could log in the other order.
        seq = app.log.next_seq()
        recorded = []

        def record(final):
            """Stats and the log line, once, before the answer leaves: a
            client that has its answer finds its request counted."""
            if recorded:
                return
            recorded.append(final)
            app.stats.end(final, limited, fault_kind is not None)
            app.log.write(self.command, path, query, body, final, h, auth,
                          fault_kind, seq)
        self._record = record
        try:
            if app.opts.latency_ms:
                time.sleep(app.opts.latency_ms / 1000.0)
            got = h.get("Authorization")
            if got is not None:
                ok = got.split(" ", 1)[0].lower() == "bearer" and \
                    got.split(" ", 1)[1:] == [app.opts.token]
                auth = "ok" if ok else "bad"
            headers = {"X-Request-Id": rid}
            if auth != "ok":
                status = 401
                self._error(401, "unauthorized", "Access Token Invalid", rid,
                            headers)
                return
            now = time.time()
            allowed, limit, remaining, reset = app.rate.take(now)
            rate_h = {"X-RateLimit-Limit": str(limit),
                      "X-RateLimit-Remaining": str(remaining),
                      "X-RateLimit-Reset": str(reset)}
            headers.update(rate_h)
            if not allowed:
                status, limited = 429, True
                self._error(429, "rate_limit_exceeded",
                            "Exceeded rate limit of %d in 10_seconds" % limit,
                            rid, headers)
                return
            fault = app.faults.next_for(self.command, path)
            if fault:
                fault_kind = fault["kind"]
                if fault.get("reset_in") is not None:
                    headers["X-RateLimit-Reset"] = str(int(now + fault["reset_in"]))
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                if fault_kind == "delay":
                    time.sleep(fault["delay_ms"] / 1000.0)
                elif fault_kind == "status":
                    status = fault["status"]
                    code, msg = STATUS_ERRORS.get(status, ("server_error",
                                                           "Server Error"))
                    code = fault.get("code") or code
                    msg = fault.get("message") or msg
                    if status >= 500 and path == "/companies/scroll":
                        app.api.scrolls.drop()
                        msg = SCROLL_500
                    if status == 401:
                        for k in rate_h:
                            headers.pop(k, None)
                    if status == 429:
                        headers["X-RateLimit-Remaining"] = "0"
                        msg = "Exceeded rate limit of %d in 10_seconds" % limit
                    self._error(status, code, msg, rid, headers)
                    return
            accept = h.get("Accept")
            if accept and not any(x in accept for x in ("json", "*/*",
                                                        "application/*")):
                status = 406
                self._error(406, "not_acceptable",
                            "The Accept header should send application/json.",
                            rid, headers)
                return
            req = Request(self.command, path, query, body, self._base_url(), h)
            req.now = now
            try:
                status, out = app.api.handle(req)
            except ApiError as e:
                status = e.status
                headers.update(e.headers)
                self._error(e.status, e.code, e.message, rid, headers)
                return
            except Exception:       # a simulator bug: answer, and say why
                traceback.print_exc()
                status = 500
                self._error(500, "server_error", "simulator internal error",
                            rid, headers)
                return
            headers["Content-Type"] = "application/json; charset=utf-8"
            self._send(status, out, headers, fault=fault_kind)
        finally:
            record(status)
            self._record = None

    def _error(self, status, code, message, rid, headers):
        """Send Intercom's error.list body."""
        headers["Content-Type"] = "application/json; charset=utf-8"
        self._send(status, dumpb(error_body(code, message, rid)), headers)

    def _send(self, status, body, headers, fault=None, gzip_ok=True):
        """Write status, headers and body; apply reset/truncate/bad_json/bad_gzip."""
        accept_enc = self.headers.get("Accept-Encoding") or ""
        # Malformed JSON from the server, sent intact: cut before gzip.
        if fault == "bad_json":
            body = body[: max(1, len(body) // 2)]
        if gzip_ok and "gzip" in accept_enc and body:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
            if fault == "bad_gzip":     # the bytes broken in transit
                mid = len(body) // 2
                body = body[:mid] + bytes(b ^ 0x5A for b in body[mid:mid + 8]) + body[mid + 8:]
        record = getattr(self, "_record", None)
        if record:
            record(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault in ("reset", "truncate"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            return
        self.wfile.write(body)
        self.wfile.flush()


class Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer bound to 127.0.0.1 that knows the App."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, app, tls=None):
        """tls: (certfile, keyfile) to serve HTTPS (HTTP/1.1 over TLS)."""
        self.app = app
        self.tls = tls
        super().__init__(("127.0.0.1", port), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            # The handshake runs in the request's thread, not in accept().
            self.socket = ctx.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)
