/*
** lpg.c: icx.pg, the PostgreSQL side of icx's destinations over libpq, and
** its typed record writer (docs/ARCHITECTURE.md, "The record path").
**
**   icx.pg.connect(conninfo [, opts]) -> Conn | nil, err, code
**       conninfo: a postgresql:// URI or "key=value ..." string as libpq
**       takes it (the caller strips icx's own ?schema=); unset parts come
**       from libpq's conventions (PGHOST, PGUSER, PGPASSWORD, ~/.pgpass,
**       service files). opts: connect_timeout = seconds (default 10)
**   icx.pg.quote(name) -> string        "name" with inner quotes doubled
**   icx.pg.ident(name [, room]) -> string
**       name as a PostgreSQL identifier of at most 63 - room bytes: itself
**       when it fits, else a prefix cut at a UTF-8 boundary, "_" and 8 hex
**       digits of a hash of the whole name (so long names stay apart)
**   icx.pg.libpq_version() -> integer   e.g. 150020
**
**   conn:exec(sql) -> true | nil, err, code       one or more statements
**   conn:query(sql, ...) -> rows | nil, err, code  $1.. bound as text;
**       rows[i][column] = value: int2/4/8 -> integer, float4/8 -> float,
**       bool -> boolean, NULL -> absent, everything else -> string
**   conn:begin() -> true | nil, err, code
**   conn:commit() -> true | nil, err, code   a failed transaction is an error
**   conn:rollback() -> true | nil, err, code  no-op outside a transaction
**   conn:in_transaction() -> boolean
**   conn:pid() -> integer                    the server backend's pid
**   conn:server_version() -> integer         e.g. 150020
**   conn:writer(schema, table, {primary_key = {field, ...}}) -> Writer
**   conn:close()
**
**   w:write(page | json) -> n | nil, err, code
**       page: an icx.json.Page; json: the text of one record object or of an
**       array of them. Call it inside a transaction (conn:begin()).
**   w:columns() -> {{field =, column =, kind =}, ...}   as last loaded
**   w:close()
**
** Error codes: "conninfo" (a URI libpq cannot parse), "auth", "connect",
** "connection" (lost), "constraint", "deadlock", "serialization",
** "permission", "aborted" (a statement after a failed one), "pg", "nomem",
** and "record" for a record the writer cannot store.
**
** The writer. Each page goes in with COPY into a temporary staging table
** (one per writer, ON COMMIT DELETE ROWS), then one INSERT ... SELECT
** DISTINCT ON (primary key) ... ORDER BY key, position DESC ... ON CONFLICT
** DO UPDATE moves it into the table: the last occurrence of a key in the
** page wins, and every column is set, so the row becomes exactly the
** latest record (absent fields NULL). The COPY text is built here straight
** from the page's raw slices: no value passes through a Lua number.
**
** Declared types, per column (its "kind", kept in <schema>._icx_columns
** with the field -> column mapping, so both are stable across runs):
**   id      text: `id`, `*_id` and primary key columns, whatever the value
**           (numbers as their literal, objects/arrays as minified JSON)
**   boolean, bigint (integers in int64), numeric (integers beyond int64, or
**           integers and non-integers mixed: exact for both), double
**           precision (non-integers: strtod of the literal, printed
**           shortest-exact), text (strings)
**   json    objects and arrays as sent (json, not jsonb: jsonb reorders and
**           drops duplicate keys, rejects \u0000 and rewrites numbers),
**           and any column whose values mix kinds (each value stored as its
**           JSON literal), or that receives a string holding \u0000 (text
**           cannot hold a NUL byte), or a number no double holds (1e400)
**   null    text, a column that has only ever held NULL
** A column only widens (null -> anything; bigint/double -> numeric;
** anything else mixed -> json), with ALTER COLUMN TYPE ... USING a
** conversion that keeps every stored value exact.
**
** Concurrency: a write takes pg_advisory_xact_lock(hashtext('icx:' ||
** schema || '.' || table)) before reading _icx_columns, so two processes
** never race on DDL of one table and never COPY with a stale idea of its
** types. The lock ends with the page's transaction.
**
** Column names: the member name itself when it is 1-63 bytes and does not
** start with "_icx_"; otherwise icx.pg.ident's truncated-plus-hash form,
** with "_2", "_3" ... appended should that still collide. A member name
** holding a NUL byte cannot be a column: the record is refused.
*/

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <libpq-fe.h>
#include <lua.h>

#include "buf.h"
#include "colindex.h"
#include "jscan.h"
#include "ljson.h"
#include "modules.h"
#include "opts.h"

#define CONN_MT "icx.pg.Conn"
#define WRITER_MT "icx.pg.Writer"
#define RESULT_MT "icx.pg.Result" /* internal: a result being converted */

#define MAX_IDENT 63         /* NAMEDATALEN - 1 */
#define COPY_CHUNK (1 << 16) /* bytes handed to PQputCopyData at once */
#define CONNECT_TIMEOUT "10"

/* pg_type OIDs of the result columns converted to Lua values. */
#define BOOLOID 16
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define FLOAT4OID 700
#define FLOAT8OID 701

/* A connection. Writers pin it with a user value. */
typedef struct {
  PGconn *pg;      /* owned; NULL once closed */
  unsigned gen;    /* bumped by rollback: staging tables may be gone */
  unsigned txn;    /* bumped by begin: tells a writer its stage is reused */
  unsigned nstage; /* serial for the names of writers' staging tables */
} Conn;

/* A query result held while its rows become Lua tables: a memory error
** raised meanwhile leaves __gc to clear it. */
typedef struct {
  PGresult *r; /* owned; NULL once cleared */
} Result;

/* Column kinds, in _icx_columns.kind by name (see the header). */
enum { K_NULL, K_BOOL, K_INT, K_NUMERIC, K_FLOAT, K_TEXT, K_JSON, K_ID, NKIND };

static const char *const kind_name[NKIND] = {
    "null", "boolean", "bigint", "numeric", "double", "text", "json", "id"};
static const char *const kind_type[NKIND] = {
    "text", "boolean", "bigint", "numeric", "double precision",
    "text", "json",    "text"};

/* A column of the writer's table, as the writer knows it. */
typedef struct {
  char *field;        /* owned: the member name, unescaped (no NUL inside) */
  size_t flen;        /* bytes in field */
  char *name;         /* owned, NUL-terminated PostgreSQL column name */
  uint32_t hash;      /* fnv1a(field) */
  unsigned char kind; /* declared kind in the table (K_NULL when pending) */
  unsigned char want; /* kind this page needs (kind widened by its values) */
  unsigned char pk;   /* part of the primary key */
} Column;

/* Why a writer call failed: the code and message it returns to Lua. */
typedef struct {
  const char *code;
  char msg[600];
} werr;

/*
** The typed record writer of one table. Columns [0, ntable) exist in the
** table as _icx_columns says; [ntable, ncols) are new in the current page.
*/
typedef struct {
  Conn *owner;  /* the parent, kept alive by user value 1 */
  int open;     /* 0 once closed (or before setup completes) */
  char *schema; /* owned, NUL-terminated */
  char *table;  /* owned, NUL-terminated */
  char **pk;    /* owned array of npk owned primary key field names */
  int npk;
  Column *cols; /* owned array of capcols, strings owned */
  int ncols, capcols;
  int ntable;                /* columns known to exist in the table */
  struct icx_colindex index; /* owned: the columns by name */
  int *order; /* owned: column of each member position in the last
                      record, a guess that skips the hash lookup */
  int norder, caporder;
  js_val *vals;   /* owned, capcols: this record's value per column */
  uint32_t *seen; /* owned, capcols: stamp of the record that set it */
  uint32_t stamp; /* current record's stamp (never 0) */
  js_val *tmp;    /* owned: records of a JSON text argument */
  size_t ntmp, captmp;
  const js_members *mem; /* the page's member index during a write, or NULL */
  char stage[32];        /* the staging table's name (in pg_temp) */
  int stage_ok;          /* the stage exists with the current columns */
  unsigned stage_gen;    /* owner->gen when it was created */
  unsigned stage_txn;    /* owner->txn when rows were last copied into it */
  char *load_sql;        /* owned: the lock and the _icx_columns read */
  struct buf copy;       /* owned: COPY data being built */
  struct buf scratch;    /* owned: an unescaped or minified value */
  struct buf key;        /* owned: an unescaped member name */
  struct buf sql;        /* owned: statements being built */
  struct buf ins;        /* owned: the INSERT ... SELECT for the stage */
} Writer;

