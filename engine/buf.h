/*
** buf.h: a small growable byte buffer (Lua-free).
**
** Used by jscan.c to append unescaped strings and minified JSON, and by any C
** code that needs an append-only byte string without pulling in Lua. Memory
** comes from malloc/realloc; a Lua binding that must not leak on error keeps
** the struct inside a userdata whose __gc calls buf_free().
*/
#ifndef ICX_BUF_H
#define ICX_BUF_H

#include <stddef.h>

/*
** A growable byte string. Zero-initialise it (or call buf_init) before use.
** data is NULL until the first append; it is not NUL-terminated unless the
** caller appends a '\0' (buf_cstr does that without counting it in len).
*/
struct buf {
  char *data; /* owned heap block of cap bytes, or NULL */
  size_t len; /* bytes in use */
  size_t cap; /* bytes allocated */
};

/* Make b empty without allocating. */
void buf_init(struct buf *b);

/* Release b's memory and make it empty again; safe to call twice. */
void buf_free(struct buf *b);

/* Forget the contents but keep the memory, so a reused buffer stops growing. */
void buf_reset(struct buf *b);

/*
** Make room for at least extra more bytes after len. Returns 0, or -1 if the
** allocation failed or the size would overflow (b is then unchanged).
*/
int buf_reserve(struct buf *b, size_t extra);

/* Append n bytes from p. 0 ok, -1 out of memory (b unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Append one byte. 0 ok, -1 out of memory. */
int buf_putc(struct buf *b, int c);

/* Append the NUL-terminated s. 0 ok, -1 out of memory. */
int buf_puts(struct buf *b, const char *s);

/*
** Append s[0, n) between two q characters with each inner q doubled: a
** quoted SQL identifier with '"', a string literal with '\'' (standard
** conforming: backslashes are plain). 0 ok, -1 out of memory.
*/
int buf_quote(struct buf *b, const char *s, size_t n, char q);

/*
** Return data as a NUL-terminated string (the terminator is not counted in
** len), or NULL if out of memory. Valid until the next append or free.
*/
const char *buf_cstr(struct buf *b);

#endif
