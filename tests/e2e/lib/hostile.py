#!/usr/bin/python3
"""A hostile HTTP server for the reliability tests (standard library only).

One process, two listeners on free 127.0.0.1 ports. The main one answers
every request by the mode named in the first path segment, so a base_url of
http://127.0.0.1:PORT/huge sends everything icx asks for (/huge/me,
/huge/tags, ...) to the `huge` behaviour:

    good        valid Intercom answers for /me, /tags and /articles
    huge        200 with Content-Length 2 GB, streamed lazily (whitespace)
    hugechunked the same 2 GB chunked, so no length warns the client
    endless     200, chunked, 1 KB every 50 ms for ever
    slow        200, Content-Length 64, one byte a second
    badutf8     200, JSON whose strings hold invalid UTF-8
    deep        200, a list nested 100,000 deep
    dupkeys     200, records with duplicate keys
    html        200 text/html, a proxy's error page
    redirect    302 to the same path on the second listener (another host)
    storm       429 for ever, without rate-limit headers
    retryafter  429 with Retry-After: 999999999
    s401 s403 s404 s500   that status with an Intercom error body
    s400num     400 whose body is the JSON number 5 (not an error object)

The second listener ("the other host") answers 200 {} and records whether
each request carried an Authorization header. Control (no token needed):

    GET /_hostile/other   -> [{"path", "authorization": bool}, ...]
    GET /_hostile/hits    -> {"mode": count of requests}

Run as a program it prints one readiness line and serves until stdin
closes or it is killed:

    hostile listening http://127.0.0.1:PORT other http://127.0.0.1:PORT2

From a test:

    with hostile.Hostile() as hs:
        hs.at("huge").url, hs.token      # a `sim` for icxtest.Case
        hs.other()                       # what the other host saw
"""

import json
import re
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "hostile-tok-7c1e9a44d2b85f30"

ME = {"type": "admin", "id": "991", "name": "Hostile Admin", "email": "admin@hostile.test",
      "app": {"type": "app", "id_code": "h0st1le", "name": "Hostile", "region": "US"}}
TAGS = {"type": "list", "data": [{"type": "tag", "id": "1", "name": "vip"},
                                 {"type": "tag", "id": "2", "name": "churned"}]}
ARTICLES = {"type": "list", "total_count": 2,
            "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1},
            "data": [{"type": "article", "id": "11", "title": "Hello", "updated_at": 1700000100,
                      "created_at": 1700000000, "views": 9007199254740993},
                     {"type": "article", "id": "12", "title": "World", "updated_at": 1700000000,
                      "created_at": 1700000000, "views": 0}]}
ERRORS = {401: ("unauthorized", "Access Token Invalid"), 403: ("forbidden", "Forbidden"),
          404: ("not_found", "Resource Not Found"), 500: ("server_error", "Server Error")}


BAD_UTF8 = (b'{"type":"list","total_count":1,"pages":{"type":"pages","page":1,"per_page":150,'
            b'"total_pages":1},"data":[{"type":"tag","id":"1","name":"bad \xff\xfe \xc3\x28 end",'
            b'"updated_at":1700000000}],"name":"\xff\xfe","app":{"name":"\xc3\x28"}}')
DEEP = b'{"type":"list","data":[' + b"[" * 100000 + b"]" * 100000 + b"]}"
DUPKEYS = (b'{"type":"list","total_count":1,"pages":{"type":"pages","page":1,"per_page":150,'
           b'"total_pages":1},"data":[{"type":"tag","id":"1","id":"2","name":"a","name":"b",'
           b'"updated_at":1700000000,"updated_at":1}],"data":[],"id":"1","id":"2"}')
HTML = (b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
        b"<p>nginx</p></body></html>")


