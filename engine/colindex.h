/*
** colindex.h: the index of a record writer's columns by name (Lua-free).
**
** colset.c keeps a record writer's columns in an array and looks each
** member of each record up by name; this is the open-addressing hash index
** over that array: slots hold column number + 1, 0 is empty. The caller
** says how to get a column's hash and whether a column is the one looked
** for (SQLite folds ASCII case in names, PostgreSQL does not).
*/
#ifndef ICX_COLINDEX_H
#define ICX_COLINDEX_H

#include <stdint.h>

struct icx_colindex {
  int *slots;      /* owned: column number + 1, 0 = empty */
  uint32_t nslots; /* 0, or a power of two > 2 * the columns indexed */
};

/* The hash of column i of cols (as stored by the writer). */
typedef uint32_t (*icx_colhash)(const void *cols, int i);

/* Whether column i of cols is the one key describes. */
typedef int (*icx_colmatch)(const void *cols, int i, const void *key);

/* Frees the slots; the index is empty (and usable) again. */
void icx_colindex_free(struct icx_colindex *x);

/* Forgets every column, keeping the memory. */
void icx_colindex_clear(struct icx_colindex *x);

/*
** Makes room for one more column when n are indexed, rebuilding the slots
** from the n columns' hashes when it grows. 0, or -1 out of memory (the
** index is then as it was).
*/
int icx_colindex_room(struct icx_colindex *x, int n, icx_colhash hash_of,
                      const void *cols);

/* Indexes column i under hash h; call icx_colindex_room first. */
void icx_colindex_put(struct icx_colindex *x, uint32_t h, int i);

/* The column with hash h that match accepts, or -1. */
int icx_colindex_find(const struct icx_colindex *x, uint32_t h,
                      icx_colmatch match, const void *cols, const void *key);

#endif
