/*
** pgwriter.c: the typed record writer of the PostgreSQL destination
** (Lua-free); see pgwriter.h for what lands how. Records become columns in
** colset.c (names exact, as PostgreSQL's quoted names are); this file is
** the COPY back end: the DDL that creates and widens columns, the staging
** table, and the COPY text built straight from the page's slices.
*/
#include "pgwriter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define COPY_CHUNK (1 << 16) /* bytes handed to PQputCopyData at once */

/* The declared type of each kind (colset.h). */
static const char *const kind_type[ICX_NKIND] = {
    "text", "boolean", "bigint", "numeric", "double precision",
    "text", "json",    "text"};

/*
** The typed record writer of one table. Columns [0, cs.ntable) exist in the
** table as _icx_columns says; [cs.ntable, cs.ncols) are new in the current
** page.
*/
struct icx_pgw {
  struct icx_pg_conn *owner; /* borrowed: must outlive the writer */
  char *schema;              /* owned, NUL-terminated */
  struct icx_cs cs;          /* owned: the columns and the record gathered */
  js_val *tmp;               /* owned: records of a JSON text argument */
  size_t ntmp, captmp;
  char stage[32];     /* the staging table's name (in pg_temp) */
  int stage_ok;       /* the stage exists with the current columns */
  unsigned stage_gen; /* owner->gen when it was created */
  unsigned stage_txn; /* owner->txn when rows were last copied into it */
  char *load_sql;     /* owned: the lock and the _icx_columns read */
  struct buf copy;    /* owned: COPY data being built */
  struct buf scratch; /* owned: an unescaped or minified value */
  struct buf sql;     /* owned: statements being built */
  struct buf ins;     /* owned: the INSERT ... SELECT for the stage */
};

typedef struct icx_pgw Writer;

static char *choose_name(const struct icx_cs *cs, const char *field,
                         size_t len);

/* How long a column change waits for the table's lock (apply_ddl). */
#define DDL_LOCK_TIMEOUT "2s"

/* Names keep their case; long or reserved ones are renamed (choose_name). */
static const struct icx_cs_style pg_style = {"icx.pg", "PostgreSQL", 0,
                                             choose_name};

/* Append name as a quoted SQL identifier. 0 ok, -1 out of memory. */
static int put_ident(struct buf *b, const char *name) {
  return buf_quote(b, name, strlen(name), '"');
}

/* Append s[0, len) as a standard-conforming string literal (the connection
** sets standard_conforming_strings, so backslashes are plain). */
static int put_literal(struct buf *b, const char *s, size_t len) {
  return buf_quote(b, s, len, '\'');
}

/* put_literal of a NUL-terminated string. */
static int put_cliteral(struct buf *b, const char *s) {
  return put_literal(b, s, strlen(s));
}

/* Append schema.table, both quoted. */
static int put_qualified(struct buf *b, const char *schema, const char *t) {
  return put_ident(b, schema) || buf_puts(b, ".") || put_ident(b, t);
}

/* icx_cs_nomem for the writer. */
static int nomem(Writer *w, struct icx_cs_err *e) {
  return icx_cs_nomem(&w->cs, e);
}

/* Forget every column: the next write loads them again. */
static void forget_columns(Writer *w) {
  icx_cs_clear(&w->cs);
  w->stage_ok = 0;
}

/* icx_cs_fail with the error of result r (cleared here) about what. */
static int fail_res(Writer *w, struct icx_cs_err *e, PGresult *r,
                    const char *what) {
  char msg[500];
  const char *code = icx_pg_code(w->owner->pg, r);
  icx_pg_one_line(msg, sizeof msg,
                  r ? PQresultErrorMessage(r) : PQerrorMessage(w->owner->pg));
  PQclear(r);
  return icx_cs_fail(e, code, "icx.pg: table '%s': %s: %s", w->cs.table, what,
                     msg);
}

/* Run sql on the writer's connection; 0, or -1 with e filled. */
static int run(Writer *w, struct icx_cs_err *e, const char *sql,
               const char *what) {
  PGresult *r = PQexec(w->owner->pg, sql);
  if (!icx_pg_ok(r))
    return fail_res(w, e, r, what);
  PQclear(r);
  return 0;
}

