/*
** lduckdb.c: icx.duckdb, the DuckDB side of icx's duckdb: and parquet:
** destinations over DuckDB's C API, and the Lua binding of its typed record
** writer (duckwriter.c; docs/DUCKDB.md).
**
**   icx.duckdb.open(path [, opts]) -> Db        nothing is opened yet: the
**       database file is opened on first use and closed by db:release(),
**       so other processes can take it between transactions (DuckDB lets
**       one process at a time hold a file). opts: busy_timeout = ms to wait
**       while another process holds it (default 30000). Every database
**       runs one thread (DuckDB's setting threads = 1)
**   icx.duckdb.quote(name) -> string     "name" with inner quotes doubled
**   icx.duckdb.version() -> string       the library's, e.g. "v1.5.6"
**
**   db:exec(sql) -> true | nil, err, code        one or more statements
**   db:query(sql, ...) -> rows | nil, err, code  ? bound: nil, boolean,
**       integer (BIGINT), float (DOUBLE), string (VARCHAR); rows[i][column]
**       = value: integers -> integer, DOUBLE/FLOAT -> float, BOOLEAN ->
**       boolean, NULL -> absent, everything else -> its text
**   db:begin(), db:commit(), db:rollback() -> true | nil, err, code
**       a failed commit rolls back; rollback outside a transaction is a
**       no-op
**   db:in_transaction() -> boolean
**   db:release()      closes the file until the next call (refused inside a
**                     transaction)
**   db:writer(table, {primary_key = {field, ...} | field, append = bool})
**       -> Writer   append: rows go straight in, a key's earlier rows stay
**   db:close()
**
**   w:write(page | json) -> n | nil, err, code    inside a transaction
**   w:columns() -> {{field =, column =, kind =}, ...}   as last loaded
**   w:close()
**
** Error codes: "busy" (another process holds the file past the timeout),
** "cantopen", "constraint", "io", "nomem", "duckdb", and "record" for a
** record the writer cannot store.
**
** One instance cache per process, so every Db of one file in this process
** shares one database (DuckDB would refuse a second, or corrupt it).
*/

#ifdef ICX_DUCKDB

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <duckdb.h>
#include <lauxlib.h>
#include <lua.h>

#include "class.h"
#include "duckapi.h"
#include "duckwriter.h"
#include "ljson.h"
#include "modules.h"
#include "opts.h"
#include "sqlbind.h"

#define DB_MT "icx.duckdb.Db"
#define WRITER_MT "icx.duckdb.Writer"
#define BUSY_MS 30000

typedef struct {
  char *path;            /* owned; NULL once closed */
  duckdb_database db;    /* open while con is */
  duckdb_connection con; /* NULL while released */
  int txn;               /* inside begin() */
  long busy_ms;
} Db;

typedef struct {
  Db *owner;          /* kept alive by user value 1 */
  struct icx_dkw *dw; /* owned; NULL once closed */
} Writer;

static duckdb_instance_cache cache;

/* The column epoch of every writer (duckwriter.h). Process-wide as the
** instance cache is: two Dbs of one file share one database, so what one
** changes (or rolls back) the other's writers must see. */
static unsigned long epoch;

/* The instance cache goes with the Lua state: a sentinel made when the
** module opens is finalized after every Db made since (Lua finalizes in
** reverse order), so leak checkers see DuckDB's memory returned. */
static int cache_gc(lua_State *L) {
  (void)L;
  if (cache)
    duckdb_destroy_instance_cache(&cache);
  cache = NULL;
  return 0;
}

/* ---------------------------------------------------------------- Db */

