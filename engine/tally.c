/* The packed tally of icx.completeness (see tally.h for the model). */

#include "tally.h"

#include <string.h>

/* The first table's slots: a small asset allocates 1 KB, not more. */
#define MIN_CAP 64

/* Slots in use at most LOAD_NUM/LOAD_DEN of the table. Linear probing
** stays short there (about 13 probes to place a new record at the worst,
** adjacent in memory), and growing by half keeps the table between 53% and
** 80% full: 20 to 30 bytes a record. */
#define LOAD_NUM 4
#define LOAD_DEN 5

/* Slots past which the table does not grow: the slot index is taken from
** 32 bits of the hash scaled to the table. */
#define MAX_CAP ((size_t)UINT32_MAX)

/* The slot h starts probing from. FNV-1a (the ids' hash) leaves its low
** bits poorly mixed, so the hash goes through murmur3's finalizer, and its
** high 32 bits scaled to cap pick the slot (cap need not be a power of
** two: the table grows by half). */
static size_t home(uint64_t h, size_t cap) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdu;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53u;
  h ^= h >> 33;
  return (size_t)(((h >> 32) * (uint64_t)cap) >> 32);
}

/* Places h at key in a hashed table of cap slots (h not 0); returns 1 when
** h was new, 0 when it replaced h's key. */
static int place(struct icx_tally_entry *e, size_t cap, uint64_t h,
                 int64_t key) {
  size_t i = home(h, cap);
  while (e[i].h != 0 && e[i].h != h)
    i = i + 1 < cap ? i + 1 : 0;
  int fresh = e[i].h == 0;
  e[i].h = h;
  e[i].key = key;
  return fresh;
}

/* Hashes the records into a new table of cap slots, from the hashed table or
** from the sorted records; the record of hash 0 stays in zero_key. 0, or -1
** when memory ran out (the tally is then as it was). */
static int rehash(struct icx_tally *t, size_t cap) {
  struct icx_tally_entry *e = t->alloc(t->ud, NULL, 0, cap * sizeof *e);
  if (e == NULL)
    return -1;
  memset(e, 0, cap * sizeof *e);
  size_t used = t->sorted ? t->n : t->cap;
  for (size_t i = 0; i < used; i++)
    if (t->e[i].h != 0)
      place(e, cap, t->e[i].h, t->e[i].key);
  if (t->e != NULL)
    t->alloc(t->ud, t->e, t->cap * sizeof *t->e, 0);
  t->e = e;
  t->cap = cap;
  t->sorted = 0;
  return 0;
}

/* Moves a[root] down to its place in the max-heap a[0..n) of keys. */
static void sift(struct icx_tally_entry *a, size_t root, size_t n) {
  struct icx_tally_entry x = a[root];
  for (;;) {
    size_t c = 2 * root + 1;
    if (c >= n)
      break;
    if (c + 1 < n && a[c + 1].key > a[c].key)
      c++;
    if (a[c].key <= x.key)
      break;
    a[root] = a[c];
    root = c;
  }
  a[root] = x;
}

/* Gathers the records at the front of the table and sorts them by key, in
** place. Heapsort: no scratch memory (glibc's qsort may allocate a copy of
** the array) and no quadratic case on runs of equal keys. */
static void sort(struct icx_tally *t) {
  size_t j = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->e[i].h != 0)
      t->e[j++] = t->e[i];
  /* A put keeps a free slot for it: at most 4/5 of cap > MIN_CAP used. */
  if (t->zero)
    t->e[j++] = (struct icx_tally_entry){0, t->zero_key};
  for (size_t i = j / 2; i-- > 0;)
    sift(t->e, i, j);
  for (size_t end = j; end-- > 1;) {
    struct icx_tally_entry x = t->e[0];
    t->e[0] = t->e[end];
    t->e[end] = x;
    sift(t->e, 0, end);
  }
  t->sorted = 1;
}

/* See tally.h. */
void icx_tally_init(struct icx_tally *t, icx_tally_alloc alloc, void *ud) {
  memset(t, 0, sizeof *t);
  t->alloc = alloc;
  t->ud = ud;
}

/* See tally.h. */
int icx_tally_put(struct icx_tally *t, uint64_t h, int64_t key) {
  size_t used = t->n - (size_t)t->zero;
  if ((used + 1) * LOAD_DEN > t->cap * LOAD_NUM) {
    size_t cap = t->cap ? t->cap + t->cap / 2 : MIN_CAP;
    if (cap > MAX_CAP || rehash(t, cap) != 0)
      return -1;
  } else if (t->sorted && rehash(t, t->cap) != 0) {
    return -1;
  }
  if (h == 0) {
    t->n += !t->zero;
    t->zero = 1;
    t->zero_key = key;
  } else {
    t->n += (size_t)place(t->e, t->cap, h, key);
  }
  return 0;
}

/* See tally.h. */
size_t icx_tally_below(struct icx_tally *t, int64_t v) {
  if (!t->sorted && t->n > 0)
    sort(t);
  size_t a = 0, b = t->n;
  while (a < b) {
    size_t m = a + (b - a) / 2;
    if (t->e[m].key < v)
      a = m + 1;
    else
      b = m;
  }
  return a;
}

/* See tally.h. */
int64_t icx_tally_at(struct icx_tally *t, size_t i) {
  if (!t->sorted)
    sort(t);
  return t->e[i].key;
}

/* See tally.h. */
void icx_tally_free(struct icx_tally *t) {
  if (t->e != NULL)
    t->alloc(t->ud, t->e, t->cap * sizeof *t->e, 0);
  icx_tally_init(t, t->alloc, t->ud);
}
