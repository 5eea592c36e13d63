/*
** ltally.h: the C side of icx.tally (engine/ltally.c) for other C modules.
**
** icx.json's page:tally fills a Tally with a whole page's records in C, so
** no id or key of a load passes through a Lua table.
*/
#ifndef ICX_LTALLY_H
#define ICX_LTALLY_H

#include <lua.h>

#include "tally.h"

/* Opens the module; registered by the runtime as package.preload["icx.tally"].
*/
int luaopen_icx_tally(lua_State *L);

/* The tally of the open icx.tally.Tally at idx; raises otherwise, the message
** naming the argument. [-0, +0, v] */
struct icx_tally *icx_tally_check(lua_State *L, int idx);

#endif
