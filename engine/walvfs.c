/*
** walvfs.c: the "icx-wal" SQLite VFS: a WAL file's appends gathered into
** large writes (see walvfs.h for when they are written and why that is
** safe). Every file but a -wal file is opened by the default VFS itself,
** in the space SQLite allocated for ours, so it runs exactly as before.
*/
#include "walvfs.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define FRAME_HDR 24 /* a WAL frame header; bytes 4..7: size after commit */
#define ROUND8(n) (((n) + 7) & ~(size_t)7)

/* A -wal file: the default VFS's file plus the appends not written yet. */
typedef struct {
  sqlite3_file base;  /* pMethods = &wal_methods */
  sqlite3_file *real; /* the default VFS's file, in the same allocation */
  char *buf;          /* owned: appends not written yet (NULL until needed) */
  sqlite3_int64 off;  /* file offset of buf[0] */
  int len;            /* bytes in buf */
  int commit;         /* the last append was a commit frame's header */
} WalFile;

/* The VFS is a process-wide SQLite object, registered once: SQLite keeps
** its own list of them, so this cannot live in a Lua state. */
static sqlite3_vfs wal_vfs;
static int registered; /* 1 registered, -1 failed */

static sqlite3_vfs *real_vfs(void) {
  return (sqlite3_vfs *)wal_vfs.pAppData;
}

/* Writes what is buffered. The buffer is emptied either way: after an
** error SQLite abandons the transaction, whose frames nobody reads. */
static int wal_flush(WalFile *w) {
  if (!w->len)
    return SQLITE_OK;
  int n = w->len;
  w->len = 0;
  return w->real->pMethods->xWrite(w->real, w->buf, n, w->off);
}

static int wal_close(sqlite3_file *f) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  int rc2 = w->real->pMethods->xClose(w->real);
  free(w->buf);
  w->buf = NULL;
  return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, n, off);
}

/* Appends go to the buffer; anything else (a frame rewritten in place, a
** write too large) first writes out what is buffered. A commit frame's page
** writes the buffer out at once. */
static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
  WalFile *w = (WalFile *)f;
  const unsigned char *b = p;
  int rc, commit = w->commit;
  w->commit = n == FRAME_HDR && (b[4] | b[5] | b[6] | b[7]) != 0;
  if (!w->buf && !(w->buf = malloc(ICX_WALVFS_BUF))) {
    rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xWrite(w->real, p, n, off);
  }
  if (!w->len || off != w->off + w->len || w->len + n > ICX_WALVFS_BUF) {
    rc = wal_flush(w);
    if (rc != SQLITE_OK)
      return rc;
    if (n > ICX_WALVFS_BUF)
      return w->real->pMethods->xWrite(w->real, p, n, off);
    w->off = off;
  }
  memcpy(w->buf + w->len, p, (size_t)n);
  w->len += n;
  return commit ? wal_flush(w) : SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_size(sqlite3_file *f, sqlite3_int64 *size) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xUnlock(w->real, level);
}

static int wal_reserved(sqlite3_file *f, int *out) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc
                         : w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_control(sqlite3_file *f, int op, void *arg) {
  WalFile *w = (WalFile *)f;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc
                         : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector(sqlite3_file *f) {
  WalFile *w = (WalFile *)f;
  return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device(sqlite3_file *f) {
  WalFile *w = (WalFile *)f;
  return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* SQLite maps shared memory and pages through the database file, never the
** WAL: these only pass the calls on. */
static int wal_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                       void volatile **pp) {
  WalFile *w = (WalFile *)f;
  if (w->real->pMethods->iVersion < 2)
    return SQLITE_IOERR_SHMMAP;
  return w->real->pMethods->xShmMap(w->real, pg, sz, ext, pp);
}

static int wal_shm_lock(sqlite3_file *f, int off, int n, int flags) {
  WalFile *w = (WalFile *)f;
  if (w->real->pMethods->iVersion < 2)
    return SQLITE_IOERR_SHMLOCK;
  return w->real->pMethods->xShmLock(w->real, off, n, flags);
}

static void wal_shm_barrier(sqlite3_file *f) {
  WalFile *w = (WalFile *)f;
  if (w->real->pMethods->iVersion >= 2)
    w->real->pMethods->xShmBarrier(w->real);
}

static int wal_shm_unmap(sqlite3_file *f, int del) {
  WalFile *w = (WalFile *)f;
  if (w->real->pMethods->iVersion < 2)
    return SQLITE_OK;
  return w->real->pMethods->xShmUnmap(w->real, del);
}

static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
  WalFile *w = (WalFile *)f;
  *pp = NULL;
  if (w->real->pMethods->iVersion < 3)
    return SQLITE_OK;
  int rc = wal_flush(w);
  return rc != SQLITE_OK ? rc : w->real->pMethods->xFetch(w->real, off, n, pp);
}

static int wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
  WalFile *w = (WalFile *)f;
  if (w->real->pMethods->iVersion < 3)
    return SQLITE_OK;
  return w->real->pMethods->xUnfetch(w->real, off, p);
}