static Db *check_db(lua_State *L, int idx) {
  Db *d = luaL_checkudata(L, idx, DB_MT);
  if (!d->path)
    luaL_error(L, "icx.duckdb: database is closed");
  return d;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The settings of every database icx opens (docs/MEASUREMENTS.md, the
** lake route). One thread: a page is a few small statements, and DuckDB's
** worker threads cost more CPU waking and locking than they save. A
** checkpoint every 64 MB of write-ahead log, not 16: each checkpoint
** compresses again the table's last row group (up to 122,880 rows), so
** at 16 MB checkpoints were two thirds of a page's commit. NULL out of
** memory. */
static duckdb_config make_config(void) {
  duckdb_config config;
  if (duckdb_create_config(&config) == DuckDBError)
    return NULL;
  if (duckdb_set_config(config, "threads", "1") == DuckDBError ||
      duckdb_set_config(config, "checkpoint_threshold", "64MB") ==
          DuckDBError) {
    duckdb_destroy_config(&config);
    return NULL;
  }
  return config;
}

/* Opens d's file if released: waits up to busy_ms while another process
** holds it. 0, or pushes nil, err, code and returns 3. */
static int acquire(lua_State *L, Db *d) {
  long waited = 0;
  if (d->con)
    return 0;
  if (!cache)
    cache = duckdb_create_instance_cache();
  for (;;) {
    char *err = NULL;
    duckdb_config config = make_config();
    duckdb_state st;
    if (!config)
      return luaL_error(L, "icx.duckdb: out of memory");
    st = duckdb_get_or_create_from_cache(cache, d->path, &d->db, config, &err);
    duckdb_destroy_config(&config);
    if (st == DuckDBSuccess) {
      if (duckdb_connect(d->db, &d->con) == DuckDBSuccess)
        return 0;
      duckdb_close(&d->db);
      d->con = NULL;
      lua_pushnil(L);
      lua_pushfstring(L, "icx.duckdb: '%s': cannot connect", d->path);
      lua_pushliteral(L, "cantopen");
      return 3;
    }
    int locked = err && strstr(err, "lock") != NULL;
    if (!locked || waited >= d->busy_ms) {
      lua_pushnil(L);
      lua_pushfstring(L, "icx.duckdb: cannot open '%s': %s", d->path,
                      err ? err : "unknown error");
      lua_pushstring(L, locked ? "busy" : "cantopen");
      duckdb_free(err);
      return 3;
    }
    duckdb_free(err);
    sleep_ms(20);
    waited += 20;
  }
}

static void release(Db *d) {
  epoch++; /* the staging tables were the connection's */
  if (d->con) {
    duckdb_disconnect(&d->con);
    duckdb_close(&d->db);
    d->con = NULL;
  }
  d->txn = 0;
}

/* Pushes nil, "icx.duckdb: <error>", code for the failed r and frees it. */
static int push_err(lua_State *L, duckdb_result *r) {
  lua_pushnil(L);
  lua_pushfstring(L, "icx.duckdb: %s", duckdb_result_error(r));
  lua_pushstring(L, icx_dkw_code(r));
  duckdb_destroy_result(r);
  return 3;
}

/* icx.duckdb.open(path [, {busy_timeout = ms}]) */
static int duck_open(lua_State *L) {
  static const char *const allowed[] = {"busy_timeout", NULL};
  const char *path = icx_sql_name(L, 1, "icx.duckdb", "path", 1);
  icx_opts_check(L, 2, "icx.duckdb", "open{}", allowed);
  long busy = BUSY_MS;
  if (icx_opts_get(L, 2, "busy_timeout") != LUA_TNIL)
    busy = (long)luaL_checkinteger(L, -1);
  Db *d = lua_newuserdatauv(L, sizeof *d, 0);
  memset(d, 0, sizeof *d);
  luaL_setmetatable(L, DB_MT);
  d->busy_ms = busy < 0 ? 0 : busy;
  if (!(d->path = strdup(path)))
    return luaL_error(L, "icx.duckdb: out of memory");
  return 1;
}

/* Runs sql (no parameters) on d. 0, or 3 pushed. */
static int simple(lua_State *L, Db *d, const char *sql) {
  duckdb_result r;
  int n = acquire(L, d);
  if (n)
    return n;
  if (duckdb_query(d->con, sql, &r) == DuckDBError)
    return push_err(L, &r);
  duckdb_destroy_result(&r);
  return 0;
}

static int db_exec(lua_State *L) {
  Db *d = check_db(L, 1);
  epoch++; /* exec is for DDL: a writer's table may have changed */
  int n = simple(L, d, luaL_checkstring(L, 2));
  if (n)
    return n;
  lua_pushboolean(L, 1);
  return 1;
}

/* Binds the Lua values at [first, top] to ps's parameters. */
static int bind_args(lua_State *L, duckdb_prepared_statement ps, int first) {
  int top = lua_gettop(L);
  for (int i = first; i <= top; i++) {
    idx_t p = (idx_t)(i - first + 1);
    duckdb_state st;
    switch (lua_type(L, i)) {
    case LUA_TNIL:
      st = duckdb_bind_null(ps, p);
      break;
    case LUA_TBOOLEAN:
      st = duckdb_bind_boolean(ps, p, lua_toboolean(L, i));
      break;
    case LUA_TNUMBER:
      st = lua_isinteger(L, i)
               ? duckdb_bind_int64(ps, p, (int64_t)lua_tointeger(L, i))
               : duckdb_bind_double(ps, p, lua_tonumber(L, i));
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, i, &len);
      st = duckdb_bind_varchar_length(ps, p, s, (idx_t)len);
      break;
    }
    default:
      return luaL_error(L, "icx.duckdb: cannot bind a %s (parameter %d)",
                        luaL_typename(L, i), (int)p);
    }
    if (st == DuckDBError)
      return -1;
  }
  return 0;
}

