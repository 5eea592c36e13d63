/*
** lsqlite.c: icx.sqlite, the SQLite side of icx's destinations, and the Lua
** binding of the typed record writer (rowwriter.c) on the hot path.
**
**   icx.sqlite.open(path [, opts]) -> Db | nil, err, code
**       opts: busy_timeout = ms (default 30000), wal = bool (default true:
**             WAL, synchronous=NORMAL, a checkpoint per 10,000 WAL pages),
**             readonly = bool (default false), check = bool (default
**             true: PRAGMA quick_check before anything is written, see
**             db_quick_check)
**   icx.sqlite.quote(name) -> string      "name" with inner quotes doubled
**   icx.sqlite.version() -> string        the linked SQLite, e.g. "3.40.1"
**
**   db:exec(sql) -> true | nil, err, code         statements without rows
**   db:query(sql, ...) -> rows | nil, err, code    rows[i][column] = value
**       one value per parameter (nil for NULL); another count, or a value
**       that cannot be bound, raises as st:bind does
**   db:prepare(sql) -> Stmt | nil, err, code
**   db:begin() -> true | nil, err, code           BEGIN IMMEDIATE
**   db:commit() -> true | nil, err, code
**   db:rollback() -> true | nil, err, code        no-op outside a transaction
**   db:in_transaction() -> boolean
**   db:changes() -> integer
**   db:writer(table, {primary_key = {col, ...}, compare = col}) -> Writer
**       compare (single-column key only): count each record written as
**       new, changed or the same by the stored value of col (updated_at)
**   db:close()
**
**   st:bind(i, value) -> st        nil, boolean (0/1), integer, float, string
**   st:step() -> row | false | nil, err, code     row[column] = value
**   st:reset() -> st
**   st:close()
**
**   w:write(page | json) -> n | nil, err, code
**       page: an icx.json.Page; json: the text of one record object or of an
**       array of record objects (the transform path). Creates the table on
**       first use, adds a column for each new field, upserts on the primary
**       key (a plain INSERT when it is empty). Call it inside a transaction.
**   w:counts() -> new, changed, same   of the last write (compare), else 0s
**   w:columns() -> {name, ...}     the columns as the writer knows them
**   w:close()
**
** Values: SQLite INTEGER -> Lua integer, REAL -> float, TEXT and BLOB ->
** string, NULL -> nil (the key is absent from a row). Error codes: "busy",
** "constraint", "full", "readonly", "corrupt", "cantopen", "nomem", "io",
** "sqlite", and "record" for a record the writer cannot store.
**
** The writer itself (lossless values, column names, schema evolution) is
** rowwriter.c, which needs no Lua; see rowwriter.h for what lands how. This
** file is its Lua binding and the rest of icx.sqlite. Every connection goes
** through the "icx-wal" VFS (walvfs.c), which writes a commit's WAL frames
** in 64 KB pieces instead of two system calls per page.
*/

#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "class.h"
#include "ljson.h"
#include "modules.h"
#include "opts.h"
#include "rowwriter.h"
#include "sqlbind.h"
#include "walvfs.h"

#define DB_MT "icx.sqlite.Db"
#define STMT_MT "icx.sqlite.Stmt"
#define WRITER_MT "icx.sqlite.Writer"

#define BUSY_TIMEOUT_MS 30000
#define WAL_AUTOCHECKPOINT "10000" /* pages; see db_set_wal */

/* An open connection. Stmt and Writer objects pin it with a user value. */
typedef struct {
  sqlite3 *db;  /* owned; NULL once closed (sqlite3_close_v2 defers the free
                   until children finalize their statements) */
  unsigned gen; /* bumped by rollback: writers re-read their table's schema */
} Db;

/* A prepared statement made by db:prepare (or db:query, briefly). */
typedef struct {
  sqlite3_stmt *st; /* owned; NULL once closed */
  Db *owner;        /* the parent, kept alive by user value 1 */
} Stmt;

/* db:writer's object: a rowwriter.c writer bound to its Db. */
typedef struct {
  Db *owner;         /* the parent, kept alive by user value 1 */
  struct icx_rw *rw; /* owned; NULL once closed (or before setup completes) */
  unsigned gen;      /* owner->gen the writer's schema is known for */
} Writer;

/* ------------------------------------------------------------ helpers */

