/* The Lua library and asset scripts compiled into the binary (see
 * tools/embed.sh). */
#ifndef ICX_EMBEDDED_H
#define ICX_EMBEDDED_H

#include <stddef.h>

struct icx_lualib_entry {
  const char *name;         /* module name, e.g. "icx.cli" */
  const char *chunkname;    /* "@lualib/icx/cli.lua", so errors name the file */
  const unsigned char *src; /* source text, NUL-terminated */
  size_t len;               /* length without the NUL */
};

/* Terminated by an entry whose name is NULL. */
extern const struct icx_lualib_entry icx_lualib[];

/* The shipped asset scripts (scripts/NAME.lua), named by their base name
 * ("contacts"), served by icx.builtin; same terminator. */
extern const struct icx_lualib_entry icx_assets[];

#endif
