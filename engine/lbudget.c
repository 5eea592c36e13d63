/* icx.budget: what one script callback may spend, so no script hangs a run:
** instructions, seconds of running and heap, each with an error that names
** the script's line.
**
**   icx.budget.arm(n, seconds, bytes [, f])
**                         the calling coroutine may run n more VM
**                         instructions, `seconds` in any one stretch of
**                         running (waits excluded, below) and grow the Lua
**                         heap by `bytes` (0: no cap of its own); f, the
**                         script function, names it for the watchdog
**   icx.budget.disarm()   ends the budget of the calling coroutine
**   icx.budget.armed() -> bool        whether the calling coroutine has one
**   icx.budget.spent() -> msg | nil   the error of a budget that ran out;
**                         the sandbox's pcall re-raises it, so a script
**                         cannot catch its way past the limit
**   icx.budget.pause(), icx.budget.resume()
**                         around a wait the script asked for (a request,
**                         ctx.map): the seconds and the watchdog stop
**                         counting, and the heap cap is lifted meanwhile
**                         for the other tasks that run
**   icx.budget.adopt(co)  coroutine co is counted too (a coroutine the
**                         script creates): it runs on whichever call's
**                         budget is running when it is resumed
**   icx.budget.over_memory() -> bool  whether the last allocation failure
**                         was this budget's heap cap
**
** Seconds are CPU seconds of the thread that runs Lua: a process stopped
** (Ctrl-Z) or a machine suspended is no script running.
**
** Instructions are counted by a count hook on the coroutines that run
** script code, charged to the one budget running now (a call's budget runs
** from arm or resume to pause or disarm; only one runs at a time, as only
** one coroutine does): time waiting on HTTP is never charged, and the limit
** is the same on a loaded machine. Each coroutine keeps its Budget between
** calls, so a call allocates nothing. A
** spent budget keeps its hook armed and re-raises every few instructions,
** so a `pcall` around an endless loop only catches the first error.
**
** A C function that does a script's work in one long call charges its
** steps itself (lbudget.h): the pattern matcher (lpattern.c) does, so a
** backtracking pattern ends in the budget's error at the script's line.
** What neither can see (another C function that never returns, or a
** finalizer, which runs with hooks off) the watchdog thread does: a
** stretch of running past `seconds` + GRACE ends the process with the
** script's name and exit code 1, since no Lua can run any more. The
** sandbox refuses __gc, so that is C code alone.
*/

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "lbudget.h"
#include "modules.h"
#include "runtime.h"

#define BUDGETS_KEY "icx.budget.threads" /* registry: thread -> Budget */
#define CURRENT_KEY "icx.budget.current" /* registry: the Budget running */
#define WATCH_KEY "icx.budget.watch"     /* registry: the Watch userdata */
#define STEP 10000     /* instructions between two looks at the clock */
#define SPENT_STEP 100 /* a spent budget re-raises this often */
#define GRACE 2.0      /* seconds past the limit before the watchdog */

/* A budget, shared by the coroutines of one script call. */
typedef struct {
  lua_Integer left;   /* instructions still allowed */
  lua_Integer limit;  /* instructions at arm, for the message */
  double seconds;     /* seconds allowed per running stretch */
  double since;       /* CPU time at the start of this stretch; 0 paused */
  size_t bytes;       /* heap growth allowed, 0 for none of its own */
  size_t heap_base;   /* heap in use at arm */
  size_t outer_limit; /* the allocator limit to restore (--max-memory) */
  int capped;         /* whether the heap cap is applied now */
  int armed;          /* inside a call (running or paused) */
  const void *fn;     /* the function where and src describe (pinned) */
  int spent;          /* ran out: msg is the error, re-raised */
  char msg[320];      /* the first error, with the script's line */
  char where[160];    /* the script function, for the watchdog */
  char src[256];      /* its chunk's source ("@path"); "" for any code */
} Budget;

/* The watchdog's view of the one stretch running now. The main thread
** writes, the watchdog reads, both under mu. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* signalled when the state closes */
  pthread_t thread;
  int started;       /* the thread exists */
  int stop;          /* the state closes: the thread returns */
  clockid_t lua_cpu; /* CPU clock of the thread that runs Lua */
  int active;        /* a budgeted stretch is running */
  double deadline;   /* on lua_cpu; the watchdog acts past it */
  double seconds;    /* the stretch's limit, for the message */
  char where[160];   /* the script function */
} Watch;