/* Push nil, "icx.sqlite: <errmsg>", code for the last error on db.
** [-0, +3, m] */
static int push_dberr(lua_State *L, sqlite3 *db, int rc) {
  lua_pushnil(L);
  lua_pushfstring(L, "icx.sqlite: %s", sqlite3_errmsg(db));
  lua_pushstring(L, icx_rw_code(rc));
  return 3;
}

/* Bind the Lua value at idx to parameter i of st. Raises on a type SQLite
** cannot hold; the caller's statement is owned by a userdata, so nothing
** leaks. [-0, +0, v] */
static int bind_lua(lua_State *L, sqlite3_stmt *st, int i, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    return sqlite3_bind_null(st, i);
  case LUA_TBOOLEAN:
    return sqlite3_bind_int(st, i, lua_toboolean(L, idx));
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      return sqlite3_bind_int64(st, i, lua_tointeger(L, idx));
    return sqlite3_bind_double(st, i, lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return sqlite3_bind_text64(st, i, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  default:
    return luaL_error(L, "icx.sqlite: cannot bind a %s (parameter %d)",
                      luaL_typename(L, idx), i);
  }
}

/* Push the current row of st as a table keyed by column name. [-0, +1, m] */
static void push_row(lua_State *L, sqlite3_stmt *st) {
  int n = sqlite3_column_count(st);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, i));
      break;
    case SQLITE_FLOAT:
      lua_pushnumber(L, sqlite3_column_double(st, i));
      break;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
      const void *p = sqlite3_column_blob(st, i);
      lua_pushlstring(L, p ? p : "", (size_t)sqlite3_column_bytes(st, i));
      break;
    }
    default:
      continue;
    }
    lua_setfield(L, -2, sqlite3_column_name(st, i));
  }
}

/* ----------------------------------------------------------------- Db */

/* The Db at idx, raising if it is closed. [-0, +0, v] */
static Db *check_db(lua_State *L, int idx) {
  Db *d = luaL_checkudata(L, idx, DB_MT);
  if (!d->db)
    luaL_error(L, "icx.sqlite: database is closed");
  return d;
}

/* Close d's connection; idempotent. Statements still held by Stmt and Writer
** objects keep a zombie connection alive until they finalize. */
static void db_release(Db *d) {
  if (d->db) {
    sqlite3_close_v2(d->db);
    d->db = NULL;
  }
}

/* Run sql (one or more statements, rows ignored). 0 or an SQLite code. */
static int db_run(Db *d, const char *sql) {
  return sqlite3_exec(d->db, sql, NULL, NULL, NULL);
}

/* Switch to WAL (readers never block the writer) with NORMAL sync, which
** stays consistent on a crash: a power loss may drop the last commits, never
** half of one, and the cursor commits with its page, so a resume re-reads
** them. The switch needs the exclusive lock, and SQLite answers SQLITE_BUSY
** at once, without the busy handler, when two connections would deadlock
** upgrading their locks (two processes opening a new file together). So it
** is retried here, with growing sleeps, for as long as the busy timeout.
**
** Checkpoints every WAL_AUTOCHECKPOINT pages instead of SQLite's 1,000. A
** page of records dirties one index leaf per record (ids are random), so a
** 1,000-page WAL holds the same leaves five commits over and a checkpoint
** (read from the WAL, write to the database, two fsyncs) copies most of them
** again; 10,000 pages (40 MB of WAL at most) lets each leaf be copied once
** per fifty commits. Measured on 100,000 contacts: 323k -> 286k pwrite,
** 106k -> 68k pread, 350 -> 44 fdatasync. Durability is unchanged: a commit
** is in the WAL either way. */
static int db_set_wal(Db *d, int busy_ms) {
  int slept = 0, nap = 1;
  for (;;) {
    int rc = db_run(d, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                       "PRAGMA wal_autocheckpoint=" WAL_AUTOCHECKPOINT);
    if ((rc & 0xff) != SQLITE_BUSY || slept >= busy_ms)
      return rc;
    sqlite3_sleep(nap);
    slept += nap;
    nap = nap < 64 ? nap * 2 : 64;
  }
}

