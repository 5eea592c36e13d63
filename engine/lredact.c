/*
** lredact.c: icx.redact, the one home of secret masking (over redact.c).
**
**   icx.redact.add(secret)        masks secret (a string of 4 bytes or more;
**                                 others are ignored) in every later line
**   icx.redact.line(text) -> text text with every secret masked (redact.h)
**   icx.redact.mask(secret) -> text  "****" and the last 4 characters of
**                                 a secret longer than 8, else "****"
**   icx.redact.count() -> n       secrets registered
**
** In C so that masking calls no Lua function: a script that got hold of
** the string library could otherwise watch every secret pass through it.
** The secrets live in one userdata in the registry, freed with the state.
*/

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "class.h"
#include "modules.h"
#include "redact.h"

#define SECRETS_MT "icx.redact.Secrets"
#define SECRETS_KEY "icx.redact.secrets"

typedef struct {
  struct icx_redact r; /* owned; freed by __gc */
} Secrets;

/* The state's Secrets, made on first use.  [-0, +0, m] */
static Secrets *secrets(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, SECRETS_KEY);
  Secrets *s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (s)
    return s;
  s = lua_newuserdatauv(L, sizeof *s, 0);
  struct icx_redact empty = {0};
  s->r = empty;
  luaL_setmetatable(L, SECRETS_MT);
  lua_setfield(L, LUA_REGISTRYINDEX, SECRETS_KEY);
  return s;
}

/* Pushes b's bytes, freeing b; raises on out of memory.  [-0, +1, m] */
static int push_buf(lua_State *L, struct buf *b, int rc) {
  if (rc != 0) {
    buf_free(b);
    return luaL_error(L, "icx.redact: out of memory");
  }
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  buf_free(b);
  return 1;
}

/* icx.redact.add(secret) */
static int redact_add(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return 0;
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  if (icx_redact_add(&secrets(L)->r, s, n) != 0)
    return luaL_error(L, "icx.redact: out of memory");
  return 0;
}

/* icx.redact.line(text) -> text */
static int redact_line(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  Secrets *sec = secrets(L);
  if (sec->r.n == 0) {
    lua_settop(L, 1);
    return 1;
  }
  struct buf out = {0};
  return push_buf(L, &out, icx_redact_apply(&sec->r, s, n, &out));
}

/* icx.redact.mask(secret) -> text; anything but a string is "****". */
static int redact_mask(lua_State *L) {
  size_t n = 0;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : "";
  struct buf out = {0};
  return push_buf(L, &out, icx_redact_mask(s, n, &out));
}

/* icx.redact.count() -> n */
static int redact_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)secrets(L)->r.n);
  return 1;
}

/* Secrets:__gc, at state close. */
static int secrets_gc(lua_State *L) {
  Secrets *s = luaL_checkudata(L, 1, SECRETS_MT);
  icx_redact_free(&s->r);
  return 0;
}

static const luaL_Reg secrets_meta[] = {{"__gc", secrets_gc}, {NULL, NULL}};

static const luaL_Reg redact_funcs[] = {{"add", redact_add},
                                        {"line", redact_line},
                                        {"mask", redact_mask},
                                        {"count", redact_count},
                                        {NULL, NULL}};

/* require "icx.redact": the module table. */
int luaopen_icx_redact(lua_State *L) {
  icx_class_new(L, SECRETS_MT, secrets_meta, NULL, 0);
  luaL_newlib(L, redact_funcs);
  return 1;
}
