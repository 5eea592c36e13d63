/*
** llock.c: icx.lock, locks the operating system releases when the holder
** dies, so a SIGKILLed, OOM-killed or evicted run never leaves an asset
** locked (the operator contract: one run per asset per destination).
**
**   icx.lock.acquire(path, slot) -> Lock | nil, err, code
**       an exclusive lock on byte `slot` (an integer >= 0) of the file at
**       path (created if missing); code "locked" when another process
**       holds it, "io" when the file cannot be opened or locked
**   icx.lock.holder(path, slot) -> pid | nil
**       the pid holding that byte, nil when it is free (or held by this
**       process) or the file does not exist
**
**   lock:release()       idempotent; also __gc and __close
**   tostring(lock)       "icx.lock.Lock (byte N)" or "... (byte N, released)"
**
** Why open file description locks (F_OFD_SETLK): one lock file per
** destination serves every (connection, asset) pair, each its own byte,
** and the locks vanish with the process. Classic POSIX fcntl locks would
** too, but the kernel drops every one of them a process holds on a file as
** soon as it closes *any* descriptor of that file: a `--wait` run polling
** for its next asset dropped the locks it already held. An OFD lock belongs
** to the open file description and goes only when that is closed.
**
** OFD locks carry no pid (F_OFD_GETLK says -1), so each holder also keeps
** a shared POSIX read lock on a shadow byte (slot + SHADOW) that only says
** who it is: F_GETLK on the shadow names the pid. The shadow is taken
** before the real lock and dropped after it, so a held byte always has a
** named holder; losing a shadow to a descriptor close costs only the name.
**
** One descriptor per path serves every Lock of this process (refcounted in
** the registry), so a Lock on the same byte twice within one process does
** not conflict: the caller keeps one per pair, as before.
*/

#define _GNU_SOURCE /* F_OFD_SETLK, F_OFD_GETLK */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "class.h"
#include "modules.h"

#define LOCK_MT "icx.lock.Lock"
#define FILES_KEY "icx.lock.files" /* registry: path -> FileRef userdata */
#define MAX_SLOT ((lua_Integer)1 << 40)
#define SHADOW MAX_SLOT /* the pid-naming byte of slot s is s + SHADOW */

/* The one open lock file of a path, shared by this process's Locks. */
typedef struct {
  int fd;   /* owned; closed when refs drops to 0 */
  int refs; /* Locks holding a byte through fd */
} FileRef;

typedef struct {
  FileRef *file;  /* pinned by the Lock's user value; NULL once released */
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

/* Takes or drops (F_UNLCK) the OFD lock on byte at: 0 or -1 with errno. */
static int ofd_set(int fd, short type, lua_Integer at) {
  struct flock fl;
  byte_range(&fl, type, at);
  return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Takes or drops the shadow read lock of byte at; best effort (see top). */
static void shadow_set(int fd, short type, lua_Integer at) {
  struct flock fl;
  byte_range(&fl, type, at + SHADOW);
  (void)fcntl(fd, F_SETLK, &fl);
}

/* The slot argument at idx as a non-negative integer.  [-0, +0, v] */
static lua_Integer check_slot(lua_State *L, int idx) {
  lua_Integer at = luaL_checkinteger(L, idx);
  luaL_argcheck(L, at >= 0 && at < MAX_SLOT, idx,
                "slot must be an integer from 0 to 2^40");
  return at;
}

/* Pushes this process's FileRef of path, or nil when none is open.
** [-0, +1, m] */
static FileRef *file_of(lua_State *L, const char *path) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, FILES_KEY);
  lua_getfield(L, -1, path);
  lua_remove(L, -2);
  return lua_touserdata(L, -1);
}

/* Forgets path's FileRef once its last Lock is gone.  [-0, +0, m] */
static void file_forget(lua_State *L, const char *path) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, FILES_KEY);
  lua_pushnil(L);
  lua_setfield(L, -2, path);
  lua_pop(L, 1);
}

/* Pushes the FileRef of path, opening the file when this process holds no
** lock on it yet; NULL (and nothing pushed) with errno on failure.
** [-0, +(0|1), m] */
static FileRef *file_open(lua_State *L, const char *path) {
  FileRef *f = file_of(L, path);
  if (f)
    return f;
  lua_pop(L, 1);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return NULL;
  f = lua_newuserdatauv(L, sizeof *f, 0);
  f->fd = fd;
  f->refs = 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, FILES_KEY);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, path);
  lua_pop(L, 1);
  return f;
}

/* Closes f when no Lock uses it any more. */
static void file_unref(lua_State *L, FileRef *f, const char *path) {
  if (f->refs > 0)
    return;
  close(f->fd);
  f->fd = -1;
  file_forget(L, path);
}

/* icx.lock.acquire: the lock, or fail with "locked" or "io". */
static int lock_acquire(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer at = check_slot(L, 2);
  lua_settop(L, 2);
  Lock *k = lua_newuserdatauv(L, sizeof *k, 2);
  k->file = NULL; /* released until held: a failed setup leaks nothing */
  k->at = at;
  luaL_setmetatable(L, LOCK_MT);
  FileRef *f = file_open(L, path);
  if (!f) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot open lock file '%s': %s", path, strerror(e));
    lua_pushliteral(L, "io");
    return 3;
  }
  shadow_set(f->fd, F_RDLCK, at);
  if (ofd_set(f->fd, F_WRLCK, at) != 0) {
    int e = errno;
    shadow_set(f->fd, F_UNLCK, at);
    file_unref(L, f, path);
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
  f->refs++;
  k->file = f;
  lua_setiuservalue(L, 3, 1); /* pins the FileRef */
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, 2); /* the path, to forget the FileRef */
  return 1;
}

/* icx.lock.holder: who holds the byte, as the shadow names it. Through this
** process's own descriptor when it has one, so the query closes nothing
** that holds a lock (and our own locks do not count). */
static int lock_holder(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer at = check_slot(L, 2);
  FileRef *f = file_of(L, path);
  int fd = f ? f->fd : open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    luaL_pushfail(L);
    return 1;
  }
  struct flock fl;
  byte_range(&fl, F_WRLCK, at);
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  struct flock who;
  byte_range(&who, F_WRLCK, at + SHADOW);
  if (rc == 0 && fl.l_type != F_UNLCK && fcntl(fd, F_GETLK, &who) != 0)
    who.l_type = F_UNLCK;
  if (!f)
    close(fd); /* no lock of ours on this file: nothing to drop */
  if (rc != 0 || fl.l_type == F_UNLCK) {
    luaL_pushfail(L);
    return 1;
  }
  /* Held, though the name may be gone (a shadow lost to a close in the
  ** holder): a pid of 0 still says "taken". */
  lua_pushinteger(L, who.l_type == F_UNLCK ? 0 : (lua_Integer)who.l_pid);
  return 1;
}

/*
** Lock:release. Drops the byte and its shadow; the file closes with the
** process's last Lock on it.
*/
static int lock_release(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  FileRef *f = k->file;
  if (f) {
    k->file = NULL;
    (void)ofd_set(f->fd, F_UNLCK, k->at);
    shadow_set(f->fd, F_UNLCK, k->at);
    f->refs--;
    lua_getiuservalue(L, 1, 2);
    file_unref(L, f, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return 0;
}

/* "icx.lock.Lock (byte N)", or "(byte N, released)". */
static int lock_tostring(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  lua_pushfstring(L, "icx.lock.Lock (byte %I%s)", k->at,
                  k->file ? "" : ", released");
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