/* 1 if a column of the writer is already named name, or PostgreSQL keeps
** the name for itself: a system column (CREATE TABLE refuses a column named
** like one) or the staging table's ordinal. Such a field takes the next
** free NAME_2, as a repeated one does. */
static int name_taken(const struct icx_cs *cs, const char *name) {
  static const char *const reserved[] = {"_icx_ord", "xmin", "xmax",     "cmin",
                                         "cmax",     "ctid", "tableoid", NULL};
  for (int i = 0; reserved[i]; i++)
    if (strcmp(name, reserved[i]) == 0)
      return 1;
  for (int i = 0; i < cs->ncols; i++)
    if (strcmp(cs->cols[i].name, name) == 0)
      return 1;
  return 0;
}

/* The column name for a new member (see the header), owned, or NULL out
** of memory: the colset's naming hook. */
static char *choose_name(const struct icx_cs *cs, const char *field,
                         size_t len) {
  char out[ICX_PG_MAX_IDENT + 1];
  if (len >= 1 && len <= ICX_PG_MAX_IDENT &&
      !(len >= 5 && !memcmp(field, "_icx_", 5))) {
    memcpy(out, field, len);
    out[len] = '\0';
  } else {
    icx_pg_ident(out, field, len, ICX_PG_MAX_IDENT);
    if (len == 0)
      snprintf(out, ICX_PG_MAX_IDENT + 1, "_%08x",
               (unsigned)icx_pg_hash(field, 0));
  }
  for (int k = 2; name_taken(cs, out); k++) {
    char base[ICX_PG_MAX_IDENT + 1], suffix[16];
    int sl = snprintf(suffix, sizeof suffix, "_%d", k);
    icx_pg_ident(base, field, len, (size_t)(ICX_PG_MAX_IDENT - sl));
    if (len == 0)
      snprintf(base, sizeof base, "_%08x", (unsigned)icx_pg_hash(field, 0));
    size_t bl = strlen(base);
    memcpy(out, base, bl);
    memcpy(out + bl, suffix, (size_t)sl + 1);
  }
  return strdup(out);
}

/*
** Take the table's lock and load its columns from _icx_columns (none when
** the table does not exist: then the primary key columns come first, as
** pending ones). Every write does this, so a column another process added
** or widened is known before the COPY. 0, or -1 with e filled.
*/
static int load_columns(Writer *w, struct icx_cs_err *e) {
  PGresult *r = PQexec(w->owner->pg, w->load_sql);
  if (!icx_pg_ok(r))
    return fail_res(w, e, r, "reading its columns");
  int n = PQntuples(r), same = n == w->cs.ntable && w->cs.ncols == w->cs.ntable;
  for (int i = 0; same && i < n; i++) {
    struct icx_cs_col *c = &w->cs.cols[i];
    same = strcmp(c->field, PQgetvalue(r, i, 0)) == 0 &&
           strcmp(c->name, PQgetvalue(r, i, 1)) == 0 &&
           strcmp(icx_cs_kind_name(c->kind), PQgetvalue(r, i, 2)) == 0;
  }
  if (!same) {
    forget_columns(w);
    for (int i = 0; i < n; i++) {
      const char *f = PQgetvalue(r, i, 0);
      size_t len = (size_t)PQgetlength(r, i, 0);
      int kind = icx_cs_kind_named(PQgetvalue(r, i, 2));
      if (kind < 0 || icx_cs_find(&w->cs, f, len) >= 0) {
        PQclear(r);
        forget_columns(w);
        return icx_cs_fail(
            e, "pg",
            "icx.pg: table '%s': _icx_columns holds an unknown kind "
            "or a repeated field",
            w->cs.table);
      }
      if (icx_cs_add(&w->cs, f, len, PQgetvalue(r, i, 1), kind, e) < 0) {
        PQclear(r);
        forget_columns(w);
        return -1;
      }
      w->cs.cols[w->cs.ncols - 1].kind = w->cs.cols[w->cs.ncols - 1].want =
          (unsigned char)kind;
    }
    w->cs.ntable = n;
  }
  PQclear(r);
  icx_cs_unwiden(&w->cs);
  return n == 0 ? icx_cs_add_pk(&w->cs, e) : 0;
}

