/*
** lsqlite.c: icx.sqlite, the SQLite side of icx's destinations, and the typed
** record writer on the hot path (docs/ARCHITECTURE.md, "The record path").
**
**   icx.sqlite.open(path [, opts]) -> Db | nil, err, code
**       opts: busy_timeout = ms (default 30000), wal = bool (default true),
**             readonly = bool (default false)
**   icx.sqlite.quote(name) -> string      "name" with inner quotes doubled
**   icx.sqlite.version() -> string        the linked SQLite, e.g. "3.40.1"
**
**   db:exec(sql) -> true | nil, err, code         statements without rows
**   db:query(sql, ...) -> rows | nil, err, code    rows[i][column] = value
**   db:prepare(sql) -> Stmt | nil, err, code
**   db:begin() -> true | nil, err, code           BEGIN IMMEDIATE
**   db:commit() -> true | nil, err, code
**   db:rollback() -> true | nil, err, code        no-op outside a transaction
**   db:in_transaction() -> boolean
**   db:changes() -> integer
**   db:writer(table, {primary_key = {col, ...}}) -> Writer
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
**   w:columns() -> {name, ...}     the columns as the writer knows them
**   w:close()
**
** Values: SQLite INTEGER -> Lua integer, REAL -> float, TEXT and BLOB ->
** string, NULL -> nil (the key is absent from a row). Error codes: "busy",
** "constraint", "full", "readonly", "corrupt", "cantopen", "nomem", "io",
** "sqlite", and "record" for a record the writer cannot store.
**
** Why the writer binds straight from raw slices: a value must land as the API
** sent it (ARCHITECTURE.md). An integer literal binds as int64, or as the TEXT
** of its digits beyond int64; any other number as the double strtod gives for
** the literal (or the literal as TEXT when no finite double holds it); strings
** as their exact UTF-8; objects and arrays as minified JSON text; id columns
** (`id`, `*_id`) as TEXT always. Columns other than id columns are declared
** without a type, so SQLite's affinity never converts a value (a REAL column
** would turn 2^53+1 into a double, a TEXT column 5 into "5").
**
** Column names are the unescaped keys, always quoted. SQLite folds ASCII case
** in names, so "ID" and "id" are one column; a key repeated in a record (or
** a case variant of it) keeps its first value, as icx.json's get does. A key
** holding a NUL byte cannot be a column: the record is refused ("record").
*/

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "buf.h"
#include "class.h"
#include "jscan.h"
#include "ljson.h"
#include "modules.h"
#include "opts.h"

#define DB_MT "icx.sqlite.Db"
#define STMT_MT "icx.sqlite.Stmt"
#define WRITER_MT "icx.sqlite.Writer"

#define BUSY_TIMEOUT_MS 30000

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

/* A column of the writer's table, as the writer knows it. */
typedef struct {
  char *name;       /* owned, NUL-terminated (names never hold a NUL) */
  size_t len;       /* bytes in name */
  uint32_t hash;    /* name_hash(name), ASCII case folded like SQLite */
  unsigned char id; /* `id` or `*_id`: every value binds as TEXT */
  unsigned char pk; /* part of the primary key */
} Column;

/* Why a writer call failed: the code and message it returns to Lua. */
typedef struct {
  const char *code;
  char msg[400];
} werr;