/* A corrupted file SQLite still opens would take writes into the damaged
** b-trees and lose them (or the old rows) silently, so the file is checked
** before the first write, even the WAL switch's header write. quick_check
** reads every page once but skips the index-to-table cross-checks of
** integrity_check: linear in the file, once per run. 0 or a pushed error
** triple (3). [-0, +(0|3), m] */
static int db_quick_check(lua_State *L, Db *d) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(d->db, "PRAGMA quick_check(1)", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (r && strcmp(r, "ok") == 0) {
      sqlite3_finalize(st);
      return 0;
    }
    /* "*** in database main ***\nPage 21: ..." -> "Page 21: ..." */
    const char *nl = r ? strchr(r, '\n') : NULL;
    lua_pushnil(L);
    lua_pushfstring(L,
                    "icx.sqlite: the database file is corrupted "
                    "(quick_check: %s); nothing was written",
                    nl  ? nl + 1
                    : r ? r
                        : "no answer");
    lua_pushstring(L, "corrupt");
    sqlite3_finalize(st);
    return 3;
  }
  sqlite3_finalize(st);
  return push_dberr(L, d->db, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc);
}

/* icx.sqlite.open(path [, opts]) -> Db | nil, err, code. The handle exists
** (closed) before sqlite3_open_v2, so a raise at any point leaks nothing. */
static int sqlite_open(lua_State *L) {
  static const char *const allowed[] = {"busy_timeout", "wal", "readonly",
                                        "check", NULL};
  const char *path = luaL_checkstring(L, 1);
  icx_opts_check(L, 2, "icx.sqlite", "open{}", allowed);
  lua_Integer busy = icx_opts_integer(L, 2, "icx.sqlite", "busy_timeout",
                                      BUSY_TIMEOUT_MS, 0, INT32_MAX);
  int wal = icx_opts_boolean(L, 2, "icx.sqlite", "wal", 1);
  int ro = icx_opts_boolean(L, 2, "icx.sqlite", "readonly", 0);
  int check = icx_opts_boolean(L, 2, "icx.sqlite", "check", 1);

  Db *d = lua_newuserdatauv(L, sizeof *d, 0);
  d->db = NULL;
  d->gen = 0;
  luaL_setmetatable(L, DB_MT);
  int flags =
      (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path, &d->db, flags, icx_walvfs());
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout(d->db, (int)busy);
  if (rc == SQLITE_OK && check && !ro) {
    int n = db_quick_check(L, d);
    if (n) {
      db_release(d);
      return n;
    }
  }
  if (rc == SQLITE_OK && wal && !ro)
    rc = db_set_wal(d, (int)busy);
  if (rc != SQLITE_OK) {
    if (!d->db)
      return luaL_error(L, "icx.sqlite: out of memory");
    push_dberr(L, d->db, rc);
    db_release(d);
    return 3;
  }
  return 1;
}

/* icx.sqlite.version() -> the linked library's version string. */
static int sqlite_version(lua_State *L) {
  lua_pushstring(L, sqlite3_libversion());
  return 1;
}

