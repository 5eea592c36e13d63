/*
** tally.h: the ids and keys a walk landed, packed (icx.tally, ltally.c).
**
** A record is a 64-bit hash of its id and an integer key (icx.completeness:
** its incremental key). One entry per hash, the last put winning: a record
** read twice (it moved mid-walk, or a heal read it again) counts where it
** was last seen. Two ids sharing a hash are one entry, so a tally can only
** hold fewer records than were landed, never more.
**
** Entries live in one open-addressing table of 16 bytes a slot, at most
** four fifths full (about 21 bytes a record at 100,000). Counting sorts the
** same slots by key in place (no second array: at 100,000 contacts a copy
** of the keys was what grew a load's memory at its end); the next put
** hashes them again into a fresh table.
*/
#ifndef ICX_TALLY_H
#define ICX_TALLY_H

#include <stddef.h>
#include <stdint.h>

/* An allocator with lua_Alloc's contract (free when nsize is 0, osize the
** block's size), so a binding can pass the state's and have it counted. */
typedef void *(*icx_tally_alloc)(void *ud, void *ptr, size_t osize,
                                 size_t nsize);

struct icx_tally_entry {
  uint64_t h;  /* the id's hash; 0 marks an empty slot while hashed */
  int64_t key; /* the key it was last put with */
};

struct icx_tally {
  struct icx_tally_entry *e; /* owned: cap slots, freed by icx_tally_free */
  size_t cap;                /* slots in e */
  size_t n;                  /* records, the one of hash 0 included */
  int zero;                  /* a record of hash 0 is held (in zero_key while
                                hashed: its hash marks empty slots) */
  int64_t zero_key;
  int sorted; /* e[0..n) are the records by key, not a hash table */
  icx_tally_alloc alloc;
  void *ud;
};

/* An empty tally allocating through alloc(ud, ...); allocates nothing yet. */
void icx_tally_init(struct icx_tally *t, icx_tally_alloc alloc, void *ud);

/* Records id hash h at key, replacing what h held. 0, or -1 when memory ran
** out (the tally is then as it was). */
int icx_tally_put(struct icx_tally *t, uint64_t h, int64_t key);

/* How many records have a key < v: the 0-based rank of the first key >= v
** in the sorted keys. Sorts the tally first if a put came since the last
** count (no allocation). */
size_t icx_tally_below(struct icx_tally *t, int64_t v);

/* The key at 0-based rank i (< t->n) of the sorted keys; sorts the tally
** first as icx_tally_below does. */
int64_t icx_tally_at(struct icx_tally *t, size_t i);

/* Frees the slots; the tally is then empty and may be used again. */
void icx_tally_free(struct icx_tally *t);

#endif
