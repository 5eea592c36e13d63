/* The Lua state icx runs in: counting allocator, library subset, preloaded C
** modules and the embedded lualib. */
#ifndef ICX_RUNTIME_H
#define ICX_RUNTIME_H

#include <stddef.h>

#include <lua.h>

/* Allocator bookkeeping, the ud of lua_newstate: lets a test assert that memory
** stays flat over many pages and lets --max-memory stop a runaway script. */
struct icx_alloc {
  size_t used;  /* bytes currently allocated by Lua */
  size_t peak;  /* high-water mark of used */
  size_t limit; /* 0 = unlimited; past it allocations fail (Lua raises) */
};

/* Flags for icx_runtime_new. */
#define ICX_RT_DEV 1 /* `icx lua`: keep io and the whole os library */

/* Creates a state with the icx libraries, or NULL when out of memory. The
** caller owns `a` (zeroed) and keeps it alive until the state is closed:
** main() keeps it on its stack, so even os.exit leaves nothing allocated. */
lua_State *icx_runtime_new(struct icx_alloc *a, int flags);

/* Closes L. */
void icx_runtime_close(lua_State *L);

/* Message handler for lua_pcall: adds a traceback to string errors and to
** error objects (as field `traceback`).  [-1, +1, m] */
int icx_runtime_traceback(lua_State *L);

/* The allocator record of L. */
struct icx_alloc *icx_runtime_alloc(lua_State *L);

#endif