/*
** The typed record writer of one table. Columns [0, ntable) exist in the
** table; [ntable, ncols) are fields seen in the current record that still
** need an ALTER TABLE (or the CREATE TABLE when the table does not exist).
*/
typedef struct {
  Db *owner;   /* the parent, kept alive by user value 1 */
  int open;    /* 0 once closed (or before setup completes) */
  char *table; /* owned, NUL-terminated table name */
  char **pk;   /* owned array of npk owned primary key names */
  int npk;
  Column *cols; /* owned array of capcols, names owned */
  int ncols, capcols;
  int ntable;            /* columns known to exist in the table */
  int exists;            /* the table exists */
  int known;             /* schema loaded and valid for (gen, version) */
  unsigned gen;          /* owner->gen when the schema was loaded */
  sqlite3_int64 version; /* PRAGMA schema_version when last checked */
  int *slots;            /* owned hash table: column index + 1, 0 = empty */
  uint32_t nslots;       /* a power of two, > 2 * ncols */
  int *order;            /* owned: column of each member position in the last
                            record, a guess that skips the hash lookup */
  int norder, caporder;
  js_val *vals;      /* owned, capcols: this record's value per column */
  uint32_t *seen;    /* owned, capcols: stamp of the record that set it */
  uint32_t stamp;    /* current record's stamp (never 0) */
  sqlite3_stmt *ins; /* owned: the upsert over cols[0, nins) */
  int nins;
  sqlite3_stmt *ver;  /* owned: PRAGMA schema_version */
  struct buf scratch; /* owned: unescaped and minified values of a record */
  struct buf key;     /* owned: an unescaped member name */
  struct buf sql;     /* owned: DDL and DML being built */
} Writer;

/* ------------------------------------------------------------ helpers */

/* The short stable code for a SQLite result code. */
static const char *rc_code(int rc) {
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "busy";
  case SQLITE_CONSTRAINT:
    return "constraint";
  case SQLITE_FULL:
    return "full";
  case SQLITE_READONLY:
    return "readonly";
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return "corrupt";
  case SQLITE_CANTOPEN:
    return "cantopen";
  case SQLITE_NOMEM:
    return "nomem";
  case SQLITE_IOERR:
    return "io";
  default:
    return "sqlite";
  }
}

/* Push nil, "icx.sqlite: <errmsg>", code for the last error on db.
** [-0, +3, m] */
static int push_dberr(lua_State *L, sqlite3 *db, int rc) {
  lua_pushnil(L);
  lua_pushfstring(L, "icx.sqlite: %s", sqlite3_errmsg(db));
  lua_pushstring(L, rc_code(rc));
  return 3;
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

/* Append a NUL-terminated string. 0 ok, -1 out of memory. */
static int put_str(struct buf *b, const char *s) {
  return buf_append(b, s, strlen(s));
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
** is retried here, with growing sleeps, for as long as the busy timeout. */
static int db_set_wal(Db *d, int busy_ms) {
  int slept = 0, nap = 1;
  for (;;) {
    int rc = db_run(d, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
    if ((rc & 0xff) != SQLITE_BUSY || slept >= busy_ms)
      return rc;
    sqlite3_sleep(nap);
    slept += nap;
    nap = nap < 64 ? nap * 2 : 64;
  }
}

/* icx.sqlite.open(path [, opts]) -> Db | nil, err, code. The handle exists
** (closed) before sqlite3_open_v2, so a raise at any point leaks nothing. */
static int sqlite_open(lua_State *L) {
  static const char *const allowed[] = {"busy_timeout", "wal", "readonly",
                                        NULL};
  const char *path = luaL_checkstring(L, 1);
  icx_opts_check(L, 2, "icx.sqlite", "open{}", allowed);
  lua_Integer busy = icx_opts_integer(L, 2, "icx.sqlite", "busy_timeout",
                                      BUSY_TIMEOUT_MS, 0, INT32_MAX);
  int wal = icx_opts_boolean(L, 2, "icx.sqlite", "wal", 1);
  int ro = icx_opts_boolean(L, 2, "icx.sqlite", "readonly", 0);

  Db *d = lua_newuserdatauv(L, sizeof *d, 0);
  d->db = NULL;
  d->gen = 0;
  luaL_setmetatable(L, DB_MT);
  int flags =
      (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path, &d->db, flags, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout(d->db, (int)busy);
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

/* icx.sqlite.quote(name) -> "name", inner quotes doubled. */
static int sqlite_quote(lua_State *L) {
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
  for (int i = 1; i <= nargs; i++)
    bind_lua(L, s->st, i, 2 + i);
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

/* FNV-1a of name with ASCII letters folded: SQLite compares identifiers
** case-insensitively (ASCII only), so "ID" and "id" are one column. */
static uint32_t name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 'A' && c <= 'Z')
      c += 32;
    h = (h ^ c) * 16777619u;
  }
  return h;
}

/* 1 if a and b (n bytes each) are equal with ASCII letters folded. */
static int name_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) {
      if (x >= 'A' && x <= 'Z')
        x += 32;
      if (y >= 'A' && y <= 'Z')
        y += 32;
      if (x != y)
        return 0;
    }
  }
  return 1;
}

