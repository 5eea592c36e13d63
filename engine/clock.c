/*
** clock.c: the one clock of icx (Lua-free). See clock.h.
*/
#include "clock.h"

#include <time.h>

/* Seconds on clock id as a double: microsecond precision for ~100 years. */
static double clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds on the monotonic clock; see clock.h. */
double icx_clock_now(void) {
  return clock_seconds(CLOCK_MONOTONIC);
}

/* Seconds since the Unix epoch; see clock.h. */
double icx_clock_wall(void) {
  return clock_seconds(CLOCK_REALTIME);
}