static const sqlite3_io_methods wal_methods = {3,
                                               wal_close,
                                               wal_read,
                                               wal_write,
                                               wal_truncate,
                                               wal_sync,
                                               wal_size,
                                               wal_lock,
                                               wal_unlock,
                                               wal_reserved,
                                               wal_control,
                                               wal_sector,
                                               wal_device,
                                               wal_shm_map,
                                               wal_shm_lock,
                                               wal_shm_barrier,
                                               wal_shm_unmap,
                                               wal_fetch,
                                               wal_unfetch};

/* A -wal file gets the buffer; any other file is the default VFS's own,
** opened in place. */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                    int flags, int *out) {
  sqlite3_vfs *real = real_vfs();
  (void)vfs;
  if (!(flags & SQLITE_OPEN_WAL))
    return real->xOpen(real, name, f, flags, out);
  WalFile *w = (WalFile *)f;
  memset(w, 0, sizeof *w);
  w->real = (sqlite3_file *)((char *)w + ROUND8(sizeof *w));
  int rc = real->xOpen(real, name, w->real, flags, out);
  if (rc != SQLITE_OK) {
    if (w->real->pMethods)
      w->real->pMethods->xClose(w->real);
    w->base.pMethods = NULL;
    return rc;
  }
  w->base.pMethods = &wal_methods;
  return SQLITE_OK;
}

/* The rest is the default VFS's, called with its own object. */
static int vfs_delete(sqlite3_vfs *v, const char *name, int sync) {
  (void)v;
  return real_vfs()->xDelete(real_vfs(), name, sync);
}
static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return real_vfs()->xAccess(real_vfs(), name, flags, out);
}
static int vfs_full(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return real_vfs()->xFullPathname(real_vfs(), name, n, out);
}
static void *vfs_dlopen(sqlite3_vfs *v, const char *name) {
  (void)v;
  return real_vfs()->xDlOpen(real_vfs(), name);
}
static void vfs_dlerror(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  real_vfs()->xDlError(real_vfs(), n, out);
}
static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  (void)v;
  return real_vfs()->xDlSym(real_vfs(), h, sym);
}
static void vfs_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  real_vfs()->xDlClose(real_vfs(), h);
}
static int vfs_random(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return real_vfs()->xRandomness(real_vfs(), n, out);
}
static int vfs_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return real_vfs()->xSleep(real_vfs(), us);
}
static int vfs_time(sqlite3_vfs *v, double *out) {
  (void)v;
  return real_vfs()->xCurrentTime(real_vfs(), out);
}
static int vfs_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return real_vfs()->xGetLastError
             ? real_vfs()->xGetLastError(real_vfs(), n, out)
             : 0;
}
static int vfs_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  sqlite3_vfs *r = real_vfs();
  if (r->iVersion >= 2 && r->xCurrentTimeInt64)
    return r->xCurrentTimeInt64(r, out);
  double t;
  int rc = r->xCurrentTime(r, &t);
  *out = (sqlite3_int64)(t * 86400000.0);
  return rc;
}

/* Registers the VFS; see walvfs.h. */
const char *icx_walvfs(void) {
  if (!registered) {
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    registered = -1;
    if (real && sqlite3_initialize() == SQLITE_OK) {
      wal_vfs.iVersion = 2;
      wal_vfs.szOsFile =
          (int)(ROUND8(sizeof(WalFile)) + (size_t)real->szOsFile);
      wal_vfs.mxPathname = real->mxPathname;
      wal_vfs.zName = ICX_WALVFS_NAME;
      wal_vfs.pAppData = real;
      wal_vfs.xOpen = vfs_open;
      wal_vfs.xDelete = vfs_delete;
      wal_vfs.xAccess = vfs_access;
      wal_vfs.xFullPathname = vfs_full;
      wal_vfs.xDlOpen = vfs_dlopen;
      wal_vfs.xDlError = vfs_dlerror;
      wal_vfs.xDlSym = vfs_dlsym;
      wal_vfs.xDlClose = vfs_dlclose;
      wal_vfs.xRandomness = vfs_random;
      wal_vfs.xSleep = vfs_sleep;
      wal_vfs.xCurrentTime = vfs_time;
      wal_vfs.xGetLastError = vfs_error;
      wal_vfs.xCurrentTimeInt64 = vfs_time64;
      if (sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK)
        registered = 1;
    }
  }
  return registered > 0 ? ICX_WALVFS_NAME : NULL;
}
