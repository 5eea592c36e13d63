/*
** rowwriter.c: the typed record writer of the SQLite destination (Lua-free).
** See rowwriter.h for what lands how; this file is about doing it fast: a
** column hash with ASCII case folding, a guess of each member's column from
** the previous record's order, one prepared upsert per column set, and values
** bound in place from the page (SQLITE_STATIC) or from one scratch buffer.
*/
#include "rowwriter.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "colindex.h"

/* A column of the writer's table, as the writer knows it. */
typedef struct {
  char *name;         /* owned, NUL-terminated (names never hold a NUL) */
  size_t len;         /* bytes in name */
  uint32_t hash;      /* name_hash(name), ASCII case folded like SQLite */
  unsigned char id;   /* `id` or `*_id`: every value binds as TEXT */
  unsigned char pk;   /* part of the primary key */
  unsigned char user; /* in the table but not icx's (_icx_columns): a column
                         someone added; never written, so merges keep it */
} Column;

/*
** The typed record writer of one table. Columns [0, ntable) exist in the
** table; [ntable, ncols) are fields seen in the current record that still
** need an ALTER TABLE (or the CREATE TABLE when the table does not exist).
*/
struct icx_rw {
  sqlite3 *db; /* borrowed connection */
  char *table; /* owned, NUL-terminated table name */
  char **pk;   /* owned array of npk owned primary key names */
  int npk;
  Column *cols; /* owned array of capcols, names owned */
  int ncols, capcols;
  int ntable;                /* columns known to exist in the table */
  int exists;                /* the table exists */
  int known;                 /* schema loaded and valid for version */
  sqlite3_int64 version;     /* PRAGMA schema_version when last checked */
  struct icx_colindex index; /* owned: the columns by name */
  int *order; /* owned: column of each member position in the last
                            record, a guess that skips the hash lookup */
  int norder, caporder;
  js_val *vals;      /* owned, capcols: this record's value per column */
  uint32_t *seen;    /* owned, capcols: stamp of the record that set it */
  uint32_t stamp;    /* current record's stamp (never 0) */
  sqlite3_stmt *ins; /* owned: the upsert over cols[0, nins) */
  int nins;
  sqlite3_stmt *ver;  /* owned: PRAGMA schema_version */
  struct buf scratch; /* owned: unescaped and minified values of a record */
  int minified;       /* the current write's slices are minified already */
  struct buf key;     /* owned: an unescaped member name */
  struct buf sql;     /* owned: DDL and DML being built */
  char *cmp;          /* owned: the compared column (icx_rw_compare), or NULL */
  int cmpcol, pkcol;  /* their columns, -1 until looked up (or absent) */
  sqlite3_stmt *look; /* owned: SELECT cmp IS ?2 ... WHERE pk = ?1 */
  struct icx_rw_counts counts; /* of the current write */
};

typedef struct icx_rw Writer;

