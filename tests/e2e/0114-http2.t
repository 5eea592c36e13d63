#!/usr/bin/python3
"""HTTP/2 where the server offers it. The simulator speaks HTTP/1.1, so this
case uses nghttpd (Debian's nghttp2-server) over TLS, serving a static /me:
icx check works over it, every transfer reports HTTP version 2, and a burst
of requests is multiplexed over one connection (PIPEWAIT) instead of one
connection each."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from icxtest import ICX  # noqa: E402
from pki import Pki  # noqa: E402
import tap as t  # noqa: E402

NGHTTPD = shutil.which("nghttpd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
ME = {"type": "admin", "id": "991267000", "name": "Ada Admin", "email": "ada@example.com",
      "app": {"type": "app", "id_code": "h2test", "name": "HTTP/2 workspace", "region": "US",
              "timezone": "UTC", "created_at": 1600000000, "identity_verification": False}}

DRIVER = r'''
-- icx lua driver.lua URL CA N: N requests at once on one Multi; prints a
-- JSON line {versions = {...}, new_connections = n, statuses = {...}}.
local http = require "icx.http"
local cjson = require "cjson"
local url, ca, n = ...
local m = http.multi()
for _ = 1, tonumber(n) do m:start { url = url, ca_file = ca } end
local versions, statuses, new = {}, {}, 0
local done = 0
while done < tonumber(n) do
  for _, c in ipairs(m:wait(30)) do
    done = done + 1
    versions[#versions + 1] = c.http_version or c.code
    statuses[#statuses + 1] = c.status
    if not c.reused then new = new + 1 end
  end
end
io.stdout:write(cjson.encode { versions = versions, statuses = statuses, new_connections = new }, "\n")
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if not NGHTTPD:
    t.ok(False, "nghttpd is installed (make deps installs nghttp2-server)")
    t.done_testing()
    sys.exit(0)

work = tempfile.mkdtemp(prefix="icx-0114-")
with Pki() as pki:
    cert, key = pki.server("localhost", "IP:127.0.0.1,DNS:localhost")
    docs = os.path.join(work, "htdocs")
    os.mkdir(docs)
    with open(os.path.join(docs, "me"), "w") as f:
        json.dump(ME, f)
    port = free_port()
    server = subprocess.Popen([NGHTTPD, "--address=127.0.0.1", "--htdocs=" + docs, str(port), key, cert],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        base = "https://127.0.0.1:%d" % port
        config = os.path.join(work, "connections.yml")
        with open(config, "w") as f:
            f.write("connections:\n  intercom:\n    - name: h2\n      access_token: tok_h2_123456\n"
                    "      base_url: %s\n      ca_file: %s\n" % (base, pki.ca))
        r = subprocess.run([ICX, "check", "--config", config], capture_output=True, text=True, timeout=60)
        t.is_(r.returncode, 0, "icx check over HTTP/2 succeeds (%s)" % r.stderr.strip()[-300:])
        t.ok("HTTP/2 workspace" in r.stdout + r.stderr, "and prints the workspace from /me")

        driver = os.path.join(work, "driver.lua")
        with open(driver, "w") as f:
            f.write(DRIVER)
        r = subprocess.run([ICX, "lua", driver, base + "/me", pki.ca, "12"], capture_output=True,
                           text=True, timeout=60)
        rep = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
        t.is_(rep.get("statuses"), [200] * 12, "12 requests at once all succeed (%s)" % r.stderr[-300:])
        t.is_(rep.get("versions"), ["2"] * 12, "every transfer used HTTP/2")
        t.is_(rep.get("new_connections"), 1, "all 12 were multiplexed over one connection")
    finally:
        server.terminate()
        server.wait(timeout=10)
shutil.rmtree(work, ignore_errors=True)
t.done_testing()
