"""The destinations an e2e case runs against, one object per driver, so a
case is written once and run for each (SQLite, JSONL, DuckDB, PostgreSQL on
a server of its own; a new driver is one class and one line of DRIVERS):

    import dest_drivers
    with dest_drivers.each(t, work) as drivers:
        for d in drivers:
            d.name, d.uri                # "sqlite", what --dest takes
            d.ids("tags")                # sorted ids of a table (or of a
                                         # staging table or file by name)
            d.landed("items", "e2e")     # (cursor, ids) as one reader sees
                                         # them at one moment: what committed
            d.staged("tags")             # unfinished replace tables or files
            d.compare(t, "records", truth)   # TAP checks: the table holds
                                         # exactly the truth records (0: equal)
            d.snapshot("records")        # what a reader sees, to compare runs
            d.ahead                      # rows may run ahead of the cursor
    with dest_drivers.each(t, work, lake=True) as drivers:
                                         # and Parquet files, local and on S3
    dest_drivers.write_pages(work, uri, "records", pages_dir, 1, n)
                                         # icx lua: one transaction per page
    with dest_drivers.Moto() as s3:      # a moto_server of the test's own
        s3.uri("prefix"), s3.mirror("prefix", local_dir)

PostgreSQL is part of every case, and S3 of every lake case: without
their servers the case fails (a skipped destination would pass
unnoticed). The lake destinations publish files before the cursors that
vouch for them, so after a kill their rows may run ahead of the cursor
(ahead = True): the rerun reads those records again and the latest-per-key
view keeps one row per key."""
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from decimal import Decimal

from icxtest import ICX  # first: it puts tests/lib and tests/sim on the path
import landed  # noqa: E402
import landed_pg  # noqa: E402
import pgserver  # noqa: E402
import s3server  # noqa: E402

# icx lua PAGE_WRITER DEST TABLE PAGES_DIR FIRST LAST: pages FIRST..LAST of
# PAGES_DIR/N.json into TABLE (merge, key id), one transaction per page
# with the cursor ("e2e", TABLE) = N.
PAGE_WRITER = r'''
local dest = require "icx.dest"
local json = require "icx.json"
local uri, name, pdir, first, last = ...
local d = dest.open(uri)
local t = d:table { name = name, primary_key = "id", mode = "merge" }
for i = tonumber(first), tonumber(last) do
  local f = assert(io.open(pdir .. "/" .. i .. ".json", "rb"))
  local body = f:read("a")
  f:close()
  d:begin()
  t:write(assert(json.page(body, "data")))
  d:cursor_set("e2e", name, "page", i)
  d:commit()
end
d:close()
'''


