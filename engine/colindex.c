/*
** colindex.c: the index of a record writer's columns by name; see
** colindex.h. Linear probing over a table kept under half full, so a lookup
** is about one probe.
*/
#include "colindex.h"

#include <stdlib.h>
#include <string.h>

/* Frees the slots; see colindex.h. */
void icx_colindex_free(struct icx_colindex *x) {
  free(x->slots);
  x->slots = NULL;
  x->nslots = 0;
}

/* Forgets every column; see colindex.h. */
void icx_colindex_clear(struct icx_colindex *x) {
  if (x->slots)
    memset(x->slots, 0, x->nslots * sizeof *x->slots);
}

/* Puts column i under hash h into slots of size nslots (a power of two). */
static void put(int *slots, uint32_t nslots, uint32_t h, int i) {
  uint32_t mask = nslots - 1, j = h & mask;
  while (slots[j])
    j = (j + 1) & mask;
  slots[j] = i + 1;
}

/* Makes room for one more column; see colindex.h. */
int icx_colindex_room(struct icx_colindex *x, int n, icx_colhash hash_of,
                      const void *cols) {
  if ((uint32_t)(n + 1) * 2 < x->nslots)
    return 0;
  uint32_t nslots = x->nslots ? x->nslots * 2 : 64;
  int *slots = calloc(nslots, sizeof *slots);
  if (!slots)
    return -1;
  for (int i = 0; i < n; i++)
    put(slots, nslots, hash_of(cols, i), i);
  free(x->slots);
  x->slots = slots;
  x->nslots = nslots;
  return 0;
}

/* Indexes column i; see colindex.h. */
void icx_colindex_put(struct icx_colindex *x, uint32_t h, int i) {
  put(x->slots, x->nslots, h, i);
}

/* Finds a column; see colindex.h. */
int icx_colindex_find(const struct icx_colindex *x, uint32_t h,
                      icx_colmatch match, const void *cols, const void *key) {
  if (!x->nslots)
    return -1;
  uint32_t mask = x->nslots - 1;
  for (uint32_t j = h & mask; x->slots[j]; j = (j + 1) & mask)
    if (match(cols, x->slots[j] - 1, key))
      return x->slots[j] - 1;
  return -1;
}
