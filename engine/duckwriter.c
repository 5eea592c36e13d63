/*
** duckwriter.c: the typed record writer of the DuckDB destination
** (Lua-free). See duckwriter.h for what lands how. Records become columns
** in colset.c; this file is the DuckDB back end: the DDL, the appender
** into the table or a typed staging table, and the statements that merge
** it.
**
** What a page costs is DuckDB's per-statement work (parsing, planning,
** buffers), not the records, so a page is as few statements as the
** contract allows: the columns and the staging table are kept from page to
** page while the column epoch (duckwriter.h) stands still, values are
** converted in C rather than by SQL casts, the usual page skips the
** staging table (its keys deleted as literals, the page appended straight
** in), and the window that keeps a key's last record runs only when the
** page repeats a key.
*/
/* Built only with DuckDB (the Makefile defines ICX_DUCKDB when it finds
** the library). */
#ifdef ICX_DUCKDB
#include "duckwriter.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "colset.h"
#include "duckapi.h"

struct icx_dkw {
  struct icx_cs cs;      /* owned: the columns and the record gathered */
  char stage[32];        /* the staging table's name (a temp table) */
  struct buf sql;        /* owned: statements being built */
  struct buf merge;      /* owned: the merge of the current staging table */
  struct buf merge_dups; /* owned: the same, keeping a key's last record */
  struct buf scratch;    /* owned: one value, unescaped or minified */
  struct buf keys;       /* owned: the page's primary keys, end to end */
  size_t *key_end;       /* owned, cap_keys: where each record's key ends */
  size_t cap_keys;
  int minified;          /* the current write's slices are minified */
  int append;            /* no merge: rows go straight into the table */
  int fresh;             /* cs holds the table's columns as of `epoch` */
  int staged;            /* the staging table fits cs as of `epoch` */
  unsigned long epoch;   /* the column epoch cs and the stage were made at */
  duckdb_connection con; /* the connection they were made on (borrowed) */
};

typedef struct icx_dkw Writer;

/* Whether a column of cs is named name (DuckDB folds case). */
static int name_taken(const struct icx_cs *cs, const char *name) {
  for (int i = 0; i < cs->ncols; i++)
    if (strcasecmp(cs->cols[i].name, name) == 0)
      return 1;
  return 0;
}

