/*
** lpg.c: icx.pg, the PostgreSQL side of icx's destinations over libpq, and
** the Lua binding of its typed record writer (pgwriter.c;
** docs/ARCHITECTURE.md, "The record path").
**
**   icx.pg.connect(conninfo [, opts]) -> Conn | nil, err, code
**       conninfo: a postgresql:// URI or "key=value ..." string as libpq
**       takes it (the caller strips icx's own ?schema=); unset parts come
**       from libpq's conventions (PGHOST, PGUSER, PGPASSWORD, ~/.pgpass,
**       service files). opts: connect_timeout = seconds (default 10),
**       application_name = the fallback name pg_stat_activity shows
**       (default "icx"; a conninfo's own wins). TCP keepalives (idle 30 s,
**       every 10 s, 3 lost: a dead peer is noticed within a minute) and a
**       60 s TCP user timeout are defaults the conninfo may override; a
**       statement_timeout of 1 hour is set unless the server or the
**       conninfo's options set one: no wait is unbounded
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
** "permission", "aborted" (a statement after a failed one), "lock_timeout"
** (lock_timeout ran out), "timeout" (statement_timeout or a cancel), "pg",
** "nomem",
** and "record" for a record the writer cannot store.
**
** The writer is pgwriter.c, which needs no Lua (and colset.c, the
** records-to-columns part it shares with SQLite's): see pgwriter.h for the
** declared types, the column names, and the locking. This file is its Lua
** binding and the rest of icx.pg.
*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <libpq-fe.h>
#include <lua.h>

#include "class.h"
#include "ljson.h"
#include "modules.h"
#include "opts.h"
#include "pgwriter.h"
#include "sqlbind.h"

#define CONN_MT "icx.pg.Conn"
#define WRITER_MT "icx.pg.Writer"
#define RESULT_MT "icx.pg.Result" /* internal: a result being converted */

#define CONNECT_TIMEOUT "10"

/* pg_type OIDs of the result columns converted to Lua values. */
#define BOOLOID 16
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define FLOAT4OID 700
#define FLOAT8OID 701

/* A connection (pgconn.h). Writers pin it with a user value. */
typedef struct icx_pg_conn Conn;

/* A query result held while its rows become Lua tables: a memory error
** raised meanwhile leaves __gc to clear it. */
typedef struct {
  PGresult *r; /* owned; NULL once cleared */
} Result;

/* conn:writer's object: a pgwriter.c writer bound to its Conn. */
typedef struct {
  Conn *owner;        /* the parent, kept alive by user value 1 */
  struct icx_pgw *pw; /* owned; NULL once closed (or before setup completes) */
} Writer;

/* ------------------------------------------------------------ helpers */

/* Push nil, "icx.pg: <message>", code for a failed result r (may be NULL)
** and clear r. [-0, +3, m] */
static int push_pgerr(lua_State *L, PGconn *pg, PGresult *r) {
  char msg[600];
  const char *code = icx_pg_code(pg, r);
  icx_pg_one_line(msg, sizeof msg,
                  r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
  if (!msg[0])
    icx_pg_one_line(msg, sizeof msg, PQerrorMessage(pg));
  PQclear(r);
  lua_pushnil(L);
  lua_pushfstring(L, "icx.pg: %s", msg);
  lua_pushstring(L, code);
  return 3;
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
  static const char *const allowed[] = {"connect_timeout", "application_name",
                                        NULL};
  const char *conninfo = luaL_checkstring(L, 1);
  icx_opts_check(L, 2, "icx.pg", "connect{}", allowed);
  char timeout[32] = CONNECT_TIMEOUT;
  if (!lua_isnoneornil(L, 2)) {
    double t = icx_opts_positive(L, 2, "icx.pg", "connect_timeout", 10);
    snprintf(timeout, sizeof timeout, "%d", t < 2 ? 2 : (int)t);
  }
  const char *app = "icx";
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "application_name");
    if (!lua_isnil(L, -1))
      app = luaL_checkstring(L, -1); /* kept alive by the opts table */
    lua_pop(L, 1);
  }
  char *err = NULL;
  PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);
  if (!parsed) {
    char msg[400];
    icx_pg_one_line(msg, sizeof msg, err ? err : "out of memory");
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
  const char *const keys[] = {
      "connect_timeout",     "fallback_application_name",
      "keepalives",          "keepalives_idle",
      "keepalives_interval", "keepalives_count",
      "tcp_user_timeout",    "dbname",
      "client_encoding",     NULL};
  const char *const vals[] = {timeout, app,     "1",      "30",   "10",
                              "3",     "60000", conninfo, "UTF8", NULL};
  c->pg = PQconnectdbParams(keys, vals, 1);
  if (!c->pg)
    return luaL_error(L, "icx.pg: out of memory");
  if (PQstatus(c->pg) != CONNECTION_OK) {
    char msg[600];
    const char *m = PQerrorMessage(c->pg);
    icx_pg_one_line(msg, sizeof msg, m);
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
                              "SET synchronous_commit = off; "
                              "SELECT set_config('statement_timeout', "
                              "'1h', false) WHERE current_setting("
                              "'statement_timeout') = '0'");
  if (!icx_pg_ok(r)) {
    push_pgerr(L, c->pg, r);
    conn_release(c);
    return 3;
  }
  PQclear(r);
  return 1;
}

