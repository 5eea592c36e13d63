/* tests/fuzz/fuzz_lua.c: see fuzz_lua.h. */
#include "fuzz_lua.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"

/* Coverage of the Lua code for libFuzzer. liblua is not instrumented, so
 * without this the mutator sees only the C side and is blind to lualib's
 * branches (config.lua, paginate.lua are most of what these targets test).
 * A line hook hashes each (chunk, line) transition into libFuzzer's extra
 * counters, as AFL hashes edges. FUZZ_LUA_COVERAGE=0 turns it off. */
#define FUZZ_LUA_EDGES 65536
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
    fuzz_edges[FUZZ_LUA_EDGES];
static uintptr_t fuzz_prev;

/* lua_Hook for LUA_MASKLINE: counts the edge from the previous line. */
static void fuzz_line_hook(lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar))
    return;
  /* source points into the function's Proto: stable while lualib lives */
  uintptr_t cur = ((uintptr_t)ar->source >> 4) * 2654435761u +
                  (uintptr_t)ar->currentline * 40503u;
  fuzz_edges[(cur ^ fuzz_prev) % FUZZ_LUA_EDGES]++;
  fuzz_prev = cur >> 1;
}

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
  const char *cov = getenv("FUZZ_LUA_COVERAGE");
  if (!cov || *cov != '0') /* coroutines made later inherit the hook */
    lua_sethook(fuzz_L, fuzz_line_hook, LUA_MASKLINE, 0);
}

void fuzz_lua_run(const char *name, const char *src, const uint8_t *data,
                  size_t size) {
  if (!fuzz_L)
    fuzz_setup(name, src);
  lua_State *L = fuzz_L;
  fuzz_prev = 0;
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
