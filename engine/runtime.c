/* The Lua state icx runs in.
**
** One state per process. It opens the standard libraries lualib needs and
** trims `os` to what asset scripts may use; the asset sandbox itself (strict
** globals, text-only loading, no io) is built in lualib/icx/sandbox.lua from
** what is opened here. C modules are registered in package.preload and Lua
** modules are served from the copy compiled into the binary, so nothing is
** loaded from disk at run time unless ICX_LUALIB names a development tree.
*/

#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embedded.h"
#include "modules.h"

/* lua_Alloc that counts bytes and refuses to grow past the limit. */
static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct icx_alloc *a = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    a->used -= old;
    return NULL;
  }
  if (a->limit && nsize > old && a->used - old + nsize > a->limit)
    return NULL;
  void *p = realloc(ptr, nsize);
  if (!p)
    return NULL;
  a->used = a->used - old + nsize;
  if (a->used > a->peak)
    a->peak = a->used;
  return p;
}

/* The allocator record of L; see runtime.h. */
struct icx_alloc *icx_runtime_alloc(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

/* Message handler adding a traceback; see runtime.h. */
int icx_runtime_traceback(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) {
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, 1, "traceback");
    lua_settop(L, 1);
    return 1;
  }
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* package.searchers entry: a module from the embedded lualib.  [-1, +2, e] */
static int rt_search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const struct icx_lualib_entry *e = icx_lualib; e->name; e++) {
    if (strcmp(e->name, name) != 0)
      continue;
    if (luaL_loadbufferx(L, (const char *)e->src, e->len, e->chunkname, "t"))
      return lua_error(L);
    lua_pushstring(L, e->chunkname + 1);
    return 2;
  }
  lua_pushfstring(L, "\n\tno module '%s' in icx's built-in lualib", name);
  return 1;
}

/* package.searchers entry: a module from $ICX_LUALIB/<a/b>.lua or
** <a/b>/init.lua, for working on lualib without rebuilding.  [-1, +2, e] */
static int rt_search_dir(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *dir = lua_tostring(L, lua_upvalueindex(1));
  const char *rel = luaL_gsub(L, name, ".", "/");
  const char *tries[2];
  tries[0] = lua_pushfstring(L, "%s/%s.lua", dir, rel);
  tries[1] = lua_pushfstring(L, "%s/%s/init.lua", dir, rel);
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(tries[i], "r");
    if (!f)
      continue;
    fclose(f);
    if (luaL_loadfilex(L, tries[i], "t"))
      return lua_error(L);
    lua_pushstring(L, tries[i]);
    return 2;
  }
  lua_pushfstring(L, "\n\tno file '%s'\n\tno file '%s'", tries[0], tries[1]);
  return 1;
}

/* Points package.searchers at preload and lualib only, so a stray
** LUA_PATH or a file next to a script cannot shadow an icx module. */
static void rt_set_searchers(lua_State *L, int flags) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_rawgeti(L, -1, 1); /* the preload searcher */
  lua_rawgeti(L, -2, 2); /* the package.path searcher, for `icx lua` */
  lua_newtable(L);
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, 1);
  const char *dir = getenv("ICX_LUALIB");
  int n = 2;
  if (dir && *dir) {
    lua_pushstring(L, dir);
    lua_pushcclosure(L, rt_search_dir, 1);
    lua_rawseti(L, -2, n++);
  }
  lua_pushcfunction(L, rt_search_embedded);
  lua_rawseti(L, -2, n++);
  if (flags & ICX_RT_DEV) {
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, n++);
  }
  lua_setfield(L, -5, "searchers");
  lua_pop(L, 4);
}

/* Keeps only the os functions a script may call: time and environment, never
** execute, remove, rename, exit or tmpname. */
static void rt_trim_os(lua_State *L) {
  static const char *const keep[] = {"time",   "date",     "clock",
                                     "getenv", "difftime", NULL};
  lua_getglobal(L, "os");
  lua_newtable(L);
  for (int i = 0; keep[i]; i++) {
    lua_getfield(L, -2, keep[i]);
    lua_setfield(L, -2, keep[i]);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getglobal(L, "os");
  lua_setfield(L, -2, "os");
  lua_pop(L, 1);
}

/* A new state with the icx libraries; see runtime.h. */
lua_State *icx_runtime_new(struct icx_alloc *a, int flags) {
  static const luaL_Reg libs[] = {
      {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
      {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_OSLIBNAME, luaopen_os},
      {LUA_IOLIBNAME, luaopen_io},        {NULL, NULL}};
  static const luaL_Reg preload[] = {ICX_MODULE_LIST{NULL, NULL}};

  lua_State *L = lua_newstate(rt_alloc, a);
  if (!L)
    return NULL;
  for (const luaL_Reg *lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  if (!(flags & ICX_RT_DEV))
    rt_trim_os(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = preload; m->func; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  rt_set_searchers(L, flags);
  return L;
}

/* Closes L; see runtime.h. */
void icx_runtime_close(lua_State *L) {
  lua_close(L);
}
