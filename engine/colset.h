/*
** colset.h: records to columns, the part every record writer shares
** (Lua-free).
**
** A record writer turns the JSON records of a page (validated slices from
** jscan.c) into rows of one table. What does not depend on the database is
** here: the table's columns in table order, each member of a record mapped
** to its column (a column added for a new member), a member whose name an
** earlier member of the same record already took sent to KEY__2 (then __3
** ...; the first keeps the column, as icx.json's get does, so no value is
** lost), the primary key checked present, and the "kind" of each column
** widened by the values it receives. A back end embeds one struct icx_cs and
** does what is its database's: the DDL, and moving the gathered values into
** rows (rowwriter.c binds them to a SQLite upsert, pgwriter.c formats COPY
** text).
**
** Names compare as the style says: with ASCII letters folded (SQLite folds
** identifiers, so "ID" and "id" are one column and the second goes to
** id__2), or as exact bytes (PostgreSQL's quoted names keep their case). A
** member name holding a NUL byte cannot be a column: the record is refused
** ("record"). A column's name in the database is its field's name unless the
** style's `name` hook chooses another (PostgreSQL's 63-byte limit).
**
** Wide records: a table gives at most ICX_CS_MAX_FIELDS (300) of its
** fields columns, counting every column it holds (primary key, KEY__2
** and columns someone else added) but the overflow column. Once that many
** exist, a field with no column of its own goes, in every record, into the
** one column ICX_CS_OVERFLOW ("_icx_overflow", kind json): a JSON object of
** the record's fields that have no column, each member's key and value
** copied as sent (integers beyond 2^53 exact, nested objects whole), in
** record order; NULL when the record has none. So the choice is the same
** on every run and page: a field that got a column keeps it, a new field
** in a full table overflows, and a replace (a new table) gives columns to
** the first 300 fields its records bring, in record order. A repeat of a
** name the record already put in the overflow object goes in as KEY__2,
** as with columns; a field named "_icx_overflow" itself is a repeat of the
** overflow column (it lands as _icx_overflow__2). The column exists only
** in tables that overflowed.
** Why 300: PostgreSQL keeps a row in one 8 KB page (8160 bytes) and
** leaves any value of up to 23 bytes in the row (a longer one moves out
** to TOAST, leaving an 18-byte pointer): a row of C columns can need 24
** bytes each, so 336 columns is the most that always fits (measured: 340
** columns of 23-byte strings fail with "row is too big"; 1,500 bigint
** columns do too). 300 leaves room for the overflow column, PostgreSQL's
** staging ordinal and the row header, and is far under every back end's
** column limit (PostgreSQL 1,600, SQLite 2,000; DuckDB's is larger), so
** every destination lands one record in the same columns.
**
** Kinds, the types a column may be declared with, from narrow to wide (their
** names are what a back end stores in its column registry):
**   null     only NULL seen so far
**   boolean  true and false
**   bigint   integers in int64
**   numeric  integers beyond int64, or integers and non-integers mixed
**   double   non-integers that a finite double holds
**   text     strings without \u0000
**   json     objects, arrays, values of mixed kinds, strings with \u0000,
**            and numbers no double holds (1e400)
**   id       `id`, `*_id` and primary key columns: text, whatever the value
** A column only widens: null -> anything, bigint/double -> numeric, any
** other mix -> json. A back end that declares no types (SQLite) ignores them.
**
** Use, per page: icx_cs_gather each record, then read cols[i] and
** vals[i] for every i with icx_cs_has(cs, i); icx_cs_widen when the back end
** declares types. Columns [ntable, ncols) are new: the back end creates them
** and then sets ntable = ncols. The overflow column is one of them: its
** value is a JSON object in the colset's own memory, not a slice of the
** record, and up to cs->extra bytes long (0 when the record has none): a
** back end that sizes its scratch space by the record's length adds it.
*/
#ifndef ICX_COLSET_H
#define ICX_COLSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "colindex.h"
#include "jscan.h"

