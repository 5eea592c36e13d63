/*
** rowwriter.c: the typed record writer of the SQLite destination (Lua-free).
** See rowwriter.h for what lands how. Records become columns in colset.c
** (names folded as SQLite folds them); this file is the SQLite back end: the
** schema, one prepared upsert per column set, and values bound in place from
** the page (SQLITE_STATIC) or from one scratch buffer.
*/
#include "rowwriter.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "colset.h"

/*
** The typed record writer of one table. Columns [0, cs.ntable) exist in the
** table; [cs.ntable, cs.ncols) are fields seen in the current record that
** still need an ALTER TABLE (or the CREATE TABLE when the table does not
** exist). A column's `user` flag marks one someone else added: never
** written, so merges keep it.
*/
struct icx_rw {
  sqlite3 *db;           /* borrowed connection */
  struct icx_cs cs;      /* owned: the columns and the record gathered */
  int nuser;             /* columns with the user flag */
  int exists;            /* the table exists */
  int known;             /* schema loaded and valid for version */
  sqlite3_int64 version; /* PRAGMA schema_version when last checked */
  sqlite3_stmt *ins;     /* owned: the upsert over cols[0, nins) */
  int nins;
  sqlite3_stmt *ver;  /* owned: PRAGMA schema_version */
  struct buf scratch; /* owned: unescaped and minified values of a record */
  int minified;       /* the current write's slices are minified already */
  struct buf sql;     /* owned: DDL and DML being built */
  char *cmp;          /* owned: the compared column (icx_rw_compare), or NULL */
  int cmpcol;         /* its column, -1 until looked up (or absent) */
  sqlite3_stmt *look; /* owned: SELECT cmp IS ?2 ... WHERE pk = ?1 */
  sqlite3_stmt *plain; /* owned: the upsert's INSERT without ON CONFLICT */
  int insert_first;    /* try plain before look (see insert_new) */
  struct icx_rw_counts counts; /* of the current write */
};

/* SQLite folds ASCII case in identifiers and takes any name. */
static const struct icx_cs_style sqlite_style = {"icx.sqlite", "SQLite", 1,
                                                 NULL};

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
static int put_ident(struct buf *b, const char *name) {
  return buf_quote(b, name, strlen(name), '"');
}

/* icx_cs_fail with the SQLite error of the writer's connection. */
static int fail_db(Writer *w, struct icx_cs_err *e, int rc, const char *what) {
  return icx_cs_fail(e, icx_rw_code(rc), "icx.sqlite: table '%s': %s: %s",
                     w->cs.table, what, sqlite3_errmsg(w->db));
}

/* icx_cs_nomem for the writer. */
static int nomem(Writer *w, struct icx_cs_err *e) {
  return icx_cs_nomem(&w->cs, e);
}

/* Forget every column (names freed, hash emptied, statement finalized). */
static void forget_columns(Writer *w) {
  icx_cs_clear(&w->cs);
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  sqlite3_finalize(w->look);
  w->look = NULL;
  sqlite3_finalize(w->plain);
  w->plain = NULL;
  w->cmpcol = -1;
  w->nins = 0;
  w->nuser = 0;
  w->known = 0;
}

