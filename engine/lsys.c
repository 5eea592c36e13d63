/* icx.sys: clocks and process facts Lua's standard library lacks.
**
**   icx.sys.now() -> seconds          monotonic clock, for timers and rates
**   icx.sys.time() -> seconds         wall clock with sub-second precision
**   icx.sys.sleep(seconds)            blocks the whole process (tests, tools);
**                                     returns early once a signal is caught
**   icx.sys.trap_signals()            SIGINT/SIGTERM ask for a graceful stop
**   icx.sys.caught_signal() -> name, number | nil   ("SIGINT", 2)
**   icx.sys.pid() -> integer, icx.sys.hostname() -> string
**   icx.sys.alive(pid) -> boolean     a process with that pid exists
**   icx.sys.process_start(pid) -> integer | nil   its start, in ticks
**   icx.sys.isatty(fd) -> boolean     decides whether to draw progress
**   icx.sys.term_size(fd) -> columns, rows | nil   the terminal's size
**   icx.sys.dumpable() -> boolean | nil   false: no core file, no ptrace
**                                     (icx turns both off at start: the
**                                     token must not reach a core file)
**   icx.sys.memory() -> used, peak, limit    bytes held by the Lua state
**   icx.sys.set_memory_limit(bytes)   0 lifts the limit (--max-memory)
**   icx.sys.traceback([msg [, level]]) -> string   (no debug library is opened)
**   icx.sys.mkdir(path) -> true | nil, err, "io"     with parents (mkdir -p)
**   icx.sys.rename(from, to) -> true | nil, err, "io"   atomic replace
**   icx.sys.remove(path) -> true | nil, err, "io"    a missing file is fine
** (lualib needs these for JSONL files; os.rename and os.remove are trimmed
** from the state so asset scripts cannot reach them.)
*/

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "modules.h"
#include "runtime.h"
#include "signals.h"

/* icx.sys.now() -> monotonic seconds */
static int sys_now(lua_State *L) {
  lua_pushnumber(L, icx_clock_now());
  return 1;
}

/* icx.sys.time() -> wall-clock seconds */
static int sys_time(lua_State *L) {
  lua_pushnumber(L, icx_clock_wall());
  return 1;
}

/* icx.sys.sleep(seconds): blocks, but wakes for a caught signal so a
** stop is never delayed by a back-off. */
static int sys_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s <= 0)
    return 0;
  int fd = icx_signal_fd();
  if (fd >= 0) {
    /* poll on the signal pipe: a signal caught before or during the sleep
    ** ends it. */
    double end = icx_clock_now() + s;
    for (double left = s; left > 0 && !icx_signal_caught();
         left = end - icx_clock_now()) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, left > 1e6 ? 1000000000 : (int)ceil(left * 1000));
    }
    return 0;
  }
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
  return 0;
}

/* icx.sys.trap_signals() */
static int sys_trap_signals(lua_State *L) {
  (void)L;
  icx_signals_install();
  return 0;
}

/* icx.sys.caught_signal() -> name, number | nothing */
static int sys_caught_signal(lua_State *L) {
  int sig = icx_signal_caught();
  if (!sig)
    return 0;
  lua_pushstring(L, sig == SIGINT    ? "SIGINT"
                    : sig == SIGTERM ? "SIGTERM"
                                     : "signal");
  lua_pushinteger(L, sig);
  return 2;
}

/* icx.sys.pid() -> integer */
static int sys_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* icx.sys.hostname() -> string; "" when the system will not say. */
static int sys_hostname(lua_State *L) {
  char name[256];
  if (gethostname(name, sizeof name) != 0)
    name[0] = '\0';
  name[sizeof name - 1] = '\0';
  lua_pushstring(L, name);
  return 1;
}

/* icx.sys.process_start(pid) -> ticks since boot | nil: with the pid it
** names one process for good, since a reused pid has a later start. Linux
** keeps it as field 22 of /proc/PID/stat, after the parenthesised command
** name (which may itself hold spaces and parentheses). */
static int sys_process_start(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0 && pid <= INT32_MAX, 1, "must be a process id");
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p)
    return 0;
  for (int field = 2; field < 22 && p; field++)
    p = strchr(p + 1, ' ');
  if (!p)
    return 0;
  lua_pushinteger(L, (lua_Integer)strtoll(p + 1, NULL, 10));
  return 1;
}

/* EPERM still means the process exists (another user's). */
static int sys_alive(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0 && pid <= INT32_MAX, 1, "must be a process id");
  lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
  return 1;
}

