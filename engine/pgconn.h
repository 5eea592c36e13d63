/*
** pgconn.h: what icx.pg's binding (lpg.c) and its record writer
** (pgwriter.c) share about a libpq connection (Lua-free): the connection's
** state, the short stable codes of its errors, and PostgreSQL identifiers.
*/
#ifndef ICX_PGCONN_H
#define ICX_PGCONN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#define ICX_PG_MAX_IDENT 63 /* NAMEDATALEN - 1 */

/* A connection and what its writers need to know of its transactions. */
struct icx_pg_conn {
  PGconn *pg;      /* owned; NULL once closed */
  unsigned gen;    /* bumped by rollback: staging tables may be gone */
  unsigned txn;    /* bumped by begin: tells a writer its stage is reused */
  unsigned nstage; /* serial for the names of writers' staging tables */
};

/*
** The short stable code of a failed result r (may be NULL: out of memory),
** or "connection" when pg is lost: "constraint", "deadlock",
** "serialization", "auth", "connection", "permission", "aborted", "nomem"
** or "pg".
*/
const char *icx_pg_code(PGconn *pg, const PGresult *r);

/* 1 when r succeeded as a command or a query. */
int icx_pg_ok(const PGresult *r);

/*
** Copies libpq's message msg (may be NULL) into dst (cap bytes) without its
** trailing newline and with inner line breaks as "; ", so one error is one
** log line.
*/
void icx_pg_one_line(char *dst, size_t cap, const char *msg);

/* FNV-1a of s[0, n): the hash in icx_pg_ident's long names. */
uint32_t icx_pg_hash(const char *s, size_t n);

/*
** Writes into out (ICX_PG_MAX_IDENT + 1 bytes) an identifier for s[0, n)
** of at most max bytes: s itself when it fits, else its first bytes up to
** a UTF-8 boundary, "_" and 8 hex digits of a hash of all of s, so long
** names stay apart.
*/
void icx_pg_ident(char *out, const char *s, size_t n, size_t max);

#endif