/* 1 for an id column: `id` or a name ending in `_id` (folded). */
static int name_is_id(const char *s, size_t n) {
  return n >= 2 && name_eq(s + n - 2, "id", 2) && (n == 2 || s[n - 3] == '_');
}

/* Fill e and return -1, the writer's usual failure path. */
static int fail(werr *e, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->code = code;
  return -1;
}

/* fail() with the SQLite error of the writer's connection. */
static int fail_db(Writer *w, werr *e, int rc, const char *what) {
  return fail(e, rc_code(rc), "icx.sqlite: table '%s': %s: %s", w->table, what,
              sqlite3_errmsg(w->owner->db));
}

/* Forget every column (names freed, hash emptied, statement finalized). */
static void forget_columns(Writer *w) {
  for (int i = 0; i < w->ncols; i++)
    free(w->cols[i].name);
  w->ncols = w->ntable = w->norder = 0;
  if (w->slots)
    memset(w->slots, 0, w->nslots * sizeof *w->slots);
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  w->nins = 0;
  w->known = 0;
}

/* Release everything the writer owns; idempotent. */
static void writer_release(Writer *w) {
  forget_columns(w);
  for (int i = 0; i < w->npk; i++)
    free(w->pk[i]);
  free(w->pk);
  w->pk = NULL;
  w->npk = 0;
  free(w->table);
  w->table = NULL;
  free(w->cols);
  w->cols = NULL;
  w->capcols = 0;
  free(w->slots);
  w->slots = NULL;
  w->nslots = 0;
  free(w->order);
  w->order = NULL;
  w->caporder = 0;
  free(w->vals);
  w->vals = NULL;
  free(w->seen);
  w->seen = NULL;
  if (w->ver) {
    sqlite3_finalize(w->ver);
    w->ver = NULL;
  }
  buf_free(&w->scratch);
  buf_free(&w->key);
  buf_free(&w->sql);
  w->open = 0;
}

/* Rebuild the hash table with room for twice the columns. 0 or -1. */
static int rehash(Writer *w, uint32_t nslots) {
  int *slots = calloc(nslots, sizeof *slots);
  if (!slots)
    return -1;
  free(w->slots);
  w->slots = slots;
  w->nslots = nslots;
  for (int i = 0; i < w->ncols; i++) {
    uint32_t j = w->cols[i].hash & (nslots - 1);
    while (slots[j])
      j = (j + 1) & (nslots - 1);
    slots[j] = i + 1;
  }
  return 0;
}

/* Make room for one more column in every per-column array. 0 or -1; each
** array is stored as soon as it grows, so a failure leaves w consistent. */
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

/* Index of the column named name[0, len), or -1. */
static int find_column(Writer *w, const char *name, size_t len, uint32_t h) {
  if (!w->nslots)
    return -1;
  uint32_t mask = w->nslots - 1;
  for (uint32_t j = h & mask; w->slots[j]; j = (j + 1) & mask) {
    Column *c = &w->cols[w->slots[j] - 1];
    if (c->hash == h && c->len == len && name_eq(c->name, name, len))
      return w->slots[j] - 1;
  }
  return -1;
}

