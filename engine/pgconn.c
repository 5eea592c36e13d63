/*
** pgconn.c: error codes and identifiers for icx.pg; see pgconn.h.
*/
#include "pgconn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* SQLSTATEs (a class when two characters long) and their codes. */
static const struct {
  const char *state, *code;
} state_codes[] = {
    {"23", "constraint"}, {"40P01", "deadlock"},     {"40001", "serialization"},
    {"28", "auth"},       {"08", "connection"},      {"42501", "permission"},
    {"25P02", "aborted"}, {"55P03", "lock_timeout"}, {"57014", "timeout"},
};

/* The short stable code for a failed result's SQLSTATE. */
static const char *state_code(const char *st) {
  if (!st || strlen(st) != 5)
    return "pg";
  for (size_t i = 0; i < sizeof state_codes / sizeof state_codes[0]; i++)
    if (strncmp(st, state_codes[i].state, strlen(state_codes[i].state)) == 0)
      return state_codes[i].code;
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