class State:
    """What the two listeners share: the other host's request log, hits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.other = []
        self.hits = {}
        self.other_url = None


STATE = State()


class Main(BaseHTTPRequestHandler):
    """The hostile listener: one behaviour per first path segment."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, value, headers=()):
        self._send(status, json.dumps(value).encode(), headers=headers)

    def _error(self, status, code, message, headers=()):
        self._json(status, {"type": "error.list", "request_id": "req-hostile",
                            "errors": [{"code": code, "message": message}]}, headers)

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        parts = self.path.split("?")[0].strip("/").split("/")
        mode, rest = parts[0], "/" + "/".join(parts[1:])
        # MODE+me: /me answers well (icx run's token preflight passes), so
        # the hostile answer meets the walk of an asset.
        mode, _, plus = mode.partition("+")
        if plus == "me" and rest == "/me":
            return self.mode_good(rest)
        if mode == "_hostile":
            with STATE.lock:
                data = STATE.other if rest == "/other" else STATE.hits
                return self._json(200, data)
        with STATE.lock:
            STATE.hits[mode] = STATE.hits.get(mode, 0) + 1
        try:
            getattr(self, "mode_" + mode, self.mode_unknown)(rest)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def mode_unknown(self, rest):
        self._error(404, "not_found", "no such hostile mode")

    def mode_good(self, rest):
        if rest == "/me":
            return self._json(200, ME)
        if rest.startswith("/tags"):
            return self._json(200, TAGS)
        if rest.startswith("/articles"):
            return self._json(200, ARTICLES)
        self._error(404, "not_found", "Resource Not Found")

    def mode_huge(self, rest):
        total = 2 * 1024 ** 3
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        chunk = b" " * 65536
        sent = 0
        while sent < total:
            self.wfile.write(chunk)
            sent += len(chunk)
        self.close_connection = True

    def mode_hugechunked(self, rest):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * 65536
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        for _ in range(2 * 1024 ** 3 // len(chunk)):
            self.wfile.write(frame)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def mode_endless(self, rest):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * 1024
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        self.wfile.write(b"1\r\n[\r\n")
        while True:
            self.wfile.write(frame)
            self.wfile.flush()
            time.sleep(0.05)

    def mode_slow(self, rest):
        body = b'{"type":"list","data":[]}'.ljust(64)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()
            time.sleep(1)

    def mode_badutf8(self, rest):
        self._send(200, BAD_UTF8)

    def mode_deep(self, rest):
        self._send(200, DEEP)

    def mode_dupkeys(self, rest):
        self._send(200, DUPKEYS)

    def mode_html(self, rest):
        self._send(200, HTML, ctype="text/html")

    def mode_redirect(self, rest):
        self.send_response(302)
        self.send_header("Location", STATE.other_url + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def mode_storm(self, rest):
        self._error(429, "rate_limit_exceeded", "Rate limit exceeded")

    def mode_retryafter(self, rest):
        self._error(429, "rate_limit_exceeded", "Rate limit exceeded",
                    headers=(("Retry-After", "999999999"),))

    def _status(self, status):
        self._error(status, *ERRORS[status])

    def mode_s401(self, rest):
        self._status(401)

    def mode_s403(self, rest):
        self._status(403)

    def mode_s404(self, rest):
        self._status(404)

    def mode_s500(self, rest):
        self._status(500)

    def mode_s400num(self, rest):
        if rest == "/me":  # the token preflight passes; the walk meets the 400
            return self.mode_good(rest)
        self._send(400, b"5")


class Other(BaseHTTPRequestHandler):
    """The other host: records each request and whether it had a token."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        with STATE.lock:
            STATE.other.append({"path": self.path,
                                "authorization": "Authorization" in self.headers})
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


def serve():
    """Starts both listeners, prints the readiness line, serves until stdin
    reaches EOF (the test closed it or died)."""
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128  # many icx runs connect at once
    main = ThreadingHTTPServer(("127.0.0.1", 0), Main)
    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    STATE.other_url = "http://127.0.0.1:%d" % other.server_address[1]
    for srv in (main, other):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("hostile listening http://127.0.0.1:%d other %s" % (main.server_address[1], STATE.other_url),
          flush=True)
    sys.stdin.read()
    os._exit(0)


class _At:
    """A `sim` for icxtest.Case: the url of one mode and the token."""

    def __init__(self, url, token):
        self.url, self.token = url, token


class Hostile:
    """Runs the server as a child process for the length of a with block."""

    def __init__(self):
        self.proc = None
        self.url = self.other_url = None
        self.token = TOKEN

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("hostile listening "):
            self.proc.kill()
            raise RuntimeError("hostile server did not start: %r" % line)
        _, _, self.url, _, self.other_url = line.split()
        return self

    def __exit__(self, *exc):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        return False

    def at(self, mode):
        """The server as seen at one mode."""
        return _At("%s/%s" % (self.url, mode), self.token)

    def _get(self, path):
        import urllib.request
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def other(self):
        """Requests the other host received: [{path, authorization}]."""
        return self._get("/_hostile/other")

    def hits(self):
        """Requests per mode so far."""
        return self._get("/_hostile/hits")


if __name__ == "__main__":
    serve()


class Bounded:
    """One process run under a wall-clock limit, with its own peak RSS."""

    def __init__(self, rc, out, err, seconds, max_rss_kb, killed):
        self.rc, self.out, self.err = rc, out, err
        self.seconds, self.max_rss_kb, self.killed = seconds, max_rss_kb, killed

    def first_err_line(self):
        """The first icx error or warning line ("icx: ..."), its timestamp
        (off a terminal every line has one) taken off; else the first
        non-empty line ("" if none). Retry lines come before it."""
        lines = [re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", "", x) for x in self.err.splitlines() if x.strip()]
        return next((x for x in lines if x.startswith("icx: ")), lines[0] if lines else "")


def run_bounded(argv, cwd, env, limit):
    """Runs argv with stdout/stderr to files in cwd; kills it (SIGKILL) after
    `limit` seconds. os.wait4 gives this child's own peak RSS (KB), which
    RUSAGE_CHILDREN would mix with every earlier child's."""
    import signal
    out_path, err_path = os.path.join(cwd, "bounded.out"), os.path.join(cwd, "bounded.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > limit:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        o = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        e = f.read().decode("utf-8", "replace")
    return Bounded(proc.returncode, o, e, seconds, usage.ru_maxrss, killed)