/* ------------------------------------------------------------ helpers */

/* The short stable code for a failed result's SQLSTATE. */
static const char *state_code(const char *st) {
  if (!st || strlen(st) != 5)
    return "pg";
  if (strncmp(st, "23", 2) == 0)
    return "constraint";
  if (strcmp(st, "40P01") == 0)
    return "deadlock";
  if (strcmp(st, "40001") == 0)
    return "serialization";
  if (strncmp(st, "28", 2) == 0)
    return "auth";
  if (strncmp(st, "08", 2) == 0)
    return "connection";
  if (strcmp(st, "42501") == 0)
    return "permission";
  if (strcmp(st, "25P02") == 0)
    return "aborted";
  return "pg";
}

/* Copy msg into dst (cap bytes) without libpq's trailing newline and with
** its inner line breaks as "; ", so one error is one log line. */
static void one_line(char *dst, size_t cap, const char *msg) {
  size_t j = 0;
  for (size_t i = 0; msg && msg[i] && j + 3 < cap; i++) {
    if (msg[i] == '\n') {
      if (msg[i + 1] == '\0')
        break;
      dst[j++] = ';';
      dst[j++] = ' ';
      while (msg[i + 1] == ' ' || msg[i + 1] == '\t')
        i++;
    } else {
      dst[j++] = msg[i];
    }
  }
  dst[j] = '\0';
}

/* The code of a failed result, or of the connection when there is none. */
static const char *res_code(PGconn *pg, const PGresult *r) {
  if (PQstatus(pg) == CONNECTION_BAD)
    return "connection";
  if (!r)
    return "nomem";
  return state_code(PQresultErrorField(r, PG_DIAG_SQLSTATE));
}

/* Push nil, "icx.pg: <message>", code for a failed result r (may be NULL)
** and clear r. [-0, +3, m] */
static int push_pgerr(lua_State *L, PGconn *pg, PGresult *r) {
  char msg[600];
  const char *code = res_code(pg, r);
  one_line(msg, sizeof msg, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
  if (!msg[0])
    one_line(msg, sizeof msg, PQerrorMessage(pg));
  PQclear(r);
  lua_pushnil(L);
  lua_pushfstring(L, "icx.pg: %s", msg);
  lua_pushstring(L, code);
  return 3;
}

/* 1 when r succeeded as a command or a query. */
static int res_ok(const PGresult *r) {
  ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Append name as a quoted SQL identifier. 0 ok, -1 out of memory. */
static int put_ident(struct buf *b, const char *name, size_t len) {
  if (buf_reserve(b, len * 2 + 2) != 0)
    return -1;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < len; i++) {
    if (name[i] == '"')
      b->data[b->len++] = '"';
    b->data[b->len++] = name[i];
  }
  b->data[b->len++] = '"';
  return 0;
}

/* Append s as a standard-conforming string literal ('' doubled; the
** connection sets standard_conforming_strings, so backslashes are plain). */
static int put_literal(struct buf *b, const char *s, size_t len) {
  if (buf_reserve(b, len * 2 + 2) != 0)
    return -1;
  b->data[b->len++] = '\'';
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\'')
      b->data[b->len++] = '\'';
    b->data[b->len++] = s[i];
  }
  b->data[b->len++] = '\'';
  return 0;
}

/* Append a NUL-terminated string. 0 ok, -1 out of memory. */
static int put_str(struct buf *b, const char *s) {
  return buf_append(b, s, strlen(s));
}

/* Append schema.table, both quoted. */
static int put_qualified(struct buf *b, const char *schema, const char *t) {
  return put_ident(b, schema, strlen(schema)) || put_str(b, ".") ||
         put_ident(b, t, strlen(t));
}

/* FNV-1a of s[0, n). */
static uint32_t fnv1a(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Write into out (at least MAX_IDENT + 1 bytes) an identifier for s[0, n)
** of at most max bytes: s itself when it fits, else its first bytes up to
** a UTF-8 boundary, "_" and 8 hex digits of fnv1a(s). */
static void make_ident(char *out, const char *s, size_t n, size_t max) {
  if (n <= max) {
    memcpy(out, s, n);
    out[n] = '\0';
    return;
  }
  size_t keep = max > 9 ? max - 9 : 0;
  while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
    keep--; /* never cut a multibyte character */
  memcpy(out, s, keep);
  snprintf(out + keep, MAX_IDENT + 1 - keep, "_%08x", (unsigned)fnv1a(s, n));
  out[max < MAX_IDENT ? max : MAX_IDENT] = '\0';
}

/* 1 for an id column name: `id` or ending in `_id`, ASCII case folded. */
static int name_is_id(const char *s, size_t n) {
  if (n < 2 || (s[n - 2] | 32) != 'i' || (s[n - 1] | 32) != 'd')
    return 0;
  return n == 2 || s[n - 3] == '_';
}

/* 1 when the validated JSON string v holds the escape \u0000, which
** becomes a NUL byte that no text value can hold. */
static int str_has_nul(const js_val *v) {
  const char *p = v->p + 1, *end = v->p + v->n - 1;
  while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
    if (p[1] == 'u') {
      if (memcmp(p + 2, "0000", 4) == 0)
        return 1;
      p += 6;
    } else {
      p += 2;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- Conn */

/* The Conn at idx, raising if it is closed. [-0, +0, v] */
static Conn *check_conn(lua_State *L, int idx) {
  Conn *c = luaL_checkudata(L, idx, CONN_MT);
  if (!c->pg)
    luaL_error(L, "icx.pg: connection is closed");
  return c;
}

/* Close c's connection; idempotent. */
static void conn_release(Conn *c) {
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
}

/* Notices ("relation already exists, skipping") are dropped: stderr belongs
** to icx's own redacted log. */
static void quiet_notices(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

/* icx.pg.connect(conninfo [, opts]) -> Conn | nil, err, code. The handle
** exists (closed) before PQconnectdbParams, so a raise leaks nothing. */
static int pg_connect(lua_State *L) {
  static const char *const allowed[] = {"connect_timeout", NULL};
  const char *conninfo = luaL_checkstring(L, 1);
  icx_opts_check(L, 2, "icx.pg", "connect{}", allowed);
  char timeout[32] = CONNECT_TIMEOUT;
  if (!lua_isnoneornil(L, 2)) {
    double t = icx_opts_positive(L, 2, "icx.pg", "connect_timeout", 10);
    snprintf(timeout, sizeof timeout, "%d", t < 2 ? 2 : (int)t);
  }
  char *err = NULL;
  PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);
  if (!parsed) {
    char msg[400];
    one_line(msg, sizeof msg, err ? err : "out of memory");
    PQfreemem(err);
    lua_pushnil(L);
    lua_pushfstring(L, "icx.pg: invalid connection string: %s", msg);
    lua_pushliteral(L, "conninfo");
    return 3;
  }
  PQconninfoFree(parsed);
  Conn *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CONN_MT);
  /* Earlier keywords are defaults the conninfo may override; later ones
  ** override it: icx needs UTF-8 on the wire. */
  const char *const keys[] = {"connect_timeout", "fallback_application_name",
                              "dbname", "client_encoding", NULL};
  const char *const vals[] = {timeout, "icx", conninfo, "UTF8", NULL};
  c->pg = PQconnectdbParams(keys, vals, 1);
  if (!c->pg)
    return luaL_error(L, "icx.pg: out of memory");
  if (PQstatus(c->pg) != CONNECTION_OK) {
    char msg[600];
    const char *m = PQerrorMessage(c->pg);
    one_line(msg, sizeof msg, m);
    int auth = strstr(m, "password authentication failed") != NULL ||
               strstr(m, "no password supplied") != NULL;
    conn_release(c);
    lua_pushnil(L);
    lua_pushfstring(L, "icx.pg: %s", msg);
    lua_pushstring(L, auth ? "auth" : "connect");
    return 3;
  }
  PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
  /* Shortest-exact double output (PostgreSQL 12+ with a value > 0), and
  ** plain backslashes in literals, whatever the server's defaults. A commit
  ** does not wait for its WAL flush: a server crash may lose the last
  ** pages, never half of one, and each page's cursor goes with it, so the
  ** next run re-reads them (SQLite's synchronous=NORMAL, the same trade). */
  PGresult *r = PQexec(c->pg, "SET extra_float_digits = 1; "
                              "SET standard_conforming_strings = on; "
                              "SET client_min_messages = warning; "
                              "SET synchronous_commit = off");
  if (!res_ok(r)) {
    push_pgerr(L, c->pg, r);
    conn_release(c);
    return 3;
  }
  PQclear(r);
  return 1;
}

/* icx.pg.quote(name) -> "name", inner quotes doubled. */
static int pg_quote(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"')
      luaL_addchar(&b, '"');
    luaL_addchar(&b, s[i]);
  }
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  return 1;
}

/* icx.pg.ident(name [, room]) -> an identifier of at most 63 - room bytes. */
static int pg_ident(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_Integer room = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, room >= 0 && room <= 40, 2, "room must be 0..40");
  char out[MAX_IDENT + 1];
  make_ident(out, s, n, (size_t)(MAX_IDENT - room));
  lua_pushstring(L, out);
  return 1;
}

