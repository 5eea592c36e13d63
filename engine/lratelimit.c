/* icx.ratelimit: the token bucket of tbucket.c as a Lua object.
**
**   icx.ratelimit.bucket{limit=166, window=10, now=seconds} -> Bucket
**   Bucket:take([now]) -> 0, ticket | seconds
**                          0: go (ticket identifies the grant for sync);
**                          else wait that long and ask again
**   Bucket:sync(limit, remaining, reset_unix
**               [, now_unix [, now_mono [, ticket]]])
**                          re-align from a response's X-RateLimit-* values;
**                          ticket: what take returned for its request
**   Bucket:hold(seconds [, now])
**                          grant nothing for that long (a 429's
**                          Retry-After); a longer hold already set stays
**   Bucket:state([now]) -> {limit=, window=, tokens=, synced=,
**                           remaining=, reset_in=, held=}
**
** Times are seconds. `now` arguments are the monotonic clock (icx.sys.now)
** and default to it; tests pass their own to run without sleeping. sync's
** limit and remaining may be nil (header absent), reset_unix too.
*/

#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "class.h"
#include "clock.h"
#include "modules.h"
#include "opts.h"
#include "tbucket.h"

#define BUCKET_MT "icx.ratelimit.Bucket"

/* The optional time argument at `arg`, or the time on `now_fn` when absent.
** [-0, +0, v] */
static double opt_time(lua_State *L, int arg, double (*now_fn)(void)) {
  if (lua_isnoneornil(L, arg))
    return now_fn();
  return luaL_checknumber(L, arg);
}

/* An optional count argument: -1 (ignored by tbucket) when nil.
** [-0, +0, v] */
static double opt_count(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg))
    return -1;
  double v = luaL_checknumber(L, arg);
  luaL_argcheck(L, isfinite(v), arg, "must be a finite number");
  return v;
}

/* icx.ratelimit.bucket(opts) -> Bucket */
static int ratelimit_bucket(lua_State *L) {
  static const char *const keys[] = {"limit", "window", "now", NULL};
  icx_opts_check(L, 1, "icx.ratelimit", "bucket{}", keys);
  double limit = icx_opts_positive(L, 1, "icx.ratelimit", "limit", 166);
  double window = icx_opts_positive(L, 1, "icx.ratelimit", "window", 10);
  double now = icx_opts_number(L, 1, "icx.ratelimit", "now", icx_clock_now());
  struct icx_tbucket *b = lua_newuserdatauv(L, sizeof *b, 0);
  icx_tbucket_init(b, limit, window, now);
  luaL_setmetatable(L, BUCKET_MT);
  return 1;
}

/* Bucket:take([now]) -> 0, ticket | seconds to wait */
static int bucket_take(lua_State *L) {
  struct icx_tbucket *b = luaL_checkudata(L, 1, BUCKET_MT);
  double wait = icx_tbucket_take(b, opt_time(L, 2, icx_clock_now));
  lua_pushnumber(L, wait);
  if (wait > 0)
    return 1;
  lua_pushinteger(L, (lua_Integer)b->grants);
  return 2;
}

/* Bucket:sync(limit, remaining, reset_unix [, now_unix [, now_mono
** [, ticket]]]) */
static int bucket_sync(lua_State *L) {
  struct icx_tbucket *b = luaL_checkudata(L, 1, BUCKET_MT);
  double limit = opt_count(L, 2);
  double remaining = opt_count(L, 3);
  double reset = opt_count(L, 4);
  double now_unix = opt_time(L, 5, icx_clock_wall);
  double now_mono = opt_time(L, 6, icx_clock_now);
  double ticket = opt_count(L, 7);
  icx_tbucket_sync(b, limit, remaining, reset, now_unix, now_mono, ticket);
  return 0;
}

/* Bucket:hold(seconds [, now]) */
static int bucket_hold(lua_State *L) {
  struct icx_tbucket *b = luaL_checkudata(L, 1, BUCKET_MT);
  double secs = luaL_checknumber(L, 2);
  luaL_argcheck(L, isfinite(secs) && secs >= 0, 2,
                "must be a finite number of seconds >= 0");
  icx_tbucket_hold(b, opt_time(L, 3, icx_clock_now) + secs);
  return 0;
}

/* Bucket:state([now]) -> table, for progress lines and tests */
static int bucket_state(lua_State *L) {
  struct icx_tbucket *b = luaL_checkudata(L, 1, BUCKET_MT);
  double now = opt_time(L, 2, icx_clock_now);
  double avail = icx_tbucket_available(b, now);
  lua_createtable(L, 0, 7);
  lua_pushnumber(L, b->hold_until > now ? b->hold_until - now : 0);
  lua_setfield(L, -2, "held");
  lua_pushnumber(L, b->limit);
  lua_setfield(L, -2, "limit");
  lua_pushnumber(L, b->window);
  lua_setfield(L, -2, "window");
  lua_pushnumber(L, avail);
  lua_setfield(L, -2, "tokens");
  lua_pushboolean(L, b->synced);
  lua_setfield(L, -2, "synced");
  if (b->synced) {
    lua_pushnumber(L, b->srv_remaining);
    lua_setfield(L, -2, "remaining");
    lua_pushnumber(L, b->srv_reset - now);
    lua_setfield(L, -2, "reset_in");
  }
  return 1;
}

/* __tostring: "icx.ratelimit.Bucket (166/10s)" */
static int bucket_tostring(lua_State *L) {
  struct icx_tbucket *b = luaL_checkudata(L, 1, BUCKET_MT);
  lua_pushfstring(L, "%s (%f/%fs)", BUCKET_MT, (LUAI_UACNUMBER)b->limit,
                  (LUAI_UACNUMBER)b->window);
  return 1;
}

static const luaL_Reg bucket_methods[] = {{"take", bucket_take},
                                          {"sync", bucket_sync},
                                          {"hold", bucket_hold},
                                          {"state", bucket_state},
                                          {NULL, NULL}};

static const luaL_Reg bucket_meta[] = {{"__tostring", bucket_tostring},
                                       {NULL, NULL}};

static const luaL_Reg ratelimit_funcs[] = {{"bucket", ratelimit_bucket},
                                           {NULL, NULL}};

/* require "icx.ratelimit": the Bucket metatable and the module table. */
int luaopen_icx_ratelimit(lua_State *L) {
  /* The bucket owns no resource (plain memory in its userdata), so it needs
  ** no close, __gc or __close. */
  icx_class_new(L, BUCKET_MT, bucket_meta, bucket_methods, 0);
  luaL_newlib(L, ratelimit_funcs);
  return 1;
}
