#!/usr/bin/python3
"""Issue 22, item 8: answers that are not Intercom's fail fast with a
message that says what they are. A reply that is not HTTP at all (another
service on the port) used to be retried 8 times over about 50 s; a response
whose headers pass curl's cap (200 KB) was reported as curl's "Out of
memory"."""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from icxtest import ICX  # noqa: E402
import tap as t  # noqa: E402

ANSWERS = {
    "not-http": b"SSH-2.0-OpenSSH_9.0\r\nProtocol mismatch.\r\n",
    "big-header": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: " + b"a" * 200000
                  + b"\r\nContent-Length: 2\r\n\r\n{}",
}


def listen(payload):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    hits = []

    def serve():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            hits.append(1)
            try:
                c.recv(65536)
                c.sendall(payload)
            except OSError:
                pass
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return s, hits


work = tempfile.mkdtemp(prefix="icx-0604-")
for name, payload in sorted(ANSWERS.items()):
    srv, hits = listen(payload)
    cfg = os.path.join(work, name + ".yml")
    with open(cfg, "w") as f:
        f.write("connections:\n  intercom:\n    - name: odd\n      access_token: tok-0604\n"
                "      base_url: http://127.0.0.1:%d\n" % srv.getsockname()[1])
    started = time.time()
    p = subprocess.run([ICX, "run", "--config", cfg, "--dest", os.path.join(work, name + ".db"), "tags"],
                       cwd=work, capture_output=True, timeout=120)
    took = time.time() - started
    err = p.stderr.decode("utf-8", "replace")
    t.is_(p.returncode, 1, "%s: exit 1" % name)
    t.ok(took < 10, "%s: fails fast (%.1f s)" % (name, took))
    t.is_(len(hits), 1, "%s: asked once, not retried" % name)
    if name == "not-http":
        t.ok("did not answer in HTTP" in err, "%s: says the server does not speak HTTP" % name)
    else:
        t.ok("headers are larger than curl takes" in err, "%s: says the headers are too large" % name)
    t.ok("base_url" in err, "%s: points at base_url" % name)
    srv.close()

t.done_testing()