/* Pushes the rows of r as a list of tables. */
static void push_rows(lua_State *L, duckdb_result *r) {
  idx_t nrow = duckdb_row_count(r), ncol = duckdb_column_count(r);
  lua_createtable(L, (int)nrow, 0);
  for (idx_t i = 0; i < nrow; i++) {
    lua_createtable(L, 0, (int)ncol);
    for (idx_t c = 0; c < ncol; c++) {
      if (duckdb_value_is_null(r, c, i))
        continue;
      switch (duckdb_column_type(r, c)) {
      case DUCKDB_TYPE_BOOLEAN:
        lua_pushboolean(L, duckdb_value_boolean(r, c, i));
        break;
      case DUCKDB_TYPE_TINYINT:
      case DUCKDB_TYPE_SMALLINT:
      case DUCKDB_TYPE_INTEGER:
      case DUCKDB_TYPE_BIGINT:
      case DUCKDB_TYPE_UTINYINT:
      case DUCKDB_TYPE_USMALLINT:
      case DUCKDB_TYPE_UINTEGER:
        lua_pushinteger(L, (lua_Integer)duckdb_value_int64(r, c, i));
        break;
      case DUCKDB_TYPE_FLOAT:
      case DUCKDB_TYPE_DOUBLE:
        lua_pushnumber(L, duckdb_value_double(r, c, i));
        break;
      default: {
        char *s = duckdb_value_varchar(r, c, i);
        lua_pushstring(L, s ? s : "");
        duckdb_free(s);
      }
      }
      lua_setfield(L, -2, duckdb_column_name(r, c));
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static int db_query(lua_State *L) {
  Db *d = check_db(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  if (strstr(sql, "_icx_columns"))
    epoch++; /* the writers' columns may have changed */
  duckdb_prepared_statement ps;
  duckdb_result r;
  int n = acquire(L, d);
  if (n)
    return n;
  if (duckdb_prepare(d->con, sql, &ps) == DuckDBError) {
    lua_pushnil(L);
    lua_pushfstring(L, "icx.duckdb: %s", duckdb_prepare_error(ps));
    lua_pushliteral(L, "duckdb");
    duckdb_destroy_prepare(&ps);
    return 3;
  }
  if (bind_args(L, ps, 3) != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "icx.duckdb: binding: %s", duckdb_prepare_error(ps));
    lua_pushliteral(L, "duckdb");
    duckdb_destroy_prepare(&ps);
    return 3;
  }
  duckdb_state st = duckdb_execute_prepared(ps, &r);
  duckdb_destroy_prepare(&ps);
  if (st == DuckDBError)
    return push_err(L, &r);
  push_rows(L, &r);
  duckdb_destroy_result(&r);
  return 1;
}

static int db_begin(lua_State *L) {
  Db *d = check_db(L, 1);
  if (d->txn)
    return luaL_error(L, "icx.duckdb: begin() inside a transaction");
  int n = simple(L, d, "BEGIN TRANSACTION");
  if (n)
    return n;
  d->txn = 1;
  lua_pushboolean(L, 1);
  return 1;
}

static int db_commit(lua_State *L) {
  Db *d = check_db(L, 1);
  if (!d->txn)
    return luaL_error(L, "icx.duckdb: commit() outside a transaction");
  duckdb_result r;
  d->txn = 0;
  if (duckdb_query(d->con, "COMMIT", &r) == DuckDBError) {
    epoch++; /* rolled back: what the writers made may be gone */
    duckdb_result rb;
    duckdb_query(d->con, "ROLLBACK", &rb);
    duckdb_destroy_result(&rb);
    return push_err(L, &r);
  }
  duckdb_destroy_result(&r);
  lua_pushboolean(L, 1);
  return 1;
}

static int db_rollback(lua_State *L) {
  Db *d = check_db(L, 1);
  if (d->txn) {
    duckdb_result r;
    d->txn = 0;
    epoch++; /* what the writers made in the transaction is gone */
    if (duckdb_query(d->con, "ROLLBACK", &r) == DuckDBError)
      return push_err(L, &r);
    duckdb_destroy_result(&r);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int db_in_transaction(lua_State *L) {
  lua_pushboolean(L, check_db(L, 1)->txn);
  return 1;
}

static int db_release(lua_State *L) {
  Db *d = check_db(L, 1);
  if (d->txn)
    return luaL_error(L, "icx.duckdb: release() inside a transaction");
  release(d);
  return 0;
}

static int db_close(lua_State *L) {
  Db *d = luaL_checkudata(L, 1, DB_MT);
  release(d);
  free(d->path);
  d->path = NULL;
  return 0;
}

static int db_tostring(lua_State *L) {
  Db *d = luaL_checkudata(L, 1, DB_MT);
  lua_pushfstring(L, "icx.duckdb.Db (%s)", d->path ? d->path : "closed");
  return 1;
}

/* ------------------------------------------------------------ Writer */

static Writer *check_writer(lua_State *L, int idx) {
  Writer *w = luaL_checkudata(L, idx, WRITER_MT);
  if (!w->dw)
    luaL_error(L, "icx.duckdb: writer is closed");
  if (!w->owner->path)
    luaL_error(L, "icx.duckdb: database is closed");
  return w;
}

/* db:writer(table, {primary_key = ..., append = bool}); the userdata
** exists (closed) before the writer, so a raise leaks nothing. */
static int db_writer(lua_State *L) {
  static const char *const allowed[] = {"primary_key", "append", NULL};
  const char *pk[32];
  Db *d = check_db(L, 1);
  const char *table = icx_sql_name(L, 2, "icx.duckdb", "table name", 1);
  icx_opts_check(L, 3, "icx.duckdb", "writer{}", allowed);
  int append = icx_opts_boolean(L, 3, "icx.duckdb", "append", 0);
  icx_opts_get(L, 3, "primary_key");
  int n = icx_sql_names(L, -1, "icx.duckdb", "field", 1, pk, 32);
  Writer *w = lua_newuserdatauv(L, sizeof *w, 1);
  w->owner = d;
  w->dw = NULL;
  luaL_setmetatable(L, WRITER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!(w->dw = icx_dkw_new(table, pk, n, append)))
    return luaL_error(L, "icx.duckdb: out of memory");
  return 1;
}

/* w:write(page | json) -> n | nil, err, code */
static int writer_write(lua_State *L) {
  Writer *w = check_writer(L, 1);
  struct icx_cs_err e = {NULL, ""};
  size_t n = 0;
  int rc;
  if (!w->owner->txn)
    return luaL_error(L, "icx.duckdb: write() outside a transaction: call "
                         "db:begin() first");
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    rc = icx_dkw_write_json(w->dw, w->owner->con, &epoch, s, len, &n, &e);
  } else {
    js_members mem;
    int minified = 0;
    const js_val *recs = icx_json_checkpage(L, 2, &n, &minified);
    int indexed = icx_json_page_members(L, 2, &mem);
    rc = icx_dkw_write(w->dw, w->owner->con, &epoch, recs, n, minified,
                       indexed ? &mem : NULL, &e);
  }
  if (rc != 0)
    return icx_sql_push_err(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int writer_columns(lua_State *L) {
  Writer *w = check_writer(L, 1);
  return icx_sql_push_columns(L, icx_dkw_columns(w->dw));
}

static int writer_close(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  icx_dkw_free(w->dw);
  w->dw = NULL;
  return 0;
}

static int writer_tostring(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  if (!w->dw)
    lua_pushliteral(L, "icx.duckdb.Writer (closed)");
  else
    lua_pushfstring(L, "icx.duckdb.Writer (%s)", icx_dkw_columns(w->dw)->table);
  return 1;
}

static int duck_version(lua_State *L) {
  lua_pushstring(L, duckdb_library_version());
  return 1;
}

/* ------------------------------------------------------------ tables */

static const luaL_Reg db_methods[] = {
    {"exec", db_exec},         {"query", db_query},
    {"begin", db_begin},       {"commit", db_commit},
    {"rollback", db_rollback}, {"in_transaction", db_in_transaction},
    {"release", db_release},   {"writer", db_writer},
    {"close", db_close},       {NULL, NULL}};

static const luaL_Reg db_meta[] = {{"__gc", db_close},
                                   {"__close", db_close},
                                   {"__tostring", db_tostring},
                                   {NULL, NULL}};

static const luaL_Reg writer_methods[] = {{"write", writer_write},
                                          {"columns", writer_columns},
                                          {"close", writer_close},
                                          {NULL, NULL}};

static const luaL_Reg writer_meta[] = {{"__gc", writer_close},
                                       {"__close", writer_close},
                                       {"__tostring", writer_tostring},
                                       {NULL, NULL}};

static const luaL_Reg duck_funcs[] = {{"open", duck_open},
                                      {"quote", icx_sql_quote},
                                      {"version", duck_version},
                                      {NULL, NULL}};

int luaopen_icx_duckdb(lua_State *L) {
  /* The library is loaded by the first require, so a process that never
  ** uses DuckDB never maps it; require raises what is missing. */
  char err[2048];
  if (icx_duckapi_load(err, sizeof err) != 0)
    return luaL_error(L, "%s", err);
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, cache_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "icx.duckdb.cache");
  icx_class_new(L, DB_MT, db_meta, db_methods, 0);
  icx_class_new(L, WRITER_MT, writer_meta, writer_methods, 0);
  luaL_newlib(L, duck_funcs);
  return 1;
}

#endif