/* icx.sys.dumpable() -> boolean | nil: whether this process may dump core
** or be traced; main() turns it off on Linux. nil where it cannot be told. */
static int sys_dumpable(lua_State *L) {
#ifdef __linux__
  lua_pushboolean(L, prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) > 0);
  return 1;
#else
  (void)L;
  return 0;
#endif
}

/* icx.sys.isatty(fd) -> boolean */
static int sys_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* icx.sys.term_size(fd) -> columns, rows | nil: TIOCGWINSZ, so the live
** display fits its lines; nil off a terminal or when the size is unknown. */
static int sys_term_size(lua_State *L) {
  struct winsize ws;
  int fd = (int)luaL_checkinteger(L, 1);
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, ws.ws_col);
  lua_pushinteger(L, ws.ws_row);
  return 2;
}

/* icx.sys.memory() -> used, peak, limit: the counting allocator's figures. */
static int sys_memory(lua_State *L) {
  struct icx_alloc *a = icx_runtime_alloc(L);
  lua_pushinteger(L, (lua_Integer)a->used);
  lua_pushinteger(L, (lua_Integer)a->peak);
  lua_pushinteger(L, (lua_Integer)a->limit);
  return 3;
}

/* icx.sys.set_memory_limit(bytes); 0 lifts it. */
static int sys_set_memory_limit(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0, 1, "must be >= 0");
  icx_runtime_alloc(L)->limit = (size_t)n;
  return 0;
}

/* icx.sys.traceback([msg [, level]]) -> string */
static int sys_traceback(lua_State *L) {
  int level = (int)luaL_optinteger(L, 2, 1);
  /* Used as an xpcall handler, so any error value may arrive here. */
  const char *msg = lua_isnoneornil(L, 1) ? NULL : luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, level);
  return 1;
}

/* Push true, or nil, "icx.sqlite: what 'path': strerror", "io" when ok is
** false (errno set by the failed call). [-0, +(1|3), m] */
static int push_io(lua_State *L, int ok, const char *what, const char *path) {
  if (ok) {
    lua_pushboolean(L, 1);
    return 1;
  }
  int err = errno;
  lua_pushnil(L);
  lua_pushfstring(L, "icx.sys: %s '%s': %s", what, path, strerror(err));
  lua_pushliteral(L, "io");
  return 3;
}

/* 1 if path names an existing directory. */
static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* icx.sys.mkdir(path) -> true | nil, err, "io". Creates missing parents
** like mkdir -p; the path is copied into a Lua buffer, so a raise leaks
** nothing. */
static int sys_mkdir(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  char *p = lua_newuserdatauv(L, n + 1, 0);
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char c = p[i];
    p[i] = '\0';
    if (!is_dir(p) && mkdir(p, 0777) != 0 && !(errno == EEXIST && is_dir(p)))
      return push_io(L, 0, "cannot create directory", p);
    p[i] = c;
  }
  return push_io(L, 1, NULL, NULL);
}

/* icx.sys.rename(from, to) -> true | nil, err, "io" */
static int sys_rename(lua_State *L) {
  const char *from = luaL_checkstring(L, 1);
  const char *to = luaL_checkstring(L, 2);
  return push_io(L, rename(from, to) == 0, "cannot rename", from);
}

/* icx.sys.remove(path) -> true | nil, err, "io"; a missing file is no
** error, so abandoning twice is harmless. */
static int sys_remove(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  return push_io(L, remove(path) == 0 || errno == ENOENT, "cannot remove",
                 path);
}

static const luaL_Reg sys_funcs[] = {{"mkdir", sys_mkdir},
                                     {"rename", sys_rename},
                                     {"remove", sys_remove},
                                     {"traceback", sys_traceback},
                                     {"now", sys_now},
                                     {"time", sys_time},
                                     {"sleep", sys_sleep},
                                     {"isatty", sys_isatty},
                                     {"term_size", sys_term_size},
                                     {"dumpable", sys_dumpable},
                                     {"memory", sys_memory},
                                     {"set_memory_limit", sys_set_memory_limit},
                                     {"trap_signals", sys_trap_signals},
                                     {"caught_signal", sys_caught_signal},
                                     {"pid", sys_pid},
                                     {"hostname", sys_hostname},
                                     {"alive", sys_alive},
                                     {"process_start", sys_process_start},
                                     {NULL, NULL}};

/* require "icx.sys": the module table. */
int luaopen_icx_sys(lua_State *L) {
  luaL_newlib(L, sys_funcs);
  return 1;
}
