/*
** pgconn.c: error codes and identifiers for icx.pg; see pgconn.h.
*/
#include "pgconn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The short stable code for a failed result's SQLSTATE. */
static const char *state_code(const char *st) {
  if (!st || strlen(st) != 5)
    return "pg";
  if (strncmp(st, "23", 2) == 0)
    return "constraint";
  if (strcmp(st, "40P01") == 0)
    return "deadlock";
  if (strcmp(st, "40001") == 0)
    return "serialization";
  if (strncmp(st, "28", 2) == 0)
    return "auth";
  if (strncmp(st, "08", 2) == 0)
    return "connection";
  if (strcmp(st, "42501") == 0)
    return "permission";
  if (strcmp(st, "25P02") == 0)
    return "aborted";
  return "pg";
}

/* The code of a failed result; see pgconn.h. */
const char *icx_pg_code(PGconn *pg, const PGresult *r) {
  if (PQstatus(pg) == CONNECTION_BAD)
    return "connection";
  if (!r)
    return "nomem";
  return state_code(PQresultErrorField(r, PG_DIAG_SQLSTATE));
}

/* Whether r succeeded; see pgconn.h. */
int icx_pg_ok(const PGresult *r) {
  ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* A message on one line; see pgconn.h. */
void icx_pg_one_line(char *dst, size_t cap, const char *msg) {
  size_t j = 0;
  for (size_t i = 0; msg && msg[i] && j + 3 < cap; i++) {
    if (msg[i] == '\n') {
      if (msg[i + 1] == '\0')
        break;
      dst[j++] = ';';
      dst[j++] = ' ';
      while (msg[i + 1] == ' ' || msg[i + 1] == '\t')
        i++;
    } else {
      dst[j++] = msg[i];
    }
  }
  dst[j] = '\0';
}

/* FNV-1a; see pgconn.h. */
uint32_t icx_pg_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* An identifier of at most max bytes; see pgconn.h. */
void icx_pg_ident(char *out, const char *s, size_t n, size_t max) {
  if (n <= max) {
    memcpy(out, s, n);
    out[n] = '\0';
    return;
  }
  size_t keep = max > 9 ? max - 9 : 0;
  while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
    keep--; /* never cut a multibyte character */
  memcpy(out, s, keep);
  snprintf(out + keep, ICX_PG_MAX_IDENT + 1 - keep, "_%08x",
           (unsigned)icx_pg_hash(s, n));
  out[max < ICX_PG_MAX_IDENT ? max : ICX_PG_MAX_IDENT] = '\0';
}
