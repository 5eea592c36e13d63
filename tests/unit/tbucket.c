/* Unit tests for tbucket.c: burst, refill, server re-sync and fractional
** rates, all on an injected clock (nothing here sleeps). */

#include <math.h>
#include <stdio.h>

#include "tap.h"
#include "tbucket.h"

/* Records a check that two doubles agree within 1e-6. */
static void is_near(double got, double want, const char *name) {
  if (!tap_ok(fabs(got - want) < 1e-6, name))
    printf("#   got %.9f, want %.9f\n", got, want);
}

/* Takes up to `max` tokens at `now`; returns how many were granted before
** the first refusal. */
static int drain(struct icx_tbucket *b, double now, int max) {
  int n = 0;
  while (n < max && icx_tbucket_take(b, now) == 0)
    n++;
  return n;
}

/* A new bucket grants its whole limit at once, then asks for a wait of one
** refill interval. */
static void test_burst(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 166, 10, 1000);
  TAP_IS_INT(drain(&b, 1000, 1000), 166, "burst: a full bucket grants 166");
  is_near(icx_tbucket_take(&b, 1000), 10.0 / 166,
          "burst: the 167th waits one refill interval");
  is_near(icx_tbucket_available(&b, 1000), 0, "burst: nothing left");
}

/* Tokens come back at limit/window per second and never beyond capacity. */
static void test_refill(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 100, 10, 0);
  drain(&b, 0, 1000);
  TAP_IS_INT(drain(&b, 1, 1000), 10, "refill: 1 s later, 10 more");
  TAP_IS_INT(drain(&b, 1.05, 1000), 0, "refill: 0.05 s later, none");
  TAP_IS_INT(drain(&b, 1.1, 1000), 1, "refill: 0.1 s later, one");
  TAP_IS_INT(drain(&b, 1000, 1000), 100, "refill: capped at the limit");
  TAP_IS_INT(drain(&b, 500, 1000), 0, "refill: a clock going back earns 0");
  is_near(icx_tbucket_take(&b, 1000), 0.1, "refill: wait after the cap");
}

/* Fractional rates: 1 per 3 s, and 166.5 per 10 s, carry the fraction. */
static void test_fractional(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 1, 3, 0);
  is_near(icx_tbucket_take(&b, 0), 0, "fractional: first granted");
  is_near(icx_tbucket_take(&b, 0), 3, "fractional: second waits 3 s");
  is_near(icx_tbucket_take(&b, 1.5), 1.5, "fractional: half way, 1.5 s left");
  is_near(icx_tbucket_take(&b, 3), 0, "fractional: granted at 3 s");

  icx_tbucket_init(&b, 166.5, 10, 0);
  TAP_IS_INT(drain(&b, 0, 1000), 166, "fractional: 166 of 166.5 at once");
  is_near(icx_tbucket_available(&b, 0), 0.5, "fractional: half a token kept");
  is_near(icx_tbucket_take(&b, 0), 0.5 * 10 / 166.5,
          "fractional: the wait counts the half token");
  /* 0.3 s at 16.65/s earns 4.995 tokens: 5 with the half carried over. */
  TAP_IS_INT(drain(&b, 0.3, 1000), 5, "fractional: the fraction carries");
}

