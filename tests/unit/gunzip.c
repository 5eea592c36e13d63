/* tests/unit/gunzip.c: whole gzip bodies through libdeflate (gunzip.c): a
** body comes back byte for byte; one past the cap is TOO_LARGE; truncated,
** corrupt, lying about its size or of two members is BAD, never a partial
** body or an allocation the trailer asked for. */
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "gunzip.h"
#include "tap.h"

/* gzip of text into *out (malloc'd); returns its length. */
static size_t gz(const char *text, size_t n, char **out) {
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
  size_t cap = libdeflate_gzip_compress_bound(c, n);
  *out = malloc(cap);
  size_t len = libdeflate_gzip_compress(c, text, n, *out, cap);
  libdeflate_free_compressor(c);
  return len;
}

int main(void) {
  struct buf out = {0};
  size_t n = 100000;
  char *text = malloc(n), *z;
  for (size_t i = 0; i < n; i++)
    text[i] = (char)("{\"id\":\"12\",\"name\":\"é\"}"[i % 23] ^ (i / 977 % 3));
  size_t zn = gz(text, n, &z);

  TAP_IS_INT(icx_gunzip(z, zn, n, &out), ICX_GUNZIP_OK, "a body decodes");
  tap_ok(out.len == n && memcmp(out.data, text, n) == 0,
         "byte for byte what was compressed");
  TAP_IS_INT(icx_gunzip(z, zn, n, &out), ICX_GUNZIP_OK, "a reused buffer");
  tap_ok(out.len == n, "holds the body only");
  TAP_IS_INT(icx_gunzip(z, zn, n - 1, &out), ICX_GUNZIP_TOO_LARGE,
             "one byte past the cap is too large");

  for (size_t cut = 1; cut < zn; cut += zn / 7 + 1)
    if (!tap_ok(icx_gunzip(z, zn - cut, 64 << 20, &out) == ICX_GUNZIP_BAD,
                "a truncated body is bad, whatever its last bytes say"))
      break;

  char *bad = malloc(zn);
  memcpy(bad, z, zn);
  bad[zn / 2] ^= 0x55;
  TAP_IS_INT(icx_gunzip(bad, zn, n, &out), ICX_GUNZIP_BAD,
             "a corrupt body is bad");
  memcpy(bad, z, zn);
  bad[zn - 4] ^= 1; /* ISIZE one off */
  TAP_IS_INT(icx_gunzip(bad, zn, 64 << 20, &out), ICX_GUNZIP_BAD,
             "a body longer than its trailer says is bad");
  memcpy(bad, z, zn);
  bad[zn - 1] = 0x7f; /* ISIZE 2 GiB */
  TAP_IS_INT(icx_gunzip(bad, zn, 64 << 20, &out), ICX_GUNZIP_BAD,
             "a trailer claiming more than the cap, but a short body: bad");
  free(bad);

  char *two = malloc(2 * zn);
  memcpy(two, z, zn);
  memcpy(two + zn, z, zn);
  TAP_IS_INT(icx_gunzip(two, 2 * zn, 4 * n, &out), ICX_GUNZIP_BAD,
             "two members one after the other are refused");
  free(two);

  TAP_IS_INT(icx_gunzip("{}", 2, 100, &out), ICX_GUNZIP_BAD,
             "plain JSON is not gzip");
  char *empty;
  size_t en = gz("", 0, &empty);
  TAP_IS_INT(icx_gunzip(empty, en, 100, &out), ICX_GUNZIP_OK,
             "an empty body decodes");
  TAP_IS_INT((int)out.len, 0, "to nothing");
  free(empty);

  free(z);
  free(text);
  buf_free(&out);
  return tap_done();
}
