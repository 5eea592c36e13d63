"""Start and stop the Intercom simulator from a test.

    sys.path.insert(0, "<repo>/tests/sim")
    from simctl import Sim
    with Sim(contacts=300, companies=50, seed=1, index_lag=5) as sim:
        sim.port, sim.url, sim.token
        sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5})
        sim.dump("contacts")      # list of dicts (ints exact)
        sim.stats()               # dict
        sim.request_log()         # list of dicts, one per Intercom request
        r = sim.api("POST", "/contacts/search", {"query": ...})
        r.status, r.headers, r.body, r.json()

Keyword arguments become flags: index_lag=5 -> --index-lag 5; True -> a bare
flag; None/False -> omitted. The request log goes to a temp file unless
request_log= is given. On a failure (an exception in the with-block, a failed
tap test so far, a sim that did not exit 0, or stop(failed=True)) the sim's
stderr and request log are kept and their path printed as TAP comments;
otherwise temp files are removed.
"""

import gzip
import http.client
import ssl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "intercom_sim.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class Response:
    """An HTTP response from the sim: status, headers (dict, lower-case
    names), body (bytes, gunzipped)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Sim:
    """One simulator process (a context manager)."""

    def __init__(self, token="test-token", request_log=None, ready_timeout=120,
                 keep=False, **flags):
        self.token = token
        self.flags = flags
        self.ready_timeout = ready_timeout
        self.keep = keep
        self.tmpdir = tempfile.mkdtemp(prefix="icx-sim-")
        self.log_path = request_log or os.path.join(self.tmpdir, "requests.jsonl")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.txt")
        self.proc = None
        self.port = None
        self.url = None
        self.returncode = None

    def argv(self):
        """The command line that starts the simulator."""
        args = [PYTHON, SIM, "--token", self.token,
                "--request-log", self.log_path]
        for k, v in self.flags.items():
            if v is None or v is False:
                continue
            args.append("--" + k.replace("_", "-"))
            if v is not True:
                args.append(str(v))
        return args

    def start(self):
        """Spawn the sim and wait for its READY line."""
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE,
                                     stderr=self._err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith(b"READY "):
            self.stop(failed=True)
            raise RuntimeError("simulator did not start: %r (stderr: %s)"
                               % (line, self.stderr()))
        self.port = int(line.split()[1])
        scheme = "https" if self.flags.get("tls_cert") else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        return self

    def stop(self, failed=False):
        """SIGTERM and wait; returns the exit status. Keeps logs on failure."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.returncode = self.proc.returncode
            self.proc.stdout.close()
            self._err.close()
            self.proc = None
        tap = sys.modules.get("tap")
        if tap is not None and getattr(tap, "failed", lambda: 0)():
            failed = True           # a TAP test failed while the sim ran
        if self.returncode not in (0, None):
            failed = True
        if failed or self.keep:
            sys.stdout.write("# simulator files kept in %s\n" % self.tmpdir)
            for line in self.stderr().splitlines()[-30:]:
                sys.stdout.write("# sim stderr: %s\n" % line)
            sys.stdout.flush()
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(failed=exc_type is not None)
        return False

    @property
    def pid(self):
        """The simulator's process id."""
        return self.proc.pid if self.proc else None

    def stderr(self):
        """What the sim wrote to stderr so far."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def raw(self, method, path, body=None, headers=None, timeout=60):
        """One HTTP request on a fresh connection -> Response."""
        if self.flags.get("tls_cert"):
            # The test's own control channel: what icx must verify is
            # checked by icx, not here.
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body
            if body is not None and not isinstance(body, (bytes, str)):
                data = json.dumps(body).encode("utf-8")
            elif isinstance(body, str):
                data = body.encode("utf-8")
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            out = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            if hdrs.get("content-encoding") == "gzip":
                out = gzip.decompress(out)
            return Response(resp.status, hdrs, out)
        finally:
            conn.close()

    def api(self, method, path, body=None, headers=None, auth=True,
            version="2.14"):
        """An Intercom request with the token, Accept and Intercom-Version."""
        h = {"Accept": "application/json"}
        if auth:
            h["Authorization"] = "Bearer " + self.token
        if version:
            h["Intercom-Version"] = version
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return self.raw(method, path, body, h)

    def control(self, method, path, body=None):
        """A /_sim/ control request -> parsed JSON (raises on HTTP errors)."""
        r = self.raw(method, path, body if body is not None else
                     (None if method == "GET" else {}))
        if r.status != 200:
            raise RuntimeError("%s %s -> %d %s" % (method, path, r.status,
                                                   r.body[:300]))
        return r.json()

    def dump(self, asset):
        """The full truth of one asset as a list of dicts."""
        r = self.raw("GET", "/_sim/dump/" + asset)
        if r.status != 200:
            raise RuntimeError("dump %s -> %d %s" % (asset, r.status, r.body))
        return [json.loads(x) for x in r.body.decode("utf-8").splitlines() if x]

    def stats(self):
        """GET /_sim/stats."""
        return self.control("GET", "/_sim/stats")

    def reset_stats(self):
        """POST /_sim/reset_stats."""
        return self.control("POST", "/_sim/reset_stats")

    def fault(self, **spec):
        """POST /_sim/fault with spec as the body."""
        return self.control("POST", "/_sim/fault", spec)

    def request_log(self):
        """Every logged Intercom request so far, as dicts."""
        try:
            with open(self.log_path, encoding="utf-8") as f:
                rows = [json.loads(x) for x in f if x.strip()]
            # In arrival order (lines are written after each answer).
            return sorted(rows, key=lambda r: r.get("seq") or 0)
        except FileNotFoundError:
            return []
