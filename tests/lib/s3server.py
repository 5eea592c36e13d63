#!/usr/bin/python3
"""A throwaway S3-compatible server for tests: moto_server on a free
127.0.0.1 port, with a fault-injecting proxy in front of it.

    tests/lib/s3server.py [--auth] [--bucket NAME ...]

prints one readiness line, "PORT PROXY_PORT PID KEY SECRET", then serves
until its parent (the test) goes away or closes the pipe it reads that
line from, it gets SIGTERM, or 300 s pass;
moto_server goes with it. Without --auth, moto takes any credentials (KEY
and SECRET are "-"); with --auth, moto checks every request's Signature V4
against an IAM user created here, whose access key is KEY and SECRET, so a
wrong secret gets SignatureDoesNotMatch as from AWS. Buckets named by
--bucket are created before the line is printed.

The proxy on PROXY_PORT forwards every request verbatim (the Host header
included, since it is signed) to moto, except:
  POST /__icx/fail?n=N&mode=503|reset&after=M
                                         after M more requests pass, the
                                         next N get a 503 SlowDown, or
                                         their connection is reset
                                         without an answer
  GET  /__icx/count                      "FAILED FORWARDED" so far
(bucket names cannot contain "_", so these never shadow a bucket).

moto is not a Debian package: it comes with the machine's own python3
(`command -v moto_server`); when it cannot be found this exits 2 with a
message, and the test fails rather than skips.
"""
import glob
import http.client
import http.server
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

# moto starts the first N actions unauthenticated (the set-up below), then
# checks every request: N is counted here so set-up and check agree.
IAM_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
              '"Action":"s3:*","Resource":"*"}]}')


def find_moto():
    """The moto_server executable: on PATH, else in a pyenv install (CI's
    environment may lack the interactive shell's PATH)."""
    found = shutil.which("moto_server")
    if found:
        return found
    home = os.path.expanduser("~")
    for pattern in (home + "/.pyenv/shims/moto_server",
                    home + "/.pyenv/versions/*/bin/moto_server",
                    "/usr/local/bin/moto_server"):
        for path in sorted(glob.glob(pattern)):
            if os.access(path, os.X_OK):
                return path
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, seconds=60):
    """Waits until the port accepts connections. A TCP connect, not a
    request: with --auth every request counts against the unauthenticated
    set-up actions."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("s3server: moto_server exited with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("s3server: moto_server did not listen within %d s" % seconds)


def call(port, method, path, body=None, service=None):
    """One unauthenticated request to moto; a fake credential scope routes
    it to `service` (moto picks the service from it)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=body, method=method)
    if service:
        req.add_header("Authorization",
                       "AWS4-HMAC-SHA256 Credential=AKIASETUP/20200101/"
                       "us-east-1/%s/aws4_request, SignedHeaders=host, "
                       "Signature=0" % service)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def between(text, tag):
    start = text.index("<%s>" % tag) + len(tag) + 2
    return text[start:text.index("</%s>" % tag, start)]


def iam_user(port):
    """Creates an IAM user allowed s3:*, returns its (key, secret)."""
    def iam(params):
        params["Version"] = "2010-05-08"
        return call(port, "POST", "/", urllib.parse.urlencode(params).encode(),
                    "iam")
    iam({"Action": "CreateUser", "UserName": "icx"})
    out = iam({"Action": "CreateAccessKey", "UserName": "icx"})
    iam({"Action": "PutUserPolicy", "UserName": "icx", "PolicyName": "s3",
         "PolicyDocument": IAM_POLICY})
    return between(out, "AccessKeyId"), between(out, "SecretAccessKey")


class Faults:
    """What the proxy does to the next requests; shared by its threads."""
    lock = threading.Lock()
    left = 0
    skip = 0
    mode = "503"
    failed = 0
    forwarded = 0

    @classmethod
    def take(cls):
        with cls.lock:
            if cls.skip > 0:
                cls.skip -= 1
            elif cls.left > 0:
                cls.left -= 1
                cls.failed += 1
                return cls.mode
            cls.forwarded += 1
            return None


def make_proxy(moto_port):
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_one(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__icx/fail"):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                with Faults.lock:
                    Faults.left = int(q["n"][0])
                    Faults.mode = q.get("mode", ["503"])[0]
                    Faults.skip = int(q.get("after", ["0"])[0])
                return self.reply(200, b"ok")
            if self.path.startswith("/__icx/count"):
                return self.reply(200, b"%d %d" % (Faults.failed, Faults.forwarded))
            fault = Faults.take()
            if fault == "reset":
                # SO_LINGER 0: close() sends RST, as a dropped connection.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\1\0\0\0\0\0\0\0")
                self.close_connection = True
                return
            if fault == "503":
                return self.reply(503, b"<?xml version=\"1.0\"?><Error><Code>SlowDown"
                                  b"</Code><Message>Please reduce your request rate."
                                  b"</Message></Error>", "application/xml")
            up = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=120)
            up.putrequest(self.command, self.path, skip_host=True,
                          skip_accept_encoding=True)
            for name, value in self.headers.items():
                up.putheader(name, value)
            up.endheaders(body if length else None)
            r = up.getresponse()
            data = r.read()
            self.send_response(r.status)
            for name, value in r.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding",
                                        "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            up.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    args = sys.argv[1:]
    auth = "--auth" in args
    buckets = [args[i + 1] for i, a in enumerate(args) if a == "--bucket"]
    moto = find_moto()
    if not moto:
        sys.exit("s3server: moto_server not found on PATH or in ~/.pyenv "
                 "(moto is installed in the machine's python3, not Debian's)")
    port = free_port()
    env = dict(os.environ)
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(3 + len(buckets))
    parent = os.getppid()
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def stop(*_):
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        wait_listening(port, proc)
        key, secret = iam_user(port) if auth else ("-", "-")
        for b in buckets:
            call(port, "PUT", "/" + b)
        proxy = make_proxy(port)
    except BaseException:
        proc.kill()
        raise
    print(port, proxy, os.getpid(), key, secret, flush=True)
    # A test that dies closes its end of our stdout and then waits for us
    # (pclose): a closed reader shows as POLLERR on the pipe.
    watch = select.poll()
    watch.register(sys.stdout.fileno(), select.POLLERR)
    deadline = time.monotonic() + 300
    while os.getppid() == parent and time.monotonic() < deadline:
        if watch.poll(500):
            break
    stop()


if __name__ == "__main__":
    main()