/* The short stable code of a SQLite result code; see rowwriter.h. */
const char *icx_rw_code(int rc) {
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
static int fail(struct icx_rw_err *e, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->code = code;
  return -1;
}

/* fail() with the SQLite error of the writer's connection. */
static int fail_db(Writer *w, struct icx_rw_err *e, int rc, const char *what) {
  return fail(e, icx_rw_code(rc), "icx.sqlite: table '%s': %s: %s", w->table,
              what, sqlite3_errmsg(w->db));
}

/* Forget every column (names freed, hash emptied, statement finalized). */
static void forget_columns(Writer *w) {
  for (int i = 0; i < w->ncols; i++)
    free(w->cols[i].name);
  w->ncols = w->ntable = w->norder = 0;
  icx_colindex_clear(&w->index);
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  sqlite3_finalize(w->look);
  w->look = NULL;
  w->cmpcol = w->pkcol = -1;
  w->nins = 0;
  w->known = 0;
}

/* Frees the writer; see rowwriter.h. */
void icx_rw_free(Writer *w) {
  if (!w)
    return;
  forget_columns(w);
  for (int i = 0; i < w->npk; i++)
    free(w->pk[i]);
  free(w->pk);
  free(w->table);
  free(w->cmp);
  free(w->cols);
  icx_colindex_free(&w->index);
  free(w->order);
  free(w->vals);
  free(w->seen);
  sqlite3_finalize(w->ver);
  buf_free(&w->scratch);
  buf_free(&w->key);
  buf_free(&w->sql);
  free(w);
}

/* The stored hash of column i, for the index. */
static uint32_t column_hash(const void *cols, int i) {
  return ((const Column *)cols)[i].hash;
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

/* A name being looked up, for column_is. */
typedef struct {
  const char *name;
  size_t len;
  uint32_t hash;
} Key;

/* Whether column i is named k (ASCII case folded, as SQLite does). */
static int column_is(const void *cols, int i, const void *key) {
  const Column *c = &((const Column *)cols)[i];
  const Key *k = key;
  return c->hash == k->hash && c->len == k->len &&
         name_eq(c->name, k->name, k->len);
}

/* Index of the column named name[0, len), or -1. */
static int find_column(Writer *w, const char *name, size_t len, uint32_t h) {
  Key k = {name, len, h};
  return icx_colindex_find(&w->index, h, column_is, w->cols, &k);
}

/* Append a column named name[0, len) (known absent). Returns its index, or
** -1 with e filled. */
static int add_column(Writer *w, const char *name, size_t len, uint32_t h,
                      struct icx_rw_err *e) {
  if (memchr(name, 0, len))
    return fail(e, "record",
                "icx.sqlite: table '%s': a field name holds a NUL byte, "
                "which no SQLite column name can",
                w->table);
  if (grow_columns(w) != 0 ||
      icx_colindex_room(&w->index, w->ncols, column_hash, w->cols) != 0)
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
  c->user = 0;
  for (int i = 0; i < w->npk; i++)
    if (strlen(w->pk[i]) == len && name_eq(w->pk[i], name, len))
      c->pk = 1;
  w->seen[w->ncols] = 0;
  icx_colindex_put(&w->index, h, w->ncols++);
  return w->ncols - 1;
}

/* PRAGMA schema_version through the writer's cached statement. */
static int read_version(Writer *w, sqlite3_int64 *out) {
  int rc;
  if (!w->ver) {
    rc = sqlite3_prepare_v2(w->db, "PRAGMA schema_version", -1, &w->ver, NULL);
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
** _icx_columns records the columns icx created in each table, so a column
** someone added to a table later (a note, a flag) is theirs: merges leave
** it alone. A table with no rows there predates the registry: all its
** columns are taken as icx's, as they were written before.
*/
static int registry_ensure(Writer *w, struct icx_rw_err *e) {
  int rc = sqlite3_exec(w->db,
                        "CREATE TABLE IF NOT EXISTS _icx_columns (tbl TEXT NOT "
                        "NULL, col TEXT NOT NULL, PRIMARY KEY (tbl, col)) "
                        "WITHOUT ROWID",
                        NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : fail_db(w, e, rc, "creating _icx_columns");
}

/* Records cols[from, to) as icx's. 0, or -1 with e filled. */
static int registry_add(Writer *w, int from, int to, struct icx_rw_err *e) {
  sqlite3_stmt *st = NULL;
  if (from >= to)
    return 0;
  if (registry_ensure(w, e) != 0)
    return -1;
  int rc = sqlite3_prepare_v2(w->db,
                              "INSERT OR IGNORE INTO _icx_columns (tbl, col) "
                              "VALUES (?1, ?2)",
                              -1, &st, NULL);
  for (int i = from; rc == SQLITE_OK && i < to; i++) {
    sqlite3_bind_text(st, 1, w->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w->cols[i].name, (int)w->cols[i].len,
                      SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : fail_db(w, e, rc, "recording its columns");
}

/* Marks the loaded columns that are not icx's as user columns. 0 or -1. */
static int registry_load(Writer *w, struct icx_rw_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      w->db, "SELECT col FROM _icx_columns WHERE tbl = ?1", -1, &st, NULL);
  if (rc != SQLITE_OK) { /* no registry yet: every column is icx's */
    sqlite3_finalize(st);
    return registry_add(w, 0, w->ncols, e);
  }
  int nreg = 0;
  for (int i = 0; i < w->ncols; i++)
    w->cols[i].user = 1;
  sqlite3_bind_text(st, 1, w->table, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    int i = find_column(w, name, len, name_hash(name, len));
    nreg++;
    if (i >= 0)
      w->cols[i].user = 0;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return fail_db(w, e, rc, "reading _icx_columns");
  if (nreg == 0) {
    for (int i = 0; i < w->ncols; i++)
      w->cols[i].user = 0;
    return registry_add(w, 0, w->ncols, e);
  }
  for (int i = 0; i < w->ncols; i++)
    if (w->cols[i].pk)
      w->cols[i].user = 0;
  return 0;
}

/*
** Read the table's columns (PRAGMA table_info) into the writer. A missing
** table gets the primary key columns as pending columns; an existing one
** must have the declared primary key, or the upsert could not name its
** conflict target. 0, or -1 with e filled.
*/
static int load_schema(Writer *w, struct icx_rw_err *e) {
  sqlite3 *db = w->db;
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
    return fail(e, icx_rw_code(rc),
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
  if (w->exists && registry_load(w, e) != 0) {
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
  w->known = 1;
  return 0;
}

/* Make sure the writer's idea of the schema is current: reload after
** icx_rw_forget or when anyone (another process too) changed the schema. */
static int check_schema(Writer *w, struct icx_rw_err *e) {
  sqlite3_int64 v;
  if (w->known) {
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
static int add_pending(Writer *w, struct icx_rw_err *e) {
  struct buf *b = &w->sql;
  sqlite3 *db = w->db;
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
  if (registry_add(w, w->exists && w->ntable ? w->ntable : 0, w->ncols, e))
    return -1;
  w->ntable = w->ncols;
  rc = read_version(w, &w->version);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "reading the schema version");
  return 0;
}

/* Prepare the upsert over icx's columns: every one is bound on each row
** (NULL when the record lacks the field), so the row becomes exactly the
** latest record; user columns are left out, so a merge keeps them. One
** statement per column set; the set only grows. */
static int prepare_insert(Writer *w, struct icx_rw_err *e) {
  struct buf *b = &w->sql;
  int bad, nset = 0, n = 0;
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  buf_reset(b);
  bad = put_str(b, "INSERT INTO ") ||
        put_ident(b, w->table, strlen(w->table)) || put_str(b, " (");
  for (int i = 0; i < w->ncols; i++)
    if (!w->cols[i].user)
      bad = bad || (n++ && put_str(b, ",")) ||
            put_ident(b, w->cols[i].name, w->cols[i].len);
  bad = bad || put_str(b, ") VALUES (");
  for (int i = 0; i < n; i++)
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
      if (c->pk || c->user)
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
  int rc = sqlite3_prepare_v2(w->db, b->data, (int)b->len, &w->ins, NULL);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "preparing the insert");
  w->nins = w->ncols;
  return 0;
}

/* Bind a string value's UTF-8: straight from the page when it has no
** escapes, else unescaped into the record's scratch space. */
static int bind_string(Writer *w, sqlite3_stmt *st, int i, const js_val *v) {
  const char *s = v->p + 1;
  size_t n = v->n - 2;
  if (memchr(s, '\\', n)) {
    char *d = w->scratch.data + w->scratch.len;
    n = js_unescape_to(v, d);
    w->scratch.len += n;
    s = d;
  }
  return sqlite3_bind_text64(st, i, s, n, SQLITE_STATIC, SQLITE_UTF8);
}

/* Bind the value of column c to parameter i of st by the lossless rule. */
static int bind_value(Writer *w, sqlite3_stmt *st, int i, const Column *c,
                      const js_val *v) {
  switch (v->type) {
  case JS_NULL:
    return sqlite3_bind_null(st, i);
  case JS_STRING:
    return bind_string(w, st, i, v);
  case JS_ARRAY:
  case JS_OBJECT: {
    if (w->minified)
      return sqlite3_bind_text64(st, i, v->p, v->n, SQLITE_STATIC, SQLITE_UTF8);
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
static int member_column(Writer *w, const js_val *k, int pos,
                         struct icx_rw_err *e) {
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

/*
** The column for a member whose name an earlier member of the same record
** already took (a repeated key, or one differing only in ASCII case, which
** SQLite folds): NAME__2, NAME__3 ..., the first not set by this record, so
** no value is dropped. -1 with e filled.
*/
static int dup_column(Writer *w, const js_val *k, struct icx_rw_err *e) {
  size_t klen = k->n - 2;
  for (int n = 2; n < 1000; n++) {
    buf_reset(&w->key);
    if (buf_reserve(&w->key, klen + 8) != 0)
      return fail(e, "nomem", "icx.sqlite: out of memory");
    size_t len = js_unescape_to(k, w->key.data);
    len += (size_t)snprintf(w->key.data + len, 8, "__%d", n);
    uint32_t h = name_hash(w->key.data, len);
    int i = find_column(w, w->key.data, len, h);
    if (i < 0)
      return add_column(w, w->key.data, len, h, e);
    if (w->seen[i] != w->stamp)
      return i;
  }
  return fail(e, "record", "icx.sqlite: table '%s': a key repeated 1000 times",
              w->table);
}

/*
** Count the record about to be upserted as added, changed or the same by
** the compared column's stored value: one indexed lookup, which also
** brings the index page the upsert needs into the cache. A table without
** the column yet holds no comparable row: every record is added. 0, or -1
** with e filled.
*/
static int tally(Writer *w, struct icx_rw_err *e) {
  if (w->pkcol < 0)
    for (int i = 0; i < w->ncols; i++)
      if (w->cols[i].pk)
        w->pkcol = i;
  if (w->cmpcol < 0) {
    size_t len = strlen(w->cmp);
    w->cmpcol = find_column(w, w->cmp, len, name_hash(w->cmp, len));
  }
  if (w->pkcol < 0 || w->cmpcol < 0 || w->cmpcol >= w->ntable) {
    w->cmpcol = -1; /* look again: the column may come with a later record */
    w->counts.added++;
    return 0;
  }
  if (!w->look) {
    struct buf *b = &w->sql;
    const Column *k = &w->cols[w->cmpcol], *p = &w->cols[w->pkcol];
    buf_reset(b);
    if (put_str(b, "SELECT ") || put_ident(b, k->name, k->len) ||
        put_str(b, " IS ?2 FROM ") ||
        put_ident(b, w->table, strlen(w->table)) || put_str(b, " WHERE ") ||
        put_ident(b, p->name, p->len) || put_str(b, " = ?1"))
      return fail(e, "nomem", "icx.sqlite: out of memory");
    int rc = sqlite3_prepare_v2(w->db, b->data, (int)b->len, &w->look, NULL);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "preparing the comparison");
  }
  int kc = w->cmpcol, pc = w->pkcol;
  int rc = bind_value(w, w->look, 1, &w->cols[pc], &w->vals[pc]);
  if (rc == SQLITE_OK)
    rc = w->seen[kc] == w->stamp
             ? bind_value(w, w->look, 2, &w->cols[kc], &w->vals[kc])
             : sqlite3_bind_null(w->look, 2);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(w->look);
  if (rc == SQLITE_ROW) {
    if (sqlite3_column_int(w->look, 0))
      w->counts.same++;
    else
      w->counts.changed++;
  } else if (rc == SQLITE_DONE) {
    w->counts.added++;
  }
  sqlite3_reset(w->look);
  sqlite3_clear_bindings(w->look);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return fail_db(w, e, rc, "comparing a record");
  return 0;
}

/* Write one record (a JS_OBJECT slice) whose members come from ms; nth
** counts from 1 for messages. */
static int write_record(Writer *w, const js_val *rec, js_memiter *ms,
                        size_t nth, struct icx_rw_err *e) {
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
  while (js_memiter_next(ms, &k, &v)) {
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
      c = dup_column(w, &k, e); /* the first keeps NAME, as in icx.json */
    if (c < 0)
      return -1;
    if (w->cols[c].user) {
      /* A field of Intercom's now lands in a column someone added with
      ** the same name: it is icx's from here on. */
      w->cols[c].user = 0;
      if (registry_add(w, c, c + 1, e) != 0)
        return -1;
      w->nins = -1;
    }
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
  ** record's size bounds them all and no bound pointer moves; twice, as
  ** the comparison binds the key and the compared value again. */
  buf_reset(&w->scratch);
  if (buf_reserve(&w->scratch, 2 * rec->n) != 0)
    return fail(e, "nomem", "icx.sqlite: out of memory");
  for (int i = 0, p = 1; i < w->ncols; i++) {
    if (w->cols[i].user)
      continue;
    rc = w->seen[i] == w->stamp
             ? bind_value(w, w->ins, p, &w->cols[i], &w->vals[i])
             : sqlite3_bind_null(w->ins, p);
    p++;
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "binding a value");
  }
  if (w->cmp && tally(w, e) != 0)
    return -1;
  rc = sqlite3_step(w->ins);
  sqlite3_reset(w->ins);
  if (rc != SQLITE_DONE) {
    char what[40];
    snprintf(what, sizeof what, "record %zu", nth);
    return fail_db(w, e, rc, what);
  }
  return 0;
}

/* Copy of the NUL-terminated s, or NULL. */
static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* A new writer; see rowwriter.h. Each allocation is stored as soon as it
** is made, so a failure half-way is freed by icx_rw_free. */
Writer *icx_rw_new(sqlite3 *db, const char *table, const char *const *pk,
                   int npk) {
  Writer *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->db = db;
  w->cmpcol = w->pkcol = -1;
  if (!(w->table = dup_str(table)))
    goto fail;
  if (npk > 0 && !(w->pk = calloc((size_t)npk, sizeof *w->pk)))
    goto fail;
  for (int i = 0; i < npk; i++) {
    if (!(w->pk[i] = dup_str(pk[i])))
      goto fail;
    w->npk = i + 1;
  }
  return w;
fail:
  icx_rw_free(w);
  return NULL;
}

/* What every write ends with: an empty first page still leaves the table
** behind, and no binding may point into the caller's bytes once it returns.
** rc is the result so far. */
static int finish_write(Writer *w, int rc, struct icx_rw_err *e) {
  if (rc == 0 && w->ncols > w->ntable)
    rc = add_pending(w, e);
  if (w->ins)
    sqlite3_clear_bindings(w->ins);
  return rc;
}

/* Writes validated record slices; see rowwriter.h. */
int icx_rw_write(Writer *w, const js_val *recs, size_t n, int minified,
                 const js_members *mem, struct icx_rw_err *e) {
  memset(&w->counts, 0, sizeof w->counts);
  int rc = check_schema(w, e);
  w->minified = minified;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    js_memiter ms;
    js_memiter_init(&ms, &recs[i], mem, i);
    rc = write_record(w, &recs[i], &ms, i + 1, e);
  }
  return finish_write(w, rc, e);
}

/* Writes JSON text, one record or an array of them; see rowwriter.h. */
int icx_rw_write_json(Writer *w, const char *text, size_t len, size_t *n,
                      struct icx_rw_err *e) {
  js_val top, rec;
  js_info info;
  js_err je;
  memset(&w->counts, 0, sizeof w->counts);
  int rc = check_schema(w, e);
  *n = 0;
  if (rc != 0)
    return finish_write(w, rc, e);
  if (js_parse_list(text, len, NULL, 0, NULL, NULL, &top, &info, &je) != 0)
    return fail(e, "record",
                "icx.sqlite: table '%s': invalid JSON at byte %d: %s", w->table,
                (int)je.offset, je.msg);
  w->minified = info.minified;
  js_memiter ms;
  if (top.type == JS_ARRAY) {
    js_iter it;
    js_iter_init(&it, &top);
    while (rc == 0 && js_next_elem(&it, &rec)) {
      js_memiter_init(&ms, &rec, NULL, 0);
      rc = write_record(w, &rec, &ms, ++*n, e);
    }
  } else {
    js_memiter_init(&ms, &top, NULL, 0);
    rc = write_record(w, &top, &ms, ++*n, e);
  }
  return finish_write(w, rc, e);
}

/* Compare on column col from now on; see rowwriter.h. */
int icx_rw_compare(Writer *w, const char *col) {
  char *c = NULL;
  if (col && !(c = dup_str(col)))
    return -1;
  free(w->cmp);
  w->cmp = c;
  sqlite3_finalize(w->look);
  w->look = NULL;
  w->cmpcol = -1;
  return 0;
}

/* The last write's counts; see rowwriter.h. */
struct icx_rw_counts icx_rw_counts(const Writer *w) {
  return w->counts;
}

/* Forgets the schema; see rowwriter.h. */
void icx_rw_forget(Writer *w) {
  w->known = 0;
}

/* The table name; see rowwriter.h. */
const char *icx_rw_table(const Writer *w) {
  return w->table;
}

/* The number of columns; see rowwriter.h. */
int icx_rw_ncolumns(const Writer *w) {
  return w->ncols;
}

/* Column i's name; see rowwriter.h. */
const char *icx_rw_column(const Writer *w, int i, size_t *len) {
  *len = w->cols[i].len;
  return w->cols[i].name;
}
