/* icx: the command line. Everything past creating the state lives in
** lualib/icx/cli.lua; this file turns its result into an exit code.
**
** Exit codes (the table: lualib/icx/exitcodes.lua): 0 success, 1 the run
** failed, 2 usage, configuration or script error, 3 internal error (a bug in
** icx, or out of memory before Lua could say so), 4 an asset was skipped, 5
** incomplete.
*/

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"

#define EXIT_INTERNAL 3

/* Runs require("icx.cli").main(argv) and leaves its result on the stack.
** [-0, +1, e] */
static int run_cli(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "icx.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

/* The access token is in memory for the whole run, and a core file would
** copy it to disk (or to a crash reporter) where other people may read it.
** RLIMIT_CORE 0 stops the kernel writing one; non-dumpable also keeps other
** processes of the same user from ptrace-ing the token out, and covers a
** core_pattern pipe, which ignores RLIMIT_CORE. Failures are ignored: both
** only remove capabilities, and a kernel refusing is no reason not to run. */
static void no_core_dumps(void) {
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
#ifdef __linux__
  prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
#endif
}

/* Protects the process, makes the state, runs the CLI, maps its result to
** the exit code. SIGPIPE is ignored: a reader that closes stdout (icx run
** --dest jsonl:- | head -1) would otherwise kill icx silently with 141 in
** the middle of a page; ignored, the write fails with EPIPE and the
** destination reports it (exit 1, a message on stderr). */
int main(int argc, char **argv) {
  no_core_dumps();
  signal(SIGPIPE, SIG_IGN);
  /* `icx lua` is the developer's runner: it keeps io and the full os. */
  int flags = (argc > 1 && strcmp(argv[1], "lua") == 0) ? ICX_RT_DEV : 0;
  struct icx_alloc alloc = {0, 0, 0};
  lua_State *L = icx_runtime_new(&alloc, flags);
  if (!L) {
    fputs("icx: out of memory\n", stderr);
    return EXIT_INTERNAL;
  }
  lua_pushcfunction(L, icx_runtime_traceback);
  lua_pushcfunction(L, run_cli);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int code = EXIT_INTERNAL;
  if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "icx: internal error: %s\n", msg ? msg : "(no message)");
  } else if (lua_isinteger(L, -1)) {
    code = (int)lua_tointeger(L, -1);
  } else {
    fputs("icx: internal error: cli returned no exit code\n", stderr);
  }
  fflush(stdout);
  icx_runtime_close(L);
  return code;
}