/* Seconds on clock c. Running time is CPU time of the thread that runs
** Lua: a stopped process (Ctrl-Z, a debugger) or a suspended machine is
** not a script running, and a script stuck in C burns it all the same. */
static double cpu_now(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0)
    return 0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The Budget thread L owns (armed or not), or NULL.  [-0, +0, -] */
static Budget *owned_by(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, BUDGETS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_pushthread(L);
  lua_rawget(L, -2);
  Budget *b = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return b;
}

/* The Budget running now, or NULL.  [-0, +0, -] */
static Budget *current(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
  Budget *b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return b;
}

/* Makes the Budget at index idx (0: none) the one running.  [-0, +0, -] */
static void set_current(lua_State *L, int idx) {
  if (idx)
    lua_pushvalue(L, idx);
  else
    lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
}

/* Pushes the Budget of the running thread, made and bound (weakly, with
** the thread) on first use.  [-0, +1, m] */
static Budget *own(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, BUDGETS_KEY);
  if (lua_getmetatable(L, -1) == 0) {
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  } else {
    lua_pop(L, 1);
  }
  lua_pushthread(L);
  lua_rawget(L, -2);
  Budget *b = lua_touserdata(L, -1);
  if (b) {
    lua_remove(L, -2);
    return b;
  }
  lua_pop(L, 1);
  b = lua_newuserdatauv(L, sizeof *b, 1);
  memset(b, 0, sizeof *b);
  lua_pushthread(L);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
  return b;
}

/* The watchdog thread: ends the process when one stretch of a script has
** been running past its limit and the hook could not stop it. Only
** async-signal-safe calls once it decides: the main thread may hold any
** lock. */
static void *watch_main(void *arg) {
  Watch *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200 * 1000 * 1000;
    if (until.tv_nsec >= 1000 * 1000 * 1000) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000 * 1000 * 1000;
    }
    pthread_cond_timedwait(&w->wake, &w->mu, &until);
    if (w->stop || !(w->active && cpu_now(w->lua_cpu) > w->deadline))
      continue;
    char line[400];
    snprintf(line, sizeof line,
             "icx: error: %s ran more than %.0f s without returning, "
             "inside a C function where it cannot be interrupted; icx "
             "stops\n",
             w->where, w->seconds + GRACE);
    ssize_t n = write(2, line, strlen(line));
    (void)n;
    _exit(1);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* __gc of the Watch: the thread reads it, so it ends before the memory
** goes (the state closes at exit, and a fuzz harness closes many). */
static int watch_gc(lua_State *L) {
  Watch *w = lua_touserdata(L, 1);
  if (w->started) {
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->started = 0;
  }
  return 0;
}

/* The Watch of this state, its thread started on first use.  [-0, +0, m] */
static Watch *watch_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, WATCH_KEY);
  Watch *w = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (w)
    return w;
  w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->wake, NULL);
  if (pthread_getcpuclockid(pthread_self(), &w->lua_cpu) != 0)
    w->lua_cpu = CLOCK_MONOTONIC;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, watch_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, WATCH_KEY);
  /* Joined by watch_gc when the registry lets w go. */
  if (pthread_create(&w->thread, NULL, watch_main, w) == 0)
    w->started = 1;
  return w;
}

/* Starts (on) or ends the watched stretch of b. */
static void watch_set(lua_State *L, Budget *b, int on) {
  Watch *w = watch_of(L);
  pthread_mutex_lock(&w->mu);
  w->active = on;
  if (on) {
    w->deadline = cpu_now(w->lua_cpu) + b->seconds + GRACE;
    w->seconds = b->seconds;
    memcpy(w->where, b->where, sizeof w->where);
  }
  pthread_mutex_unlock(&w->mu);
}

/* Applies (on) or lifts b's heap cap on the allocator. */
static void cap_set(lua_State *L, Budget *b, int on) {
  struct icx_alloc *a = icx_runtime_alloc(L);
  if (on && !b->capped && b->bytes) {
    b->outer_limit = a->limit;
    size_t cap = b->heap_base + b->bytes;
    if (a->limit == 0 || cap < a->limit)
      a->limit = cap;
    b->capped = 1;
  } else if (!on && b->capped) {
    a->limit = b->outer_limit;
    b->capped = 0;
  }
}

/* Whether the function at stack level `level` of L is the script's own
** code (or, without a known chunk, any Lua code); fills d. */
static int in_script(lua_State *L, const Budget *b, int level, lua_Debug *d) {
  if (!lua_getstack(L, level, d) || !lua_getinfo(L, "Sl", d))
    return 0;
  if (d->currentline <= 0)
    return 0;
  return b->src[0] == '\0' || strcmp(d->source, b->src) == 0;
}