/* Append a column named name[0, len) (known absent). Returns its index, or
** -1 with e filled. */
static int add_column(Writer *w, const char *name, size_t len, uint32_t h,
                      werr *e) {
  if (memchr(name, 0, len))
    return fail(e, "record",
                "icx.sqlite: table '%s': a field name holds a NUL byte, "
                "which no SQLite column name can",
                w->table);
  if (grow_columns(w) != 0 || ((uint32_t)(w->ncols + 1) * 2 >= w->nslots &&
                               rehash(w, w->nslots ? w->nslots * 2 : 64) != 0))
    return fail(e, "nomem", "icx.sqlite: out of memory");
  char *copy = malloc(len + 1);
  if (!copy)
    return fail(e, "nomem", "icx.sqlite: out of memory");
  memcpy(copy, name, len);
  copy[len] = '\0';
  Column *c = &w->cols[w->ncols];
  c->name = copy;
  c->len = len;
  c->hash = h;
  c->id = (unsigned char)name_is_id(name, len);
  c->pk = 0;
  for (int i = 0; i < w->npk; i++)
    if (strlen(w->pk[i]) == len && name_eq(w->pk[i], name, len))
      c->pk = 1;
  w->seen[w->ncols] = 0;
  uint32_t mask = w->nslots - 1, j = h & mask;
  while (w->slots[j])
    j = (j + 1) & mask;
  w->slots[j] = ++w->ncols;
  return w->ncols - 1;
}

/* PRAGMA schema_version through the writer's cached statement. */
static int read_version(Writer *w, sqlite3_int64 *out) {
  int rc;
  if (!w->ver) {
    rc = sqlite3_prepare_v2(w->owner->db, "PRAGMA schema_version", -1, &w->ver,
                            NULL);
    if (rc != SQLITE_OK)
      return rc;
  }
  rc = sqlite3_step(w->ver);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(w->ver, 0);
  sqlite3_reset(w->ver);
  return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/*
** Read the table's columns (PRAGMA table_info) into the writer. A missing
** table gets the primary key columns as pending columns; an existing one
** must have the declared primary key, or the upsert could not name its
** conflict target. 0, or -1 with e filled.
*/
static int load_schema(Writer *w, werr *e) {
  sqlite3 *db = w->owner->db;
  sqlite3_stmt *st = NULL;
  int npkfound = 0, bad = 0;
  forget_columns(w);
  int rc = sqlite3_prepare_v2(
      db, "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid", -1, &st,
      NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, w->table, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    uint32_t h = name_hash(name, len);
    int i = find_column(w, name, len, h);
    if (i < 0 && (i = add_column(w, name, len, h, e)) < 0) {
      sqlite3_finalize(st);
      return -1;
    }
    if (sqlite3_column_int(st, 1) > 0) {
      if (w->cols[i].pk)
        npkfound++;
      else
        bad = 1;
    }
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK)
    return fail(e, rc_code(rc),
                "icx.sqlite: table '%s': reading its columns: %s", w->table,
                sqlite3_errstr(rc));
  w->exists = w->ncols > 0;
  w->ntable = w->ncols;
  if (w->exists && w->npk && (bad || npkfound != w->npk)) {
    struct buf *b = &w->sql;
    buf_reset(b);
    for (int i = 0; i < w->npk; i++)
      if ((i && put_str(b, ", ")) || put_str(b, w->pk[i]))
        break;
    fail(e, "schema",
         "icx.sqlite: table '%s' exists without the primary key (%s) this "
         "asset declares; drop or rename it",
         w->table, buf_cstr(b) ? buf_cstr(b) : "?");
    forget_columns(w);
    return -1;
  }
  if (!w->exists)
    for (int i = 0; i < w->npk; i++) {
      size_t len = strlen(w->pk[i]);
      uint32_t h = name_hash(w->pk[i], len);
      if (find_column(w, w->pk[i], len, h) < 0 &&
          add_column(w, w->pk[i], len, h, e) < 0)
        return -1;
    }
  rc = read_version(w, &w->version);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "reading the schema version");
  w->gen = w->owner->gen;
  w->known = 1;
  return 0;
}

