/* Option tables of the C modules (see opts.h). */

#include "opts.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>

void icx_opts_check(lua_State *L, int idx, const char *module, const char *what,
                    const char *const allowed[]) {
  if (lua_isnoneornil(L, idx))
    return;
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int ok = 0;
    for (int i = 0; k && allowed[i] && !ok; i++)
      ok = strcmp(k, allowed[i]) == 0;
    if (ok)
      continue;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; allowed[i]; i++) {
      luaL_addstring(&b, i ? ", " : "");
      luaL_addstring(&b, allowed[i]);
    }
    luaL_pushresult(&b);
    luaL_error(L, "%s: unknown option '%s' in %s (valid: %s)", module,
               k ? k : luaL_typename(L, -2), what, lua_tostring(L, -1));
  }
}

double icx_opts_positive(lua_State *L, int idx, const char *module,
                         const char *key, double def) {
  double v = def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1))
      luaL_error(L, "%s: option '%s' must be a number", module, key);
    v = lua_tonumber(L, -1);
    if (!(v > 0) || !isfinite(v))
      luaL_error(L, "%s: option '%s' must be > 0", module, key);
  }
  lua_pop(L, 1);
  return v;
}