/* icx.pg.libpq_version() -> integer */
static int pg_libpq_version(lua_State *L) {
  lua_pushinteger(L, PQlibVersion());
  return 1;
}

/* conn:exec(sql) -> true | nil, err, code */
static int conn_exec(lua_State *L) {
  Conn *c = check_conn(L, 1);
  PGresult *r = PQexec(c->pg, luaL_checkstring(L, 2));
  if (!res_ok(r))
    return push_pgerr(L, c->pg, r);
  PQclear(r);
  lua_pushboolean(L, 1);
  return 1;
}

/* Push the value of row i, column j of r by its type. [-0, +1, m] */
static void push_cell(lua_State *L, const PGresult *r, int i, int j) {
  const char *v = PQgetvalue(r, i, j);
  switch (PQftype(r, j)) {
  case BOOLOID:
    lua_pushboolean(L, v[0] == 't');
    return;
  case INT2OID:
  case INT4OID:
  case INT8OID:
    lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
    return;
  case FLOAT4OID:
  case FLOAT8OID:
    lua_pushnumber(L, strtod(v, NULL));
    return;
  default:
    lua_pushlstring(L, v, (size_t)PQgetlength(r, i, j));
  }
}

/* conn:query(sql, ...) -> rows | nil, err, code. Parameters go as text
** (integers in decimal, floats as %.17g, booleans true/false, nil NULL).
** The values array lives in a userdata so a raise frees it. */
static int conn_query(lua_State *L) {
  Conn *c = check_conn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int n = lua_gettop(L) - 2;
  const char **vals = lua_newuserdatauv(L, sizeof *vals * (size_t)(n + 1), 0);
  for (int i = 0; i < n; i++) {
    int idx = i + 3;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
      vals[i] = NULL;
      break;
    case LUA_TBOOLEAN:
      vals[i] = lua_toboolean(L, idx) ? "true" : "false";
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        lua_pushfstring(L, "%I", lua_tointeger(L, idx));
      else {
        char num[40];
        snprintf(num, sizeof num, "%.17g", lua_tonumber(L, idx));
        lua_pushstring(L, num);
      }
      lua_replace(L, idx);
      vals[i] = lua_tostring(L, idx);
      break;
    case LUA_TSTRING:
      vals[i] = lua_tostring(L, idx);
      break;
    default:
      return luaL_error(L, "icx.pg: cannot send a %s (parameter %d)",
                        luaL_typename(L, idx), i + 1);
    }
  }
  Result *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->r = NULL;
  luaL_setmetatable(L, RESULT_MT);
  PGresult *r = PQexecParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0);
  if (!res_ok(r))
    return push_pgerr(L, c->pg, r);
  box->r = r;
  int rows = PQntuples(r), cols = PQnfields(r);
  lua_createtable(L, rows, 0);
  for (int i = 0; i < rows; i++) {
    lua_createtable(L, 0, cols);
    for (int j = 0; j < cols; j++) {
      if (PQgetisnull(r, i, j))
        continue;
      push_cell(L, r, i, j);
      lua_setfield(L, -2, PQfname(r, j));
    }
    lua_rawseti(L, -2, i + 1);
  }
  PQclear(r);
  box->r = NULL;
  return 1;
}

/* __gc of a Result. */
static int result_gc(lua_State *L) {
  Result *box = luaL_checkudata(L, 1, RESULT_MT);
  if (box->r) {
    PQclear(box->r);
    box->r = NULL;
  }
  return 0;
}