/* The most columns a table gives its fields; see "Wide records" above. */
#define ICX_CS_MAX_FIELDS 300

/* The column of a wide record's fields beyond them. */
#define ICX_CS_OVERFLOW "_icx_overflow"

/* Why a write failed: what the Lua binding returns as nil, msg, code. */
struct icx_cs_err {
  const char *code; /* static: "record", "schema", "nomem", or the back
                       end's code of a database error ("busy", ...) */
  char msg[600];    /* "icx.sqlite: table 'x': ...", NUL-terminated */
};

/* The kinds of columns, narrow to wide (see above). */
enum {
  ICX_K_NULL,
  ICX_K_BOOL,
  ICX_K_INT,
  ICX_K_NUMERIC,
  ICX_K_FLOAT,
  ICX_K_TEXT,
  ICX_K_JSON,
  ICX_K_ID,
  ICX_NKIND
};

struct icx_cs;

/* How a back end names and compares columns; static, one per database. */
struct icx_cs_style {
  const char *module; /* "icx.sqlite": every message starts with it */
  const char *db;     /* "SQLite": named when a field cannot be a column */
  int fold;           /* 1: names compare with ASCII letters folded */
  /* The database name for a new column of field[0, len), as an owned
  ** NUL-terminated string (NULL: out of memory); cs holds the columns so
  ** far, so the hook can keep names apart. NULL: the field's own name. */
  char *(*name)(const struct icx_cs *cs, const char *field, size_t len);
};

/* A column of the table, as the writer knows it. */
struct icx_cs_col {
  char *field;        /* owned: the member name, unescaped, NUL-terminated
                         (never holds a NUL) */
  size_t flen;        /* bytes in field */
  char *name;         /* the column's name in the database: field itself,
                         or owned when the style's hook chose another */
  uint32_t hash;      /* of field, folded when the style folds */
  unsigned char pk;   /* part of the primary key */
  unsigned char id;   /* `id` or `*_id` (folded): values are text */
  unsigned char kind; /* declared kind in the table (ICX_K_ID for pk or id) */
  unsigned char want; /* kind the values seen since need (icx_cs_widen) */
  unsigned char user; /* the back end's: a column that is not the writer's
                         (SQLite: added by someone else, never written) */
};

/* A member of the gathered record that has no column: it goes into the
** overflow object. */
struct icx_cs_spill {
  js_val key;      /* its key token, quotes included (a slice of the record) */
  int suffix;      /* 0, or n when it goes in as KEY__n */
  js_val val;      /* its value (a slice of the record) */
  size_t off, len; /* its unescaped name, KEY__n included, in spillnames */
  uint32_t hash;   /* of that name, folded when the style folds */
};

/* The columns of one table and the record being gathered into them. */
struct icx_cs {
  const struct icx_cs_style *style; /* borrowed, static */
  char *table;                      /* owned, for messages */
  char **pk;                        /* owned array of npk owned field names */
  int *pkcol;                       /* owned, npk: each pk's column or -1 */
  int npk;
  struct icx_cs_col *cols; /* owned array of capcols; see the struct */
  int ncols, capcols;
  int ntable;                /* columns [0, ntable) exist in the table */
  struct icx_colindex index; /* owned: the columns by field */
  int *order; /* owned: column of each member position in the last record,
                 a guess that skips the hash lookup */
  int norder, caporder;
  js_val *vals;   /* owned, capcols: the gathered record's value per
                      column (slices into the caller's page) */
  uint32_t *seen; /* owned, capcols: stamp of the record that set it */
  uint32_t stamp; /* the gathered record's stamp (never 0) */
  struct buf key; /* owned: an unescaped member name */
  int limit;      /* columns for fields at most: ICX_CS_MAX_FIELDS (a unit
                     test may lower it) */
  int overcol;    /* the overflow column, or -1 while the table has none */
  struct icx_cs_spill *spill; /* owned, capspill: the gathered record's
                                 members without a column */
  int nspill, capspill;
  struct icx_colindex spillindex; /* owned: spill by name */
  struct buf spillnames;          /* owned: the spill entries' names */
  struct buf over;                /* owned: the overflow object's text */
  size_t extra; /* over's length when the gathered record has one, else 0 */
};

