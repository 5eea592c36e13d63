/*
** tests/unit/walvfs.c: TAP tests of the "icx-wal" VFS (engine/walvfs.c) on
** real files: a commit's WAL frames go out in a few large writes (counted
** with /proc/self/io's syscw), yet every commit is in the file when COMMIT
** returns (a connection of the default VFS sees it, a process that dies
** right after keeps it), a transaction that never commits leaves nothing,
** and spills, frames rewritten in place and checkpoints keep the file
** intact.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tap.h"
#include "walvfs.h"

static char dir[] = "/tmp/icx-walvfs-XXXXXX";
static char path[64];

/* Write system calls made by this process so far (-1 without /proc). */
static long long syscw(void) {
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  long long n = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "syscw: %lld", &n) == 1)
      break;
  if (f)
    fclose(f);
  return n;
}

static void rm_db(void) {
  char p[80];
  static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
    snprintf(p, sizeof p, "%s%s", path, ext[i]);
    unlink(p);
  }
}

/* A connection through vfs (NULL: the default), in WAL mode with NORMAL
** sync as icx.sqlite opens its files. */
static sqlite3 *open_db(const char *vfs) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      vfs) != SQLITE_OK ||
      sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                   "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    printf("Bail out! cannot open %s: %s\n", path,
           db ? sqlite3_errmsg(db) : "no memory");
    exit(1);
  }
  return db;
}

static int exec(sqlite3 *db, const char *sql) {
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    printf("# %s: %s\n", sql, sqlite3_errmsg(db));
  return rc;
}

static long long one(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static const char *check(sqlite3 *db) {
  static char out[64];
  sqlite3_stmt *st = NULL;
  snprintf(out, sizeof out, "no answer");
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

/* n rows of about 3,000 bytes each (a page apiece) from id `from` on. */
static int insert_rows(sqlite3 *db, int from, int n) {
  char sql[160];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c "
           "WHERE i < %d) INSERT INTO t SELECT i, randomblob(3000) FROM c",
           from, from + n - 1);
  return exec(db, sql);
}

/* The writes of one commit of 200 pages: 2 per frame without the VFS. */
static long long writes_of_commit(const char *vfs) {
  rm_db();
  sqlite3 *db = open_db(vfs);
  long long before = syscw();
  exec(db, "BEGIN");
  insert_rows(db, 1, 200);
  exec(db, "COMMIT");
  long long n = syscw() - before;
  sqlite3_close(db);
  return n;
}

static void test_fewer_writes(void) {
  long long plain = writes_of_commit(NULL), ours = writes_of_commit("icx-wal");
  if (!tap_ok(plain >= 400, "the default VFS writes each of 200 frames twice"))
    printf("#   %lld writes\n", plain);
  /* A tenth, not a count: valgrind makes write calls of its own. */
  if (!tap_ok(ours > 0 && ours * 10 <= plain,
              "icx-wal writes the commit in 64 KB pieces"))
    printf("#   %lld writes (default VFS: %lld)\n", ours, plain);
}

static void test_visible_at_commit(void) {
  rm_db();
  sqlite3 *w = open_db("icx-wal"), *r = open_db(NULL);
  exec(w, "BEGIN");
  insert_rows(w, 1, 50);
  TAP_IS_INT(one(r, "SELECT count(*) FROM t"), 0,
             "another connection sees nothing before the commit");
  exec(w, "COMMIT");
  TAP_IS_INT(one(r, "SELECT count(*) FROM t"), 50,
             "and the whole commit right after it");
  exec(r, "INSERT INTO t VALUES (1000, 'r')");
  exec(w, "BEGIN");
  insert_rows(w, 51, 10);
  exec(w, "COMMIT");
  TAP_IS_INT(one(w, "SELECT count(*) FROM t"), 61,
             "the writer sees the other connection's commit and its own");
  TAP_IS_STR(check(r), "ok", "integrity_check by the other connection");
  sqlite3_close(r);
  sqlite3_close(w);
}

/* A child commits through icx-wal, then starts a transaction big enough to
** spill frames to the WAL, and dies without closing anything. */
static void test_dies_after_commit(void) {
  rm_db();
  sqlite3_close(open_db(NULL));
  fflush(stdout); /* or the child may print the parent's lines again */
  pid_t pid = fork();
  if (pid == 0) {
    sqlite3 *db = open_db("icx-wal");
    exec(db, "PRAGMA cache_size=20");
    exec(db, "BEGIN");
    insert_rows(db, 1, 120);
    exec(db, "COMMIT");
    exec(db, "BEGIN");
    insert_rows(db, 121, 300);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  sqlite3 *db = open_db(NULL);
  TAP_IS_INT(one(db, "SELECT count(*) FROM t"), 120,
             "a process killed after COMMIT keeps the commit, not the "
             "uncommitted spill");
  TAP_IS_STR(check(db), "ok", "integrity_check after the kill");
  sqlite3_close(db);
}

/* A small cache makes SQLite spill pages mid-transaction, read them back
** and rewrite frames in place; then a checkpoint copies them home. */
static void test_spill_rewrite_checkpoint(void) {
  rm_db();
  sqlite3 *db = open_db("icx-wal");
  exec(db, "PRAGMA cache_size=10");
  exec(db, "BEGIN");
  insert_rows(db, 1, 200);
  exec(db, "UPDATE t SET v = randomblob(2000) WHERE id % 3 = 0");
  exec(db, "UPDATE t SET v = zeroblob(100) WHERE id % 7 = 0");
  exec(db, "COMMIT");
  TAP_IS_INT(one(db, "SELECT sum(length(v) = 100) FROM t"), 28,
             "the last update of each row is what was committed");
  TAP_IS_INT(one(db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0,
             "a checkpoint completes");
  sqlite3_close(db);
  db = open_db(NULL);
  TAP_IS_INT(one(db, "SELECT count(*) FROM t"), 200,
             "the default VFS reads the checkpointed file");
  TAP_IS_STR(check(db), "ok", "integrity_check after the checkpoint");
  sqlite3_close(db);
}

int main(void) {
  if (!mkdtemp(dir)) {
    printf("Bail out! mkdtemp\n");
    return 1;
  }
  snprintf(path, sizeof path, "%s/t.db", dir);
  TAP_IS_STR(icx_walvfs(), ICX_WALVFS_NAME, "the VFS registers");
  TAP_IS_STR(icx_walvfs(), ICX_WALVFS_NAME, "once");
  test_fewer_writes();
  test_visible_at_commit();
  test_dies_after_commit();
  test_spill_rewrite_checkpoint();
  rm_db();
  rmdir(dir);
  return tap_done();
}
