"""Shared helpers for the numbered e2e cases (01NN-*.t): a case directory
with a connections.yml pointing at the simulator, icx runs with captured
output, and the directory kept under tests/e2e/cases-kept/ when a case fails.

    import icxtest
    from simctl import Sim
    with Sim(contacts=30) as sim, icxtest.Case("0101-check", sim) as case:
        r = case.icx("check")                 # ./icx --config ... check
        r = case.lua("walk.lua", "--style", "cursor", ...)   # tests/e2e/lua/
        r.rc, r.out, r.err, r.json()          # json(): last stdout line
        tap.ok(..., "name")
    tap.done_testing()

ICX names the binary (default ./icx, relative to the repository root).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import tap  # noqa: E402

ICX = os.path.abspath(os.path.join(ROOT, os.environ.get("ICX", "icx")))
LUA_DIR = os.path.join(ROOT, "tests", "e2e", "lua")
KEPT = os.path.join(ROOT, "tests", "e2e", "cases-kept")


def _uncaught(kind, value, tb):
    """An exception escaping a case is one failed test with its traceback
    and a plan, so prove reports what broke instead of "no plan found"."""
    tap.ok(False, "uncaught %s: %s" % (kind.__name__, value))
    tap.diag("".join(traceback.format_exception(kind, value, tb)))
    tap.done_testing()


sys.excepthook = _uncaught


def events(text):
    """The JSON lines of a run's stderr (--log-format json), in order."""
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def query(db, sql, *args):
    """Rows of one query on a SQLite file, the connection closed after."""
    c = sqlite3.connect(db)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


class Result:
    """One icx run: exit code, stdout, stderr (text)."""

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def json(self):
        """The last non-empty stdout line parsed as JSON (driver reports)."""
        lines = [x for x in self.out.splitlines() if x.strip()]
        if not lines:
            raise ValueError("no output; stderr: %s" % self.err[-2000:])
        return json.loads(lines[-1])

    def __repr__(self):
        return "<Result rc=%d err=%r>" % (self.rc, self.err[-500:])


class Case:
    """A temporary case directory with connections.yml for one simulator.

    `extra` is appended to the connection (YAML lines indented six spaces,
    e.g. "      timeout: 1\\n"). The token comes from the environment, as
    users are told to do, so it is never written into the file."""

    def __init__(self, name, sim, extra="", conn_name="sim", token=None):
        self.name = name
        self.sim = sim
        self.token = token if token is not None else sim.token
        self.dir = tempfile.mkdtemp(prefix="icx-%s-" % name)
        self.config = os.path.join(self.dir, "connections.yml")
        with open(self.config, "w") as f:
            f.write("connections:\n  intercom:\n    - name: %s\n"
                    "      access_token: \"{{ env_var('ICX_TEST_TOKEN') }}\"\n"
                    "      base_url: %s\n%s" % (conn_name, sim.url, extra))
        self.runs = 0
        self.failed_before = tap.failed()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None or tap.failed() > self.failed_before
        if failed:
            os.makedirs(KEPT, exist_ok=True)
            dest = os.path.join(KEPT, self.name)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(self.dir, dest)
            tap.diag("case directory kept in %s" % dest)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def run(self, argv, env=None, timeout=300):
        """Runs argv in the case dir; saves its output there as runN.*."""
        e = dict(os.environ, ICX_TEST_TOKEN=self.token)
        e.pop("ICX_CONFIG", None)
        e.update(env or {})
        try:
            p = subprocess.run(argv, cwd=self.dir, env=e, capture_output=True,
                               timeout=timeout)
            r = Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                       p.stderr.decode("utf-8", "replace"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            # A binary being relinked or a hung run: a failed result, with
            # the reason where stderr would be.
            r = Result(argv, -1, "", "%s: %s" % (type(exc).__name__, exc))
        self.runs += 1
        base = os.path.join(self.dir, "run%d" % self.runs)
        with open(base + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\nexit %d\n" % r.rc)
        with open(base + ".out", "w") as f:
            f.write(r.out)
        with open(base + ".err", "w") as f:
            f.write(r.err)
        return r

    def icx(self, *args, env=None, timeout=300):
        """./icx COMMAND --config connections.yml ARGS."""
        args = list(args)
        return self.run([ICX, args[0], "--config", self.config] + args[1:],
                        env=env, timeout=timeout)

    def lua(self, driver, *args, env=None, timeout=300):
        """./icx lua tests/e2e/lua/DRIVER CONFIG ARGS (the driver's first
        argument is always the connections file)."""
        return self.run([ICX, "lua", os.path.join(LUA_DIR, driver),
                         self.config] + list(args), env=env, timeout=timeout)


def requests_to(sim, path, method=None):
    """Entries of the sim's request log for one path (and method)."""
    return [r for r in sim.request_log() if r["path"] == path and
            (method is None or r["method"] == method)]


class Terminal:
    """Enough of a VT100 to replay what icx wrote to a terminal: text, CR,
    LF, cursor up (ESC [ n A), clear to end of screen (ESC [ J), clear line
    (ESC [ 2K), cursor shown/hidden (ESC [ ? 25 h/l). Anything else is an
    error, so a test notices a sequence the display should not send.
    lines: the screen (scrollback included) after the replay."""

    def __init__(self, data):
        import re
        self.lines, self.row, self.col, self.cursor_shown = [""], 0, 0, True
        self.ups = 0
        pos = 0
        seq = re.compile(r"\x1b\[(\??)(\d*)([A-Za-z])")
        while pos < len(data):
            ch = data[pos]
            if ch == "\x1b":
                m = seq.match(data, pos)
                if not m:
                    raise ValueError("unknown escape at %d: %r" % (pos, data[pos:pos + 10]))
                q, n, op = m.group(1), m.group(2), m.group(3)
                if q == "?" and n == "25" and op in "hl":
                    self.cursor_shown = op == "h"
                elif op == "A":
                    self.row = max(0, self.row - int(n or 1))
                    self.ups += 1
                elif op == "J":
                    del self.lines[self.row + 1:]
                    self.lines[self.row] = self.lines[self.row][:self.col]
                elif op == "K" and n == "2":
                    self.lines[self.row] = ""
                else:
                    raise ValueError("unexpected escape %r" % m.group(0))
                pos = m.end()
                continue
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row += 1
                self.col = 0
                if self.row == len(self.lines):
                    self.lines.append("")
            else:
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[:self.col] + ch + line[self.col + 1:]
                self.col += 1
            pos += 1
        while self.lines and self.lines[-1] == "":
            self.lines.pop()


def run_in_pty(argv, cwd, env=None, cols=120, rows=24, on_output=None, timeout=300):
    """Runs argv with a pseudo-terminal as stdin, stdout and stderr (TERM
    xterm, the given size); returns (exit code, everything it wrote, as
    text). on_output(pid, text_so_far) is called as output arrives (to send
    a signal mid-run)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time
    e = dict(os.environ, TERM="xterm")
    e.update(env or {})
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, e)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if on_output:
            on_output(pid, out.decode("utf-8", "replace"))
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    rc = os.waitstatus_to_exitcode(status)
    return rc, out.decode("utf-8", "replace")