/* Marks b spent with msg, at the script's line nearest the top of L's
** stack (the count may run out inside icx's own Lua, a view's __index). */
static void spend(lua_State *L, Budget *b, const char *why) {
  lua_Debug here;
  char at[200] = "";
  for (int level = 0; level < 64; level++) {
    if (in_script(L, b, level, &here)) {
      snprintf(at, sizeof at, "%s:%d: ", here.short_src, here.currentline);
      break;
    }
  }
  snprintf(b->msg, sizeof b->msg, "%s%s", at, why);
  b->spent = 1;
  cap_set(L, b, 0);
}

/* Count hook: charges the instructions since the last call, looks at the
** clock, and raises once the budget is spent; a spent budget keeps the
** hook on a short count, so each later instruction run re-raises. It
** raises only in the script's own code: icx's Lua (the sandbox settling
** the error, a view) always returns to the script or to the engine, and
** must not be cut half-way (a budget left armed after its call). */
static void on_count(lua_State *L, lua_Debug *ar) {
  (void)ar;
  Budget *b = current(L);
  if (!b) {
    /* Script code runs only inside a call: this is a coroutine that
    ** inherited the hook (the scheduler's tasks made during a call), or
    ** one running while its call waits: it is not charged. */
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  if (!b->spent) {
    b->left -= lua_gethookcount(L);
    if (b->left <= 0) {
      char why[200];
      snprintf(why, sizeof why,
               "the script ran more than %lld Lua instructions without "
               "returning (an endless loop?)",
               (long long)b->limit);
      spend(L, b, why);
    } else if (b->since > 0 &&
               cpu_now(CLOCK_THREAD_CPUTIME_ID) - b->since > b->seconds) {
      char why[200];
      snprintf(why, sizeof why,
               "the script ran more than %.0f s without returning (an "
               "endless loop?)",
               b->seconds);
      spend(L, b, why);
    } else {
      return;
    }
    lua_sethook(L, on_count, LUA_MASKCOUNT, SPENT_STEP);
  }
  lua_Debug here;
  if (!in_script(L, b, 0, &here))
    return;
  lua_pushstring(L, b->msg);
  lua_error(L);
}

/* see lbudget.h */
int icx_budget_charge(lua_State *L, lua_Integer steps, const char *what) {
  Budget *b = current(L);
  if (!b)
    return 0;
  if (!b->spent) {
    char why[240];
    b->left -= steps;
    if (b->left <= 0) {
      snprintf(why, sizeof why,
               "%s took the script past %lld Lua instructions and matching "
               "steps (a backtracking pattern?)",
               what, (long long)b->limit);
    } else if (b->since > 0 &&
               cpu_now(CLOCK_THREAD_CPUTIME_ID) - b->since > b->seconds) {
      snprintf(why, sizeof why,
               "%s ran the script past %.0f s (a backtracking pattern?)", what,
               b->seconds);
    } else {
      return 1;
    }
    spend(L, b, why);
    lua_sethook(L, on_count, LUA_MASKCOUNT, SPENT_STEP);
  }
  /* Unlike the hook, which may fire at any instruction of icx's Lua, this
  ** raises only where a C function was called, which may raise anyway
  ** (a malformed pattern): the caller, a wrapper or a pcall of the
  ** script's, passes the error on; icx's code between arm and disarm
  ** runs no counted work. */
  lua_pushstring(L, b->msg);
  return lua_error(L);
}

/* see lbudget.h */
int icx_budget_fail(lua_State *L, const char *why) {
  Budget *b = current(L);
  if (!b)
    return luaL_error(L, "%s", why);
  if (!b->spent) {
    spend(L, b, why);
    lua_sethook(L, on_count, LUA_MASKCOUNT, SPENT_STEP);
  }
  lua_pushstring(L, b->msg);
  return lua_error(L);
}

/* icx.budget.arm(n, seconds, bytes [, f]) */
static int budget_arm(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_Number secs = luaL_checknumber(L, 2);
  lua_Integer bytes = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n > 0, 1, "must be > 0");
  luaL_argcheck(L, secs > 0, 2, "must be > 0");
  luaL_argcheck(L, bytes >= 0, 3, "must be >= 0");
  if (current(L))
    return luaL_error(L, "icx.budget: a budget is running already");
  lua_settop(L, 4);
  Budget *b = own(L);
  if (b->armed)
    return luaL_error(L, "icx.budget: this coroutine is armed already");
  const void *fn = lua_isfunction(L, 4) ? lua_topointer(L, 4) : NULL;
  if (fn != b->fn || fn == NULL) {
    /* Described once per function: a transform is armed per record. */
    b->fn = fn;
    snprintf(b->where, sizeof b->where, "a script");
    b->src[0] = '\0';
    lua_Debug fi;
    if (fn) {
      /* Pinned in the user value, so fn names this function for as long
      ** as the Budget compares with it. */
      lua_pushvalue(L, 4);
      lua_setiuservalue(L, 5, 1);
      lua_pushvalue(L, 4);
      if (lua_getinfo(L, ">S", &fi) && fi.linedefined >= 0 &&
          fi.source[0] == '@') {
        snprintf(b->where, sizeof b->where, "the script function at %s:%d",
                 fi.short_src, fi.linedefined);
        snprintf(b->src, sizeof b->src, "%s", fi.source);
      }
    }
  }
  b->left = b->limit = n;
  b->seconds = secs;
  b->bytes = (size_t)bytes;
  b->heap_base = icx_runtime_alloc(L)->used;
  b->capped = 0;
  b->spent = 0;
  b->msg[0] = '\0';
  b->armed = 1;
  b->since = cpu_now(CLOCK_THREAD_CPUTIME_ID);
  set_current(L, 5);
  cap_set(L, b, 1);
  watch_set(L, b, 1);
  lua_sethook(L, on_count, LUA_MASKCOUNT, n < STEP ? (int)n : STEP);
  return 0;
}