/* The server's headers re-align the bucket: a lower remaining count holds
** requests until the reset; the window then restarts full. */
static void test_sync(void) {
  struct icx_tbucket b;
  /* Mono clock 50 while the wall clock reads 1000003: reset at 1000010
  ** is 7 s away, i.e. mono 57. */
  icx_tbucket_init(&b, 166, 10, 50);
  icx_tbucket_sync(&b, 166, 5, 1000010, 1000003, 50, -1);
  TAP_IS_INT(drain(&b, 50, 1000), 5, "sync: only the server's 5 are granted");
  is_near(icx_tbucket_take(&b, 50), 7, "sync: then wait for the reset");
  is_near(icx_tbucket_take(&b, 56), 1, "sync: 1 s before the reset, 1 s");
  TAP_IS_INT(drain(&b, 57, 1000), 166,
             "sync: a new window grants the limit (bucket refilled too)");

  /* Another app shares the budget: a lower count in the same window wins. */
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, 166, 100, 1000010, 1000000, 0, -1);
  icx_tbucket_sync(&b, 166, 3, 1000010, 1000001, 1, -1);
  TAP_IS_INT(drain(&b, 1, 1000), 3, "sync: the lower count in a window wins");
  /* A stale, higher count from the same window does not raise it. */
  icx_tbucket_sync(&b, 166, 90, 1000010, 1000002, 2, -1);
  TAP_IS_INT(drain(&b, 2, 1000), 0, "sync: a stale higher count is ignored");

  /* A sudden drop of the limit (POST /_sim/rate): capacity shrinks. */
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, 20, 19, 1000010, 1000000, 0, -1);
  TAP_IS_INT(drain(&b, 0, 1000), 19, "sync: a dropped limit applies at once");
  TAP_IS_INT(drain(&b, 10, 1000), 20, "sync: next window, the new limit");
  is_near(b.limit, 20, "sync: the bucket's limit follows the header");

  /* A raised limit is believed within the window: no idling. */
  icx_tbucket_init(&b, 10, 10, 0);
  icx_tbucket_sync(&b, 10, 0, 1000010, 1000000, 0, -1);
  icx_tbucket_sync(&b, 50, 40, 1000010, 1000000, 0, -1);
  TAP_IS_INT(drain(&b, 0, 1000), 10, "sync: raised limit, bucket's 10 now");
  TAP_IS_INT(drain(&b, 2, 1000), 10, "sync: and 5/s after (server allows)");

  /* Late response from a window that has ended: its count is ignored. */
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, 166, 100, 1000010, 1000000, 0, -1);
  drain(&b, 10.5, 1); /* rolls into the window ending at mono 20 */
  icx_tbucket_sync(&b, 166, 0, 1000010, 1000010.5, 10.5, -1);
  TAP_IS_INT(drain(&b, 10.5, 2), 2, "sync: a late count is not applied");

  /* 429 with a reset in the past (clock skew): no negative wait. */
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, 166, 0, 999990, 1000000, 0, -1);
  tap_ok(icx_tbucket_take(&b, 0) == 0, "sync: a reset in the past is now");

  /* Headers without a reset only ever lower the count. */
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, -1, 2, 0, 1000000, 0, -1);
  TAP_IS_INT(drain(&b, 0, 1000), 2, "sync: remaining without reset lowers");
}

/* Tickets: a response counts only the requests the server had seen, so
** requests granted after it are still to be subtracted. */
static void test_tickets(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 166, 10, 0);
  double tickets[4];
  for (int i = 0; i < 4; i++) {
    icx_tbucket_take(&b, 0);
    tickets[i] = b.grants;
  }
  TAP_IS_INT(tickets[0], 1, "tickets: the first grant is ticket 1");
  /* Four requests in flight; the first one's response says 7 of 8 left. */
  icx_tbucket_sync(&b, 8, 7, 1000010, 1000000, 0, tickets[0]);
  TAP_IS_INT(drain(&b, 0, 100), 4, "tickets: 3 later grants are subtracted");
  /* The last one's response (8 used) adds nothing new. */
  icx_tbucket_sync(&b, 8, 0, 1000010, 1000000, 0, tickets[3] + 4);
  TAP_IS_INT(drain(&b, 0, 100), 0, "tickets: the window stays spent");
  /* A response older than many grants cannot go below zero. */
  icx_tbucket_init(&b, 166, 10, 0);
  drain(&b, 0, 10);
  icx_tbucket_sync(&b, 166, 2, 1000010, 1000000, 0, 1);
  TAP_IS_INT(drain(&b, 0, 100), 0, "tickets: never below zero");
}

/* A hold (a 429's Retry-After) stops every grant for its length only, and
** leaves the window's count alone: after a 1 s hold the requests left in
** the window go at once, not at the window's reset. */
static void test_hold(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 166, 10, 0);
  icx_tbucket_sync(&b, 166, 100, 1000009, 1000000, 0, -1);
  icx_tbucket_hold(&b, 1);
  is_near(icx_tbucket_take(&b, 0), 1, "hold: 1 s to wait at once");
  is_near(icx_tbucket_take(&b, 0.5), 0.5, "hold: half of it later");
  TAP_IS_INT(drain(&b, 1, 1000), 100,
             "hold: then the window's 100 go, not at its reset");
  icx_tbucket_init(&b, 166, 10, 0);
  drain(&b, 0, 100);
  icx_tbucket_hold(&b, 3);
  icx_tbucket_hold(&b, 2);
  is_near(icx_tbucket_take(&b, 1.5), 1.5,
          "hold: a shorter hold never shortens a longer one");
  is_near(icx_tbucket_available(&b, 1.5), 66 + 1.5 * 16.6,
          "hold: tokens still refill while held");
}

/* Bad arguments fall back to Intercom's default of 166 per 10 s. */
static void test_defaults(void) {
  struct icx_tbucket b;
  icx_tbucket_init(&b, 0, -1, 0);
  is_near(b.limit, 166, "defaults: limit 166");
  is_near(b.window, 10, "defaults: window 10 s");
}

int main(void) {
  test_burst();
  test_refill();
  test_fractional();
  test_sync();
  test_tickets();
  test_hold();
  test_defaults();
  return tap_done();
}