/* Make sure the writer's idea of the schema is current: reload after a
** rollback or when anyone (another process too) changed the schema. */
static int check_schema(Writer *w, werr *e) {
  sqlite3_int64 v;
  if (w->known && w->gen == w->owner->gen) {
    int rc = read_version(w, &v);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "reading the schema version");
    if (v == w->version)
      return 0;
  }
  return load_schema(w, e);
}

/* CREATE TABLE, or ALTER TABLE ADD COLUMN for each pending column. Id
** columns are TEXT; the rest untyped (BLOB affinity), so SQLite stores each
** value with its own type. 0, or -1 with e filled. */
static int add_pending(Writer *w, werr *e) {
  struct buf *b = &w->sql;
  sqlite3 *db = w->owner->db;
  int rc;
  if (!w->exists) {
    buf_reset(b);
    int bad = put_str(b, "CREATE TABLE ") ||
              put_ident(b, w->table, strlen(w->table)) || put_str(b, " (");
    for (int i = 0; i < w->ncols; i++) {
      Column *c = &w->cols[i];
      bad = bad || (i && put_str(b, ", ")) || put_ident(b, c->name, c->len) ||
            (c->id && put_str(b, " TEXT")) ||
            (c->pk && put_str(b, " NOT NULL"));
    }
    if (w->npk) {
      bad = bad || put_str(b, ", PRIMARY KEY (");
      for (int i = 0; i < w->npk; i++)
        bad = bad || (i && put_str(b, ", ")) ||
              put_ident(b, w->pk[i], strlen(w->pk[i]));
      bad = bad || put_str(b, ")");
    }
    if (bad || put_str(b, ")") || !buf_cstr(b))
      return fail(e, "nomem", "icx.sqlite: out of memory");
    rc = sqlite3_exec(db, b->data, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "creating it");
    w->exists = 1;
  } else {
    for (int i = w->ntable; i < w->ncols; i++) {
      Column *c = &w->cols[i];
      buf_reset(b);
      if (put_str(b, "ALTER TABLE ") ||
          put_ident(b, w->table, strlen(w->table)) ||
          put_str(b, " ADD COLUMN ") || put_ident(b, c->name, c->len) ||
          (c->id && put_str(b, " TEXT")) || !buf_cstr(b))
        return fail(e, "nomem", "icx.sqlite: out of memory");
      rc = sqlite3_exec(db, b->data, NULL, NULL, NULL);
      if (rc != SQLITE_OK)
        return fail_db(w, e, rc, "adding a column");
    }
  }
  w->ntable = w->ncols;
  rc = read_version(w, &w->version);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "reading the schema version");
  return 0;
}

/* Prepare the upsert over all ncols columns: every column is bound on each
** row (NULL when the record lacks the field), so the row becomes exactly the
** latest record. One statement per column set; the set only grows. */
static int prepare_insert(Writer *w, werr *e) {
  struct buf *b = &w->sql;
  int bad, nset = 0;
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  buf_reset(b);
  bad = put_str(b, "INSERT INTO ") ||
        put_ident(b, w->table, strlen(w->table)) || put_str(b, " (");
  for (int i = 0; i < w->ncols; i++)
    bad = bad || (i && put_str(b, ",")) ||
          put_ident(b, w->cols[i].name, w->cols[i].len);
  bad = bad || put_str(b, ") VALUES (");
  for (int i = 0; i < w->ncols; i++)
    bad = bad || put_str(b, i ? ",?" : "?");
  bad = bad || put_str(b, ")");
  if (w->npk) {
    bad = bad || put_str(b, " ON CONFLICT (");
    for (int i = 0; i < w->npk; i++)
      bad = bad || (i && put_str(b, ",")) ||
            put_ident(b, w->pk[i], strlen(w->pk[i]));
    bad = bad || put_str(b, ") DO ");
    for (int i = 0; i < w->ncols; i++) {
      Column *c = &w->cols[i];
      if (c->pk)
        continue;
      bad = bad || put_str(b, nset++ ? "," : "UPDATE SET ") ||
            put_ident(b, c->name, c->len) || put_str(b, "=excluded.") ||
            put_ident(b, c->name, c->len);
    }
    if (!nset)
      bad = bad || put_str(b, "NOTHING");
  }
  if (bad)
    return fail(e, "nomem", "icx.sqlite: out of memory");
  int rc =
      sqlite3_prepare_v2(w->owner->db, b->data, (int)b->len, &w->ins, NULL);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "preparing the insert");
  w->nins = w->ncols;
  return 0;
}

