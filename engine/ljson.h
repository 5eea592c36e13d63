/*
** ljson.h: the C side of icx.json (engine/ljson.c) for other C modules.
**
** The SQLite writer (lsqlite.c) takes a Page from Lua and binds each record's
** top-level members straight from the raw slices, so no value passes through
** a Lua number on the record path.
*/
#ifndef ICX_LJSON_H
#define ICX_LJSON_H

#include <stddef.h>

#include <lua.h>

#include "jscan.h"

/* Opens the module; registered by the runtime as package.preload["icx.json"].
*/
int luaopen_icx_json(lua_State *L);

/*
** Check that the value at idx is an open icx.json.Page (raises otherwise, the
** message naming the argument) and return its records: an array of *count
** validated JS_OBJECT slices of the page body, in body order. The slices stay
** valid while the Page is alive and not closed: keep it on the Lua stack (or
** otherwise referenced) while using them. Never NULL, even for 0 records.
** *minified (when minified is not NULL) is 1 when the body has no whitespace
** outside strings, so every slice is its own minified text
** (js_info.minified). [-0, +0, v]
*/
const js_val *icx_json_checkpage(lua_State *L, int idx, size_t *count,
                                 int *minified);

/*
** The members of the records of the open Page at idx, as its validating pass
** met them (js_members), valid as long as the records are: 1, or 0 when the
** page has none to give (a body that was a lone record object, or no
** records), and the caller iterates the records itself. [-0, +0, v]
*/
int icx_json_page_members(lua_State *L, int idx, js_members *out);

#endif
