/*
** duckwriter.h: the typed record writer of the DuckDB destination (Lua-free;
** docs/DUCKDB.md).
**
** Each page goes through DuckDB's appender. With one key column and no
** key repeated or NULL in the page, one DELETE of the page's keys (as
** literals) runs and the page is appended straight into the table;
** otherwise it goes into a temporary staging table of the table's types,
** and one DELETE of the staged keys and one INSERT ... SELECT move it in,
** keeping the last occurrence of a key in the page. Either way the row
** becomes exactly the latest record (absent fields NULL). The table has no
** PRIMARY KEY constraint: DuckDB cannot change a column's type while an
** index depends on it, and columns here only widen, so the writer keeps
** one row per key itself. An append writer (icx_dkw_new) deletes nothing.
**
** Declared types, per column (its kind, colset.h, kept in _icx_columns
** with the field -> column mapping and the position):
**   id       VARCHAR: `id`, `*_id` and primary key columns, whatever the
**            value (numbers as their literal, objects/arrays minified)
**   boolean  BOOLEAN;  bigint  BIGINT (integers in int64)
**   double   DOUBLE (strtod of the literal; DuckDB prints it shortest-exact)
**   text     VARCHAR (strings, Unicode as sent)
**   numeric, json  JSON: each value kept as its JSON literal (objects and
**            arrays minified, numbers beyond int64 or any double as
**            written, strings quoted), so mixed kinds, 1e400 and \u0000
**            are all exact
**   null     VARCHAR, a column that has only ever held NULL
** A column only widens, with ALTER COLUMN TYPE ... USING a conversion that
** keeps every stored value exact.
**
** Column names are the member names (DuckDB matches identifiers without
** regard to case, so names fold as SQLite's do; a repeated member goes to
** KEY__2, colset.h). Each write is given the connection of the current
** transaction and the column epoch: a counter the caller bumps whenever
** the columns or the staging table the writer knows may be gone or stale
** (a rollback, another connection, SQL that changes _icx_columns). The
** writer reads _icx_columns again and makes a new staging table when the
** epoch moved since its last write, and bumps it when it changes the
** table's columns, so other writers of the table reload theirs.
*/
#ifndef ICX_DUCKWRITER_H
#define ICX_DUCKWRITER_H

#include <stddef.h>

#include <duckdb.h>

#include "colset.h"
#include "jscan.h"

/* A writer of one table; opaque. */
struct icx_dkw;

/* The schema of icx's column registry, which the writer needs. */
#define ICX_DKW_COLUMNS_DDL                                                    \
  "CREATE TABLE IF NOT EXISTS _icx_columns (tbl VARCHAR NOT NULL, field "      \
  "VARCHAR NOT NULL, col VARCHAR NOT NULL, kind VARCHAR NOT NULL, pos "        \
  "INTEGER NOT NULL, PRIMARY KEY (tbl, field))"

/* A writer of `table` with the primary key fields pk[0, npk) (npk may be
** 0); the names are copied. append: rows go straight into the table, a
** key's earlier rows stay (a staging that its reader dedupes: the Parquet
** destination's). NULL when out of memory. */
struct icx_dkw *icx_dkw_new(const char *table, const char *const *pk, int npk,
                            int append);

/* Frees the writer; NULL is fine. */
void icx_dkw_free(struct icx_dkw *w);

/*
** Writes the records recs[0, n) over con, inside its open transaction;
** epoch: the column epoch (above). minified: the slices hold no whitespace
** outside strings. mem (may be NULL): the page's member index
** (js_parse_records). 0, or -1 with e filled: "record", "nomem",
** "constraint", "io" or "duckdb" (after a failure the writer loads
** everything again).
*/
int icx_dkw_write(struct icx_dkw *w, duckdb_connection con,
                  unsigned long *epoch, const js_val *recs, size_t n,
                  int minified, const js_members *mem, struct icx_cs_err *e);

/* Writes JSON text: one record object or an array of them; *n gets the
** records written. 0, or -1 with e filled. */
int icx_dkw_write_json(struct icx_dkw *w, duckdb_connection con,
                       unsigned long *epoch, const char *text, size_t len,
                       size_t *n, struct icx_cs_err *e);

/* The columns as last loaded or written: [0, ntable) in table order. */
const struct icx_cs *icx_dkw_columns(const struct icx_dkw *w);

/* The short stable code of a failed DuckDB result. */
const char *icx_dkw_code(duckdb_result *r);

#endif
