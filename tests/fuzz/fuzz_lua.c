/* tests/fuzz/fuzz_lua.c: see fuzz_lua.h. */
#include "fuzz_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"

/* The allocator record must outlive the state: both live for the process. */
static struct icx_alloc fuzz_alloc;
static lua_State *fuzz_L;
static int fuzz_ref = LUA_NOREF;
static unsigned long fuzz_runs;

/* Creates the state and compiles the harness; aborts on failure (a harness
 * bug, not a finding, but it must not pass silently). */
static void fuzz_setup(const char *name, const char *src) {
  /* Lua's own limit, well under libFuzzer's -rss_limit_mb, so a runaway
   * input surfaces as Lua's "not enough memory" error, which icx handles. */
  fuzz_alloc.limit = (size_t)512 << 20;
  fuzz_L = icx_runtime_new(&fuzz_alloc, 0);
  if (!fuzz_L) {
    fprintf(stderr, "%s: cannot create the Lua state\n", name);
    abort();
  }
  lua_pushcfunction(fuzz_L, icx_runtime_traceback);
  if (luaL_loadbufferx(fuzz_L, src, strlen(src), name, "t") != LUA_OK ||
      lua_pcall(fuzz_L, 0, 1, 1) != LUA_OK ||
      lua_type(fuzz_L, -1) != LUA_TFUNCTION) {
    fprintf(stderr, "%s: harness setup failed: %s\n", name,
            lua_tostring(fuzz_L, -1) ? lua_tostring(fuzz_L, -1) : "(no message)");
    abort();
  }
  fuzz_ref = luaL_ref(fuzz_L, LUA_REGISTRYINDEX);
  lua_pop(fuzz_L, 1);
}

void fuzz_lua_run(const char *name, const char *src, const uint8_t *data,
                  size_t size) {
  if (!fuzz_L)
    fuzz_setup(name, src);
  lua_State *L = fuzz_L;
  lua_pushcfunction(L, icx_runtime_traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "%s: %s\n", name, msg ? msg : "(no message)");
    abort();
  }
  lua_settop(L, 0);
  /* Pages, writers and tables of one input are garbage by now; a full
   * collection now and then keeps the heap (and ASan's view of it) small. */
  if (++fuzz_runs % 512 == 0)
    lua_gc(L, LUA_GCCOLLECT);
}