/*
** Makes cs the empty column set of `table` with the primary key fields
** pk[0, npk) (npk may be 0); the strings are copied. 0, or -1 out of
** memory (then icx_cs_free frees what was made).
*/
int icx_cs_init(struct icx_cs *cs, const struct icx_cs_style *style,
                const char *table, const char *const *pk, int npk);

/* Frees everything cs owns; cs may be zeroed or half-made. Idempotent. */
void icx_cs_free(struct icx_cs *cs);

/* Forgets every column (a schema to load again), keeping the memory. */
void icx_cs_clear(struct icx_cs *cs);

/* The column of field name[0, len), or -1. */
int icx_cs_find(const struct icx_cs *cs, const char *name, size_t len);

/*
** Appends a column for field[0, len) (which must be absent) with the
** database name `name` (NULL: the style's choice) and the given kind
** (ICX_K_ID anyway for a primary key or id column). A column whose field
** and name are both ICX_CS_OVERFLOW is the overflow column (a table loaded
** with one). Its index, or -1 with e filled ("record" for a NUL in field,
** "nomem").
*/
int icx_cs_add(struct icx_cs *cs, const char *field, size_t len,
               const char *name, int kind, struct icx_cs_err *e);

/* Adds the primary key columns that are missing, in key order (a table
** about to be created). 0, or -1 with e filled. */
int icx_cs_add_pk(struct icx_cs *cs, struct icx_cs_err *e);

/*
** Gathers the record rec (nth counts from 1, for messages), whose members
** ms yields, into vals and seen, adding columns for new members while the
** table has room, and the overflow column's object for the others (see
** "Wide records"). Refuses ("record") a record that is not an object or
** lacks a value for a primary key column. vals point into rec, and the
** overflow value into cs, until the next gather. 0, or -1 with e.
*/
int icx_cs_gather(struct icx_cs *cs, const js_val *rec, js_memiter *ms,
                  size_t nth, struct icx_cs_err *e);

/* Whether the gathered record set column i (else it is NULL in the row). */
static inline int icx_cs_has(const struct icx_cs *cs, int i) {
  return cs->seen[i] == cs->stamp;
}

/*
** Widens each column's want by the gathered record's value. Refuses
** ("record") an id column's string holding \u0000, which no text key can
** hold. 0, or -1 with e filled.
*/
int icx_cs_widen(struct icx_cs *cs, size_t nth, struct icx_cs_err *e);

/* Sets every column's want back to its declared kind (a new page). */
void icx_cs_unwiden(struct icx_cs *cs);

/* Whether some column must be created or widened. */
int icx_cs_changed(const struct icx_cs *cs);

/* Which columns icx_cs_put_names lists. */
enum {
  ICX_CS_ALL, /* every column */
  ICX_CS_PK,  /* the primary key columns */
  ICX_CS_OWN  /* the writer's: all but those with the user flag */
};

/*
** Appends to b the database names of the columns `which` selects, in table
** order, each as a quoted SQL identifier, with sep between them: the column
** lists of the statements a SQL back end builds. 0, or -1 out of memory.
*/
int icx_cs_put_names(const struct icx_cs *cs, struct buf *b, int which,
                     const char *sep);

/* The stored name of kind k ("bigint"), and the kind of such a name or -1. */
const char *icx_cs_kind_name(int k);
int icx_cs_kind_named(const char *s);

/* Fills e (message formatted as printf does) and returns -1. */
int icx_cs_fail(struct icx_cs_err *e, const char *code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* icx_cs_fail with "nomem" and "<module>: out of memory". */
int icx_cs_nomem(const struct icx_cs *cs, struct icx_cs_err *e);

#endif