/* Bind a string value's UTF-8: straight from the page when it has no
** escapes, else unescaped into the record's scratch space. */
static int bind_string(Writer *w, int i, const js_val *v) {
  const char *s = v->p + 1;
  size_t n = v->n - 2;
  if (memchr(s, '\\', n)) {
    char *d = w->scratch.data + w->scratch.len;
    n = js_unescape_to(v, d);
    w->scratch.len += n;
    s = d;
  }
  return sqlite3_bind_text64(w->ins, i, s, n, SQLITE_STATIC, SQLITE_UTF8);
}

/* Bind the value of column c (parameter i) by the lossless rule. */
static int bind_value(Writer *w, int i, const Column *c, const js_val *v) {
  sqlite3_stmt *st = w->ins;
  switch (v->type) {
  case JS_NULL:
    return sqlite3_bind_null(st, i);
  case JS_STRING:
    return bind_string(w, i, v);
  case JS_ARRAY:
  case JS_OBJECT: {
    char *d = w->scratch.data + w->scratch.len;
    size_t n = js_minify_to(v, d);
    w->scratch.len += n;
    return sqlite3_bind_text64(st, i, d, n, SQLITE_STATIC, SQLITE_UTF8);
  }
  default:
    break;
  }
  if (c->id) /* numbers and booleans as the literal's text */
    return sqlite3_bind_text64(st, i, v->p, v->n, SQLITE_STATIC, SQLITE_UTF8);
  switch (v->type) {
  case JS_TRUE:
    return sqlite3_bind_int(st, i, 1);
  case JS_FALSE:
    return sqlite3_bind_int(st, i, 0);
  case JS_INT: {
    int64_t x;
    if (js_int64(v, &x) == 0)
      return sqlite3_bind_int64(st, i, (sqlite3_int64)x);
    break;
  }
  default: {
    double x;
    if (js_double_checked(v, &x) == 0)
      return sqlite3_bind_double(st, i, x);
    break;
  }
  }
  /* Beyond int64, or no finite double: keep the literal as TEXT. */
  return sqlite3_bind_text64(st, i, v->p, v->n, SQLITE_STATIC, SQLITE_UTF8);
}

/* The column of a member key, adding it when new. -1 with e on failure. */
static int member_column(Writer *w, const js_val *k, int pos, werr *e) {
  const char *name = k->p + 1;
  size_t len = k->n - 2;
  int escaped = memchr(name, '\\', len) != NULL;
  if (!escaped && pos < w->norder) {
    int g = w->order[pos];
    if (w->cols[g].len == len && memcmp(w->cols[g].name, name, len) == 0)
      return g;
  }
  if (escaped) {
    buf_reset(&w->key);
    if (buf_reserve(&w->key, len) != 0)
      return fail(e, "nomem", "icx.sqlite: out of memory");
    len = js_unescape_to(k, w->key.data);
    name = w->key.data;
  }
  uint32_t h = name_hash(name, len);
  int i = find_column(w, name, len, h);
  if (i < 0)
    i = add_column(w, name, len, h, e);
  if (i >= 0 && pos < w->caporder) {
    w->order[pos] = i;
    if (pos >= w->norder)
      w->norder = pos + 1;
  }
  return i;
}