/* The USING expression that converts column c from kind `from` to `to`
** exactly (see the header), appended to b. */
static int put_using(struct buf *b, const struct icx_cs_col *c, int from,
                     int to) {
  if (from == ICX_K_NULL)
    return buf_puts(b, "NULL::") || buf_puts(b, kind_type[to]);
  if (to == ICX_K_NUMERIC) /* float8 -> numeric directly keeps 15 digits only */
    return put_ident(b, c->name) ||
           buf_puts(b, from == ICX_K_FLOAT ? "::text::numeric" : "::numeric");
  if (from == ICX_K_FLOAT) /* keep 100.0 and -0.0 floats in JSON */
    return buf_puts(b, "CASE WHEN ") || put_ident(b, c->name) ||
           buf_puts(b, "::text ~ '^-?[0-9]+$' THEN (") ||
           put_ident(b, c->name) || buf_puts(b, "::text || '.0')::json ") ||
           buf_puts(b, "ELSE to_json(") || put_ident(b, c->name) ||
           buf_puts(b, ") END");
  return buf_puts(b, "to_json(") || put_ident(b, c->name) || buf_puts(b, ")");
}

/* CREATE TABLE or ALTER TABLE for new and widened columns, and their rows
** in _icx_columns, as one multi-statement string. 0, or -1 with e. */
static int apply_ddl(Writer *w, struct icx_cs_err *e) {
  struct buf *b = &w->sql;
  int bad = 0, nchanged = 0;
  buf_reset(b);
  /* An ALTER waiting for a reader's lock would queue every later reader of
  ** the table behind it, unbounded: it gives up after DDL_LOCK_TIMEOUT
  ** ("lock_timeout"), and icx.dest.postgres retries the page with a
  ** printed wait, readers passing in between. */
  bad = buf_puts(b, "SET LOCAL lock_timeout = '" DDL_LOCK_TIMEOUT "'; ");
  if (w->cs.ntable == 0) {
    bad = bad || buf_puts(b, "DELETE FROM ") ||
          put_qualified(b, w->schema, "_icx_columns") ||
          buf_puts(b, " WHERE tbl = ") || put_cliteral(b, w->cs.table) ||
          buf_puts(b, "; CREATE TABLE ") ||
          put_qualified(b, w->schema, w->cs.table) || buf_puts(b, " (");
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      bad = bad || (i && buf_puts(b, ", ")) || put_ident(b, c->name) ||
            buf_puts(b, " ") || buf_puts(b, kind_type[c->want]);
    }
    for (int i = 0, first = 1; i < w->cs.ncols; i++)
      if (w->cs.cols[i].pk) {
        bad = bad || buf_puts(b, first ? ", PRIMARY KEY (" : ", ") ||
              put_ident(b, w->cs.cols[i].name);
        first = 0;
      }
    bad = bad || (w->cs.npk && buf_puts(b, ")")) || buf_puts(b, ")");
  } else {
    bad = bad || buf_puts(b, "ALTER TABLE ") ||
          put_qualified(b, w->schema, w->cs.table);
    for (int i = 0; i < w->cs.ncols; i++) {
      struct icx_cs_col *c = &w->cs.cols[i];
      if (i >= w->cs.ntable)
        bad = bad || buf_puts(b, nchanged++ ? ", " : " ") ||
              buf_puts(b, "ADD COLUMN ") || put_ident(b, c->name) ||
              buf_puts(b, " ") || buf_puts(b, kind_type[c->want]);
      else if (c->want != c->kind)
        bad = bad || buf_puts(b, nchanged++ ? ", " : " ") ||
              buf_puts(b, "ALTER COLUMN ") || put_ident(b, c->name) ||
              buf_puts(b, " TYPE ") || buf_puts(b, kind_type[c->want]) ||
              buf_puts(b, " USING ") || put_using(b, c, c->kind, c->want);
    }
  }
  bad = bad || buf_puts(b, "; INSERT INTO ") ||
        put_qualified(b, w->schema, "_icx_columns") ||
        buf_puts(b, " (tbl, field, col, kind, pos) VALUES ");
  nchanged = 0;
  for (int i = 0; i < w->cs.ncols; i++) {
    struct icx_cs_col *c = &w->cs.cols[i];
    char pos[16];
    if (i < w->cs.ntable && c->want == c->kind)
      continue;
    snprintf(pos, sizeof pos, ", %d)", i + 1);
    bad = bad || buf_puts(b, nchanged++ ? ", (" : "(") ||
          put_cliteral(b, w->cs.table) || buf_puts(b, ", ") ||
          put_literal(b, c->field, c->flen) || buf_puts(b, ", ") ||
          put_cliteral(b, c->name) || buf_puts(b, ", ") ||
          put_cliteral(b, icx_cs_kind_name(c->want)) || buf_puts(b, pos);
  }
  bad = bad || buf_puts(b, " ON CONFLICT (tbl, field) DO UPDATE SET col = "
                           "excluded.col, kind = excluded.kind, pos = "
                           "excluded.pos; SET LOCAL lock_timeout = DEFAULT");
  if (bad || !buf_cstr(b))
    return nomem(w, e);
  if (run(w, e, b->data, w->cs.ntable ? "changing its columns" : "creating it"))
    return -1;
  for (int i = 0; i < w->cs.ncols; i++)
    w->cs.cols[i].kind = w->cs.cols[i].want;
  w->cs.ntable = w->cs.ncols;
  w->stage_ok = 0;
  return 0;
}

