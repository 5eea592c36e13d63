/*
** sqlbind.c: helpers of the SQL destinations' Lua bindings; see sqlbind.h.
*/
#include "sqlbind.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

/* quote(name); see sqlbind.h. Sized once: at most every byte doubled. */
int icx_sql_quote(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *d = luaL_buffinitsize(L, &b, n * 2 + 2), *o = d;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"')
      *o++ = '"';
    *o++ = s[i];
  }
  *o++ = '"';
  luaL_pushresultsize(&b, (size_t)(o - d));
  return 1;
}

/* A name; see sqlbind.h. */
const char *icx_sql_name(lua_State *L, int idx, const char *module,
                         const char *what, int nonempty) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  if (!s)
    luaL_error(L, "%s: %s must be a string", module, what);
  if (memchr(s, 0, n))
    luaL_error(L, "%s: %s holds a NUL byte", module, what);
  if (nonempty && n == 0)
    luaL_error(L, "%s: %s must be non-empty", module, what);
  return s;
}

/* A name or a list of names; see sqlbind.h. */
int icx_sql_names(lua_State *L, int idx, const char *module, const char *noun,
                  int nonempty, const char **out, int max) {
  char what[40];
  int list = lua_istable(L, idx);
  int n = lua_type(L, idx) == LUA_TSTRING ? 1
          : list                          ? (int)luaL_len(L, idx)
          : lua_isnil(L, idx)             ? 0
                                          : -1;
  if (n < 0 || n > max)
    luaL_error(L, "%s: primary_key must be a %s name or a list of at most %d",
               module, noun, max);
  snprintf(what, sizeof what, "primary_key %s", noun);
  for (int i = 0; i < n; i++) {
    if (list)
      lua_rawgeti(L, idx, i + 1);
    else
      lua_pushvalue(L, idx);
    out[i] = icx_sql_name(L, -1, module, what, nonempty);
    lua_pop(L, 1);
  }
  return n;
}

/* A writer's failure; see sqlbind.h. */
int icx_sql_push_err(lua_State *L, const struct icx_cs_err *e) {
  lua_pushnil(L);
  lua_pushstring(L, e->msg);
  lua_pushstring(L, e->code);
  return 3;
}

int icx_sql_push_columns(lua_State *L, const struct icx_cs *cs) {
  lua_createtable(L, cs->ntable, 0);
  for (int i = 0; i < cs->ntable; i++) {
    const struct icx_cs_col *c = &cs->cols[i];
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, c->field, c->flen);
    lua_setfield(L, -2, "field");
    lua_pushstring(L, c->name);
    lua_setfield(L, -2, "column");
    lua_pushstring(L, icx_cs_kind_name(c->kind));
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}
