/*
** class.c: metatables of the C objects. See class.h.
*/
#include "class.h"

/* Registers a named metatable with metamethods and methods; see class.h. */
void icx_class_new(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods, int nup) {
  int base = lua_gettop(L) - nup; /* the upvalues are base+1 .. base+nup */
  luaL_newmetatable(L, name);
  int mt = lua_gettop(L);
  if (meta) {
    for (int i = 1; i <= nup; i++)
      lua_pushvalue(L, base + i);
    luaL_setfuncs(L, meta, nup);
  }
  if (methods) {
    int n = 0;
    while (methods[n].name)
      n++;
    lua_createtable(L, 0, n);
    for (int i = 1; i <= nup; i++)
      lua_pushvalue(L, base + i);
    luaL_setfuncs(L, methods, nup);
    lua_setfield(L, mt, "__index");
  }
  lua_settop(L, base);
}