/* Write one record (a JS_OBJECT slice); nth counts from 1 for messages. */
static int write_record(Writer *w, const js_val *rec, size_t nth, werr *e) {
  js_iter it;
  js_val k, v;
  int pos = 0, rc;
  if (rec->type != JS_OBJECT)
    return fail(e, "record",
                "icx.sqlite: table '%s': record %zu is %s %s, not an object",
                w->table, nth, rec->type == JS_ARRAY ? "an" : "a",
                js_type_name(rec->type));
  if (++w->stamp == 0) { /* wrapped: old stamps could match again */
    memset(w->seen, 0, (size_t)w->capcols * sizeof *w->seen);
    w->stamp = 1;
  }
  js_iter_init(&it, rec);
  while (js_next_member(&it, &k, &v)) {
    if (pos >= w->caporder) {
      int cap = w->caporder ? w->caporder * 2 : 64;
      int *o = realloc(w->order, (size_t)cap * sizeof *o);
      if (o) {
        w->order = o;
        w->caporder = cap;
      }
    }
    int c = member_column(w, &k, pos++, e);
    if (c < 0)
      return -1;
    if (w->seen[c] == w->stamp)
      continue; /* a repeated key: the first wins, as in icx.json */
    w->vals[c] = v;
    w->seen[c] = w->stamp;
  }
  for (int i = 0; i < w->ncols; i++)
    if (w->cols[i].pk && (w->seen[i] != w->stamp || w->vals[i].type == JS_NULL))
      return fail(e, "record",
                  "icx.sqlite: table '%s': record %zu has no value for its "
                  "primary key '%s'",
                  w->table, nth, w->cols[i].name);
  if (w->ncols > w->ntable && add_pending(w, e) != 0)
    return -1;
  if ((!w->ins || w->nins != w->ncols) && prepare_insert(w, e) != 0)
    return -1;
  /* Every unescaped or minified value is no longer than its slice, so the
  ** record's size bounds them all and no bound pointer moves. */
  buf_reset(&w->scratch);
  if (buf_reserve(&w->scratch, rec->n) != 0)
    return fail(e, "nomem", "icx.sqlite: out of memory");
  for (int i = 0; i < w->ncols; i++) {
    rc = w->seen[i] == w->stamp ? bind_value(w, i + 1, &w->cols[i], &w->vals[i])
                                : sqlite3_bind_null(w->ins, i + 1);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "binding a value");
  }
  rc = sqlite3_step(w->ins);
  sqlite3_reset(w->ins);
  if (rc != SQLITE_DONE) {
    char what[40];
    snprintf(what, sizeof what, "record %zu", nth);
    return fail_db(w, e, rc, what);
  }
  return 0;
}

/* The open Writer at idx, raising if it or its Db is closed. [-0, +0, v] */
static Writer *check_writer(lua_State *L, int idx) {
  Writer *w = luaL_checkudata(L, idx, WRITER_MT);
  if (!w->open)
    luaL_error(L, "icx.sqlite: writer is closed");
  if (!w->owner->db)
    luaL_error(L, "icx.sqlite: database is closed");
  return w;
}

