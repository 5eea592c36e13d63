/*
** tests/unit/clock.c: the one clock (engine/clock.c). The monotonic clock must
** never step back and must advance across a real sleep; the wall clock must
** agree with time(2), since rate-limit resets are compared with it.
*/
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "tap.h"

int main(void) {
  double a = icx_clock_now(), prev = a;
  int back = 0;
  for (int i = 0; i < 100000; i++) {
    double t = icx_clock_now();
    back |= t < prev;
    prev = t;
  }
  tap_ok(!back, "monotonic: 100000 readings never step back");
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  double d = icx_clock_now() - a;
  if (!tap_ok(d >= 0.019 && d < 5, "monotonic: a 20 ms sleep shows"))
    printf("#   advanced %.6f s\n", d);
  double w = icx_clock_wall();
  if (!tap_ok(fabs(w - (double)time(NULL)) < 2, "wall: agrees with time(2)"))
    printf("#   wall %.3f, time %lld\n", w, (long long)time(NULL));
  tap_ok(w != floor(w) || icx_clock_wall() != w,
         "wall: has sub-second precision");
  return tap_done();
}