/* Frees the writer; see rowwriter.h. */
void icx_rw_free(Writer *w) {
  if (!w)
    return;
  forget_columns(w);
  icx_cs_free(&w->cs);
  free(w->cmp);
  sqlite3_finalize(w->ver);
  buf_free(&w->scratch);
  buf_free(&w->sql);
  free(w);
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
static int registry_ensure(Writer *w, struct icx_cs_err *e) {
  int rc = sqlite3_exec(w->db,
                        "CREATE TABLE IF NOT EXISTS _icx_columns (tbl TEXT NOT "
                        "NULL, col TEXT NOT NULL, PRIMARY KEY (tbl, col)) "
                        "WITHOUT ROWID",
                        NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : fail_db(w, e, rc, "creating _icx_columns");
}

/* Records cols[from, to) as icx's. 0, or -1 with e filled. */
static int registry_add(Writer *w, int from, int to, struct icx_cs_err *e) {
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
    sqlite3_bind_text(st, 1, w->cs.table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w->cs.cols[i].name, (int)w->cs.cols[i].flen,
                      SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : fail_db(w, e, rc, "recording its columns");
}

/* Marks the loaded columns that are not icx's as user columns. 0 or -1. */
static int registry_load(Writer *w, struct icx_cs_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      w->db, "SELECT col FROM _icx_columns WHERE tbl = ?1", -1, &st, NULL);
  if (rc != SQLITE_OK) { /* no registry yet: every column is icx's */
    sqlite3_finalize(st);
    return registry_add(w, 0, w->cs.ncols, e);
  }
  int nreg = 0;
  for (int i = 0; i < w->cs.ncols; i++)
    w->cs.cols[i].user = 1;
  sqlite3_bind_text(st, 1, w->cs.table, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    int i = icx_cs_find(&w->cs, name, len);
    nreg++;
    if (i >= 0)
      w->cs.cols[i].user = 0;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return fail_db(w, e, rc, "reading _icx_columns");
  if (nreg == 0) {
    for (int i = 0; i < w->cs.ncols; i++)
      w->cs.cols[i].user = 0;
    return registry_add(w, 0, w->cs.ncols, e);
  }
  for (int i = 0; i < w->cs.ncols; i++) {
    if (w->cs.cols[i].pk)
      w->cs.cols[i].user = 0;
    w->nuser += w->cs.cols[i].user;
  }
  return 0;
}

/*
** Read the table's columns (PRAGMA table_info) into the writer. A missing
** table gets the primary key columns as pending columns; an existing one
** must have the declared primary key, or the upsert could not name its
** conflict target. 0, or -1 with e filled.
*/
static int load_schema(Writer *w, struct icx_cs_err *e) {
  sqlite3 *db = w->db;
  sqlite3_stmt *st = NULL;
  int npkfound = 0, bad = 0;
  forget_columns(w);
  int rc = sqlite3_prepare_v2(
      db, "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid", -1, &st,
      NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, w->cs.table, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    int i = icx_cs_find(&w->cs, name, len);
    if (i < 0 && (i = icx_cs_add(&w->cs, name, len, NULL, ICX_K_NULL, e)) < 0) {
      sqlite3_finalize(st);
      return -1;
    }
    if (sqlite3_column_int(st, 1) > 0) {
      if (w->cs.cols[i].pk)
        npkfound++;
      else
        bad = 1;
    }
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK)
    return icx_cs_fail(e, icx_rw_code(rc),
                       "icx.sqlite: table '%s': reading its columns: %s",
                       w->cs.table, sqlite3_errstr(rc));
  w->exists = w->cs.ncols > 0;
  w->cs.ntable = w->cs.ncols;
  if (w->exists && w->cs.npk && (bad || npkfound != w->cs.npk)) {
    struct buf *b = &w->sql;
    buf_reset(b);
    for (int i = 0; i < w->cs.npk; i++)
      if ((i && buf_puts(b, ", ")) || buf_puts(b, w->cs.pk[i]))
        break;
    icx_cs_fail(
        e, "schema",
        "icx.sqlite: table '%s' exists without the primary key (%s) this "
        "asset declares; drop or rename it",
        w->cs.table, buf_cstr(b) ? buf_cstr(b) : "?");
    forget_columns(w);
    return -1;
  }
  if (w->exists && registry_load(w, e) != 0) {
    forget_columns(w);
    return -1;
  }
  if (!w->exists && icx_cs_add_pk(&w->cs, e) != 0)
    return -1;
  rc = read_version(w, &w->version);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "reading the schema version");
  w->known = 1;
  return 0;
}

/* Make sure the writer's idea of the schema is current: reload after
** icx_rw_forget or when anyone (another process too) changed the schema. */
static int check_schema(Writer *w, struct icx_cs_err *e) {
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
static int add_pending(Writer *w, struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  sqlite3 *db = w->db;
  int rc;
  if (!w->exists) {
    buf_reset(b);
    int bad = buf_puts(b, "CREATE TABLE ") || put_ident(b, w->cs.table) ||
              buf_puts(b, " (");
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      bad = bad || (i && buf_puts(b, ", ")) || put_ident(b, c->name) ||
            (c->id && buf_puts(b, " TEXT")) ||
            (c->pk && buf_puts(b, " NOT NULL"));
    }
    if (w->cs.npk) {
      bad = bad || buf_puts(b, ", PRIMARY KEY (");
      for (int i = 0; i < w->cs.npk; i++)
        bad = bad || (i && buf_puts(b, ", ")) || put_ident(b, w->cs.pk[i]);
      bad = bad || buf_puts(b, ")");
    }
    if (bad || buf_puts(b, ")") || !buf_cstr(b))
      return nomem(w, e);
    rc = sqlite3_exec(db, b->data, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "creating it");
    w->exists = 1;
  } else {
    for (int i = w->cs.ntable; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      buf_reset(b);
      if (buf_puts(b, "ALTER TABLE ") || put_ident(b, w->cs.table) ||
          buf_puts(b, " ADD COLUMN ") || put_ident(b, c->name) ||
          (c->id && buf_puts(b, " TEXT")) || !buf_cstr(b))
        return nomem(w, e);
      rc = sqlite3_exec(db, b->data, NULL, NULL, NULL);
      if (rc != SQLITE_OK)
        return fail_db(w, e, rc, "adding a column");
    }
  }
  if (registry_add(w, w->exists && w->cs.ntable ? w->cs.ntable : 0, w->cs.ncols,
                   e))
    return -1;
  w->cs.ntable = w->cs.ncols;
  rc = read_version(w, &w->version);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "reading the schema version");
  return 0;
}

/* Prepare the upsert over icx's columns: every one is bound on each row
** (NULL when the record lacks the field), so the row becomes exactly the
** latest record; user columns are left out, so a merge keeps them. One
** statement per column set; the set only grows. */
static int prepare_insert(Writer *w, struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  int bad, nset = 0, n = 0;
  if (w->ins) {
    sqlite3_finalize(w->ins);
    w->ins = NULL;
  }
  buf_reset(b);
  bad = buf_puts(b, "INSERT INTO ") || put_ident(b, w->cs.table) ||
        buf_puts(b, " (");
  bad = bad || icx_cs_put_names(&w->cs, b, ICX_CS_OWN, ",");
  for (int i = 0; i < w->cs.ncols; i++)
    n += !w->cs.cols[i].user;
  bad = bad || buf_puts(b, ") VALUES (");
  for (int i = 0; i < n; i++)
    bad = bad || buf_puts(b, i ? ",?" : "?");
  bad = bad || buf_puts(b, ")");
  size_t plainlen = b->len;
  if (w->cs.npk) {
    bad = bad || buf_puts(b, " ON CONFLICT (");
    for (int i = 0; i < w->cs.npk; i++)
      bad = bad || (i && buf_puts(b, ",")) || put_ident(b, w->cs.pk[i]);
    bad = bad || buf_puts(b, ") DO ");
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      if (c->pk || c->user)
        continue;
      bad = bad || buf_puts(b, nset++ ? "," : "UPDATE SET ") ||
            put_ident(b, c->name) || buf_puts(b, "=excluded.") ||
            put_ident(b, c->name);
    }
    if (!nset)
      bad = bad || buf_puts(b, "NOTHING");
  }
  if (bad)
    return nomem(w, e);
  int rc = sqlite3_prepare_v2(w->db, b->data, (int)b->len, &w->ins, NULL);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "preparing the insert");
  sqlite3_finalize(w->plain);
  w->plain = NULL;
  if (w->cmp && w->cs.npk == 1) { /* the same INSERT, without the upsert */
    rc = sqlite3_prepare_v2(w->db, b->data, (int)plainlen, &w->plain, NULL);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "preparing the insert");
  }
  w->nins = w->cs.ncols;
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
static int bind_value(Writer *w, sqlite3_stmt *st, int i,
                      const struct icx_cs_col *c, const js_val *v) {
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

/*
** Count the record about to be upserted as added, changed or the same by
** the compared column's stored value: one indexed lookup, which also
** brings the index page the upsert needs into the cache. A table without
** the column yet holds no comparable row: every record is added. 0, or -1
** with e filled.
*/
static int tally(Writer *w, struct icx_cs_err *e) {
  int pc = w->cs.npk == 1 ? w->cs.pkcol[0] : -1;
  if (w->cmpcol < 0)
    w->cmpcol = icx_cs_find(&w->cs, w->cmp, strlen(w->cmp));
  if (pc < 0 || w->cmpcol < 0 || w->cmpcol >= w->cs.ntable) {
    w->cmpcol = -1; /* look again: the column may come with a later record */
    w->counts.added++;
    return 0;
  }
  if (!w->look) {
    struct buf *b = &w->sql;
    const struct icx_cs_col *k = &w->cs.cols[w->cmpcol], *p = &w->cs.cols[pc];
    buf_reset(b);
    if (buf_puts(b, "SELECT ") || put_ident(b, k->name) ||
        buf_puts(b, " IS ?2 FROM ") || put_ident(b, w->cs.table) ||
        buf_puts(b, " WHERE ") || put_ident(b, p->name) || buf_puts(b, " = ?1"))
      return nomem(w, e);
    int rc = sqlite3_prepare_v2(w->db, b->data, (int)b->len, &w->look, NULL);
    if (rc != SQLITE_OK)
      return fail_db(w, e, rc, "preparing the comparison");
  }
  int kc = w->cmpcol;
  int rc = bind_value(w, w->look, 1, &w->cs.cols[pc], &w->cs.vals[pc]);
  if (rc == SQLITE_OK)
    rc = icx_cs_has(&w->cs, kc)
             ? bind_value(w, w->look, 2, &w->cs.cols[kc], &w->cs.vals[kc])
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

/* Bind the gathered record's values to st, every icx column in order
** (NULL for a field the record lacks). SQLITE_OK or the error. */
static int bind_record(Writer *w, sqlite3_stmt *st) {
  for (int i = 0, p = 1; i < w->cs.ncols; i++) {
    if (w->cs.cols[i].user)
      continue;
    int rc = icx_cs_has(&w->cs, i)
                 ? bind_value(w, st, p, &w->cs.cols[i], &w->cs.vals[i])
                 : sqlite3_bind_null(st, p);
    p++;
    if (rc != SQLITE_OK)
      return rc;
  }
  return SQLITE_OK;
}

/*
** While counting, a record whose key is not stored yet needs no lookup: a
** plain INSERT either lands it (counted as added, one statement instead of
** the lookup and the upsert) or fails on a constraint, undoing nothing it
** did, and the record takes the lookup and the upsert as before (which
** also raise any other constraint's error as before). Tried first while
** most records of the last write were new (a first load); a re-read walk
** goes straight to the lookup. 0 landed, 1 take the upsert, -1 with e
** filled (nth counts from 1 for the message, as the upsert's).
*/
static int insert_new(Writer *w, size_t nth, struct icx_cs_err *e) {
  int rc = bind_record(w, w->plain);
  if (rc != SQLITE_OK)
    return fail_db(w, e, rc, "binding a value");
  rc = sqlite3_step(w->plain);
  sqlite3_reset(w->plain);
  if (rc == SQLITE_DONE) {
    w->counts.added++;
    return 0;
  }
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return 1;
  char what[40];
  snprintf(what, sizeof what, "record %zu", nth);
  return fail_db(w, e, rc, what);
}

/* Write one record (a JS_OBJECT slice) whose members come from ms; nth
** counts from 1 for messages. */
static int write_record(Writer *w, const js_val *rec, js_memiter *ms,
                        size_t nth, struct icx_cs_err *e) {
  int rc;
  if (icx_cs_gather(&w->cs, rec, ms, nth, e) != 0)
    return -1;
  for (int c = 0; w->nuser && c < w->cs.ncols; c++)
    if (w->cs.cols[c].user && icx_cs_has(&w->cs, c)) {
      /* A field of Intercom's now lands in a column someone added with
      ** the same name: it is icx's from here on. */
      w->cs.cols[c].user = 0;
      w->nuser--;
      if (registry_add(w, c, c + 1, e) != 0)
        return -1;
      w->nins = -1;
    }
  if (w->cs.ncols > w->cs.ntable && add_pending(w, e) != 0)
    return -1;
  if ((!w->ins || w->nins != w->cs.ncols) && prepare_insert(w, e) != 0)
    return -1;
  /* Every unescaped or minified value is no longer than its slice, so the
  ** record's size (and the overflow object's, which is no slice of it)
  ** bounds them all and no bound pointer moves; twice, as the comparison
  ** binds the key and the compared value again. */
  buf_reset(&w->scratch);
  if (buf_reserve(&w->scratch, 2 * (rec->n + w->cs.extra)) != 0)
    return nomem(w, e);
  if (w->plain && w->insert_first) {
    rc = insert_new(w, nth, e);
    if (rc <= 0)
      return rc;
    buf_reset(&w->scratch); /* plain's bindings are dead: bound again below */
  }
  if ((rc = bind_record(w, w->ins)) != SQLITE_OK)
    return fail_db(w, e, rc, "binding a value");
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

/* A new writer; see rowwriter.h. Each allocation is stored as soon as it
** is made, so a failure half-way is freed by icx_rw_free. */
Writer *icx_rw_new(sqlite3 *db, const char *table, const char *const *pk,
                   int npk) {
  Writer *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->db = db;
  w->cmpcol = -1;
  w->insert_first = 1;
  if (icx_cs_init(&w->cs, &sqlite_style, table, pk, npk) != 0)
    goto fail;
  return w;
fail:
  icx_rw_free(w);
  return NULL;
}

/* What every write ends with: an empty first page still leaves the table
** behind, and no binding may point into the caller's bytes once it returns.
** rc is the result so far. */
static int finish_write(Writer *w, int rc, struct icx_cs_err *e) {
  if (rc == 0 && w->cs.ncols > w->cs.ntable)
    rc = add_pending(w, e);
  if (w->ins)
    sqlite3_clear_bindings(w->ins);
  if (w->plain)
    sqlite3_clear_bindings(w->plain);
  w->insert_first = w->counts.added >= w->counts.changed + w->counts.same;
  return rc;
}

/* Writes validated record slices; see rowwriter.h. */
int icx_rw_write(Writer *w, const js_val *recs, size_t n, int minified,
                 const js_members *mem, struct icx_cs_err *e) {
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
                      struct icx_cs_err *e) {
  js_val top, rec;
  js_info info;
  js_err je;
  memset(&w->counts, 0, sizeof w->counts);
  int rc = check_schema(w, e);
  *n = 0;
  if (rc != 0)
    return finish_write(w, rc, e);
  if (js_parse_list(text, len, NULL, 0, NULL, NULL, &top, &info, &je) != 0)
    return icx_cs_fail(e, "record",
                       "icx.sqlite: table '%s': invalid JSON at byte %d: %s",
                       w->cs.table, (int)je.offset, je.msg);
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
  if (col && !(c = strdup(col)))
    return -1;
  free(w->cmp);
  w->cmp = c;
  sqlite3_finalize(w->look);
  w->look = NULL;
  w->cmpcol = -1;
  w->nins = -1; /* plain is prepared with the upsert only while counting */
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
  return w->cs.table;
}

/* The number of columns; see rowwriter.h. */
int icx_rw_ncolumns(const Writer *w) {
  return w->cs.ncols;
}

/* Column i's name; see rowwriter.h. */
const char *icx_rw_column(const Writer *w, int i, size_t *len) {
  *len = w->cs.cols[i].flen;
  return w->cs.cols[i].name;
}