def write_pages(t, work, uri, table, pages, first, last):
    """Runs PAGE_WRITER; returns the finished process (stderr shown on failure)."""
    script = os.path.join(work, "page_writer.lua")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(PAGE_WRITER)
    p = subprocess.run([ICX, "lua", script, uri, table, pages, str(first), str(last)], cwd=work,
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        t.diag("icx exited %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-2000:]))
    return p


class Sqlite:
    name = "sqlite"
    ahead = False

    def __init__(self, work):
        self.db = os.path.join(work, "dest.db")
        self.uri = self.db

    def _con(self):
        return sqlite3.connect(self.db, timeout=30)

    def ids(self, table):
        c = self._con()
        try:
            if not c.execute("select 1 from sqlite_schema where name = ?", (table,)).fetchone():
                return []
            return sorted(r[0] for r in c.execute('select id from "%s"' % table))
        finally:
            c.close()

    def landed(self, table, connection):
        """One read transaction: the cursor and the rows it vouches for."""
        c = self._con()
        try:
            c.execute("begin")
            cur = c.execute("select value from _icx_state where connection = ? and asset = ?",
                            (connection, table)).fetchone() \
                if c.execute("select 1 from sqlite_schema where name = '_icx_state'").fetchone() else None
            ids = [r[0] for r in c.execute('select id from "%s"' % table)] \
                if c.execute("select 1 from sqlite_schema where name = ?", (table,)).fetchone() else []
            c.execute("rollback")
        finally:
            c.close()
        return (int(cur[0]) if cur else 0), sorted(ids)

    def compare(self, t, table, truth, name=None):
        return landed.compare(t, self.db, table, truth, name=name)

    def snapshot(self, table):
        c = self._con()
        try:
            cols = [r[0] for r in c.execute('select name from pragma_table_info("%s") order by cid' % table)]
            sel = " || '|' || ".join("quote(\"%s\") || typeof(\"%s\")" % (x.replace('"', '""'), x.replace('"', '""'))
                                     for x in cols)
            return sorted(r[0] for r in c.execute('select %s from "%s"' % (sel, table)))
        finally:
            c.close()

    def staged(self, table):
        c = self._con()
        try:
            return [r[0] for r in c.execute("select name from sqlite_schema where name like "
                                            "'\\_icx\\_stage\\_%\\_' || ? escape '\\'", (table,))]
        finally:
            c.close()


class Jsonl:
    """Rows are lines of DIR/TABLE.jsonl; a committed page is the part of
    the file up to its committed length in the state file (bytes past it
    belong to a page whose cursor never moved: the next open cuts them)."""
    name = "jsonl"
    ahead = False

    def __init__(self, work):
        self.dir = os.path.join(work, "out")
        self.uri = "jsonl:" + self.dir
        self.state = os.path.join(self.dir, ".icx-state.db")

    def ids(self, table):
        path = table if os.path.isabs(table) else os.path.join(self.dir, table + ".jsonl")
        if not os.path.exists(path):
            return []
        with open(path, "rb") as f:
            return sorted(json.loads(x)["id"] for x in f.read().splitlines())

    def landed(self, table, connection):
        if not os.path.exists(self.state):
            return 0, []
        c = sqlite3.connect(self.state, timeout=30)
        try:
            cur = c.execute("select value from _icx_state where connection = ? and asset = ?",
                            (connection, table)).fetchone()
            size = c.execute("select size from _icx_files where path = ?",
                             (os.path.join(self.dir, table + ".jsonl"),)).fetchone()
        finally:
            c.close()
        path = os.path.join(self.dir, table + ".jsonl")
        data = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
        committed = data[:size[0]] if size else b""
        return (int(cur[0]) if cur else 0), sorted(json.loads(x)["id"] for x in committed.splitlines())

    def latest(self, table):
        """{id: record}: the last line of each key, as consumers read it."""
        out = {}
        path = os.path.join(self.dir, table + ".jsonl")
        if os.path.exists(path):
            with open(path, "rb") as f:
                for line in f.read().splitlines():
                    rec = json.loads(line)
                    out[rec["id"]] = rec
        return out

    def compare(self, t, table, truth, name=None):
        name = name or table
        got = self.latest(table)
        want = {r["id"]: r for r in truth}
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        t.is_(len(got), len(want), "%s: %d keys landed" % (name, len(want)))
        t.ok(not missing and not extra, "%s: no record missing, no extra key" % name)
        diffs = [k for k, r in want.items() if k in got and not (got[k] == r and landed._same_types(got[k], r))]
        t.ok(not diffs, "%s: every record value-equal, types included" % name)
        for k in diffs[:5]:
            t.diag("key %r: got %r, want %r" % (k, got[k], want[k]))
        return len(missing) + len(extra) + len(diffs)

    def snapshot(self, table):
        return json.dumps(self.latest(table), sort_keys=True)

    def staged(self, table):
        return [f for f in os.listdir(self.dir) if f.startswith(table + ".jsonl.") and f.endswith(".tmp")]


DUCKREAD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lua", "duckread.lua")


class Duckdb:
    """Read back through ./icx itself (tests/e2e/lua/duckread.lua): Python
    has no DuckDB module. Values come as DuckDB's text of them and are
    typed here by the column's kind, then judged as PostgreSQL's are (the
    same kinds: docs/DUCKDB.md)."""
    name = "duckdb"
    ahead = False

    def __init__(self, work):
        self.db = os.path.join(work, "dest.duckdb")
        self.uri = "duckdb:" + self.db

    def _read(self, *args):
        if not os.path.exists(self.db):
            return None
        p = subprocess.run([ICX, "lua", DUCKREAD, self.db] + list(args), capture_output=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("duckread: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
        return json.loads(p.stdout)

    @staticmethod
    def _value(kind, text):
        if text is None:
            return None
        if kind == "bigint":
            return int(text)
        if kind == "double":
            return float(text)
        if kind == "boolean":
            return text == "true"
        if kind == "numeric":
            return Decimal(text)
        return text

    def _rows(self, table):
        """({id: {field: value}}, field -> (column, kind))."""
        got = self._read("rows", table) or {"cols": [], "rows": []}
        fields = [c[0] for c in got["cols"]]
        kinds = {c[0]: (c[0], c[1]) for c in got["cols"]}
        out = {}
        for r in got["rows"]:
            d = {f: self._value(kinds[f][1], v) for f, v in zip(fields, r)}
            out[d.get("id")] = d
        return out, kinds

    def ids(self, table):
        return sorted(self._rows(table)[0])

    def landed(self, table, connection):
        got = self._read("landed", table, connection)
        if not got:
            return 0, []
        c = got.get("cursor")
        return (int(c) if c is not None else 0), sorted(got["ids"])

    def compare(self, t, table, truth, name=None):
        rows, cols = self._rows(table)
        return landed_pg.compare_rows(t, {(k,): v for k, v in rows.items()}, cols, truth, name=name or table)

    def snapshot(self, table):
        return json.dumps(self._read("rows", table), sort_keys=True)

    def staged(self, table):
        return [n for n in (self._read("tables", "_icx_stage_") or []) if n.endswith("_" + table)]


def read_lake(kind, path, table, key=("id",)):
    """(rows as dicts, field -> (column, kind)) of a DuckDB file's table
    (kind "duckdb") or a Parquet directory's (kind "parquet", through the
    latest-per-key view), typed as landed_pg judges them. Parquet keeps
    DuckDB's types, not icx's kinds: VARCHAR is an id for `id`, `*_id` and
    key fields, else text."""
    args = ["rows", table] if kind == "duckdb" else ["parquet", table, ",".join(key)]
    p = subprocess.run([ICX, "lua", DUCKREAD, path] + args, capture_output=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("duckread: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
    got = json.loads(p.stdout)
    types = {"BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean", "JSON": "json"}
    kinds = {}
    for field, k in got["cols"]:
        if kind == "parquet":
            k = types.get(k, "id" if landed.is_id(field) or field in key else "text")
        kinds[field] = (field, k)
    fields = [c[0] for c in got["cols"]]
    rows = [{f: Duckdb._value(kinds[f][1], v) for f, v in zip(fields, r)} for r in got["rows"]]
    return rows, kinds


def compare_lake(t, kind, path, table, truth, key=("id",), name=None):
    """landed_pg's checks on a DuckDB or Parquet table (read_lake)."""
    rows, kinds = read_lake(kind, path, table, key)
    got = {tuple(r.get(k) for k in key): r for r in rows}
    return landed_pg.compare_rows(t, got, kinds, truth, key=key, name=name or table)


class Postgres:
    name = "postgresql"
    ahead = False

    def __init__(self, server):
        self.server = server
        self.uri = server.uri()
        self.con = server.connect()  # autocommit: every statement reads a fresh snapshot
        self.cur = self.con.cursor()

    def ids(self, table):
        self.cur.execute("select to_regclass(%s) is not null", ('public."%s"' % table,))
        if not self.cur.fetchone()[0]:
            return []
        self.cur.execute('select id from "%s"' % table)
        return sorted(r[0] for r in self.cur.fetchall())

    def landed(self, table, connection):
        """One statement, so one snapshot: a killed client's backend may
        still be committing its last page, and two reads could straddle
        that commit and show a mismatch no reader ever sees."""
        self.cur.execute("select to_regclass(%s) is not null, to_regclass('public._icx_state') is not null",
                         ('public."%s"' % table,))
        has_table, has_state = self.cur.fetchone()
        if not has_state:
            return 0, []
        cursor = "(select value::text from _icx_state where connection = %s and asset = %s)"
        if has_table:
            self.cur.execute("select %s, array(select id from \"%s\")" % (cursor, table), (connection, table))
            c, ids = self.cur.fetchone()
        else:
            self.cur.execute("select " + cursor, (connection, table))
            c, ids = self.cur.fetchone()[0], []
        return (int(c) if c is not None else 0), sorted(ids)

    def compare(self, t, table, truth, name=None):
        return landed_pg.compare(t, self.con, table, truth, name=name)

    def snapshot(self, table):
        self.cur.execute('select md5(string_agg(r::text, \'|\' order by r::text)) from "%s" r' % table)
        return self.cur.fetchone()[0]

    def staged(self, table):
        self.cur.execute("select relname from pg_class where relname like '\\_icx\\_new\\_' || %s || '\\_%%' "
                         "and relkind = 'r'", (table,))
        return [r[0] for r in self.cur.fetchall()]

    def close(self):
        self.con.close()


# icx lua MIRROR s3://BUCKET/PREFIX [DIR]: prints every key under PREFIX
# and, given DIR, writes each object to DIR/KEY (through icx.objstore.s3
# and the AWS_* variables: Debian's python3 has no S3 client).
MIRROR = r'''
local s3 = require "icx.objstore.s3"
local sys = require "icx.sys"
local uri, into = ...
local st = s3.open(uri)
for _, k in ipairs(st:list("")) do
  print(k)
  if into then
    local path = into .. "/" .. k
    assert(sys.mkdir(path:match("^(.*)/")))
    local f = assert(io.open(path, "wb"))
    f:write((assert(st:get(k))))
    f:close()
  end
end
'''


class Moto:
    """moto_server on a free port with one bucket, for as long as the
    case runs (tests/lib/s3server.py's stops after 300 s). It takes any
    credentials; icx gets them from AWS_* variables set here (children
    inherit them), and its cache directory is moved under the case's."""

    def __init__(self, bucket="lake", cache=None):
        moto = s3server.find_moto()
        if not moto:
            raise RuntimeError("moto_server not found: the S3 destination cannot be tested")
        self.bucket = bucket
        self.port = s3server.free_port()
        self.proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            s3server.wait_listening(self.port, self.proc)
            s3server.call(self.port, "PUT", "/" + bucket)
        except BaseException:
            self.proc.kill()
            raise
        self.endpoint = "http://127.0.0.1:%d" % self.port
        os.environ.update(AWS_ACCESS_KEY_ID="AKIDMOTO", AWS_SECRET_ACCESS_KEY="moto-secret-0123456789",
                          AWS_REGION="us-east-1", AWS_ENDPOINT_URL=self.endpoint)
        if cache:
            os.environ["XDG_CACHE_HOME"] = cache

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def uri(self, prefix, rows=None):
        return "s3://%s/%s%s" % (self.bucket, prefix, "?rows=%d" % rows if rows else "")

    def _mirror(self, prefix, into):
        script = os.path.join(os.environ.get("XDG_CACHE_HOME") or "/tmp", "icx-s3-mirror.lua")
        if not os.path.exists(script):
            os.makedirs(os.path.dirname(script), exist_ok=True)
            with open(script, "w") as f:
                f.write(MIRROR)
        p = subprocess.run([ICX, "lua", script, self.uri(prefix)] + ([into] if into else []),
                           capture_output=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError("s3 mirror: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
        return p.stdout.decode().split()

    def keys(self, prefix):
        """Every object key under prefix/ (relative to it), sorted."""
        return self._mirror(prefix, None)

    def mirror(self, prefix, into):
        """The objects under prefix/ as files under into (emptied first)."""
        shutil.rmtree(into, ignore_errors=True)
        self._mirror(prefix, into)
        return into


class Parquet:
    """parquet:DIR, one file per commit (?rows=1), read back through the
    latest-per-key view (duckread.lua's parquet); the cursor from
    DIR/_icx/state.duckdb."""
    name = "parquet"
    ahead = True

    def __init__(self, work):
        self.dir = os.path.join(work, "lake")
        self.uri = "parquet:%s?rows=1" % self.dir

    def local(self):
        """The directory of files and state as a reader sees it now."""
        return self.dir

    def ids(self, table):
        d = self.local()
        if not os.path.isdir(os.path.join(d, table)):
            return []
        rows, _ = read_lake("parquet", d, table)
        return sorted(r["id"] for r in rows)

    def landed(self, table, connection):
        d = self.local()
        state = os.path.join(d, "_icx", "state.duckdb")
        if not os.path.exists(state):
            return 0, []
        p = subprocess.run([ICX, "lua", DUCKREAD, state, "landed", table, connection], capture_output=True,
                           timeout=120)
        if p.returncode != 0:
            raise RuntimeError("duckread: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
        c = json.loads(p.stdout).get("cursor")
        ids = sorted(r["id"] for r in read_lake("parquet", d, table)[0]) \
            if os.path.isdir(os.path.join(d, table)) else []
        return (int(c) if c is not None else 0), ids

    def compare(self, t, table, truth, name=None):
        return compare_lake(t, "parquet", self.local(), table, truth, name=name)

    def snapshot(self, table):
        return json.dumps(read_lake("parquet", self.local(), table), sort_keys=True, default=str)

    def staged(self, table):
        cur = os.path.join(self.local(), "_icx", "tables", table + ".json")
        keep = set(json.load(open(cur))["files"]) if os.path.exists(cur) else set()
        d = os.path.join(self.local(), table)
        return [f for f in (os.listdir(d) if os.path.isdir(d) else []) if table + "/" + f not in keep]


class S3(Parquet):
    """s3://BUCKET/PREFIX on the case's moto, read through a local mirror
    of the bucket's objects (DuckDB here cannot read S3 itself)."""
    name = "s3"

    def __init__(self, work, moto):
        self.moto = moto
        self.mirror_dir = os.path.join(work, "s3-mirror")
        self.uri = moto.uri("e2e", rows=1)

    def local(self):
        return self.moto.mirror("e2e", self.mirror_dir)


@contextlib.contextmanager
def each(t, work, lake=False):
    """The drivers, each on a destination of its own under work; with
    lake, Parquet (local and on S3) too."""
    drivers = [Sqlite(os.path.join(work, "sqlite")), Jsonl(os.path.join(work, "jsonl")),
               Duckdb(os.path.join(work, "duckdb"))]
    for d in drivers:
        os.makedirs(os.path.dirname(d.uri.replace("jsonl:", "").replace("duckdb:", "")), exist_ok=True)
    with contextlib.ExitStack() as stack:
        if lake:
            drivers.append(Parquet(os.path.join(work, "parquet")))
            try:
                moto = stack.enter_context(Moto(cache=os.path.join(work, "cache")))
                drivers.append(S3(os.path.join(work, "s3"), moto))
            except RuntimeError as e:
                t.ok(False, "%s: the s3 driver is untested" % e)
        if not pgserver.available():
            t.ok(False, "PostgreSQL server binaries or psycopg2 missing (%s): the postgresql driver is untested"
                 % pgserver.BIN)
            yield drivers
            return
        with pgserver.PgServer() as server:
            pg = Postgres(server)
            try:
                yield drivers + [pg]
            finally:
                pg.close()
