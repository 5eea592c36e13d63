/*
** gunzip.h: a whole gzip body to its bytes, with libdeflate (Lua-free).
**
** icx.http asks for gzip and undoes it itself rather than letting curl
** stream it through zlib: a response is buffered whole anyway, and
** libdeflate decodes a whole buffer about three times as fast (its CRC-32
** uses the CPU's carry-less multiply), which is a tenth of a big load's CPU.
*/
#ifndef ICX_GUNZIP_H
#define ICX_GUNZIP_H

#include <stddef.h>

#include "buf.h"

enum icx_gunzip_rc {
  ICX_GUNZIP_OK = 0,
  ICX_GUNZIP_TOO_LARGE, /* the decoded bytes would pass max */
  ICX_GUNZIP_BAD,       /* not one well-formed gzip member */
  ICX_GUNZIP_NOMEM
};

/*
** Decodes the gzip member in[0, n) into out (replacing its contents), at
** most max bytes: the output buffer is the size the member's trailer
** states (at most max + 1), and a member that decodes to more or less than
** it stated is refused as BAD, so a hostile body costs at most max bytes.
** TOO_LARGE only for a member that really decodes past max; a truncated
** one is BAD whatever its last four bytes say.
** Several members one after another (legal, never sent by HTTP servers)
** are refused as BAD too.
*/
enum icx_gunzip_rc icx_gunzip(const char *in, size_t n, size_t max,
                              struct buf *out);

#endif