/* Copy the Lua string at idx into fresh memory, or NULL. */
static char *dup_name(lua_State *L, int idx, const char *what) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  if (!s)
    luaL_error(L, "icx.sqlite: %s must be a string", what);
  if (memchr(s, 0, n))
    luaL_error(L, "icx.sqlite: %s holds a NUL byte", what);
  char *d = malloc(n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

/* db:writer(table, {primary_key = {col, ...} | col}) -> Writer. The
** userdata starts closed and owns each allocation as soon as it is made, so
** a raise half-way leaves __gc to free what exists. */
static int db_writer(lua_State *L) {
  static const char *const allowed[] = {"primary_key", NULL};
  Db *d = check_db(L, 1);
  luaL_checkstring(L, 2);
  icx_opts_check(L, 3, "icx.sqlite", "writer{}", allowed);
  Writer *w = lua_newuserdatauv(L, sizeof *w, 1);
  memset(w, 0, sizeof *w);
  w->owner = d;
  luaL_setmetatable(L, WRITER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!(w->table = dup_name(L, 2, "table name")))
    return luaL_error(L, "icx.sqlite: out of memory");
  icx_opts_get(L, 3, "primary_key");
  int pkidx = lua_gettop(L);
  int n = lua_type(L, pkidx) == LUA_TSTRING ? 1
          : lua_istable(L, pkidx)           ? (int)luaL_len(L, pkidx)
          : lua_isnil(L, pkidx)             ? 0
                                            : -1;
  if (n < 0 || n > 64)
    return luaL_error(L, "icx.sqlite: primary_key must be a column name or "
                         "a list of at most 64");
  if (n && !(w->pk = calloc((size_t)n, sizeof *w->pk)))
    return luaL_error(L, "icx.sqlite: out of memory");
  for (int i = 0; i < n; i++) {
    if (lua_istable(L, pkidx))
      lua_rawgeti(L, pkidx, i + 1);
    else
      lua_pushvalue(L, pkidx);
    w->pk[i] = dup_name(L, -1, "primary_key column");
    if (!w->pk[i])
      return luaL_error(L, "icx.sqlite: out of memory");
    w->npk = i + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
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
  size_t n = 0, i;
  int text = lua_type(L, 2) == LUA_TSTRING;
  const js_val *recs = text ? NULL : icx_json_checkpage(L, 2, &n);
  int rc = check_schema(w, &e);
  if (rc == 0 && text) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    js_val top, rec;
    js_err je;
    if (js_parse(s, len, &top, &je) != 0) {
      lua_pushnil(L);
      lua_pushfstring(L, "icx.sqlite: table '%s': invalid JSON at byte %d: %s",
                      w->table, (int)je.offset, je.msg);
      lua_pushliteral(L, "record");
      return 3;
    }
    if (top.type == JS_ARRAY) {
      js_iter it;
      js_iter_init(&it, &top);
      while (rc == 0 && js_next_elem(&it, &rec))
        rc = write_record(w, &rec, ++n, &e);
    } else {
      rc = write_record(w, &top, ++n, &e);
    }
  } else if (rc == 0) {
    for (i = 0; rc == 0 && i < n; i++)
      rc = write_record(w, &recs[i], i + 1, &e);
  }
  /* An empty first page still leaves the table behind. */
  if (rc == 0 && w->ncols > w->ntable)
    rc = add_pending(w, &e);
  if (w->ins) /* no binding may point into the page once we return */
    sqlite3_clear_bindings(w->ins);
  if (rc != 0)
    return push_werr(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* w:columns() -> {name, ...} in table order, pending ones last. */
static int writer_columns(lua_State *L) {
  Writer *w = check_writer(L, 1);
  lua_createtable(L, w->ncols, 0);
  for (int i = 0; i < w->ncols; i++) {
    lua_pushlstring(L, w->cols[i].name, w->cols[i].len);
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
    lua_pushliteral(L, "icx.sqlite.Writer (closed)");
  else
    lua_pushfstring(L, "icx.sqlite.Writer (%s)", w->table);
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
                                          {"columns", writer_columns},
                                          {"close", writer_close},
                                          {NULL, NULL}};

static const luaL_Reg writer_meta[] = {{"__gc", writer_close},
                                       {"__close", writer_close},
                                       {"__tostring", writer_tostring},
                                       {NULL, NULL}};

static const luaL_Reg sqlite_funcs[] = {{"open", sqlite_open},
                                        {"quote", sqlite_quote},
                                        {"version", sqlite_version},
                                        {NULL, NULL}};

int luaopen_icx_sqlite(lua_State *L) {
  icx_class_new(L, DB_MT, db_meta, db_methods, 0);
  icx_class_new(L, STMT_MT, stmt_meta, stmt_methods, 0);
  icx_class_new(L, WRITER_MT, writer_meta, writer_methods, 0);
  luaL_newlib(L, sqlite_funcs);
  return 1;
}
