/* tests/unit/colindex.c: the column index both record writers share: growth
** keeps every column findable, colliding hashes are told apart by the
** writer's match, clear forgets, a failed match is -1. */
#include <stdio.h>
#include <string.h>

#include "colindex.h"
#include "tap.h"

typedef struct {
  char name[16];
  uint32_t hash;
} Col;

static uint32_t hash_of(const void *cols, int i) {
  return ((const Col *)cols)[i].hash;
}

static int match(const void *cols, int i, const void *key) {
  return strcmp(((const Col *)cols)[i].name, key) == 0;
}

int main(void) {
  static Col cols[300];
  struct icx_colindex x = {0};
  TAP_IS_INT(icx_colindex_find(&x, 7, match, cols, "a"), -1,
             "an empty index finds nothing");
  int ok = 1;
  for (int i = 0; i < 300; i++) {
    snprintf(cols[i].name, sizeof cols[i].name, "c%d", i);
    cols[i].hash = (uint32_t)(i % 7); /* many collisions on purpose */
    if (icx_colindex_room(&x, i, hash_of, cols) != 0)
      ok = 0;
    icx_colindex_put(&x, cols[i].hash, i);
  }
  tap_ok(ok, "room for 300 columns");
  tap_ok(x.nslots > 600, "the slots stay under half full");
  int found = 1;
  for (int i = 0; i < 300; i++)
    if (icx_colindex_find(&x, cols[i].hash, match, cols, cols[i].name) != i)
      found = 0;
  tap_ok(found, "every column is found through the growth, collisions told "
                "apart by the match");
  TAP_IS_INT(icx_colindex_find(&x, 3, match, cols, "nope"), -1,
             "an absent name is -1");
  icx_colindex_clear(&x);
  TAP_IS_INT(icx_colindex_find(&x, cols[5].hash, match, cols, "c5"), -1,
             "clear forgets every column");
  icx_colindex_free(&x);
  TAP_IS_INT((int)x.nslots, 0, "free empties the index");
  return tap_done();
}