/* Create the staging table for the current columns, and the INSERT that
** moves its rows into the table. 0, or -1 with e filled. */
static int make_stage(Writer *w, struct icx_cs_err *e) {
  struct buf *b = &w->sql, *s = &w->ins;
  int bad;
  buf_reset(b);
  bad = buf_puts(b, "DROP TABLE IF EXISTS pg_temp.") ||
        put_ident(b, w->stage) || buf_puts(b, "; CREATE TEMP TABLE ") ||
        put_ident(b, w->stage) || buf_puts(b, " (");
  for (int i = 0; i < w->cs.ncols; i++)
    bad = bad || put_ident(b, w->cs.cols[i].name) || buf_puts(b, " ") ||
          buf_puts(b, kind_type[w->cs.cols[i].kind]) || buf_puts(b, ", ");
  /* Rows of the page live here for one statement: compressing them for
  ** TOAST would be wasted work. */
  bad = bad || buf_puts(b, "\"_icx_ord\" integer) WITH (toast_tuple_target "
                           "= 8160) ON COMMIT DELETE ROWS");
  if (bad || !buf_cstr(b))
    return nomem(w, e);
  if (run(w, e, b->data, "creating its staging table"))
    return -1;

  /* INSERT INTO t (cols) SELECT DISTINCT ON (pk) cols FROM stage ORDER BY
  ** pk, ord DESC ON CONFLICT (pk) DO UPDATE SET c = excluded.c, ... */
  buf_reset(s);
  bad = buf_puts(s, "INSERT INTO ") ||
        put_qualified(s, w->schema, w->cs.table) || buf_puts(s, " (");
  bad = bad || icx_cs_put_names(&w->cs, s, ICX_CS_ALL, ", ") ||
        buf_puts(s, ") SELECT ");
  if (w->cs.npk)
    bad = bad || buf_puts(s, "DISTINCT ON (") ||
          icx_cs_put_names(&w->cs, s, ICX_CS_PK, ", ") || buf_puts(s, ") ");
  bad = bad || icx_cs_put_names(&w->cs, s, ICX_CS_ALL, ", ") ||
        buf_puts(s, " FROM pg_temp.") || put_ident(s, w->stage) ||
        buf_puts(s, " ORDER BY ");
  if (w->cs.npk)
    bad = bad || icx_cs_put_names(&w->cs, s, ICX_CS_PK, ", ") ||
          buf_puts(s, ", \"_icx_ord\" DESC ON CONFLICT (") ||
          icx_cs_put_names(&w->cs, s, ICX_CS_PK, ", ") || buf_puts(s, ") DO ");
  else
    bad = bad || buf_puts(s, "\"_icx_ord\"");
  if (w->cs.npk) {
    int nset = 0;
    for (int i = 0; i < w->cs.ncols; i++) {
      const char *nm = w->cs.cols[i].name;
      if (w->cs.cols[i].pk)
        continue;
      bad = bad || buf_puts(s, nset++ ? ", " : "UPDATE SET ") ||
            put_ident(s, nm) || buf_puts(s, " = excluded.") || put_ident(s, nm);
    }
    if (!nset)
      bad = bad || buf_puts(s, "NOTHING");
  }
  if (bad || !buf_cstr(s))
    return nomem(w, e);
  w->stage_ok = 1;
  w->stage_gen = w->owner->gen;
  w->stage_txn = 0;
  return 0;
}

/* The byte after the backslash for each byte COPY's text format escapes;
** 0 for a byte that goes as it is. */
static const char copy_esc[256] = {
    ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};

