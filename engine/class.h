/*
** class.h: the metatable of a C object seen from Lua, made the same way in
** every module (the liolib.c pattern): a named metatable, so a wrong argument
** reads "icx.sqlite.Db expected"; metamethods on it; methods in __index.
*/
#ifndef ICX_CLASS_H
#define ICX_CLASS_H

#include <lauxlib.h>
#include <lua.h>

/*
** Registers metatable `name` with the metamethods `meta` (__gc, __close,
** __tostring, ...) and a table of `methods` as __index; either list may be
** NULL. The `nup` values on top of the stack become upvalues of every
** function of both lists and are popped.  [-nup, +0, m]
*/
void icx_class_new(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods, int nup);

#endif
