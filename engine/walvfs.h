/*
** walvfs.h: a SQLite VFS that writes a transaction's WAL frames in large
** pwrites instead of two per page (Lua-free).
**
** SQLite appends each WAL frame as two writes, its 24-byte header and its
** page, so a commit of N pages costs 2N system calls. The VFS "icx-wal"
** wraps the default VFS and gathers the appends to a -wal file in a buffer
** of ICX_WALVFS_BUF bytes, written out when it is full, when the commit
** frame (a frame header with a non-zero database size) has its page, and
** before anything else touches the file (a read, a sync, a truncate, its
** size, a lock, close). A commit therefore reaches the file before
** SQLite's commit returns, exactly as without the buffer, and a write error
** is still the error of the write that SQLite made. Frames of a transaction
** that has no commit frame yet are invisible to readers and to recovery,
** so holding them in memory changes nothing anyone can see. Every other
** file (the database, -shm, journals) is the default VFS's own.
*/
#ifndef ICX_WALVFS_H
#define ICX_WALVFS_H

#define ICX_WALVFS_NAME "icx-wal"
#define ICX_WALVFS_BUF (64 * 1024)

/* Registers "icx-wal" over the default VFS once per process (SQLite's VFS
** list is process-wide). Returns the name to pass to sqlite3_open_v2, or
** NULL when it cannot (then open with the default VFS). */
const char *icx_walvfs(void);

#endif
