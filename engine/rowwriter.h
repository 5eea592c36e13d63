/*
** rowwriter.h: the typed record writer of the SQLite destination (Lua-free).
**
** It turns JSON records, as validated slices from jscan.c, into rows of one
** table: it creates the table on first use, adds a column for each new field,
** and upserts on the primary key (a plain INSERT when there is none). Values
** bind straight from the slices by the lossless rule of docs/ARCHITECTURE.md
** ("The record path"): an integer literal as int64, or as the TEXT of its
** digits beyond int64; any other number as the double strtod gives for the
** literal (or the literal as TEXT when no finite double holds it); strings as
** their exact UTF-8; objects and arrays as minified JSON text; id columns
** (`id`, `*_id`) as TEXT always. Columns other than id columns are declared
** without a type, so SQLite's affinity never converts a value (a REAL column
** would turn 2^53+1 into a double, a TEXT column 5 into "5").
**
** Column names are the unescaped keys, always quoted. SQLite folds ASCII case
** in names, so "ID" and "id" are one column. Within one record, a key that
** an earlier member already took (repeated, or a case variant) goes to
** KEY__2 (then __3 ...): the first keeps the column, as icx.json's get
** does, and no value is lost. A key holding a NUL byte cannot be a column:
** the record is refused ("record").
**
** The columns the writer creates are recorded in _icx_columns (tbl, col);
** any other column of the table was added by someone else and is never
** written, so merges keep it (until a record brings a field of that name).
**
** The writer re-reads the table's schema whenever PRAGMA schema_version
** moves (another connection or process changed it), and after
** icx_rw_forget (a rollback may have undone a table or column it created).
** Call the write functions inside a transaction: a page is one transaction.
*/
#ifndef ICX_ROWWRITER_H
#define ICX_ROWWRITER_H

#include <stddef.h>

#include <sqlite3.h>

#include "colset.h"
#include "jscan.h"

/* Why a write failed (struct icx_cs_err): what icx.sqlite returns as nil,
** msg, code; code is "record", "schema", "nomem", or a SQLite code of
** icx_rw_code ("busy", "constraint", ...). */

/* A writer of one table over one connection; opaque. */
struct icx_rw;

/*
** The short stable code of a SQLite result code: "busy", "constraint",
** "full", "readonly", "corrupt", "cantopen", "nomem", "io" or "sqlite".
*/
const char *icx_rw_code(int rc);

/*
** A writer of `table` with the primary key columns pk[0, npk) (npk may be
** 0). The names are copied; db is borrowed and must outlive the writer (a
** connection closed with sqlite3_close_v2 stays usable until the writer
** frees its statements). NULL when out of memory.
*/
struct icx_rw *icx_rw_new(sqlite3 *db, const char *table, const char *const *pk,
                          int npk);

/* Frees the writer and finalizes its statements; NULL is fine. */
void icx_rw_free(struct icx_rw *w);

/*
** Writes the records recs[0, n) (each should be a JS_OBJECT; anything else
** is refused as "record"). The slices must stay valid during the call only:
** no binding points into them afterwards. minified: 1 when the slices have
** no whitespace outside strings (js_info.minified), so objects and arrays are
** bound as they are instead of minified into scratch space. mem (may be
** NULL): the records' members as the validating pass met them
** (js_parse_records), taken instead of scanning each record again. 0, or -1
** with e filled; records before the failing one have been written (the
** caller rolls back).
*/
int icx_rw_write(struct icx_rw *w, const js_val *recs, size_t n, int minified,
                 const js_members *mem, struct icx_cs_err *e);

/*
** Writes JSON text: one record object, or an array of record objects (the
** transform path). *n gets the records written. Invalid JSON is refused as
** "record" with the byte offset. 0, or -1 with e filled.
*/
int icx_rw_write_json(struct icx_rw *w, const char *text, size_t len, size_t *n,
                      struct icx_cs_err *e);

/* What the last write did to the rows it wrote (icx_rw_compare). */
struct icx_rw_counts {
  long long added;   /* no row had the record's key */
  long long changed; /* the row had another compared value */
  long long same;    /* the row had the same compared value */
};

/*
** From now on, look up each record's stored row before upserting it and
** count it by column col (updated_at): new, changed or the same (a re-read).
** Needs a single-column primary key; NULL stops counting. 0, or -1 when out
** of memory.
*/
int icx_rw_compare(struct icx_rw *w, const char *col);

/* The counts of the last write (zero without icx_rw_compare). */
struct icx_rw_counts icx_rw_counts(const struct icx_rw *w);

/* Forgets the schema; the next write re-reads it. Call after a rollback. */
void icx_rw_forget(struct icx_rw *w);

/* The table name, as given to icx_rw_new. */
const char *icx_rw_table(const struct icx_rw *w);

/*
** The columns as the writer knows them, in table order, fields seen in a
** failed write still pending last: their count, and the name of column i
** (0-based; never holds a NUL) with its length in *len.
*/
int icx_rw_ncolumns(const struct icx_rw *w);
const char *icx_rw_column(const struct icx_rw *w, int i, size_t *len);

#endif
