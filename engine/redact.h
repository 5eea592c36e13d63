/*
** redact.h: secret redaction for every line icx writes (Lua-free).
**
** A set of secrets (the access token, a database password); a line is
** redacted by replacing each whole secret with its mask ("****" and its last
** 4 characters when it is longer than 8, else "****"), then every run of
** ICX_REDACT_FRAGMENT characters of a longer secret (a prefix, a suffix, a
** middle piece a server echoed) with "****". It is C so that no Lua code,
** whatever a script did to the string library, ever sees a secret on its
** way to the output.
*/
#ifndef ICX_REDACT_H
#define ICX_REDACT_H

#include <stddef.h>

#include "buf.h"

/* Fragments of a secret this long are masked too: short enough to catch a
** truncated echo, long enough not to mask ordinary words. */
#define ICX_REDACT_FRAGMENT 12

/* The secrets; zero-initialise. */
struct icx_redact {
  char **s;    /* owned: n copies of the secrets, each malloc'd */
  size_t *len; /* owned: their lengths */
  size_t n;
  size_t cap;
};

/* Adds a copy of secret s (n bytes); one shorter than 4 bytes, or already
** there, is ignored. 0, or -1 out of memory. */
int icx_redact_add(struct icx_redact *r, const char *s, size_t n);

/* Appends the mask of secret s (n bytes) to out. 0, or -1 out of memory. */
int icx_redact_mask(const char *s, size_t n, struct buf *out);

/* Sets out to line (n bytes) with every secret masked. 0, or -1 out of
** memory (out then holds nothing to print). */
int icx_redact_apply(const struct icx_redact *r, const char *line, size_t n,
                     struct buf *out);

/* Frees every secret; r is empty again. */
void icx_redact_free(struct icx_redact *r);

#endif
