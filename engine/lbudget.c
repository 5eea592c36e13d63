/* icx.budget: a cap on the Lua instructions one script callback may run, so
** a transform stuck in `while true do end` fails the asset with the line it
** loops on instead of hanging the run.
**
**   icx.budget.arm(n)     counts the next n VM instructions of the calling
**                         coroutine; past them the callback raises
**                         "path:line: ... more than n Lua instructions ..."
**   icx.budget.disarm()   stops counting on the calling coroutine
**
** A count hook per coroutine, not a timer: instructions are counted only
** while the coroutine runs, so time spent waiting on HTTP (a callback may
** use ctx.client) or on other tasks is never charged, and the limit is the
** same on a loaded machine. Coroutines created while armed inherit the hook
** with a full count. Time in C (JSON, SQLite) is not counted either.
*/

#include <limits.h>

#include <lauxlib.h>
#include <lua.h>

#include "modules.h"

/* Count hook: the budget is spent. Disarms itself first, so the error
** (which names the line the script was on) cannot trip it again. */
static void on_count(lua_State *L, lua_Debug *ar) {
  (void)ar;
  int count = lua_gethookcount(L);
  lua_sethook(L, NULL, 0, 0);
  lua_Debug here;
  /* Level 0 is the Lua function running when the count ran out. */
  if (lua_getstack(L, 0, &here) && lua_getinfo(L, "Sl", &here) &&
      here.currentline > 0)
    lua_pushfstring(L, "%s:%d: ", here.short_src, here.currentline);
  else
    lua_pushliteral(L, "");
  lua_pushfstring(L,
                  "%sthe script ran more than %d Lua instructions without "
                  "returning (an endless loop?)",
                  lua_tostring(L, -1), count);
  lua_error(L);
}

/* icx.budget.arm(n) */
static int budget_arm(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n > 0 && n <= INT_MAX, 1, "must be 1 .. INT_MAX");
  lua_sethook(L, on_count, LUA_MASKCOUNT, (int)n);
  return 0;
}

/* icx.budget.disarm() */
static int budget_disarm(lua_State *L) {
  lua_sethook(L, NULL, 0, 0);
  return 0;
}

static const luaL_Reg budget_funcs[] = {
    {"arm", budget_arm}, {"disarm", budget_disarm}, {NULL, NULL}};

/* require "icx.budget": the module table. */
int luaopen_icx_budget(lua_State *L) {
  luaL_newlib(L, budget_funcs);
  return 1;
}