/* icx.budget.disarm(): ends the calling coroutine's call. */
static int budget_disarm(lua_State *L) {
  Budget *b = owned_by(L);
  lua_sethook(L, NULL, 0, 0);
  if (b && b->armed) {
    cap_set(L, b, 0);
    watch_set(L, b, 0);
    b->armed = 0;
    b->since = 0;
    if (current(L) == b)
      set_current(L, 0);
  }
  return 0;
}

/* icx.budget.armed(): a call's budget is running. */
static int budget_armed(lua_State *L) {
  lua_pushboolean(L, current(L) != NULL);
  return 1;
}

/* icx.budget.spent() */
static int budget_spent(lua_State *L) {
  Budget *b = current(L);
  if (b && b->spent)
    lua_pushstring(L, b->msg);
  else
    lua_pushnil(L);
  return 1;
}

/* icx.budget.pause(): the running call waits; nothing runs on its budget. */
static int budget_pause(lua_State *L) {
  Budget *b = current(L);
  if (b) {
    b->since = 0;
    cap_set(L, b, 0);
    watch_set(L, b, 0);
    set_current(L, 0);
  }
  return 0;
}

/* icx.budget.resume(): the calling coroutine's call runs again. */
static int budget_resume(lua_State *L) {
  Budget *b = owned_by(L);
  if (b && b->armed && b->since == 0 && !current(L)) {
    lua_getfield(L, LUA_REGISTRYINDEX, BUDGETS_KEY);
    lua_pushthread(L);
    lua_rawget(L, -2);
    set_current(L, lua_gettop(L));
    lua_pop(L, 2);
    b->since = cpu_now(CLOCK_THREAD_CPUTIME_ID);
    if (!b->spent)
      cap_set(L, b, 1);
    watch_set(L, b, 1);
  }
  return 0;
}

/* icx.budget.adopt(co): co's script code is counted too. */
static int budget_adopt(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co != NULL, 1, "coroutine");
  if (current(L))
    lua_sethook(co, on_count, LUA_MASKCOUNT, STEP);
  return 0;
}

/* icx.budget.over_memory(): this budget's cap is the allocator's limit
** now, so an allocation that failed failed on it (not on --max-memory). */
static int budget_over_memory(lua_State *L) {
  Budget *b = current(L);
  struct icx_alloc *a = icx_runtime_alloc(L);
  int ours = b && b->capped && a->limit == b->heap_base + b->bytes;
  lua_pushboolean(L, ours);
  return 1;
}

static const luaL_Reg budget_funcs[] = {{"arm", budget_arm},
                                        {"disarm", budget_disarm},
                                        {"armed", budget_armed},
                                        {"spent", budget_spent},
                                        {"pause", budget_pause},
                                        {"resume", budget_resume},
                                        {"adopt", budget_adopt},
                                        {"over_memory", budget_over_memory},
                                        {NULL, NULL}};

/* require "icx.budget": the module table. */
int luaopen_icx_budget(lua_State *L) {
  luaL_newlib(L, budget_funcs);
  return 1;
}