/* icx.pg.ident(name [, room]) -> an identifier of at most 63 - room bytes. */
static int pg_ident(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_Integer room = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, room >= 0 && room <= 40, 2, "room must be 0..40");
  char out[ICX_PG_MAX_IDENT + 1];
  icx_pg_ident(out, s, n, (size_t)(ICX_PG_MAX_IDENT - room));
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
  if (!icx_pg_ok(r))
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
  if (!icx_pg_ok(r))
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
  if (!icx_pg_ok(r))
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
  if (!icx_pg_ok(r))
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

/* The open Writer at idx, raising if it or its Conn is closed. */
static Writer *check_writer(lua_State *L, int idx) {
  Writer *w = luaL_checkudata(L, idx, WRITER_MT);
  if (!w->pw)
    luaL_error(L, "icx.pg: writer is closed");
  if (!w->owner->pg)
    luaL_error(L, "icx.pg: connection is closed");
  return w;
}

/* conn:writer(schema, table, {primary_key = {field, ...} | field}). Every
** argument is checked before the writer is made, and the userdata exists
** (closed) before it, so a raise leaks nothing. */
static int conn_writer(lua_State *L) {
  static const char *const allowed[] = {"primary_key", NULL};
  const char *pk[32];
  Conn *c = check_conn(L, 1);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  icx_opts_check(L, 4, "icx.pg", "writer{}", allowed);
  const char *schema = icx_sql_name(L, 2, "icx.pg", "schema name", 1);
  const char *table = icx_sql_name(L, 3, "icx.pg", "table name", 1);
  if (strlen(table) > ICX_PG_MAX_IDENT || strlen(schema) > ICX_PG_MAX_IDENT)
    return luaL_error(L, "icx.pg: names are at most 63 bytes (icx.pg.ident)");
  icx_opts_get(L, 4, "primary_key");
  int n = icx_sql_names(L, -1, "icx.pg", "field", 1, pk, 32);
  Writer *w = lua_newuserdatauv(L, sizeof *w, 1);
  w->owner = c;
  w->pw = NULL;
  luaL_setmetatable(L, WRITER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!(w->pw = icx_pgw_new(c, schema, table, pk, n)))
    return luaL_error(L, "icx.pg: out of memory");
  return 1;
}

/* w:write(page | json) -> n | nil, err, code */
static int writer_write(lua_State *L) {
  Writer *w = check_writer(L, 1);
  struct icx_cs_err e = {NULL, ""}; /* filled on failure; set for cppcheck */
  size_t n = 0;
  int rc;
  if (PQtransactionStatus(w->owner->pg) != PQTRANS_INTRANS)
    return luaL_error(L, "icx.pg: write() outside a transaction (or in a "
                         "failed one): call conn:begin() first");
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    rc = icx_pgw_write_json(w->pw, s, len, &n, &e);
  } else {
    js_members mem;
    const js_val *recs = icx_json_checkpage(L, 2, &n, NULL);
    int indexed = icx_json_page_members(L, 2, &mem);
    rc = icx_pgw_write(w->pw, recs, n, indexed ? &mem : NULL, &e);
  }
  if (rc != 0)
    return icx_sql_push_err(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* w:columns() -> {{field =, column =, kind =}, ...} in table order. */
static int writer_columns(lua_State *L) {
  Writer *w = check_writer(L, 1);
  return icx_sql_push_columns(L, icx_pgw_columns(w->pw));
}

/* w:close(), __gc and __close; idempotent. */
static int writer_close(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  icx_pgw_free(w->pw);
  w->pw = NULL;
  return 0;
}

/* __tostring */
static int writer_tostring(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  if (!w->pw)
    lua_pushliteral(L, "icx.pg.Writer (closed)");
  else
    lua_pushfstring(L, "icx.pg.Writer (%s.%s)", icx_pgw_schema(w->pw),
                    icx_pgw_columns(w->pw)->table);
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

static const luaL_Reg result_meta[] = {{"__gc", result_gc}, {NULL, NULL}};

static const luaL_Reg pg_funcs[] = {{"connect", pg_connect},
                                    {"quote", icx_sql_quote},
                                    {"ident", pg_ident},
                                    {"libpq_version", pg_libpq_version},
                                    {NULL, NULL}};

int luaopen_icx_pg(lua_State *L) {
  icx_class_new(L, RESULT_MT, result_meta, NULL, 0);
  icx_class_new(L, CONN_MT, conn_meta, conn_methods, 0);
  icx_class_new(L, WRITER_MT, writer_meta, writer_methods, 0);
  luaL_newlib(L, pg_funcs);
  return 1;
}