/* A column's name: the field's own, except that DuckDB takes no empty
** identifier: the empty field is column "_empty". Should the name be taken
** (a field "_empty" and the empty one), "_2", "_3" ... is appended. */
static char *duck_name(const struct icx_cs *cs, const char *field, size_t len) {
  struct buf b = {0};
  if (len ? buf_append(&b, field, len) : buf_puts(&b, "_empty"))
    return NULL;
  size_t base = b.len;
  for (int n = 2; buf_cstr(&b) && name_taken(cs, b.data); n++) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, "_%d", n);
    b.len = base;
    if (buf_puts(&b, suffix))
      break;
  }
  if (!buf_cstr(&b)) {
    buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* DuckDB matches identifiers without regard to case. */
static const struct icx_cs_style duck_style = {"icx.duckdb", "DuckDB", 1,
                                               duck_name};

/* The declared type of each kind (duckwriter.h). */
static const char *const kind_type[ICX_NKIND] = {
    "VARCHAR", "BOOLEAN", "BIGINT", "JSON",
    "DOUBLE",  "VARCHAR", "JSON",   "VARCHAR"};

/* The short stable code of a failed result; see duckwriter.h. */
const char *icx_dkw_code(duckdb_result *r) {
  switch (duckdb_result_error_type(r)) {
  case DUCKDB_ERROR_CONSTRAINT:
    return "constraint";
  case DUCKDB_ERROR_IO:
    return "io";
  case DUCKDB_ERROR_OUT_OF_MEMORY:
    return "nomem";
  case DUCKDB_ERROR_TRANSACTION:
    return "busy";
  default:
    return "duckdb";
  }
}

static int nomem(Writer *w, struct icx_cs_err *e) {
  return icx_cs_nomem(&w->cs, e);
}

static int put_ident(struct buf *b, const char *name) {
  return buf_quote(b, name, strlen(name), '"');
}

/* The staging table's column i: c0, c1 ... (member names need no quoting
** twice over). */
static int put_stage_col(struct buf *b, int i) {
  char s[16];
  snprintf(s, sizeof s, "s.c%d", i);
  return buf_puts(b, s);
}

/* Runs sql (one or more statements) on con. 0, or -1 with e filled. */
static int run(Writer *w, duckdb_connection con, const char *sql,
               const char *what, struct icx_cs_err *e) {
  duckdb_result r;
  if (duckdb_query(con, sql, &r) == DuckDBError) {
    icx_cs_fail(e, icx_dkw_code(&r), "icx.duckdb: table '%s': %s: %s",
                w->cs.table, what, duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    return -1;
  }
  duckdb_destroy_result(&r);
  return 0;
}

/* Loads the columns from _icx_columns (none when the table does not exist:
** then the primary key columns come first, as pending ones). Every write
** does this: a rollback may have undone what the last one created. */
static int load_columns(Writer *w, duckdb_connection con,
                        struct icx_cs_err *e) {
  duckdb_result r;
  struct buf *b = &w->sql;
  buf_reset(b);
  if (buf_puts(b, "SELECT field, col, kind FROM _icx_columns WHERE tbl = ") ||
      buf_quote(b, w->cs.table, strlen(w->cs.table), '\'') ||
      buf_puts(b, " ORDER BY pos") || !buf_cstr(b))
    return nomem(w, e);
  if (duckdb_query(con, b->data, &r) == DuckDBError) {
    icx_cs_fail(e, icx_dkw_code(&r),
                "icx.duckdb: table '%s': reading its columns: %s", w->cs.table,
                duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    return -1;
  }
  icx_cs_clear(&w->cs);
  idx_t n = duckdb_row_count(&r);
  int rc = 0;
  for (idx_t i = 0; rc == 0 && i < n; i++) {
    char *f = duckdb_value_varchar(&r, 0, i);
    char *col = duckdb_value_varchar(&r, 1, i);
    char *k = duckdb_value_varchar(&r, 2, i);
    int kind = k ? icx_cs_kind_named(k) : -1;
    if (!f || !col || kind < 0 || icx_cs_find(&w->cs, f, strlen(f)) >= 0)
      rc = icx_cs_fail(e, "duckdb",
                       "icx.duckdb: table '%s': _icx_columns holds an unknown "
                       "kind or a repeated field",
                       w->cs.table);
    else if (icx_cs_add(&w->cs, f, strlen(f), col, kind, e) < 0)
      rc = -1;
    else
      w->cs.cols[w->cs.ncols - 1].kind = w->cs.cols[w->cs.ncols - 1].want =
          (unsigned char)kind;
    duckdb_free(f);
    duckdb_free(col);
    duckdb_free(k);
  }
  duckdb_destroy_result(&r);
  if (rc != 0) {
    icx_cs_clear(&w->cs);
    return -1;
  }
  w->cs.ntable = w->cs.ncols;
  icx_cs_unwiden(&w->cs);
  return n == 0 ? icx_cs_add_pk(&w->cs, e) : 0;
}

/* The USING expression converting column c from kind `from` to `to`
** exactly. */
static int put_using(struct buf *b, const struct icx_cs_col *c, int from,
                     int to) {
  if (from == ICX_K_NULL)
    return buf_puts(b, "CAST(NULL AS ") || buf_puts(b, kind_type[to]) ||
           buf_puts(b, ")");
  if (from == ICX_K_TEXT) /* a string becomes its JSON literal */
    return buf_puts(b, "to_json(") || put_ident(b, c->name) || buf_puts(b, ")");
  /* Numbers and booleans print as their JSON literal (doubles
  ** shortest-exact). */
  return buf_puts(b, "CAST(CAST(") || put_ident(b, c->name) ||
         buf_puts(b, " AS VARCHAR) AS JSON)");
}

/* CREATE TABLE or ALTER TABLE for new and widened columns, and their rows
** in _icx_columns. 0, or -1 with e filled. */
static int apply_ddl(Writer *w, duckdb_connection con, struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  const char *t = w->cs.table;
  int bad = 0, nrow = 0;
  buf_reset(b);
  if (w->cs.ntable == 0) {
    bad = buf_puts(b, "DELETE FROM _icx_columns WHERE tbl = ") ||
          buf_quote(b, t, strlen(t), '\'') || buf_puts(b, "; CREATE TABLE ") ||
          put_ident(b, t) || buf_puts(b, " (");
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      bad = bad || (i && buf_puts(b, ", ")) || put_ident(b, c->name) ||
            buf_puts(b, " ") || buf_puts(b, kind_type[c->want]) ||
            (c->pk && buf_puts(b, " NOT NULL"));
    }
    bad = bad || buf_puts(b, ");");
  } else {
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      if (i >= w->cs.ntable)
        bad = bad || buf_puts(b, "ALTER TABLE ") || put_ident(b, t) ||
              buf_puts(b, " ADD COLUMN ") || put_ident(b, c->name) ||
              buf_puts(b, " ") || buf_puts(b, kind_type[c->want]) ||
              buf_puts(b, ";");
      else if (c->want != c->kind &&
               strcmp(kind_type[c->want], kind_type[c->kind]) != 0)
        bad = bad || buf_puts(b, "ALTER TABLE ") || put_ident(b, t) ||
              buf_puts(b, " ALTER COLUMN ") || put_ident(b, c->name) ||
              buf_puts(b, " TYPE ") || buf_puts(b, kind_type[c->want]) ||
              buf_puts(b, " USING ") || put_using(b, c, c->kind, c->want) ||
              buf_puts(b, ";");
    }
  }
  bad = bad || buf_puts(b, "INSERT INTO _icx_columns (tbl, field, col, kind, "
                           "pos) VALUES ");
  for (int i = 0; i < w->cs.ncols; i++) {
    struct icx_cs_col *c = &w->cs.cols[i];
    char pos[16];
    if (i < w->cs.ntable && c->want == c->kind)
      continue;
    snprintf(pos, sizeof pos, ", %d)", i + 1);
    bad = bad || buf_puts(b, nrow++ ? ", (" : "(") ||
          buf_quote(b, t, strlen(t), '\'') || buf_puts(b, ", ") ||
          buf_quote(b, c->field, c->flen, '\'') || buf_puts(b, ", ") ||
          buf_quote(b, c->name, strlen(c->name), '\'') || buf_puts(b, ", '") ||
          buf_puts(b, icx_cs_kind_name(c->want)) || buf_puts(b, "'") ||
          buf_puts(b, pos);
  }
  bad = bad || buf_puts(b, " ON CONFLICT (tbl, field) DO UPDATE SET col = "
                           "excluded.col, kind = excluded.kind");
  if (bad || !buf_cstr(b))
    return nomem(w, e);
  if (run(w, con, b->data,
          w->cs.ntable ? "changing its columns" : "creating it", e))
    return -1;
  for (int i = 0; i < w->cs.ncols; i++)
    w->cs.cols[i].kind = w->cs.cols[i].want;
  w->cs.ntable = w->cs.ncols;
  return 0;
}

/* The merge of the staging table into the table: the staged keys' rows
** go, the staged rows go in (their types are the table's: no cast), and
** the staging table is emptied for the next page. dups: keep only the last
** staged row of each key. */
static int put_merge(Writer *w, struct buf *b, int dups) {
  const char *t = w->cs.table;
  int bad = 0;
  buf_reset(b);
  if (w->cs.npk) {
    bad = buf_puts(b, "DELETE FROM ") || put_ident(b, t) ||
          buf_puts(b, " AS t USING ") || buf_puts(b, w->stage) ||
          buf_puts(b, " AS s WHERE ");
    for (int k = 0; k < w->cs.npk; k++)
      bad = bad || (k && buf_puts(b, " AND ")) || buf_puts(b, "t.") ||
            put_ident(b, w->cs.cols[w->cs.pkcol[k]].name) ||
            buf_puts(b, " = ") || put_stage_col(b, w->cs.pkcol[k]);
    bad = bad || buf_puts(b, "; ");
  }
  bad = bad || buf_puts(b, "INSERT INTO ") || put_ident(b, t) ||
        buf_puts(b, " (") || icx_cs_put_names(&w->cs, b, ICX_CS_ALL, ", ") ||
        buf_puts(b, ") SELECT ");
  for (int i = 0; i < w->cs.ncols; i++)
    bad = bad || (i && buf_puts(b, ", ")) || put_stage_col(b, i);
  bad = bad || buf_puts(b, " FROM ") || buf_puts(b, w->stage) ||
        buf_puts(b, " AS s");
  if (dups && w->cs.npk) {
    bad = bad || buf_puts(b, " QUALIFY row_number() OVER (PARTITION BY ");
    for (int k = 0; k < w->cs.npk; k++)
      bad = bad || (k && buf_puts(b, ", ")) || put_stage_col(b, w->cs.pkcol[k]);
    bad = bad || buf_puts(b, " ORDER BY s._icx_pos DESC) = 1");
  }
  bad = bad || buf_puts(b, "; DELETE FROM ") || buf_puts(b, w->stage);
  return bad || !buf_cstr(b) ? -1 : 0;
}

/* A new staging table for the current columns, each of its column's type
** (the page's position first), and the statements that merge it. */
static int make_stage(Writer *w, duckdb_connection con, struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  buf_reset(b);
  int bad = buf_puts(b, "CREATE OR REPLACE TEMP TABLE ") ||
            buf_puts(b, w->stage) || buf_puts(b, " (_icx_pos BIGINT");
  for (int i = 0; i < w->cs.ncols; i++) {
    char s[24];
    snprintf(s, sizeof s, ", c%d ", i);
    bad = bad || buf_puts(b, s) || buf_puts(b, kind_type[w->cs.cols[i].kind]);
  }
  if (bad || buf_puts(b, ")") || !buf_cstr(b) || put_merge(w, &w->merge, 0) ||
      put_merge(w, &w->merge_dups, 1))
    return nomem(w, e);
  return run(w, con, b->data, "creating its staging table", e);
}

/* Copies the literal v (a number) NUL-terminated into scratch. */
static const char *literal(Writer *w, const js_val *v) {
  char *s = w->scratch.data;
  memcpy(s, v->p, v->n);
  s[v->n] = '\0';
  return s;
}

/* The text of value v in a column of kind k (duckwriter.h): a string
** unescaped, unless the column keeps JSON literals; an object or array
** minified; a number as written. *n gets its length; it may live in
** scratch until the next call. */
static const char *value_text(Writer *w, int kind, const js_val *v,
                              size_t *len) {
  const char *s = v->p;
  size_t n = v->n;
  if (v->type == JS_ARRAY || v->type == JS_OBJECT) {
    if (!w->minified) {
      n = js_minify_to(v, w->scratch.data);
      s = w->scratch.data;
    }
  } else if (v->type == JS_STRING && kind != ICX_K_JSON &&
             kind != ICX_K_NUMERIC) {
    s = v->p + 1;
    n = v->n - 2;
    if (memchr(s, '\\', n)) {
      n = js_unescape_to(v, w->scratch.data);
      s = w->scratch.data;
    }
  }
  *len = n;
  return s;
}

/* Appends the value v of a column of kind k as the column's type: numbers
** and booleans converted here (strtoll, strtod: what DuckDB's casts
** give), JSON appended as its text (DuckDB keeps JSON as VARCHAR, and jscan
** has validated it). Filling a data chunk's vectors instead measured no
** faster (docs/MEASUREMENTS.md): DuckDB's own append dominates. */
static duckdb_state append_value(Writer *w, duckdb_appender a, int kind,
                                 const js_val *v) {
  size_t n;
  if (v->type == JS_NULL)
    return duckdb_append_null(a);
  switch (kind) {
  case ICX_K_BOOL:
    return duckdb_append_bool(a, v->type == JS_TRUE);
  case ICX_K_INT: {
    errno = 0;
    long long x = strtoll(literal(w, v), NULL, 10);
    if (errno)
      return DuckDBError;
    return duckdb_append_int64(a, (int64_t)x);
  }
  case ICX_K_FLOAT:
    return duckdb_append_double(a, strtod(literal(w, v), NULL));
  default: {
    const char *s = value_text(w, kind, v, &n);
    return duckdb_append_varchar_length(a, s, (idx_t)n);
  }
  }
}

/* A key of the page: bytes in w->keys. */
typedef struct {
  const char *p;
  size_t n;
} Key;

static int cmp_keys(const void *x, const void *y) {
  const Key *a = x, *b = y;
  int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
  return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The page's key of record i (its primary key values' text, each ending in
** a NUL: no key text holds one), kept in w->keys. 0, or -1 out of memory. */
static int keep_key(Writer *w, size_t i) {
  if (i >= w->cap_keys) {
    size_t cap = w->cap_keys ? 2 * w->cap_keys : 256;
    size_t *more = realloc(w->key_end, cap * sizeof *more);
    if (!more)
      return -1;
    w->key_end = more;
    w->cap_keys = cap;
  }
  for (int k = 0; k < w->cs.npk; k++) {
    int c = w->cs.pkcol[k];
    size_t n = 0;
    const char *s = icx_cs_has(&w->cs, c)
                        ? value_text(w, w->cs.cols[c].kind, &w->cs.vals[c], &n)
                        : "";
    if (buf_append(&w->keys, s, n) || buf_putc(&w->keys, 0))
      return -1;
  }
  w->key_end[i] = w->keys.len;
  return 0;
}

/* Whether two of the page's n keys are equal (then the merge keeps the
** last). */
static int repeats_key(Writer *w, size_t n) {
  Key *k = malloc(n * sizeof *k);
  int dup = 0;
  if (!k)
    return 1; /* the window is right either way */
  for (size_t i = 0; i < n; i++) {
    size_t start = i ? w->key_end[i - 1] : 0;
    k[i].p = w->keys.data + start;
    k[i].n = w->key_end[i] - start;
  }
  qsort(k, n, sizeof *k, cmp_keys);
  for (size_t i = 1; !dup && i < n; i++)
    dup = cmp_keys(&k[i - 1], &k[i]) == 0;
  free(k);
  return dup;
}

/* Appends the records (pass 2: every column exists) to the table, or to
** the staging table with each record's position first (stage). */
static int append_records(Writer *w, duckdb_connection con, int stage,
                          const js_val *recs, size_t n, const js_members *mem,
                          struct icx_cs_err *e) {
  duckdb_appender a;
  if (duckdb_appender_create_ext(
          con, stage ? "temp" : NULL, stage ? "main" : NULL,
          stage ? w->stage : w->cs.table, &a) == DuckDBError) {
    icx_cs_fail(e, "duckdb", "icx.duckdb: table '%s': appender: %s",
                w->cs.table, duckdb_appender_error(a));
    duckdb_appender_destroy(&a);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    js_memiter ms;
    js_memiter_init(&ms, &recs[i], mem, i);
    if ((rc = icx_cs_gather(&w->cs, &recs[i], &ms, i + 1, e)) != 0)
      break;
    buf_reset(&w->scratch);
    if (buf_reserve(&w->scratch, recs[i].n + w->cs.extra + 1) != 0) {
      rc = nomem(w, e);
      break;
    }
    duckdb_state st =
        stage ? duckdb_append_int64(a, (int64_t)i) : DuckDBSuccess;
    for (int c = 0; st == DuckDBSuccess && c < w->cs.ncols; c++)
      st = icx_cs_has(&w->cs, c)
               ? append_value(w, a, w->cs.cols[c].kind, &w->cs.vals[c])
               : duckdb_append_null(a);
    if (st == DuckDBSuccess)
      st = duckdb_appender_end_row(a);
    if (st != DuckDBSuccess)
      rc = icx_cs_fail(e, "duckdb", "icx.duckdb: table '%s': record %zu: %s",
                       w->cs.table, i + 1, duckdb_appender_error(a));
  }
  if (rc == 0 && duckdb_appender_close(a) == DuckDBError)
    rc = icx_cs_fail(e, "duckdb", "icx.duckdb: table '%s': appending: %s",
                     w->cs.table, duckdb_appender_error(a));
  duckdb_appender_destroy(&a);
  return rc;
}

/* DELETE of the page's keys (one key column) named as literals: the
** table's key column is scanned with a constant filter, and the page goes
** straight into the table with no staging table to copy from and empty. */
static int delete_keys(Writer *w, duckdb_connection con, size_t n,
                       struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  buf_reset(b);
  int bad = buf_puts(b, "DELETE FROM ") || put_ident(b, w->cs.table) ||
            buf_puts(b, " WHERE ") ||
            put_ident(b, w->cs.cols[w->cs.pkcol[0]].name) ||
            buf_puts(b, " IN (");
  for (size_t i = 0; !bad && i < n; i++) {
    size_t start = i ? w->key_end[i - 1] : 0;
    /* minus the key's NUL */
    bad = (i && buf_puts(b, ", ")) ||
          buf_quote(b, w->keys.data + start, w->key_end[i] - start - 1, '\'');
  }
  if (bad || buf_puts(b, ")") || !buf_cstr(b))
    return nomem(w, e);
  return run(w, con, b->data, "deleting the page's keys", e);
}

/* Forgets the columns and the staging table: the next write loads them
** again. */
static int forget(Writer *w) {
  w->fresh = w->staged = 0;
  return -1;
}

/* Pass 1: gathers each record to find the columns and their kinds (so the
** DDL runs before pass 2 appends), keeping the page's keys when it merges.
** *plain gets whether a DELETE of the keys as literals and an append
** straight into the table do the merge: one key column, no key repeated,
** none NULL (else the staging table); *dups whether a key repeats (then
** the merge's window keeps the last record). */
static int survey(Writer *w, const js_val *recs, size_t n,
                  const js_members *mem, int *plain, int *dups,
                  struct icx_cs_err *e) {
  int keys = w->cs.npk && !w->append, nullkey = 0;
  buf_reset(&w->keys);
  for (size_t i = 0; i < n; i++) {
    js_memiter ms;
    js_memiter_init(&ms, &recs[i], mem, i);
    if (icx_cs_gather(&w->cs, &recs[i], &ms, i + 1, e) != 0 ||
        icx_cs_widen(&w->cs, i + 1, e) != 0)
      return -1;
    if (!keys)
      continue;
    buf_reset(&w->scratch);
    if (buf_reserve(&w->scratch, recs[i].n + w->cs.extra + 1) != 0 ||
        keep_key(w, i) != 0)
      return nomem(w, e);
    for (int k = 0; k < w->cs.npk; k++) {
      int c = w->cs.pkcol[k];
      nullkey |=
          c < 0 || !icx_cs_has(&w->cs, c) || w->cs.vals[c].type == JS_NULL;
    }
  }
  *dups = keys && n > 1 && repeats_key(w, n);
  *plain = !keys || (w->cs.npk == 1 && !nullkey && !*dups);
  return 0;
}

/* Writes records; see duckwriter.h. */
int icx_dkw_write(Writer *w, duckdb_connection con, unsigned long *epoch,
                  const js_val *recs, size_t n, int minified,
                  const js_members *mem, struct icx_cs_err *e) {
  int plain = 1, dups = 0;
  w->minified = minified;
  if (w->con != con || w->epoch != *epoch)
    w->fresh = w->staged = 0;
  if (!w->fresh) {
    if (load_columns(w, con, e) != 0)
      return forget(w);
    w->con = con;
    w->epoch = *epoch;
    w->fresh = 1;
  }
  if (survey(w, recs, n, mem, &plain, &dups, e) != 0)
    return forget(w);
  if (w->cs.ntable == 0 || icx_cs_changed(&w->cs)) {
    if (apply_ddl(w, con, e) != 0)
      return forget(w);
    /* Other writers of the table must see the new columns. */
    w->epoch = ++*epoch;
    w->staged = 0;
  }
  if (n == 0)
    return 0;
  if (plain) {
    if ((w->cs.npk && !w->append && delete_keys(w, con, n, e) != 0) ||
        append_records(w, con, 0, recs, n, mem, e) != 0)
      return forget(w);
    return 0;
  }
  if (!w->staged && make_stage(w, con, e) != 0)
    return forget(w);
  w->staged = 1;
  if (append_records(w, con, 1, recs, n, mem, e) != 0 ||
      run(w, con, (dups ? &w->merge_dups : &w->merge)->data, "merging the page",
          e) != 0)
    return forget(w);
  return 0;
}

/* Writes JSON text; see duckwriter.h. */
int icx_dkw_write_json(Writer *w, duckdb_connection con, unsigned long *epoch,
                       const char *text, size_t len, size_t *n,
                       struct icx_cs_err *e) {
  js_val top;
  js_info info;
  js_err je;
  *n = 0;
  if (js_parse_list(text, len, NULL, 0, NULL, NULL, &top, &info, &je) != 0)
    return icx_cs_fail(e, "record",
                       "icx.duckdb: table '%s': invalid JSON at byte %d: %s",
                       w->cs.table, (int)je.offset, je.msg);
  if (top.type != JS_ARRAY) {
    *n = 1;
    return icx_dkw_write(w, con, epoch, &top, 1, info.minified, NULL, e);
  }
  size_t cap = 16, k = 0;
  js_val *recs = malloc(cap * sizeof *recs), rec;
  js_iter it;
  if (!recs)
    return nomem(w, e);
  js_iter_init(&it, &top);
  while (js_next_elem(&it, &rec)) {
    if (k == cap) {
      js_val *more = realloc(recs, 2 * cap * sizeof *recs);
      if (!more) {
        free(recs);
        return nomem(w, e);
      }
      recs = more;
      cap *= 2;
    }
    recs[k++] = rec;
  }
  int rc = icx_dkw_write(w, con, epoch, recs, k, info.minified, NULL, e);
  free(recs);
  *n = k;
  return rc;
}

/* A new writer; see duckwriter.h. */
Writer *icx_dkw_new(const char *table, const char *const *pk, int npk,
                    int append) {
  static unsigned serial;
  Writer *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  if (icx_cs_init(&w->cs, &duck_style, table, pk, npk) != 0) {
    icx_dkw_free(w);
    return NULL;
  }
  snprintf(w->stage, sizeof w->stage, "_icx_page_%u", ++serial);
  w->append = append;
  return w;
}

void icx_dkw_free(Writer *w) {
  if (!w)
    return;
  icx_cs_free(&w->cs);
  buf_free(&w->sql);
  buf_free(&w->scratch);
  buf_free(&w->merge);
  buf_free(&w->merge_dups);
  buf_free(&w->keys);
  free(w->key_end);
  free(w);
}

const struct icx_cs *icx_dkw_columns(const Writer *w) {
  return &w->cs;
}

#endif
