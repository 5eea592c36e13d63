/*
** lbuiltin.c: icx.builtin, the asset scripts compiled into the binary, so
** `icx run contacts` needs no file beside an installed or containerised
** icx. Only the text is served: lualib/icx/assets.lua loads it through the
** same sandbox as a script file.
**
**   icx.builtin.script(name) -> text, chunkname | nil   ("contacts")
**   icx.builtin.names() -> {name, ...}                  in build order
*/

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "embedded.h"
#include "modules.h"

/* icx.builtin.script(name) -> text, chunkname | nil */
static int builtin_script(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const struct icx_lualib_entry *e = icx_assets; e->name; e++) {
    if (strcmp(e->name, name) != 0)
      continue;
    lua_pushlstring(L, (const char *)e->src, e->len);
    lua_pushstring(L, e->chunkname);
    return 2;
  }
  lua_pushnil(L);
  return 1;
}

/* icx.builtin.names() -> {name, ...} */
static int builtin_names(lua_State *L) {
  lua_Integer i = 0;
  lua_newtable(L);
  for (const struct icx_lualib_entry *e = icx_assets; e->name; e++) {
    lua_pushstring(L, e->name);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static const luaL_Reg builtin_funcs[] = {
    {"script", builtin_script}, {"names", builtin_names}, {NULL, NULL}};

int luaopen_icx_builtin(lua_State *L) {
  luaL_newlib(L, builtin_funcs);
  return 1;
}
