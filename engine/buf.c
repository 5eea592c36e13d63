/*
** buf.c: a small growable byte buffer (Lua-free). See buf.h.
*/
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Make b empty without allocating. */
void buf_init(struct buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

/* Release b's memory and make it empty again; safe to call twice. */
void buf_free(struct buf *b) {
  free(b->data);
  buf_init(b);
}

/* Forget the contents but keep the memory for the next use. */
void buf_reset(struct buf *b) {
  b->len = 0;
}

/*
** Make room for extra more bytes. Grows by half again (at least 64 bytes) so
** a buffer filled one small append at a time costs amortised O(1) per byte;
** one byte more than asked is always kept free so buf_cstr never reallocates
** after an append that fitted.
*/
int buf_reserve(struct buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra >= SIZE_MAX - b->len - 1)
    return -1;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  cap = b->cap < 64 ? 64 : b->cap;
  while (cap < need)
    cap = cap > SIZE_MAX / 3 * 2 ? need : cap + cap / 2;
  p = realloc(b->data, cap);
  if (p == NULL)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

/* Append n bytes from p. 0 ok, -1 out of memory (b unchanged). */
int buf_append(struct buf *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  if (buf_reserve(b, n) != 0)
    return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

/* Append one byte. 0 ok, -1 out of memory. */
int buf_putc(struct buf *b, int c) {
  if (b->len + 1 >= b->cap && buf_reserve(b, 1) != 0)
    return -1;
  b->data[b->len++] = (char)c;
  return 0;
}

/* Append a NUL-terminated string; see buf.h. */
int buf_puts(struct buf *b, const char *s) {
  return buf_append(b, s, strlen(s));
}

/* Append s quoted with q; see buf.h. Reserves the worst case (every byte
** a q) once, so the loop never checks room. */
int buf_quote(struct buf *b, const char *s, size_t n, char q) {
  if (buf_reserve(b, n * 2 + 2) != 0)
    return -1;
  b->data[b->len++] = q;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == q)
      b->data[b->len++] = q;
    b->data[b->len++] = s[i];
  }
  b->data[b->len++] = q;
  return 0;
}

/* NUL-terminate without counting the terminator; NULL if out of memory. */
const char *buf_cstr(struct buf *b) {
  if (buf_reserve(b, 0) != 0)
    return NULL;
  b->data[b->len] = '\0';
  return b->data;
}
