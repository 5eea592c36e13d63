/* redact.c: see redact.h. */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

/* The first occurrence of needle (m bytes) in hay (n bytes) at or after
** from, or -1. */
static long find(const char *hay, size_t n, size_t from, const char *needle,
                 size_t m) {
  if (m == 0 || m > n)
    return -1;
  for (size_t i = from; i + m <= n; i++) {
    const char *p = memchr(hay + i, needle[0], n - m + 1 - i);
    if (!p)
      return -1;
    i = (size_t)(p - hay);
    if (memcmp(p, needle, m) == 0)
      return (long)i;
  }
  return -1;
}

/* Sets out to in with every occurrence of s replaced by mask. */
static int replace_all(const struct buf *in, const char *s, size_t m,
                       const char *mask, size_t mlen, struct buf *out) {
  buf_reset(out);
  size_t at = 0;
  for (;;) {
    long hit = find(in->data, in->len, at, s, m);
    if (hit < 0)
      break;
    if (buf_append(out, in->data + at, (size_t)hit - at) ||
        buf_append(out, mask, mlen))
      return -1;
    at = (size_t)hit + m;
  }
  return buf_append(out, in->data + at, in->len - at);
}

/* See redact.h. */
int icx_redact_add(struct icx_redact *r, const char *s, size_t n) {
  if (n < 4)
    return 0;
  for (size_t i = 0; i < r->n; i++)
    if (r->len[i] == n && memcmp(r->s[i], s, n) == 0)
      return 0;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 4;
    char **ns = realloc(r->s, cap * sizeof *ns);
    if (!ns)
      return -1;
    r->s = ns;
    size_t *nl = realloc(r->len, cap * sizeof *nl);
    if (!nl)
      return -1;
    r->len = nl;
    r->cap = cap;
  }
  char *copy = malloc(n);
  if (!copy)
    return -1;
  memcpy(copy, s, n);
  r->s[r->n] = copy;
  r->len[r->n++] = n;
  return 0;
}

/* See redact.h. */
int icx_redact_mask(const char *s, size_t n, struct buf *out) {
  if (buf_append(out, "****", 4))
    return -1;
  return n > 8 ? buf_append(out, s + n - 4, 4) : 0;
}

/* See redact.h. Two buffers take turns as each pass's input and output. */
int icx_redact_apply(const struct icx_redact *r, const char *line, size_t n,
                     struct buf *out) {
  struct buf a = {0}, b = {0}, mask = {0};
  int rc = buf_append(&a, line, n);
  for (size_t i = 0; rc == 0 && i < r->n; i++) {
    const char *s = r->s[i];
    size_t m = r->len[i];
    buf_reset(&mask);
    rc = icx_redact_mask(s, m, &mask);
    if (rc == 0)
      rc = replace_all(&a, s, m, mask.data, mask.len, &b);
    struct buf t = a;
    a = b;
    b = t;
    for (size_t k = 0;
         rc == 0 && m > ICX_REDACT_FRAGMENT && k + ICX_REDACT_FRAGMENT <= m;
         k++) {
      if (find(a.data, a.len, 0, s + k, ICX_REDACT_FRAGMENT) < 0)
        continue;
      rc = replace_all(&a, s + k, ICX_REDACT_FRAGMENT, "****", 4, &b);
      t = a;
      a = b;
      b = t;
    }
  }
  buf_free(&b);
  buf_free(&mask);
  buf_free(out);
  if (rc != 0) {
    buf_free(&a);
    return -1;
  }
  *out = a;
  return 0;
}

/* See redact.h. */
void icx_redact_free(struct icx_redact *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->s[i]);
  free(r->s);
  free(r->len);
  memset(r, 0, sizeof *r);
}
