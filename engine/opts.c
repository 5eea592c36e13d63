/*
** opts.c: option tables of the C modules. See opts.h.
*/
#include "opts.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>

/* Raises unless every key is allowed; see opts.h. */
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

/* Pushes a field or nil; see opts.h. */
int icx_opts_get(lua_State *L, int idx, const char *key) {
  if (lua_isnoneornil(L, idx)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  return lua_getfield(L, idx, key);
}

/*
** Pushes field `key` and returns 1, or pops the nil and returns 0 when it is
** absent. Raises "<module>: option '<key>' must be <what>" unless the value
** has type `type`.  [-0, +(0|1), v]
*/
static int get_typed(lua_State *L, int idx, const char *module, const char *key,
                     int type, const char *what) {
  int t = icx_opts_get(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != type)
    luaL_error(L, "%s: option '%s' must be %s", module, key, what);
  return 1;
}

/* A number > 0; see opts.h. */
double icx_opts_positive(lua_State *L, int idx, const char *module,
                         const char *key, double def) {
  double v = icx_opts_number(L, idx, module, key, def);
  if (!(v > 0))
    luaL_error(L, "%s: option '%s' must be > 0", module, key);
  return v;
}

/* A finite number; see opts.h. */
double icx_opts_number(lua_State *L, int idx, const char *module,
                       const char *key, double def) {
  if (!get_typed(L, idx, module, key, LUA_TNUMBER, "a number"))
    return def;
  double v = lua_tonumber(L, -1);
  if (!isfinite(v))
    luaL_error(L, "%s: option '%s' must be a finite number", module, key);
  lua_pop(L, 1);
  return v;
}

/* An integer in [min, max]; see opts.h. */
lua_Integer icx_opts_integer(lua_State *L, int idx, const char *module,
                             const char *key, lua_Integer def, lua_Integer min,
                             lua_Integer max) {
  if (!get_typed(L, idx, module, key, LUA_TNUMBER, "an integer"))
    return def;
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < min || v > max) {
    if (max == LUA_MAXINTEGER)
      luaL_error(L, "%s: option '%s' must be an integer >= %I", module, key,
                 min);
    luaL_error(L, "%s: option '%s' must be an integer from %I to %I", module,
               key, min, max);
  }
  lua_pop(L, 1);
  return v;
}

/* A boolean; see opts.h. */
int icx_opts_boolean(lua_State *L, int idx, const char *module, const char *key,
                     int def) {
  if (!get_typed(L, idx, module, key, LUA_TBOOLEAN, "true or false"))
    return def;
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A borrowed string; see opts.h. */
const char *icx_opts_string(lua_State *L, int idx, const char *module,
                            const char *key, size_t *len) {
  if (!get_typed(L, idx, module, key, LUA_TSTRING, "a string"))
    return NULL;
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still referenced by the table */
  return s;
}
