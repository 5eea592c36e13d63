/* Minimal TAP for C unit tests: prove reads the plan and ok/not ok lines. */
#ifndef ICX_TAP_H
#define ICX_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* Records one check; returns cond so callers can add diagnostics. */
static inline int tap_ok(int cond, const char *name) {
  tap_n++;
  if (!cond)
    tap_failed++;
  printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
  return cond;
}

#define TAP_IS_INT(got, want, name)                                            \
  do {                                                                         \
    long long g_ = (long long)(got), w_ = (long long)(want);                   \
    if (!tap_ok(g_ == w_, name))                                               \
      printf("#   got %lld, want %lld\n", g_, w_);                             \
  } while (0)

#define TAP_IS_STR(got, want, name)                                            \
  do {                                                                         \
    const char *g_ = (got), *w_ = (want);                                      \
    if (!tap_ok(g_ && w_ && strcmp(g_, w_) == 0, name))                        \
      printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_);             \
  } while (0)

/* Prints the plan at the end and returns the exit status. */
static inline int tap_done(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
