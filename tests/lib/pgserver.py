"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary
directory, listening on a free 127.0.0.1 port and on a unix socket inside
that directory, stopped and removed at the end.

    sys.path.insert(0, "<repo>/tests/lib")
    import pgserver
    pgserver.require_or_skip(tap)      # skip_all unless CI, when missing
    with pgserver.PgServer() as pg:
        pg.uri()                       # postgresql://icx:PASSWORD@127.0.0.1:PORT/icx
        pg.uri(schema="s2")            # ...?schema=s2
        pg.password                    # the test role's password (random)
        con = pg.connect()             # psycopg2 connection as the test role
        pg.psql("select 1")            # superuser query over the socket -> rows

PostgreSQL refuses to run as root: when euid is 0 the server runs as
Debian's `postgres` user (runuser), and the directory belongs to it. The test
role `icx` authenticates with a password (scram-sha-256 over TCP), so the
password handling of icx is exercised; the superuser connects over the
socket with peer/trust auth only for the harness's own queries.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("ICX_PG_BIN", "/usr/lib/postgresql/15/bin")


def available():
    """Whether the server binaries and psycopg2 are installed."""
    if not all(os.access(os.path.join(BIN, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
        return False
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return False
    return True


def require_or_skip(tap):
    """Skip the whole test when PostgreSQL is missing, except in CI, where
    a missing server is a failure (CI installs it with `make deps`)."""
    if available():
        return
    if os.environ.get("CI") == "true":
        tap.ok(False, "PostgreSQL server binaries or psycopg2 missing in CI (%s)" % BIN)
        tap.done_testing()
    sys.stdout.write("1..0 # SKIP PostgreSQL server binaries or psycopg2 not installed\n")
    sys.exit(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgServer:
    """One PostgreSQL cluster (a context manager)."""

    def __init__(self, role="icx", database="icx", password=None, keep=False):
        self.role, self.database = role, database
        # Characters a URI must percent-encode, so icx's parsing is tested.
        self.password = password or ("pw:@/%s#?&" % secrets.token_hex(8))
        self.keep = keep
        self.dir = None
        self.port = None
        self.as_postgres = os.geteuid() == 0

    def _cmd(self, argv):
        if self.as_postgres:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, **kw):
        return subprocess.run(self._cmd(argv), capture_output=True, text=True, **kw)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="icx-pg-")
        os.chmod(self.dir, 0o700)
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        r = self._run([os.path.join(BIN, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8",
                       "--locale=C", "-A", "trust", "--no-sync"])
        if r.returncode != 0:
            raise RuntimeError("initdb failed: %s" % r.stderr[-2000:])
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            # The socket is in the private directory: trust there is the
            # harness's own access. TCP needs the password.
            f.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        for _ in range(20):
            self.port = free_port()
            r = self._run([os.path.join(BIN, "pg_ctl"), "-D", data, "-w", "-t", "60", "-l",
                           os.path.join(self.dir, "server.log"), "-o",
                           "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off "
                           "-c max_connections=40 -c shared_buffers=32MB" % (self.port, self.dir),
                           "start"])
            if r.returncode == 0:
                break
            if "could not bind" not in self.log():
                raise RuntimeError("pg_ctl start failed: %s %s" % (r.stderr, self.log()[-2000:]))
        else:
            raise RuntimeError("no free port for PostgreSQL")
        pw = self.password.replace("'", "''")
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.role, pw), db="postgres")
        self.psql("CREATE DATABASE %s OWNER %s" % (self.database, self.role), db="postgres")
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, failed=False):
        if not self.dir:
            return
        self._run([os.path.join(BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m",
                   "immediate", "-w", "stop"])
        if failed or self.keep:
            sys.stdout.write("# PostgreSQL files kept in %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        tap = sys.modules.get("tap")
        failed = exc_type is not None or (tap is not None and tap.failed() > 0)
        self.stop(failed=failed)
        return False

    def uri(self, schema=None, password=None, scheme="postgresql", extra=""):
        """The URI icx is given: the password percent-encoded."""
        from urllib.parse import quote
        pw = self.password if password is None else password
        q = []
        if schema:
            q.append("schema=" + schema)
        if extra:
            q.append(extra)
        return "%s://%s:%s@127.0.0.1:%d/%s%s" % (scheme, self.role, quote(pw, safe=""), self.port,
                                                 self.database, ("?" + "&".join(q)) if q else "")

    def connect(self, **kw):
        """A psycopg2 connection as the test role (autocommit)."""
        import psycopg2
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.role,
                               password=self.password, dbname=self.database, **kw)
        con.autocommit = True
        return con

    def psql(self, sql, db=None):
        """Runs sql as the superuser over the socket; returns rows (lists of
        strings, unaligned)."""
        r = self._run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h",
                       self.dir, "-p", str(self.port), "-U", "postgres", "-d",
                       db or self.database, "-c", sql])
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr)
        return [line.split("\t") for line in r.stdout.splitlines() if line]


def serve(path):
    """`pgserver.py serve FILE`: for tests run by `icx lua` (tests/lua/
    pg.lua). Writes "SKIP reason" or the URI and password to FILE, then
    keeps the server until its stdin closes (the test ends, or dies)."""
    if not available():
        with open(path, "w") as f:
            f.write("SKIP PostgreSQL server binaries or psycopg2 not installed\n")
        return
    with PgServer() as pg:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%s\n%s\n%s %d\n" % (pg.uri(), pg.password, pg.dir, pg.port))
        os.rename(tmp, path)
        sys.stdin.read()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit("usage: pgserver.py serve FILE")