/* db:exec(sql) -> true | nil, err, code */
static int db_exec(lua_State *L) {
  Db *d = check_db(L, 1);
  int rc = db_run(d, luaL_checkstring(L, 2));
  if (rc != SQLITE_OK)
    return push_dberr(L, d->db, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* A new closed Stmt pinning the Db at index 1. [-0, +1, m] */
static Stmt *new_stmt(lua_State *L, Db *d) {
  Stmt *s = lua_newuserdatauv(L, sizeof *s, 1);
  s->st = NULL;
  s->owner = d;
  luaL_setmetatable(L, STMT_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return s;
}

/* Prepare sql into the Stmt s (on the stack top). 0, or pushes the error
** triple and returns 3. [-0, +(0|3), m] */
static int stmt_prepare(lua_State *L, Db *d, Stmt *s, int sqlidx) {
  size_t n;
  const char *sql = luaL_checklstring(L, sqlidx, &n);
  int rc = sqlite3_prepare_v2(d->db, sql, (int)n, &s->st, NULL);
  if (rc != SQLITE_OK)
    return push_dberr(L, d->db, rc);
  if (!s->st) {
    lua_pushnil(L);
    lua_pushliteral(L, "icx.sqlite: no statement in the SQL text");
    lua_pushliteral(L, "sqlite");
    return 3;
  }
  return 0;
}

/* db:prepare(sql) -> Stmt | nil, err, code */
static int db_prepare(lua_State *L) {
  Db *d = check_db(L, 1);
  luaL_checkstring(L, 2);
  Stmt *s = new_stmt(L, d);
  return stmt_prepare(L, d, s, 2) ? 3 : 1;
}

/* db:query(sql, ...) -> rows | nil, err, code. The Stmt userdata owns the
** statement throughout, so a raise in bind or push leaks nothing. */
static int db_query(lua_State *L) {
  Db *d = check_db(L, 1);
  int nargs = lua_gettop(L) - 2;
  luaL_checkstring(L, 2);
  Stmt *s = new_stmt(L, d);
  int sidx = lua_gettop(L);
  if (stmt_prepare(L, d, s, 2))
    return 3;
  int nparams = sqlite3_bind_parameter_count(s->st);
  if (nargs != nparams)
    return luaL_error(L, "icx.sqlite: query: %d value%s for %d parameter%s",
                      nargs, nargs == 1 ? "" : "s", nparams,
                      nparams == 1 ? "" : "s");
  for (int i = 1; i <= nargs; i++) {
    int rc = bind_lua(L, s->st, i, 2 + i);
    if (rc != SQLITE_OK)
      return luaL_error(L, "icx.sqlite: query: parameter %d: %s", i,
                        sqlite3_errstr(rc));
  }
  lua_newtable(L);
  int rc;
  lua_Integer n = 0;
  while ((rc = sqlite3_step(s->st)) == SQLITE_ROW) {
    push_row(L, s->st);
    lua_rawseti(L, -2, ++n);
  }
  if (rc != SQLITE_DONE) {
    push_dberr(L, d->db, rc);
    sqlite3_finalize(s->st);
    s->st = NULL;
    return 3;
  }
  sqlite3_finalize(s->st);
  s->st = NULL;
  lua_remove(L, sidx);
  return 1;
}

/* db:begin() -> true | nil, err, code. IMMEDIATE takes the write lock now,
** so the busy timeout covers waiting for another process; a deferred
** transaction could not wait when upgrading a stale read (SQLITE_BUSY). */
static int db_begin(lua_State *L) {
  Db *d = check_db(L, 1);
  int rc = db_run(d, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK)
    return push_dberr(L, d->db, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* db:commit() -> true | nil, err, code */
static int db_commit(lua_State *L) {
  Db *d = check_db(L, 1);
  int rc = db_run(d, "COMMIT");
  if (rc != SQLITE_OK)
    return push_dberr(L, d->db, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* db:rollback() -> true | nil, err, code. Writers forget their schema: a
** table or column they created may have been rolled back with the rest. */
static int db_rollback(lua_State *L) {
  Db *d = check_db(L, 1);
  d->gen++;
  if (!sqlite3_get_autocommit(d->db)) {
    int rc = db_run(d, "ROLLBACK");
    if (rc != SQLITE_OK)
      return push_dberr(L, d->db, rc);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* db:in_transaction() -> boolean */
static int db_in_transaction(lua_State *L) {
  Db *d = check_db(L, 1);
  lua_pushboolean(L, !sqlite3_get_autocommit(d->db));
  return 1;
}

/* db:changes() -> rows changed by the last statement */
static int db_changes(lua_State *L) {
  Db *d = check_db(L, 1);
  lua_pushinteger(L, (lua_Integer)sqlite3_changes64(d->db));
  return 1;
}

/* db:close(), __gc and __close */
static int db_close(lua_State *L) {
  db_release(luaL_checkudata(L, 1, DB_MT));
  return 0;
}

/* __tostring */
static int db_tostring(lua_State *L) {
  Db *d = luaL_checkudata(L, 1, DB_MT);
  if (!d->db)
    lua_pushliteral(L, "icx.sqlite.Db (closed)");
  else
    lua_pushfstring(L, "icx.sqlite.Db (%s)",
                    sqlite3_db_filename(d->db, "main"));
  return 1;
}

/* --------------------------------------------------------------- Stmt */

/* The open Stmt at idx, raising if it or its Db is closed. [-0, +0, v] */
static Stmt *check_stmt(lua_State *L, int idx) {
  Stmt *s = luaL_checkudata(L, idx, STMT_MT);
  if (!s->st)
    luaL_error(L, "icx.sqlite: statement is closed");
  if (!s->owner->db)
    luaL_error(L, "icx.sqlite: database is closed");
  return s;
}

/* st:bind(i, value) -> st */
static int stmt_bind(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int i = (int)luaL_checkinteger(L, 2);
  luaL_argcheck(L, i >= 1 && i <= sqlite3_bind_parameter_count(s->st), 2,
                "no such parameter");
  int rc = bind_lua(L, s->st, i, 3);
  if (rc != SQLITE_OK)
    return luaL_error(L, "icx.sqlite: bind: %s", sqlite3_errstr(rc));
  lua_settop(L, 1);
  return 1;
}

/* st:step() -> row | false | nil, err, code. An error resets the
** statement so it can run again. */
static int stmt_step(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int rc = sqlite3_step(s->st);
  if (rc == SQLITE_ROW) {
    push_row(L, s->st);
    return 1;
  }
  if (rc == SQLITE_DONE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  push_dberr(L, s->owner->db, rc);
  sqlite3_reset(s->st);
  return 3;
}

/* st:reset() -> st. Bindings stay as they are. */
static int stmt_reset(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  sqlite3_reset(s->st);
  lua_settop(L, 1);
  return 1;
}

/* st:close(), __gc and __close; idempotent. Finalizing after the Db closed
** is allowed: the zombie connection goes with its last statement. */
static int stmt_close(lua_State *L) {
  Stmt *s = luaL_checkudata(L, 1, STMT_MT);
  if (s->st) {
    sqlite3_finalize(s->st);
    s->st = NULL;
  }
  return 0;
}

/* __tostring */
static int stmt_tostring(lua_State *L) {
  Stmt *s = luaL_checkudata(L, 1, STMT_MT);
  if (!s->st)
    lua_pushliteral(L, "icx.sqlite.Stmt (closed)");
  else
    lua_pushfstring(L, "icx.sqlite.Stmt (%s)", sqlite3_sql(s->st));
  return 1;
}

/* ------------------------------------------------------------- Writer */

/* The open Writer at idx, raising if it or its Db is closed. [-0, +0, v] */
static Writer *check_writer(lua_State *L, int idx) {
  Writer *w = luaL_checkudata(L, idx, WRITER_MT);
  if (!w->rw)
    luaL_error(L, "icx.sqlite: writer is closed");
  if (!w->owner->db)
    luaL_error(L, "icx.sqlite: database is closed");
  return w;
}

/* db:writer(table, {primary_key = {col, ...} | col}) -> Writer. Every name
** is checked before the writer is made, so a raise leaks nothing; the
** userdata starts closed, so an out-of-memory raise leaves a closed one. */
static int db_writer(lua_State *L) {
  static const char *const allowed[] = {"primary_key", "compare", NULL};
  const char *pk[64];
  Db *d = check_db(L, 1);
  luaL_checkstring(L, 2);
  icx_opts_check(L, 3, "icx.sqlite", "writer{}", allowed);
  const char *table = icx_sql_name(L, 2, "icx.sqlite", "table name", 0);
  icx_opts_get(L, 3, "primary_key");
  int n = icx_sql_names(L, -1, "icx.sqlite", "column", 0, pk, 64);
  icx_opts_get(L, 3, "compare");
  const char *cmp =
      lua_isnil(L, -1) ? NULL
                       : icx_sql_name(L, -1, "icx.sqlite", "compare column", 0);
  if (cmp && n != 1)
    return luaL_error(L, "icx.sqlite: compare needs a single-column "
                         "primary_key");
  Writer *w = lua_newuserdatauv(L, sizeof *w, 1);
  w->owner = d;
  w->rw = NULL;
  w->gen = d->gen;
  luaL_setmetatable(L, WRITER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!(w->rw = icx_rw_new(d->db, table, pk, n)) ||
      icx_rw_compare(w->rw, cmp) != 0)
    return luaL_error(L, "icx.sqlite: out of memory");
  return 1;
}

/* w:write(page | json) -> n | nil, err, code. A rollback since the last
** write may have undone a table or column the writer made: it forgets its
** schema and reads it again. */
static int writer_write(lua_State *L) {
  Writer *w = check_writer(L, 1);
  struct icx_cs_err e;
  size_t n = 0;
  int text = lua_type(L, 2) == LUA_TSTRING, minified = 0;
  const js_val *recs = text ? NULL : icx_json_checkpage(L, 2, &n, &minified);
  if (w->gen != w->owner->gen) {
    icx_rw_forget(w->rw);
    w->gen = w->owner->gen;
  }
  int rc;
  if (text) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    rc = icx_rw_write_json(w->rw, s, len, &n, &e);
  } else {
    js_members mem;
    int indexed = icx_json_page_members(L, 2, &mem);
    rc = icx_rw_write(w->rw, recs, n, minified, indexed ? &mem : NULL, &e);
  }
  if (rc != 0)
    return icx_sql_push_err(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* w:counts() -> new, changed, same: what the last write did. */
static int writer_counts(lua_State *L) {
  Writer *w = check_writer(L, 1);
  struct icx_rw_counts c = icx_rw_counts(w->rw);
  lua_pushinteger(L, (lua_Integer)c.added);
  lua_pushinteger(L, (lua_Integer)c.changed);
  lua_pushinteger(L, (lua_Integer)c.same);
  return 3;
}

/* w:columns() -> {name, ...} in table order, pending ones last. */
static int writer_columns(lua_State *L) {
  Writer *w = check_writer(L, 1);
  int n = icx_rw_ncolumns(w->rw);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    size_t len;
    const char *name = icx_rw_column(w->rw, i, &len);
    lua_pushlstring(L, name, len);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* w:close(), __gc and __close; idempotent. */
static int writer_close(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  icx_rw_free(w->rw);
  w->rw = NULL;
  return 0;
}

/* __tostring */
static int writer_tostring(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER_MT);
  if (!w->rw)
    lua_pushliteral(L, "icx.sqlite.Writer (closed)");
  else
    lua_pushfstring(L, "icx.sqlite.Writer (%s)", icx_rw_table(w->rw));
  return 1;
}

/* ------------------------------------------------------------ tables */

static const luaL_Reg db_methods[] = {{"exec", db_exec},
                                      {"query", db_query},
                                      {"prepare", db_prepare},
                                      {"begin", db_begin},
                                      {"commit", db_commit},
                                      {"rollback", db_rollback},
                                      {"in_transaction", db_in_transaction},
                                      {"changes", db_changes},
                                      {"writer", db_writer},
                                      {"close", db_close},
                                      {NULL, NULL}};

static const luaL_Reg db_meta[] = {{"__gc", db_close},
                                   {"__close", db_close},
                                   {"__tostring", db_tostring},
                                   {NULL, NULL}};

static const luaL_Reg stmt_methods[] = {{"bind", stmt_bind},
                                        {"step", stmt_step},
                                        {"reset", stmt_reset},
                                        {"close", stmt_close},
                                        {NULL, NULL}};

static const luaL_Reg stmt_meta[] = {{"__gc", stmt_close},
                                     {"__close", stmt_close},
                                     {"__tostring", stmt_tostring},
                                     {NULL, NULL}};

static const luaL_Reg writer_methods[] = {{"write", writer_write},
                                          {"counts", writer_counts},
                                          {"columns", writer_columns},
                                          {"close", writer_close},
                                          {NULL, NULL}};

static const luaL_Reg writer_meta[] = {{"__gc", writer_close},
                                       {"__close", writer_close},
                                       {"__tostring", writer_tostring},
                                       {NULL, NULL}};

/* Room for about fifteen default page caches; see luaopen_icx_sqlite. */
#define ICX_SQLITE_HEAP_SOFT ((sqlite3_int64)32 << 20)

static const luaL_Reg sqlite_funcs[] = {{"open", sqlite_open},
                                        {"quote", icx_sql_quote},
                                        {"version", sqlite_version},
                                        {NULL, NULL}};

/* require "icx.sqlite": the Db, Stmt and Writer metatables and the module
** table. */
int luaopen_icx_sqlite(lua_State *L) {
  /* Page caches are per connection (2 MB each by default): one process
  ** pulling a hundred workspaces holds a hundred of them. Past this soft
  ** limit SQLite recycles clean cache pages instead of allocating more, so
  ** one workspace is unaffected and many share a bounded cache. */
  sqlite3_soft_heap_limit64(ICX_SQLITE_HEAP_SOFT);
  icx_class_new(L, DB_MT, db_meta, db_methods, 0);
  icx_class_new(L, STMT_MT, stmt_meta, stmt_methods, 0);
  icx_class_new(L, WRITER_MT, writer_meta, writer_methods, 0);
  luaL_newlib(L, sqlite_funcs);
  return 1;
}
