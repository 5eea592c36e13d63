/*
** gunzip.c: a whole gzip body to its bytes; see gunzip.h.
*/
#include "gunzip.h"

#include <libdeflate.h>

/* A gzip member's header (10 bytes) and trailer (CRC-32, ISIZE) at least. */
#define GZIP_MIN 18

enum icx_gunzip_rc icx_gunzip(const char *in, size_t n, size_t max,
                              struct buf *out) {
  buf_reset(out);
  if (n < GZIP_MIN)
    return ICX_GUNZIP_BAD;
  const unsigned char *t = (const unsigned char *)in + n - 4;
  /* ISIZE: the decoded size modulo 2^32, little-endian. */
  size_t size = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                (size_t)t[3] << 24;
  /* A truncated body's "ISIZE" is any four bytes of its middle: past max,
  ** decoding still tells a body too large from a broken one (in a buffer
  ** of max + 1 that is never touched beyond what decodes). */
  int over = size > max;
  if (over)
    size = max;
  /* One spare byte: a member decoding to more than it states fails as
  ** "insufficient space" instead of fitting by luck. */
  if (buf_reserve(out, size + 1) != 0)
    return ICX_GUNZIP_NOMEM;
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  if (!d)
    return ICX_GUNZIP_NOMEM;
  size_t used = 0, got = 0;
  enum libdeflate_result r =
      libdeflate_gzip_decompress_ex(d, in, n, out->data, size + 1, &used, &got);
  libdeflate_free_decompressor(d);
  if (over && (r == LIBDEFLATE_INSUFFICIENT_SPACE ||
               (r == LIBDEFLATE_SUCCESS && got > max)))
    return ICX_GUNZIP_TOO_LARGE;
  if (r != LIBDEFLATE_SUCCESS || used != n || got != size || over)
    return ICX_GUNZIP_BAD;
  out->len = got;
  return ICX_GUNZIP_OK;
}