/* Run a transaction control statement; 1 and a result on the stack or 3. */
static int txn_cmd(lua_State *L, Conn *c, const char *sql) {
  PGresult *r = PQexec(c->pg, sql);
  if (!res_ok(r))
    return push_pgerr(L, c->pg, r);
  PQclear(r);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:begin() -> true | nil, err, code */
static int conn_begin(lua_State *L) {
  Conn *c = check_conn(L, 1);
  c->txn++;
  return txn_cmd(L, c, "BEGIN");
}

/* conn:commit() -> true | nil, err, code. COMMIT of a transaction that
** already failed answers "ROLLBACK" without an error: that is one here, or
** a page would seem to land when nothing did. */
static int conn_commit(lua_State *L) {
  Conn *c = check_conn(L, 1);
  PGresult *r = PQexec(c->pg, "COMMIT");
  if (!res_ok(r))
    return push_pgerr(L, c->pg, r);
  int rolled = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
  PQclear(r);
  if (rolled) {
    c->gen++;
    lua_pushnil(L);
    lua_pushliteral(L, "icx.pg: the transaction failed earlier and was "
                       "rolled back");
    lua_pushliteral(L, "aborted");
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:rollback() -> true | nil, err, code. Writers forget their staging
** tables: one created in the transaction went with it. */
static int conn_rollback(lua_State *L) {
  Conn *c = check_conn(L, 1);
  c->gen++;
  if (PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return txn_cmd(L, c, "ROLLBACK");
}

/* conn:in_transaction() -> boolean */
static int conn_in_transaction(lua_State *L) {
  Conn *c = check_conn(L, 1);
  PGTransactionStatusType s = PQtransactionStatus(c->pg);
  lua_pushboolean(L, s == PQTRANS_INTRANS || s == PQTRANS_INERROR ||
                         s == PQTRANS_ACTIVE);
  return 1;
}

/* conn:pid() -> the backend's process id */
static int conn_pid(lua_State *L) {
  lua_pushinteger(L, PQbackendPID(check_conn(L, 1)->pg));
  return 1;
}

/* conn:server_version() -> integer */
static int conn_server_version(lua_State *L) {
  lua_pushinteger(L, PQserverVersion(check_conn(L, 1)->pg));
  return 1;
}

/* conn:close(), __gc and __close */
static int conn_close(lua_State *L) {
  conn_release(luaL_checkudata(L, 1, CONN_MT));
  return 0;
}

/* __tostring: database, user, host and port; never the password. */
static int conn_tostring(lua_State *L) {
  Conn *c = luaL_checkudata(L, 1, CONN_MT);
  if (!c->pg)
    lua_pushliteral(L, "icx.pg.Conn (closed)");
  else
    lua_pushfstring(L, "icx.pg.Conn (%s@%s:%s/%s)", PQuser(c->pg),
                    PQhost(c->pg), PQport(c->pg), PQdb(c->pg));
  return 1;
}

/* ------------------------------------------------------------- Writer */

/* Fill e and return -1, the writer's usual failure path. */
static int fail(werr *e, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->code = code;
  return -1;
}

/* fail() with the error of result r (cleared here) about what. */
static int fail_res(Writer *w, werr *e, PGresult *r, const char *what) {
  char msg[500];
  const char *code = res_code(w->owner->pg, r);
  one_line(msg, sizeof msg,
           r ? PQresultErrorMessage(r) : PQerrorMessage(w->owner->pg));
  PQclear(r);
  return fail(e, code, "icx.pg: table '%s': %s: %s", w->table, what, msg);
}

/* Run sql on the writer's connection; 0, or -1 with e filled. */
static int run(Writer *w, werr *e, const char *sql, const char *what) {
  PGresult *r = PQexec(w->owner->pg, sql);
  if (!res_ok(r))
    return fail_res(w, e, r, what);
  PQclear(r);
  return 0;
}

/* Forget every column (strings freed, hash emptied). */
static void forget_columns(Writer *w) {
  for (int i = 0; i < w->ncols; i++) {
    free(w->cols[i].field);
    free(w->cols[i].name);
  }
  w->ncols = w->ntable = w->norder = 0;
  icx_colindex_clear(&w->index);
  w->stage_ok = 0;
}

/* Release everything the writer owns; idempotent. */
static void writer_release(Writer *w) {
  forget_columns(w);
  for (int i = 0; i < w->npk; i++)
    free(w->pk[i]);
  free(w->pk);
  w->pk = NULL;
  w->npk = 0;
  free(w->schema);
  w->schema = NULL;
  free(w->table);
  w->table = NULL;
  free(w->cols);
  w->cols = NULL;
  w->capcols = 0;
  icx_colindex_free(&w->index);
  free(w->order);
  w->order = NULL;
  w->caporder = 0;
  free(w->vals);
  w->vals = NULL;
  free(w->seen);
  w->seen = NULL;
  free(w->tmp);
  w->tmp = NULL;
  w->ntmp = w->captmp = 0;
  free(w->load_sql);
  w->load_sql = NULL;
  buf_free(&w->copy);
  buf_free(&w->scratch);
  buf_free(&w->key);
  buf_free(&w->sql);
  buf_free(&w->ins);
  w->open = 0;
}

/* The stored hash of column i, for the index. */
static uint32_t column_hash(const void *cols, int i) {
  return ((const Column *)cols)[i].hash;
}

/* Room for one more column in every per-column array. 0 or -1; each array
** is stored as soon as it grows, so a failure leaves w consistent. */
static int grow_columns(Writer *w) {
  if (w->ncols < w->capcols)
    return 0;
  int cap = w->capcols ? w->capcols * 2 : 32;
  Column *c = realloc(w->cols, (size_t)cap * sizeof *c);
  if (!c)
    return -1;
  w->cols = c;
  js_val *v = realloc(w->vals, (size_t)cap * sizeof *v);
  if (!v)
    return -1;
  w->vals = v;
  uint32_t *s = realloc(w->seen, (size_t)cap * sizeof *s);
  if (!s)
    return -1;
  memset(s + w->capcols, 0, (size_t)(cap - w->capcols) * sizeof *s);
  w->seen = s;
  w->capcols = cap;
  return 0;
}

/* A member name being looked up, for column_is. */
typedef struct {
  const char *name;
  size_t len;
  uint32_t hash;
} Key;

/* Whether column i holds the field k (exact bytes: PostgreSQL names keep
** their case). */
static int column_is(const void *cols, int i, const void *key) {
  const Column *c = &((const Column *)cols)[i];
  const Key *k = key;
  return c->hash == k->hash && c->flen == k->len &&
         memcmp(c->field, k->name, k->len) == 0;
}

/* Index of the column of member name[0, len), or -1. */
static int find_column(Writer *w, const char *name, size_t len, uint32_t h) {
  Key k = {name, len, h};
  return icx_colindex_find(&w->index, h, column_is, w->cols, &k);
}

/* 1 if a column of the writer is already named name. */
static int name_taken(Writer *w, const char *name) {
  if (strcmp(name, "_icx_ord") == 0)
    return 1;
  for (int i = 0; i < w->ncols; i++)
    if (strcmp(w->cols[i].name, name) == 0)
      return 1;
  return 0;
}

/* The column name for a new member: see the header. Writes into out
** (MAX_IDENT + 1 bytes). */
static void choose_name(Writer *w, const char *field, size_t len, char *out) {
  if (len >= 1 && len <= MAX_IDENT &&
      !(len >= 5 && !memcmp(field, "_icx_", 5))) {
    memcpy(out, field, len);
    out[len] = '\0';
  } else {
    make_ident(out, field, len, MAX_IDENT);
    if (len == 0)
      snprintf(out, MAX_IDENT + 1, "_%08x", (unsigned)fnv1a(field, 0));
  }
  for (int k = 2; name_taken(w, out); k++) {
    char base[MAX_IDENT + 1], suffix[16];
    int sl = snprintf(suffix, sizeof suffix, "_%d", k);
    make_ident(base, field, len, (size_t)(MAX_IDENT - sl));
    if (len == 0)
      snprintf(base, sizeof base, "_%08x", (unsigned)fnv1a(field, 0));
    size_t bl = strlen(base);
    memcpy(out, base, bl);
    memcpy(out + bl, suffix, (size_t)sl + 1);
  }
}

/* Append a column for member field[0, len) (known absent), named name
** (NULL: choose one) of the given kind. Its index, or -1 with e filled. */
static int add_column(Writer *w, const char *field, size_t len, uint32_t h,
                      const char *name, int kind, werr *e) {
  if (memchr(field, 0, len))
    return fail(e, "record",
                "icx.pg: table '%s': a field name holds a NUL byte, which no "
                "PostgreSQL column name can",
                w->table);
  if (grow_columns(w) != 0 ||
      icx_colindex_room(&w->index, w->ncols, column_hash, w->cols) != 0)
    return fail(e, "nomem", "icx.pg: out of memory");
  char chosen[MAX_IDENT + 1];
  if (!name) {
    choose_name(w, field, len, chosen);
    name = chosen;
  }
  char *f = malloc(len + 1), *nm = strdup(name);
  if (!f || !nm) {
    free(f);
    free(nm);
    return fail(e, "nomem", "icx.pg: out of memory");
  }
  memcpy(f, field, len);
  f[len] = '\0';
  Column *c = &w->cols[w->ncols];
  c->field = f;
  c->flen = len;
  c->name = nm;
  c->hash = h;
  c->pk = 0;
  for (int i = 0; i < w->npk; i++)
    if (strlen(w->pk[i]) == len && memcmp(w->pk[i], field, len) == 0)
      c->pk = 1;
  if (c->pk || name_is_id(field, len))
    kind = K_ID;
  c->kind = c->want = (unsigned char)kind;
  w->seen[w->ncols] = 0;
  icx_colindex_put(&w->index, h, w->ncols++);
  return w->ncols - 1;
}

/* The kind named s, or -1. */
static int kind_of_name(const char *s) {
  for (int k = 0; k < NKIND; k++)
    if (strcmp(kind_name[k], s) == 0)
      return k;
  return -1;
}

/*
** Take the table's lock and load its columns from _icx_columns (none when
** the table does not exist: then the primary key columns come first, as
** pending ones). Every write does this, so a column another process added
** or widened is known before the COPY. 0, or -1 with e filled.
*/
static int load_columns(Writer *w, werr *e) {
  PGresult *r = PQexec(w->owner->pg, w->load_sql);
  if (!res_ok(r))
    return fail_res(w, e, r, "reading its columns");
  int n = PQntuples(r), same = n == w->ntable && w->ncols == w->ntable;
  for (int i = 0; same && i < n; i++) {
    Column *c = &w->cols[i];
    same = strcmp(c->field, PQgetvalue(r, i, 0)) == 0 &&
           strcmp(c->name, PQgetvalue(r, i, 1)) == 0 &&
           strcmp(kind_name[c->kind], PQgetvalue(r, i, 2)) == 0;
  }
  if (!same) {
    forget_columns(w);
    for (int i = 0; i < n; i++) {
      const char *f = PQgetvalue(r, i, 0);
      size_t len = (size_t)PQgetlength(r, i, 0);
      int kind = kind_of_name(PQgetvalue(r, i, 2));
      uint32_t h = fnv1a(f, len);
      if (kind < 0 || find_column(w, f, len, h) >= 0) {
        PQclear(r);
        forget_columns(w);
        return fail(e, "pg",
                    "icx.pg: table '%s': _icx_columns holds an unknown kind "
                    "or a repeated field",
                    w->table);
      }
      if (add_column(w, f, len, h, PQgetvalue(r, i, 1), kind, e) < 0) {
        PQclear(r);
        forget_columns(w);
        return -1;
      }
      w->cols[w->ncols - 1].kind = w->cols[w->ncols - 1].want =
          (unsigned char)kind;
    }
    w->ntable = n;
  }
  PQclear(r);
  for (int i = 0; i < w->ncols; i++)
    w->cols[i].want = w->cols[i].kind;
  if (n == 0)
    for (int i = 0; i < w->npk; i++) {
      size_t len = strlen(w->pk[i]);
      uint32_t h = fnv1a(w->pk[i], len);
      if (find_column(w, w->pk[i], len, h) < 0 &&
          add_column(w, w->pk[i], len, h, NULL, K_ID, e) < 0)
        return -1;
    }
  return 0;
}

/* The kind a value needs on its own. */
static int value_kind(const js_val *v) {
  int64_t i;
  double d;
  switch (v->type) {
  case JS_NULL:
    return K_NULL;
  case JS_TRUE:
  case JS_FALSE:
    return K_BOOL;
  case JS_INT:
    return js_int64(v, &i) == 0 ? K_INT : K_NUMERIC;
  case JS_FLOAT:
    return js_double_checked(v, &d) == 0 ? K_FLOAT : K_JSON;
  case JS_STRING:
    return str_has_nul(v) ? K_JSON : K_TEXT;
  default:
    return K_JSON;
  }
}

/* The narrowest kind holding every value of kinds a and b exactly. */
static int join_kind(int a, int b) {
  if (a == b || b == K_NULL || a == K_ID)
    return a;
  if (a == K_NULL)
    return b;
  int na = a == K_INT || a == K_NUMERIC || a == K_FLOAT;
  int nb = b == K_INT || b == K_NUMERIC || b == K_FLOAT;
  return na && nb ? K_NUMERIC : K_JSON;
}

/* The column of a member key, adding it when new. -1 with e on failure. */
static int member_column(Writer *w, const js_val *k, int pos, werr *e) {
  const char *name = k->p + 1;
  size_t len = k->n - 2;
  int escaped = memchr(name, '\\', len) != NULL;
  if (!escaped && pos < w->norder) {
    int g = w->order[pos];
    if (g < w->ncols && w->cols[g].flen == len &&
        memcmp(w->cols[g].field, name, len) == 0)
      return g;
  }
  if (escaped) {
    buf_reset(&w->key);
    if (buf_reserve(&w->key, len) != 0)
      return fail(e, "nomem", "icx.pg: out of memory");
    len = js_unescape_to(k, w->key.data);
    name = w->key.data;
  }
  uint32_t h = fnv1a(name, len);
  int i = find_column(w, name, len, h);
  if (i < 0)
    i = add_column(w, name, len, h, NULL, K_NULL, e);
  if (i >= 0 && pos < w->caporder) {
    w->order[pos] = i;
    if (pos >= w->norder)
      w->norder = pos + 1;
  }
  return i;
}

/*
** The column for a member whose key an earlier member of the same record
** already took (a repeated key): KEY__2, KEY__3 ..., the first not set by
** this record, so no value is lost (the rule of the SQLite writer; here
** names keep their case, so only exact repeats collide). -1 with e filled.
*/
static int dup_column(Writer *w, const js_val *k, werr *e) {
  size_t klen = k->n - 2;
  for (int n = 2; n < 1000; n++) {
    buf_reset(&w->key);
    if (buf_reserve(&w->key, klen + 8) != 0)
      return fail(e, "nomem", "icx.pg: out of memory");
    size_t len = js_unescape_to(k, w->key.data);
    len += (size_t)snprintf(w->key.data + len, 8, "__%d", n);
    uint32_t h = fnv1a(w->key.data, len);
    int i = find_column(w, w->key.data, len, h);
    if (i < 0)
      return add_column(w, w->key.data, len, h, NULL, K_NULL, e);
    if (w->seen[i] != w->stamp)
      return i;
  }
  return fail(e, "record", "icx.pg: table '%s': a key repeated 1000 times",
              w->table);
}

/* Fill vals/seen with one record's members (the first of a repeated key
** keeps its column, as in icx.json; the next go to KEY__2 ...), taken from
** the page's member index when the write has one. nth counts from 1. 0, or
** -1 with e filled. */
static int gather(Writer *w, const js_val *rec, size_t nth, werr *e) {
  js_memiter it;
  js_val k, v;
  int pos = 0;
  if (rec->type != JS_OBJECT)
    return fail(e, "record",
                "icx.pg: table '%s': record %zu is %s %s, not an object",
                w->table, nth, rec->type == JS_ARRAY ? "an" : "a",
                js_type_name(rec->type));
  if (++w->stamp == 0) { /* wrapped: old stamps could match again */
    memset(w->seen, 0, (size_t)w->capcols * sizeof *w->seen);
    w->stamp = 1;
  }
  js_memiter_init(&it, rec, w->mem, nth - 1);
  while (js_memiter_next(&it, &k, &v)) {
    if (pos >= w->caporder) {
      int cap = w->caporder ? w->caporder * 2 : 64;
      int *o = realloc(w->order, (size_t)cap * sizeof *o);
      if (o) {
        w->order = o;
        w->caporder = cap;
      }
    }
    int c = member_column(w, &k, pos++, e);
    if (c >= 0 && w->seen[c] == w->stamp)
      c = dup_column(w, &k, e);
    if (c < 0)
      return -1;
    w->vals[c] = v;
    w->seen[c] = w->stamp;
  }
  return 0;
}

/* Pass 1 over one record: columns for new members, kinds widened by its
** values, the primary key present. 0, or -1 with e filled. */
static int classify(Writer *w, const js_val *rec, size_t nth, werr *e) {
  if (gather(w, rec, nth, e) != 0)
    return -1;
  for (int i = 0; i < w->ncols; i++) {
    Column *c = &w->cols[i];
    int has = w->seen[i] == w->stamp;
    if (c->pk && (!has || w->vals[i].type == JS_NULL))
      return fail(e, "record",
                  "icx.pg: table '%s': record %zu has no value for its "
                  "primary key '%s'",
                  w->table, nth, c->field);
    if (!has)
      continue;
    if (c->kind == K_ID) {
      if (w->vals[i].type == JS_STRING && str_has_nul(&w->vals[i]))
        return fail(e, "record",
                    "icx.pg: table '%s': record %zu: id column '%s' holds "
                    "\\u0000, which a text key cannot",
                    w->table, nth, c->field);
      continue;
    }
    c->want = (unsigned char)join_kind(c->want, value_kind(&w->vals[i]));
  }
  return 0;
}

/* The USING expression that converts column c from kind `from` to `to`
** exactly (see the header), appended to b. */
static int put_using(struct buf *b, const Column *c, int from, int to) {
  size_t n = strlen(c->name);
  if (from == K_NULL)
    return put_str(b, "NULL::") || put_str(b, kind_type[to]);
  if (to == K_NUMERIC) /* float8 -> numeric directly keeps 15 digits only */
    return put_ident(b, c->name, n) ||
           put_str(b, from == K_FLOAT ? "::text::numeric" : "::numeric");
  if (from == K_FLOAT) /* keep 100.0 and -0.0 floats in JSON */
    return put_str(b, "CASE WHEN ") || put_ident(b, c->name, n) ||
           put_str(b, "::text ~ '^-?[0-9]+$' THEN (") ||
           put_ident(b, c->name, n) || put_str(b, "::text || '.0')::json ") ||
           put_str(b, "ELSE to_json(") || put_ident(b, c->name, n) ||
           put_str(b, ") END");
  return put_str(b, "to_json(") || put_ident(b, c->name, n) || put_str(b, ")");
}

/* CREATE TABLE or ALTER TABLE for new and widened columns, and their rows
** in _icx_columns, as one multi-statement string. 0, or -1 with e. */
static int apply_ddl(Writer *w, werr *e) {
  struct buf *b = &w->sql;
  int bad = 0, nchanged = 0;
  buf_reset(b);
  if (w->ntable == 0) {
    bad = put_str(b, "DELETE FROM ") ||
          put_qualified(b, w->schema, "_icx_columns") ||
          put_str(b, " WHERE tbl = ") ||
          put_literal(b, w->table, strlen(w->table)) ||
          put_str(b, "; CREATE TABLE ") ||
          put_qualified(b, w->schema, w->table) || put_str(b, " (");
    for (int i = 0; i < w->ncols; i++) {
      Column *c = &w->cols[i];
      bad = bad || (i && put_str(b, ", ")) ||
            put_ident(b, c->name, strlen(c->name)) || put_str(b, " ") ||
            put_str(b, kind_type[c->want]);
    }
    for (int i = 0, first = 1; i < w->ncols; i++)
      if (w->cols[i].pk) {
        bad = bad || put_str(b, first ? ", PRIMARY KEY (" : ", ") ||
              put_ident(b, w->cols[i].name, strlen(w->cols[i].name));
        first = 0;
      }
    bad = bad || (w->npk && put_str(b, ")")) || put_str(b, ")");
  } else {
    bad = put_str(b, "ALTER TABLE ") || put_qualified(b, w->schema, w->table);
    for (int i = 0; i < w->ncols; i++) {
      Column *c = &w->cols[i];
      if (i >= w->ntable)
        bad = bad || put_str(b, nchanged++ ? ", " : " ") ||
              put_str(b, "ADD COLUMN ") ||
              put_ident(b, c->name, strlen(c->name)) || put_str(b, " ") ||
              put_str(b, kind_type[c->want]);
      else if (c->want != c->kind)
        bad = bad || put_str(b, nchanged++ ? ", " : " ") ||
              put_str(b, "ALTER COLUMN ") ||
              put_ident(b, c->name, strlen(c->name)) || put_str(b, " TYPE ") ||
              put_str(b, kind_type[c->want]) || put_str(b, " USING ") ||
              put_using(b, c, c->kind, c->want);
    }
  }
  bad = bad || put_str(b, "; INSERT INTO ") ||
        put_qualified(b, w->schema, "_icx_columns") ||
        put_str(b, " (tbl, field, col, kind, pos) VALUES ");
  nchanged = 0;
  for (int i = 0; i < w->ncols; i++) {
    Column *c = &w->cols[i];
    char pos[16];
    if (i < w->ntable && c->want == c->kind)
      continue;
    snprintf(pos, sizeof pos, ", %d)", i + 1);
    bad = bad || put_str(b, nchanged++ ? ", (" : "(") ||
          put_literal(b, w->table, strlen(w->table)) || put_str(b, ", ") ||
          put_literal(b, c->field, c->flen) || put_str(b, ", ") ||
          put_literal(b, c->name, strlen(c->name)) || put_str(b, ", ") ||
          put_literal(b, kind_name[c->want], strlen(kind_name[c->want])) ||
          put_str(b, pos);
  }
  bad = bad || put_str(b, " ON CONFLICT (tbl, field) DO UPDATE SET col = "
                          "excluded.col, kind = excluded.kind, pos = "
                          "excluded.pos");
  if (bad || !buf_cstr(b))
    return fail(e, "nomem", "icx.pg: out of memory");
  if (run(w, e, b->data, w->ntable ? "changing its columns" : "creating it"))
    return -1;
  for (int i = 0; i < w->ncols; i++)
    w->cols[i].kind = w->cols[i].want;
  w->ntable = w->ncols;
  w->stage_ok = 0;
  return 0;
}

/* Create the staging table for the current columns, and the INSERT that
** moves its rows into the table. 0, or -1 with e filled. */
static int make_stage(Writer *w, werr *e) {
  struct buf *b = &w->sql, *s = &w->ins;
  int bad;
  buf_reset(b);
  bad = put_str(b, "DROP TABLE IF EXISTS pg_temp.") ||
        put_ident(b, w->stage, strlen(w->stage)) ||
        put_str(b, "; CREATE TEMP TABLE ") ||
        put_ident(b, w->stage, strlen(w->stage)) || put_str(b, " (");
  for (int i = 0; i < w->ncols; i++)
    bad = bad || put_ident(b, w->cols[i].name, strlen(w->cols[i].name)) ||
          put_str(b, " ") || put_str(b, kind_type[w->cols[i].kind]) ||
          put_str(b, ", ");
  /* Rows of the page live here for one statement: compressing them for
  ** TOAST would be wasted work. */
  bad = bad || put_str(b, "\"_icx_ord\" integer) WITH (toast_tuple_target "
                          "= 8160) ON COMMIT DELETE ROWS");
  if (bad || !buf_cstr(b))
    return fail(e, "nomem", "icx.pg: out of memory");
  if (run(w, e, b->data, "creating its staging table"))
    return -1;

  /* INSERT INTO t (cols) SELECT DISTINCT ON (pk) cols FROM stage ORDER BY
  ** pk, ord DESC ON CONFLICT (pk) DO UPDATE SET c = excluded.c, ... */
  buf_reset(s);
  bad = put_str(s, "INSERT INTO ") || put_qualified(s, w->schema, w->table) ||
        put_str(s, " (");
  for (int i = 0; i < w->ncols; i++)
    bad = bad || (i && put_str(s, ", ")) ||
          put_ident(s, w->cols[i].name, strlen(w->cols[i].name));
  bad = bad || put_str(s, ") SELECT ");
  if (w->npk) {
    bad = bad || put_str(s, "DISTINCT ON (");
    for (int i = 0, n = 0; i < w->ncols; i++)
      if (w->cols[i].pk)
        bad = bad || (n++ && put_str(s, ", ")) ||
              put_ident(s, w->cols[i].name, strlen(w->cols[i].name));
    bad = bad || put_str(s, ") ");
  }
  for (int i = 0; i < w->ncols; i++)
    bad = bad || (i && put_str(s, ", ")) ||
          put_ident(s, w->cols[i].name, strlen(w->cols[i].name));
  bad = bad || put_str(s, " FROM pg_temp.") ||
        put_ident(s, w->stage, strlen(w->stage)) || put_str(s, " ORDER BY ");
  for (int i = 0; w->npk && i < w->ncols; i++)
    if (w->cols[i].pk)
      bad = bad || put_ident(s, w->cols[i].name, strlen(w->cols[i].name)) ||
            put_str(s, ", ");
  bad = bad || put_str(s, w->npk ? "\"_icx_ord\" DESC" : "\"_icx_ord\"");
  if (w->npk) {
    bad = bad || put_str(s, " ON CONFLICT (");
    for (int i = 0, n = 0; i < w->ncols; i++)
      if (w->cols[i].pk)
        bad = bad || (n++ && put_str(s, ", ")) ||
              put_ident(s, w->cols[i].name, strlen(w->cols[i].name));
    bad = bad || put_str(s, ") DO ");
    int nset = 0;
    for (int i = 0; i < w->ncols; i++) {
      const char *nm = w->cols[i].name;
      if (w->cols[i].pk)
        continue;
      bad = bad || put_str(s, nset++ ? ", " : "UPDATE SET ") ||
            put_ident(s, nm, strlen(nm)) || put_str(s, " = excluded.") ||
            put_ident(s, nm, strlen(nm));
    }
    if (!nset)
      bad = bad || put_str(s, "NOTHING");
  }
  if (bad || !buf_cstr(s))
    return fail(e, "nomem", "icx.pg: out of memory");
  w->stage_ok = 1;
  w->stage_gen = w->owner->gen;
  w->stage_txn = 0;
  return 0;
}

/* Append s[0, n) escaped for COPY's text format (d has room for 2n). */
static size_t copy_escape(char *d, const char *s, size_t n) {
  char *o = d;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    switch (ch) {
    case '\\':
      *o++ = '\\';
      *o++ = '\\';
      break;
    case '\n':
      *o++ = '\\';
      *o++ = 'n';
      break;
    case '\r':
      *o++ = '\\';
      *o++ = 'r';
      break;
    case '\t':
      *o++ = '\\';
      *o++ = 't';
      break;
    default:
      *o++ = ch;
    }
  }
  return (size_t)(o - d);
}

/* Append value v of a column of kind k to the COPY row at b's end; b has
** room for 2 * v->n + 2 bytes and scratch for v->n. */
static void put_value(Writer *w, struct buf *b, int k, const js_val *v) {
  char *d = b->data + b->len;
  if (v->type == JS_NULL) {
    memcpy(d, "\\N", 2);
    b->len += 2;
    return;
  }
  if (k == K_BOOL) {
    *d = v->type == JS_TRUE ? 't' : 'f';
    b->len += 1;
    return;
  }
  if (v->type == JS_INT || v->type == JS_FLOAT || v->type == JS_TRUE ||
      v->type == JS_FALSE) {
    /* the literal: bigint, numeric and double read it exactly, id columns
    ** keep it as text, json columns as JSON */
    memcpy(d, v->p, v->n);
    b->len += v->n;
    return;
  }
  if (v->type == JS_STRING && k != K_JSON) {
    const char *s = v->p + 1;
    size_t n = v->n - 2;
    if (!memchr(s, '\\', n)) { /* JSON strings hold no raw control bytes */
      memcpy(d, s, n);
      b->len += n;
      return;
    }
    n = js_unescape_to(v, w->scratch.data);
    b->len += copy_escape(d, w->scratch.data, n);
    return;
  }
  /* JSON text: objects and arrays minified, strings as their literal */
  size_t n = js_minify_to(v, w->scratch.data);
  b->len += copy_escape(d, w->scratch.data, n);
}

/* Hand the COPY data built so far to libpq. 0, or -1 with e filled. */
static int flush_copy(Writer *w, werr *e) {
  if (w->copy.len == 0)
    return 0;
  if (PQputCopyData(w->owner->pg, w->copy.data, (int)w->copy.len) != 1)
    return fail(e, "connection", "icx.pg: table '%s': sending rows: %s",
                w->table, PQerrorMessage(w->owner->pg));
  buf_reset(&w->copy);
  return 0;
}

/* Pass 2: one COPY row per record into the stage. 0, or -1 with e. */
static int copy_records(Writer *w, const js_val *recs, size_t n, werr *e) {
  PGconn *pg = w->owner->pg;
  struct buf *b = &w->sql;
  if (w->stage_txn == w->owner->txn && w->stage_gen == w->owner->gen) {
    /* written earlier in this same transaction: its rows are still there */
    buf_reset(b);
    if (put_str(b, "TRUNCATE pg_temp.") ||
        put_ident(b, w->stage, strlen(w->stage)) || !buf_cstr(b))
      return fail(e, "nomem", "icx.pg: out of memory");
    if (run(w, e, b->data, "emptying its staging table"))
      return -1;
  }
  buf_reset(b);
  int bad = put_str(b, "COPY pg_temp.") ||
            put_ident(b, w->stage, strlen(w->stage)) || put_str(b, " (");
  for (int i = 0; i < w->ncols; i++)
    bad = bad || put_ident(b, w->cols[i].name, strlen(w->cols[i].name)) ||
          put_str(b, ", ");
  bad = bad || put_str(b, "\"_icx_ord\") FROM STDIN");
  if (bad || !buf_cstr(b))
    return fail(e, "nomem", "icx.pg: out of memory");
  PGresult *r = PQexec(pg, b->data);
  if (!r || PQresultStatus(r) != PGRES_COPY_IN)
    return fail_res(w, e, r, "starting COPY");
  PQclear(r);
  w->stage_txn = w->owner->txn;
  int rc = 0;
  buf_reset(&w->copy);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const js_val *rec = &recs[i];
    if ((rc = gather(w, rec, i + 1, e)) != 0)
      break;
    buf_reset(&w->scratch);
    if (buf_reserve(&w->scratch, rec->n) != 0 ||
        buf_reserve(&w->copy, 2 * rec->n + 3 * (size_t)w->ncols + 16) != 0) {
      rc = fail(e, "nomem", "icx.pg: out of memory");
      break;
    }
    for (int c = 0; c < w->ncols; c++) {
      if (w->seen[c] == w->stamp) {
        put_value(w, &w->copy, w->cols[c].kind, &w->vals[c]);
      } else {
        memcpy(w->copy.data + w->copy.len, "\\N", 2);
        w->copy.len += 2;
      }
      w->copy.data[w->copy.len++] = '\t';
    }
    w->copy.len +=
        (size_t)snprintf(w->copy.data + w->copy.len, 14, "%zu\n", i + 1);
    if (w->copy.len >= COPY_CHUNK)
      rc = flush_copy(w, e);
  }
  if (rc == 0)
    rc = flush_copy(w, e);
  /* End the COPY either way; on failure the server discards the rows. */
  if (PQputCopyEnd(pg, rc == 0 ? NULL : "icx: page abandoned") != 1 && rc == 0)
    rc = fail(e, "connection", "icx.pg: table '%s': ending COPY: %s", w->table,
              PQerrorMessage(pg));
  while ((r = PQgetResult(pg)) != NULL) {
    if (rc == 0 && !res_ok(r)) {
      rc = fail_res(w, e, r, "copying rows");
      continue;
    }
    PQclear(r);
  }
  return rc;
}

/* Write records (JS_OBJECT slices) into the table. 0, or -1 with e. */
static int write_records(Writer *w, const js_val *recs, size_t n, werr *e) {
  if (load_columns(w, e) != 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (classify(w, &recs[i], i + 1, e) != 0)
      return -1;
  int ddl = w->ntable == 0 || w->ncols > w->ntable;
  for (int i = 0; !ddl && i < w->ncols; i++)
    ddl = w->cols[i].want != w->cols[i].kind;
  if (ddl && apply_ddl(w, e) != 0)
    return -1;
  if (n == 0)
    return 0;
  if ((!w->stage_ok || w->stage_gen != w->owner->gen) && make_stage(w, e) != 0)
    return -1;
  if (copy_records(w, recs, n, e) != 0)
    return -1;
  return run(w, e, w->ins.data, "merging the page");
}

/* The open Writer at idx, raising if it or its Conn is closed. */
static Writer *check_writer(lua_State *L, int idx) {
  Writer *w = luaL_checkudata(L, idx, WRITER_MT);
  if (!w->open)
    luaL_error(L, "icx.pg: writer is closed");
  if (!w->owner->pg)
    luaL_error(L, "icx.pg: connection is closed");
  return w;
}

/* Copy the Lua string at idx into fresh memory (NULL: out of memory);
** raises when it is not a string or holds a NUL byte. */
static char *dup_name(lua_State *L, int idx, const char *what) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  if (!s)
    luaL_error(L, "icx.pg: %s must be a string", what);
  if (memchr(s, 0, n) || n == 0)
    luaL_error(L, "icx.pg: %s must be non-empty without NUL bytes", what);
  char *d = malloc(n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

/* The statements that lock the table and read its columns: the lock comes
** first, as its own statement, so the read's snapshot (taken per statement)
** sees whatever the previous holder committed. */
static char *build_load_sql(Writer *w) {
  struct buf b = {0}, key = {0}, q = {0};
  size_t ns = strlen(w->schema), nt = strlen(w->table);
  int bad = put_str(&key, "icx:") || buf_append(&key, w->schema, ns) ||
            put_str(&key, ".") || buf_append(&key, w->table, nt) ||
            put_qualified(&q, w->schema, w->table);
  bad = bad || put_str(&b, "SELECT pg_advisory_xact_lock(hashtext(") ||
        put_literal(&b, key.data, key.len) ||
        put_str(&b, ")); SELECT field, col, kind FROM ") ||
        put_qualified(&b, w->schema, "_icx_columns") ||
        put_str(&b, " WHERE tbl = ") || put_literal(&b, w->table, nt) ||
        put_str(&b, " AND to_regclass(") || put_literal(&b, q.data, q.len) ||
        put_str(&b, ") IS NOT NULL ORDER BY pos") || !buf_cstr(&b);
  buf_free(&key);
  buf_free(&q);
  if (bad) {
    buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* conn:writer(schema, table, {primary_key = {field, ...} | field}). The
** userdata starts closed and owns each allocation as soon as it is made,
** so a raise half-way leaves __gc to free what exists. */
static int conn_writer(lua_State *L) {
  static const char *const allowed[] = {"primary_key", NULL};
  Conn *c = check_conn(L, 1);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  icx_opts_check(L, 4, "icx.pg", "writer{}", allowed);
  Writer *w = lua_newuserdatauv(L, sizeof *w, 1);
  memset(w, 0, sizeof *w);
  w->owner = c;
  luaL_setmetatable(L, WRITER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!(w->schema = dup_name(L, 2, "schema name")) ||
      !(w->table = dup_name(L, 3, "table name")))
    return luaL_error(L, "icx.pg: out of memory");
  if (strlen(w->table) > MAX_IDENT || strlen(w->schema) > MAX_IDENT)
    return luaL_error(L, "icx.pg: names are at most 63 bytes (icx.pg.ident)");
  if (lua_istable(L, 4))
    lua_getfield(L, 4, "primary_key");
  else
    lua_pushnil(L);
  int pkidx = lua_gettop(L);
  int n = lua_type(L, pkidx) == LUA_TSTRING ? 1
          : lua_istable(L, pkidx)           ? (int)luaL_len(L, pkidx)
          : lua_isnil(L, pkidx)             ? 0
                                            : -1;
  if (n < 0 || n > 32)
    return luaL_error(L, "icx.pg: primary_key must be a field name or a "
                         "list of at most 32");
  if (n && !(w->pk = calloc((size_t)n, sizeof *w->pk)))
    return luaL_error(L, "icx.pg: out of memory");
  for (int i = 0; i < n; i++) {
    if (lua_istable(L, pkidx))
      lua_rawgeti(L, pkidx, i + 1);
    else
      lua_pushvalue(L, pkidx);
    w->pk[i] = dup_name(L, -1, "primary_key field");
    if (!w->pk[i])
      return luaL_error(L, "icx.pg: out of memory");
    w->npk = i + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (!(w->load_sql = build_load_sql(w)))
    return luaL_error(L, "icx.pg: out of memory");
  snprintf(w->stage, sizeof w->stage, "_icx_stage_%u", ++c->nstage);
  w->open = 1;
  return 1;
}

/* Push nil, msg, code for a writer failure. [-0, +3, m] */
static int push_werr(lua_State *L, const werr *e) {
  lua_pushnil(L);
  lua_pushstring(L, e->msg);
  lua_pushstring(L, e->code);
  return 3;
}

/* w:write(page | json) -> n | nil, err, code */
static int writer_write(lua_State *L) {
  Writer *w = check_writer(L, 1);
  werr e;
  size_t n = 0;
  const js_val *recs;
  js_members mem;
  w->mem = NULL;
  if (PQtransactionStatus(w->owner->pg) != PQTRANS_INTRANS)
    return luaL_error(L, "icx.pg: write() outside a transaction (or in a "
                         "failed one): call conn:begin() first");
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    js_val top, rec;
    js_err je;
    if (js_parse(s, len, &top, &je) != 0) {
      lua_pushnil(L);
      lua_pushfstring(L, "icx.pg: table '%s': invalid JSON at byte %d: %s",
                      w->table, (int)je.offset, je.msg);
      lua_pushliteral(L, "record");
      return 3;
    }
    w->ntmp = 0;
    js_iter it;
    int arr = top.type == JS_ARRAY;
    if (arr)
      js_iter_init(&it, &top);
    while (arr ? js_next_elem(&it, &rec) : w->ntmp == 0) {
      if (w->ntmp == w->captmp) {
        size_t cap = w->captmp ? w->captmp * 2 : 64;
        js_val *t = realloc(w->tmp, cap * sizeof *t);
        if (!t)
          return luaL_error(L, "icx.pg: out of memory");
        w->tmp = t;
        w->captmp = cap;
      }
      w->tmp[w->ntmp++] = arr ? rec : top;
    }
    recs = w->tmp;
    n = w->ntmp;
  } else {
    recs = icx_json_checkpage(L, 2, &n, NULL);
    if (icx_json_page_members(L, 2, &mem))
      w->mem = &mem;
  }
  int rc = write_records(w, recs, n, &e);
  w->mem = NULL; /* the index dies with the page */
  if (rc != 0)
    return push_werr(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* w:columns() -> {{field =, column =, kind =}, ...} in table order. */
static int writer_columns(lua_State *L) {
  Writer *w = check_writer(L, 1);
  lua_createtable(L, w->ntable, 0);
  for (int i = 0; i < w->ntable; i++) {
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, w->cols[i].field, w->cols[i].flen);
    lua_setfield(L, -2, "field");
    lua_pushstring(L, w->cols[i].name);
    lua_setfield(L, -2, "column");
    lua_pushstring(L, kind_name[w->cols[i].kind]);
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* w:close(), __gc and __close; idempotent. */
static int writer_close(lua_State *L) {
  writer_release(luaL_checkudata(L, 1, WRITER_MT));
  return 0;
}

/* __tostring */
static int writer_tostring(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  if (!w->open)
    lua_pushliteral(L, "icx.pg.Writer (closed)");
  else
    lua_pushfstring(L, "icx.pg.Writer (%s.%s)", w->schema, w->table);
  return 1;
}

/* ------------------------------------------------------------ tables */

static const luaL_Reg conn_methods[] = {{"exec", conn_exec},
                                        {"query", conn_query},
                                        {"begin", conn_begin},
                                        {"commit", conn_commit},
                                        {"rollback", conn_rollback},
                                        {"in_transaction", conn_in_transaction},
                                        {"pid", conn_pid},
                                        {"server_version", conn_server_version},
                                        {"writer", conn_writer},
                                        {"close", conn_close},
                                        {NULL, NULL}};

static const luaL_Reg conn_meta[] = {{"__gc", conn_close},
                                     {"__close", conn_close},
                                     {"__tostring", conn_tostring},
                                     {NULL, NULL}};

static const luaL_Reg writer_methods[] = {{"write", writer_write},
                                          {"columns", writer_columns},
                                          {"close", writer_close},
                                          {NULL, NULL}};

static const luaL_Reg writer_meta[] = {{"__gc", writer_close},
                                       {"__close", writer_close},
                                       {"__tostring", writer_tostring},
                                       {NULL, NULL}};

static const luaL_Reg pg_funcs[] = {{"connect", pg_connect},
                                    {"quote", pg_quote},
                                    {"ident", pg_ident},
                                    {"libpq_version", pg_libpq_version},
                                    {NULL, NULL}};

/* Create metatable name with metamethods meta and methods in __index. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int luaopen_icx_pg(lua_State *L) {
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  new_class(L, CONN_MT, conn_meta, conn_methods);
  new_class(L, WRITER_MT, writer_meta, writer_methods);
  luaL_newlib(L, pg_funcs);
  return 1;
}
