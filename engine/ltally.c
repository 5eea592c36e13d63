/*
** ltally.c: icx.tally, the ids and keys a walk landed (over tally.c), for
** icx.completeness: about 22 bytes a record where a Lua table of hash ->
** key and a sorted copy of its keys took 53 at 100,000.
**
**   icx.tally.new() -> Tally      empty
**   page:tally(id, key, Tally)    (icx.json) records each record of a page
**                                 whose key member is an integer and whose
**                                 id member is present and not null; one
**                                 record per id, the last read winning
**   Tally:count(lo, hi) -> n      records with lo <= key < hi
**   Tally:span(lo, hi) -> first, n   the same n, and the rank (1-based) of
**                                 the first of them in the sorted keys
**   Tally:at(i) -> key | nil      the key at rank i of the sorted keys
**   #Tally -> n                   records held
**   Tally:close()                 frees it (also __gc, __close; idempotent)
**
** lo and hi are numbers: a float bound counts as the integers it admits, so
** count(0, math.huge) is every record. Ranks stay valid until the next
** page lands. Two ids of one 64-bit hash are one record (tally.h), so a
** tally can only come out short of what landed, never over. A closed tally
** raises; so does a NaN bound, and memory running out ("not enough
** memory").
*/
#include <math.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "class.h"
#include "ltally.h"
#include "tally.h"

#define TALLY_MT "icx.tally.Tally"

typedef struct {
  struct icx_tally t; /* owns its slots; freed by tally_close */
  int closed;
} Tally;

/* The Tally at idx, open or closed. [-0, +0, v] */
static Tally *check_any(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, TALLY_MT);
}

/* The tally of the open Tally at idx; see ltally.h. */
struct icx_tally *icx_tally_check(lua_State *L, int idx) {
  Tally *tl = check_any(L, idx);
  if (tl->closed)
    luaL_argerror(L, idx, "icx.tally: the tally is closed");
  return &tl->t;
}

/* How many records have a key below the number at arg: for a float, below
** the least integer it admits as a lower bound (lo <= key), so
** [lo, hi) counts as in Lua's comparisons. [-0, +0, v] */
static size_t below_arg(lua_State *L, struct icx_tally *t, int arg) {
  if (lua_isinteger(L, arg))
    return icx_tally_below(t, (int64_t)lua_tointeger(L, arg));
  double v = luaL_checknumber(L, arg);
  luaL_argcheck(L, !isnan(v), arg, "icx.tally: bound is NaN");
  if (v >= 0x1p63)
    return t->n;
  if (v <= -0x1p63)
    return 0;
  return icx_tally_below(t, (int64_t)ceil(v));
}

/* icx.tally.new() -> Tally, allocating through the state's allocator so its
** memory is counted with the heap's (--max-memory). [-0, +1, m] */
static int tally_new(lua_State *L) {
  Tally *tl = lua_newuserdatauv(L, sizeof *tl, 0);
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  icx_tally_init(&tl->t, alloc, ud);
  tl->closed = 0;
  luaL_setmetatable(L, TALLY_MT);
  return 1;
}

/* Tally:count(lo, hi) -> records with lo <= key < hi [-0, +1, v] */
static int tally_count(lua_State *L) {
  struct icx_tally *t = icx_tally_check(L, 1);
  size_t a = below_arg(L, t, 2), b = below_arg(L, t, 3);
  lua_pushinteger(L, b > a ? (lua_Integer)(b - a) : 0);
  return 1;
}

/* Tally:span(lo, hi) -> rank of the first record with lo <= key (1-based),
** how many have lo <= key < hi [-0, +2, v] */
static int tally_span(lua_State *L) {
  struct icx_tally *t = icx_tally_check(L, 1);
  size_t a = below_arg(L, t, 2), b = below_arg(L, t, 3);
  lua_pushinteger(L, (lua_Integer)a + 1);
  lua_pushinteger(L, b > a ? (lua_Integer)(b - a) : 0);
  return 2;
}

/* Tally:at(i) -> the key at rank i (1-based) of the sorted keys, or nil out
** of range [-0, +1, v] */
static int tally_at(lua_State *L) {
  struct icx_tally *t = icx_tally_check(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || (lua_Unsigned)i > t->n)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)icx_tally_at(t, (size_t)i - 1));
  return 1;
}

/* #Tally -> records held [-0, +1, v] */
static int tally_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)icx_tally_check(L, 1)->n);
  return 1;
}

/* Tally:close(), also __gc and __close: frees the slots. [-0, +0, v] */
static int tally_close(lua_State *L) {
  Tally *tl = check_any(L, 1);
  if (!tl->closed) {
    icx_tally_free(&tl->t);
    tl->closed = 1;
  }
  return 0;
}

/* tostring(Tally) -> "icx.tally.Tally (N records)" or "... (closed)"
** [-0, +1, m] */
static int tally_tostring(lua_State *L) {
  Tally *tl = check_any(L, 1);
  if (tl->closed)
    lua_pushliteral(L, TALLY_MT " (closed)");
  else
    lua_pushfstring(L, TALLY_MT " (%I records)", (lua_Integer)tl->t.n);
  return 1;
}

static const luaL_Reg tally_methods[] = {{"count", tally_count},
                                         {"span", tally_span},
                                         {"at", tally_at},
                                         {"close", tally_close},
                                         {NULL, NULL}};

static const luaL_Reg tally_meta[] = {{"__len", tally_len},
                                      {"__gc", tally_close},
                                      {"__close", tally_close},
                                      {"__tostring", tally_tostring},
                                      {NULL, NULL}};

static const luaL_Reg tally_funcs[] = {{"new", tally_new}, {NULL, NULL}};

/* require "icx.tally": the Tally metatable and the module table. */
int luaopen_icx_tally(lua_State *L) {
  icx_class_new(L, TALLY_MT, tally_meta, tally_methods, 0);
  luaL_newlib(L, tally_funcs);
  return 1;
}
