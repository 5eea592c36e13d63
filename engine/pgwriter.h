/*
** pgwriter.h: the typed record writer of the PostgreSQL destination
** (Lua-free; docs/ARCHITECTURE.md, "The record path").
**
** Each page goes in with COPY into a temporary staging table (one per
** writer, ON COMMIT DELETE ROWS), then one INSERT ... SELECT DISTINCT ON
** (primary key) ... ORDER BY key, position DESC ... ON CONFLICT DO UPDATE
** moves it into the table: the last occurrence of a key in the page wins,
** and every column is set, so the row becomes exactly the latest record
** (absent fields NULL). The COPY text is built here straight from the
** page's raw slices: no value passes through a Lua number.
**
** Declared types, per column (its kind, colset.h, kept in
** <schema>._icx_columns with the field -> column mapping, so both are
** stable across runs):
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
** A column only widens, with ALTER COLUMN TYPE ... USING a conversion that
** keeps every stored value exact.
**
** Concurrency: a write takes pg_advisory_xact_lock(hashtext('icx:' ||
** schema || '.' || table)) before reading _icx_columns, so two processes
** never race on DDL of one table and never COPY with a stale idea of its
** types. The lock ends with the page's transaction.
**
** Column names: the member name itself when it is 1-63 bytes and does not
** start with "_icx_"; otherwise icx_pg_ident's truncated-plus-hash form,
** with "_2", "_3" ... appended should that still collide. A member named
** like a system column (xmin, xmax, cmin, cmax, ctid, tableoid: every
** PostgreSQL table has them, so CREATE TABLE refuses them) collides from
** the start: xmin lands in xmin_2 (docs/POSTGRESQL.md). A repeated member
** goes to KEY__2 (colset.h); a member name holding a NUL byte cannot be a
** column: the record is refused.
*/
#ifndef ICX_PGWRITER_H
#define ICX_PGWRITER_H

#include <stddef.h>

#include "colset.h"
#include "jscan.h"
#include "pgconn.h"

/* A writer of one table over one connection; opaque. */
struct icx_pgw;

/*
** A writer of schema.table (names of at most 63 bytes) with the primary key
** fields pk[0, npk) (npk may be 0). The names are copied; conn is borrowed
** and must outlive the writer. NULL when out of memory.
*/
struct icx_pgw *icx_pgw_new(struct icx_pg_conn *conn, const char *schema,
                            const char *table, const char *const *pk, int npk);

/* Frees the writer; NULL is fine. Its staging table goes with the session. */
void icx_pgw_free(struct icx_pgw *w);

/*
** Writes the records recs[0, n) (each should be a JS_OBJECT; anything else
** is refused as "record"). Call it inside a transaction, which the page's
** DDL and rows then belong to. mem (may be NULL): the page's member index
** (js_parse_records). 0, or -1 with e filled: "record", "nomem", or a code
** of icx_pg_code.
*/
int icx_pgw_write(struct icx_pgw *w, const js_val *recs, size_t n,
                  const js_members *mem, struct icx_cs_err *e);

/*
** Writes JSON text: one record object, or an array of record objects. *n
** gets the records written. Invalid JSON is refused as "record" with the
** byte offset. 0, or -1 with e filled.
*/
int icx_pgw_write_json(struct icx_pgw *w, const char *text, size_t len,
                       size_t *n, struct icx_cs_err *e);

/* The columns as last loaded: [0, ntable) in table order, with field,
** name and kind. */
const struct icx_cs *icx_pgw_columns(const struct icx_pgw *w);

/* The schema name, as given to icx_pgw_new (the table is the colset's). */
const char *icx_pgw_schema(const struct icx_pgw *w);

#endif
