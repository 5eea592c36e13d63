/* Unit tests for tally.c: one record per hash with the last put winning,
** counts at the edges of a window, hashes sharing a slot or the value 0,
** growth, puts after a count, and a model check over random puts. */

#include <stdlib.h>

#include "tally.h"
#include "tap.h"

/* The allocator a Lua state would give, on malloc; counts live blocks so a
** test can see everything freed. */
static long live;
static void *alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    live -= p != NULL;
    free(p);
    return NULL;
  }
  live += p == NULL;
  return realloc(p, nsize);
}

/* Records with lo <= key < hi. */
static size_t count(struct icx_tally *t, int64_t lo, int64_t hi) {
  return icx_tally_below(t, hi) - icx_tally_below(t, lo);
}

/* One hash put again is one record at its last key, whether the first key
** was already counted or not: two ids of one hash (a collision) can only
** lose a record, never add one. */
static void test_last_wins(void) {
  struct icx_tally t;
  icx_tally_init(&t, alloc, NULL);
  icx_tally_put(&t, 7, 100);
  icx_tally_put(&t, 7, 200);
  TAP_IS_INT(t.n, 1, "last wins: one record per hash");
  TAP_IS_INT(count(&t, 100, 101), 0, "last wins: the first key is gone");
  TAP_IS_INT(count(&t, 200, 201), 1, "last wins: counted at the last key");
  icx_tally_put(&t, 7, 150); /* after a count: sorted, then hashed again */
  icx_tally_put(&t, 8, 150);
  TAP_IS_INT(t.n, 2, "last wins: still one record for the hash");
  TAP_IS_INT(count(&t, 0, 1000), 2, "a collision cannot make more records");
  TAP_IS_INT(count(&t, 150, 151), 2, "both at 150 after the count");
  TAP_IS_INT(count(&t, 200, 201), 0, "nothing left at 200");
  icx_tally_free(&t);
  TAP_IS_INT(live, 0, "free: nothing allocated left");
}

/* [lo, hi): lo counts, hi does not; ranks and keys at the edges. */
static void test_edges(void) {
  struct icx_tally t;
  icx_tally_init(&t, alloc, NULL);
  TAP_IS_INT(count(&t, INT64_MIN, INT64_MAX), 0, "empty: nothing counted");
  int64_t keys[] = {30, 10, 20, 20, 40, INT64_MIN, INT64_MAX};
  for (uint64_t i = 0; i < 7; i++)
    icx_tally_put(&t, i + 1, keys[i]);
  TAP_IS_INT(count(&t, 20, 30), 2, "edges: lo counts, hi does not");
  TAP_IS_INT(count(&t, 21, 30), 0, "edges: above lo");
  TAP_IS_INT(count(&t, 20, 31), 3, "edges: hi one past");
  TAP_IS_INT(count(&t, INT64_MIN, INT64_MAX), 6,
             "edges: INT64_MAX below "
             "hi=INT64_MAX is not counted");
  TAP_IS_INT(icx_tally_below(&t, 20), 2, "rank of the first key >= 20");
  TAP_IS_INT(icx_tally_at(&t, 0), INT64_MIN, "rank 0: the least key");
  TAP_IS_INT(icx_tally_at(&t, 2), 20, "rank 2: 20");
  TAP_IS_INT(icx_tally_at(&t, 6), INT64_MAX, "rank 6: the greatest key");
  icx_tally_free(&t);
}

/* Hashes that share a home slot (the probe walks on) and the hash 0 (the
** empty mark) are records like any other. */
static void test_slots(void) {
  struct icx_tally t;
  icx_tally_init(&t, alloc, NULL);
  icx_tally_put(&t, 0, 5);
  TAP_IS_INT(t.n, 1, "hash 0 is a record");
  icx_tally_put(&t, 0, 6);
  TAP_IS_INT(t.n, 1, "hash 0 put again: still one");
  TAP_IS_INT(count(&t, 6, 7), 1, "hash 0 at its last key");
  icx_tally_put(&t, 0, 9);
  TAP_IS_INT(count(&t, 9, 10), 1, "hash 0 put after a count");
  /* 64 slots: among 65 distinct hashes some share a home slot (and the
  ** table grows past 51). */
  for (uint64_t h = 1; h <= 200; h++)
    icx_tally_put(&t, h << 40, (int64_t)h);
  TAP_IS_INT(t.n, 201, "200 hashes and 0: 201 records");
  TAP_IS_INT(count(&t, 1, 201), 201, "every one counted after growth");
  TAP_IS_INT(count(&t, 9, 10), 2, "hash 0 kept through the growth");
  icx_tally_free(&t);
}

/* The allocator failing leaves the tally as it was. */
static int fail_next;
static void *flaky(void *ud, void *p, size_t osize, size_t nsize) {
  if (nsize > 0 && fail_next) {
    fail_next = 0;
    return NULL;
  }
  return alloc(ud, p, osize, nsize);
}

static void test_oom(void) {
  struct icx_tally t;
  icx_tally_init(&t, flaky, NULL);
  fail_next = 1;
  TAP_IS_INT(icx_tally_put(&t, 1, 1), -1, "oom: the first table fails");
  TAP_IS_INT(t.n, 0, "oom: nothing held");
  icx_tally_put(&t, 1, 1);
  TAP_IS_INT(count(&t, 0, 2), 1, "oom: then a put works");
  fail_next = 1;
  TAP_IS_INT(icx_tally_put(&t, 2, 1), -1, "oom: hashing after a count fails");
  TAP_IS_INT(count(&t, 0, 2), 1, "oom: the sorted records are intact");
  icx_tally_free(&t);
  TAP_IS_INT(live, 0, "oom: nothing allocated left");
}

/* Random puts over few hashes (many repeats) and keys (many ties), counts
** between them, against a plain array of the last key per hash. */
static void test_model(void) {
  enum { HASHES = 3000, KEYS = 500 };
  static int64_t model[HASHES];
  static int held[HASHES];
  struct icx_tally t;
  icx_tally_init(&t, alloc, NULL);
  srand(20261207);
  int bad = 0;
  for (int step = 0; step < 40000; step++) {
    uint64_t i = (uint64_t)rand() % HASHES;
    int64_t k = rand() % KEYS - KEYS / 2;
    icx_tally_put(&t, i * 0x9e3779b97f4a7c15u, k);
    model[i] = k;
    held[i] = 1;
    if (step % 997 == 0) {
      int64_t lo = rand() % KEYS - KEYS / 2, hi = lo + rand() % 100;
      size_t want = 0, n = 0;
      for (int j = 0; j < HASHES; j++) {
        want += held[j] && model[j] >= lo && model[j] < hi;
        n += (size_t)held[j];
      }
      bad += count(&t, lo, hi) != want || t.n != n;
      for (size_t r = 1; r < t.n; r++)
        bad += icx_tally_at(&t, r - 1) > icx_tally_at(&t, r);
    }
  }
  TAP_IS_INT(bad, 0, "model: counts, sizes and order agree");
  icx_tally_free(&t);
}

int main(void) {
  test_last_wins();
  test_edges();
  test_slots();
  test_oom();
  test_model();
  return tap_done();
}
