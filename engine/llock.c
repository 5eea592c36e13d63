/*
** llock.c: icx.lock, locks the operating system releases when the holder
** dies, so a SIGKILLed, OOM-killed or evicted run never leaves an asset
** locked (the operator contract: one run per asset per destination).
**
**   icx.lock.acquire(path, slot) -> Lock | nil, err, code
**       an exclusive fcntl lock on byte `slot` (an integer >= 0) of the
**       file at path (created if missing); code "locked" when another
**       process holds it, "io" when the file cannot be opened or locked
**   icx.lock.holder(path, slot) -> pid | nil
**       the pid holding that byte (F_GETLK), nil when it is free or the
**       file does not exist
**
**   lock:release()       idempotent; also __gc and __close
**   tostring(lock)       "icx.lock.Lock (path:slot)" or "... (released)"
**
** Why fcntl byte ranges: one lock file per destination serves every
** (connection, asset) pair, each its own byte, and fcntl locks vanish with
** the process (close-on-exec keeps them out of children). They are
** per-process, so two Locks on one byte within a process do not conflict:
** the caller keeps one per pair.
*/

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "class.h"
#include "modules.h"

#define LOCK_MT "icx.lock.Lock"

typedef struct {
  int fd;         /* the open lock file, or -1 once released */
  lua_Integer at; /* the locked byte */
} Lock;

/* Fills an flock for one byte at `at`. */
static void byte_range(struct flock *fl, short type, lua_Integer at) {
  memset(fl, 0, sizeof *fl);
  fl->l_type = type;
  fl->l_whence = SEEK_SET;
  fl->l_start = (off_t)at;
  fl->l_len = 1;
}

/* The slot argument at idx as a non-negative integer.  [-0, +0, v] */
static lua_Integer check_slot(lua_State *L, int idx) {
  lua_Integer at = luaL_checkinteger(L, idx);
  luaL_argcheck(L, at >= 0 && at < ((lua_Integer)1 << 40), idx,
                "slot must be an integer from 0 to 2^40");
  return at;
}

/* icx.lock.acquire: the lock, or fail with "locked" or "io". */
static int lock_acquire(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer at = check_slot(L, 2);
  Lock *k = lua_newuserdatauv(L, sizeof *k, 0);
  k->fd = -1; /* closed until the lock is held: a failed setup leaks nothing */
  k->at = at;
  luaL_setmetatable(L, LOCK_MT);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot open lock file '%s': %s", path, strerror(e));
    lua_pushliteral(L, "io");
    return 3;
  }
  struct flock fl;
  byte_range(&fl, F_WRLCK, at);
  if (fcntl(fd, F_SETLK, &fl) != 0) {
    int e = errno;
    close(fd);
    luaL_pushfail(L);
    if (e == EACCES || e == EAGAIN) {
      lua_pushfstring(L, "'%s' is locked by another process", path);
      lua_pushliteral(L, "locked");
    } else {
      lua_pushfstring(L, "cannot lock '%s': %s", path, strerror(e));
      lua_pushliteral(L, "io");
    }
    return 3;
  }
  k->fd = fd;
  return 1;
}

/* icx.lock.holder: who holds the byte, as seen by F_GETLK (not ourselves). */
static int lock_holder(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer at = check_slot(L, 2);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    luaL_pushfail(L);
    return 1;
  }
  struct flock fl;
  byte_range(&fl, F_WRLCK, at);
  int rc = fcntl(fd, F_GETLK, &fl);
  close(fd);
  if (rc != 0 || fl.l_type == F_UNLCK) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)fl.l_pid);
  return 1;
}

/*
** Lock:release. Closing the file drops every lock this process holds on
** it, so the caller keeps one Lock per file and slot.
*/
static int lock_release(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  if (k->fd >= 0) {
    struct flock fl;
    byte_range(&fl, F_UNLCK, k->at);
    (void)fcntl(k->fd, F_SETLK, &fl);
    close(k->fd);
    k->fd = -1;
  }
  return 0;
}

/* "icx.lock.Lock (byte N)", or "(byte N, released)". */
static int lock_tostring(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  lua_pushfstring(L, "icx.lock.Lock (byte %I%s)", k->at,
                  k->fd < 0 ? ", released" : "");
  return 1;
}

static const luaL_Reg lock_methods[] = {{"release", lock_release},
                                        {NULL, NULL}};

static const luaL_Reg lock_meta[] = {{"__gc", lock_release},
                                     {"__close", lock_release},
                                     {"__tostring", lock_tostring},
                                     {NULL, NULL}};

static const luaL_Reg lock_funcs[] = {
    {"acquire", lock_acquire}, {"holder", lock_holder}, {NULL, NULL}};

int luaopen_icx_lock(lua_State *L) {
  icx_class_new(L, LOCK_MT, lock_meta, lock_methods, 0);
  luaL_newlib(L, lock_funcs);
  return 1;
}