/* Append s[0, n) escaped for COPY's text format (d has room for 2n). */
static size_t copy_escape(char *d, const char *s, size_t n) {
  char *o = d;
  for (size_t i = 0; i < n; i++) {
    char x = copy_esc[(unsigned char)s[i]];
    if (x) {
      *o++ = '\\';
      *o++ = x;
    } else {
      *o++ = s[i];
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
  if (k == ICX_K_BOOL) {
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
  if (v->type == JS_STRING && k != ICX_K_JSON) {
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
static int flush_copy(Writer *w, struct icx_cs_err *e) {
  if (w->copy.len == 0)
    return 0;
  if (PQputCopyData(w->owner->pg, w->copy.data, (int)w->copy.len) != 1)
    return icx_cs_fail(e, "connection", "icx.pg: table '%s': sending rows: %s",
                       w->cs.table, PQerrorMessage(w->owner->pg));
  buf_reset(&w->copy);
  return 0;
}

/* Pass 2: one COPY row per record into the stage. 0, or -1 with e. */
static int copy_records(Writer *w, const js_val *recs, size_t n,
                        const js_members *mem, struct icx_cs_err *e) {
  PGconn *pg = w->owner->pg;
  struct buf *b = &w->sql;
  if (w->stage_txn == w->owner->txn && w->stage_gen == w->owner->gen) {
    /* written earlier in this same transaction: its rows are still there */
    buf_reset(b);
    if (buf_puts(b, "TRUNCATE pg_temp.") || put_ident(b, w->stage) ||
        !buf_cstr(b))
      return nomem(w, e);
    if (run(w, e, b->data, "emptying its staging table"))
      return -1;
  }
  buf_reset(b);
  int bad = buf_puts(b, "COPY pg_temp.") || put_ident(b, w->stage) ||
            buf_puts(b, " (");
  bad = bad || icx_cs_put_names(&w->cs, b, ICX_CS_ALL, ", ") ||
        (w->cs.ncols && buf_puts(b, ", ")) ||
        buf_puts(b, "\"_icx_ord\") FROM STDIN");
  if (bad || !buf_cstr(b))
    return nomem(w, e);
  PGresult *r = PQexec(pg, b->data);
  if (!r || PQresultStatus(r) != PGRES_COPY_IN)
    return fail_res(w, e, r, "starting COPY");
  PQclear(r);
  w->stage_txn = w->owner->txn;
  int rc = 0;
  buf_reset(&w->copy);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const js_val *rec = &recs[i];
    js_memiter ms;
    js_memiter_init(&ms, rec, mem, i);
    if ((rc = icx_cs_gather(&w->cs, rec, &ms, i + 1, e)) != 0)
      break;
    /* the overflow object (cs.extra) is no slice of the record */
    size_t size = rec->n + w->cs.extra;
    buf_reset(&w->scratch);
    if (buf_reserve(&w->scratch, size) != 0 ||
        buf_reserve(&w->copy, 2 * size + 3 * (size_t)w->cs.ncols + 16) != 0) {
      rc = nomem(w, e);
      break;
    }
    for (int c = 0; c < w->cs.ncols; c++) {
      if (icx_cs_has(&w->cs, c)) {
        put_value(w, &w->copy, w->cs.cols[c].kind, &w->cs.vals[c]);
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
    rc = icx_cs_fail(e, "connection", "icx.pg: table '%s': ending COPY: %s",
                     w->cs.table, PQerrorMessage(pg));
  while ((r = PQgetResult(pg)) != NULL) {
    if (rc == 0 && !icx_pg_ok(r)) {
      rc = fail_res(w, e, r, "copying rows");
      continue;
    }
    PQclear(r);
  }
  return rc;
}

/* Writes records; see pgwriter.h. Pass 1 finds the columns and their
** kinds, so the DDL runs before the COPY of pass 2. */
int icx_pgw_write(Writer *w, const js_val *recs, size_t n,
                  const js_members *mem, struct icx_cs_err *e) {
  if (load_columns(w, e) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    js_memiter ms;
    js_memiter_init(&ms, &recs[i], mem, i);
    if (icx_cs_gather(&w->cs, &recs[i], &ms, i + 1, e) != 0 ||
        icx_cs_widen(&w->cs, i + 1, e) != 0)
      return -1;
  }
  if ((w->cs.ntable == 0 || icx_cs_changed(&w->cs)) && apply_ddl(w, e) != 0)
    return -1;
  if (n == 0)
    return 0;
  if ((!w->stage_ok || w->stage_gen != w->owner->gen) && make_stage(w, e) != 0)
    return -1;
  if (copy_records(w, recs, n, mem, e) != 0)
    return -1;
  return run(w, e, w->ins.data, "merging the page");
}

/* The statements that lock the table and read its columns: the lock comes
** first, as its own statement, so the read's snapshot (taken per statement)
** sees whatever the previous holder committed. */
static char *build_load_sql(Writer *w) {
  struct buf b = {0}, key = {0}, q = {0};
  size_t ns = strlen(w->schema), nt = strlen(w->cs.table);
  int bad = buf_puts(&key, "icx:") || buf_append(&key, w->schema, ns) ||
            buf_puts(&key, ".") || buf_append(&key, w->cs.table, nt) ||
            put_qualified(&q, w->schema, w->cs.table);
  bad = bad || buf_puts(&b, "SELECT pg_advisory_xact_lock(hashtext(") ||
        put_literal(&b, key.data, key.len) ||
        buf_puts(&b, ")); SELECT field, col, kind FROM ") ||
        put_qualified(&b, w->schema, "_icx_columns") ||
        buf_puts(&b, " WHERE tbl = ") || put_cliteral(&b, w->cs.table) ||
        buf_puts(&b, " AND to_regclass(") || put_literal(&b, q.data, q.len) ||
        buf_puts(&b, ") IS NOT NULL ORDER BY pos") || !buf_cstr(&b);
  buf_free(&key);
  buf_free(&q);
  if (bad) {
    buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* A new writer; see pgwriter.h. Each allocation is stored as soon as it is
** made, so a failure half-way is freed by icx_pgw_free. */
Writer *icx_pgw_new(struct icx_pg_conn *conn, const char *schema,
                    const char *table, const char *const *pk, int npk) {
  Writer *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->owner = conn;
  if (!(w->schema = strdup(schema)) ||
      icx_cs_init(&w->cs, &pg_style, table, pk, npk) != 0 ||
      !(w->load_sql = build_load_sql(w))) {
    icx_pgw_free(w);
    return NULL;
  }
  snprintf(w->stage, sizeof w->stage, "_icx_stage_%u", ++conn->nstage);
  return w;
}

/* Frees the writer; see pgwriter.h. */
void icx_pgw_free(Writer *w) {
  if (!w)
    return;
  icx_cs_free(&w->cs);
  free(w->schema);
  free(w->tmp);
  free(w->load_sql);
  buf_free(&w->copy);
  buf_free(&w->scratch);
  buf_free(&w->sql);
  buf_free(&w->ins);
  free(w);
}

/* Writes JSON text; see pgwriter.h. Its records are gathered into tmp
** first, so both paths write one array of slices. */
int icx_pgw_write_json(Writer *w, const char *text, size_t len, size_t *n,
                       struct icx_cs_err *e) {
  js_val top, rec;
  js_err je;
  js_iter it;
  *n = 0;
  if (js_parse(text, len, &top, &je) != 0)
    return icx_cs_fail(e, "record",
                       "icx.pg: table '%s': invalid JSON at byte %d: %s",
                       w->cs.table, (int)je.offset, je.msg);
  w->ntmp = 0;
  int arr = top.type == JS_ARRAY;
  if (arr)
    js_iter_init(&it, &top);
  while (arr ? js_next_elem(&it, &rec) : w->ntmp == 0) {
    if (w->ntmp == w->captmp) {
      size_t cap = w->captmp ? w->captmp * 2 : 64;
      js_val *t = realloc(w->tmp, cap * sizeof *t);
      if (!t)
        return nomem(w, e);
      w->tmp = t;
      w->captmp = cap;
    }
    w->tmp[w->ntmp++] = arr ? rec : top;
  }
  if (icx_pgw_write(w, w->tmp, w->ntmp, NULL, e) != 0)
    return -1;
  *n = w->ntmp;
  return 0;
}

/* The columns; see pgwriter.h. */
const struct icx_cs *icx_pgw_columns(const Writer *w) {
  return &w->cs;
}

/* The schema; see pgwriter.h. */
const char *icx_pgw_schema(const Writer *w) {
  return w->schema;
}
