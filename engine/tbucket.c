/* Token bucket for the Intercom rate limit (see tbucket.h for the model). */

#include "tbucket.h"

#include <math.h>

#define TB_DEFAULT_LIMIT 166.0
#define TB_DEFAULT_WINDOW 10.0

/* Floating-point slack when comparing token counts: a bucket refilled to
** 0.9999999999 must grant, or a waiter would be woken again and again for
** nanosecond-sized waits. */
#define TB_EPS 1e-9

/* Adds the tokens earned since the last refill, up to the capacity. A clock
** that goes backwards earns nothing rather than taking tokens away. */
static void tb_refill(struct icx_tbucket *b, double now) {
  double dt = now - b->last;
  if (dt > 0) {
    b->tokens += dt * b->limit / b->window;
    if (b->tokens > b->limit)
      b->tokens = b->limit;
  }
  if (now > b->last)
    b->last = now;
}

/* Moves the server window forward when its reset has passed: the server
** starts every window with the full limit. */
static void tb_roll(struct icx_tbucket *b, double now) {
  if (!b->synced || now < b->srv_reset)
    return;
  double n = floor((now - b->srv_reset) / b->window) + 1;
  b->srv_reset += n * b->window;
  b->srv_remaining = b->limit;
}

/* A full bucket; see tbucket.h. */
void icx_tbucket_init(struct icx_tbucket *b, double limit, double window,
                      double now) {
  b->limit = limit > 0 ? limit : TB_DEFAULT_LIMIT;
  b->window = window > 0 ? window : TB_DEFAULT_WINDOW;
  b->tokens = b->limit;
  b->last = now;
  b->synced = 0;
  b->srv_remaining = b->limit;
  b->srv_reset = now;
  b->grants = 0;
  b->hold_until = now;
}

/* Grants a request or says how long to wait; see tbucket.h. */
double icx_tbucket_take(struct icx_tbucket *b, double now) {
  tb_refill(b, now);
  tb_roll(b, now);
  double wait = 0;
  if (b->tokens < 1 - TB_EPS)
    wait = (1 - b->tokens) * b->window / b->limit;
  if (b->synced && b->srv_remaining < 1 - TB_EPS && b->srv_reset - now > wait)
    wait = b->srv_reset - now;
  if (b->hold_until - now > wait)
    wait = b->hold_until - now;
  if (wait > 0)
    return wait;
  b->tokens -= 1;
  if (b->tokens < 0)
    b->tokens = 0;
  b->grants += 1;
  if (b->synced) {
    b->srv_remaining -= 1;
    if (b->srv_remaining < 0)
      b->srv_remaining = 0;
  }
  return 0;
}

/* Re-aligns with the server's window; see tbucket.h. */
void icx_tbucket_sync(struct icx_tbucket *b, double limit, double remaining,
                      double reset_unix, double now_unix, double now_mono,
                      double ticket) {
  int raised = 0;
  tb_refill(b, now_mono);
  tb_roll(b, now_mono);
  if (limit > 0 && limit != b->limit) {
    raised = limit > b->limit;
    b->limit = limit;
    if (b->tokens > limit)
      b->tokens = limit;
  }
  if (remaining < 0)
    return;
  /* The count is as old as the request that carried it: requests granted
  ** after that one are in flight and will count against the same budget. */
  if (ticket >= 0 && b->grants > ticket)
    remaining -= b->grants - ticket;
  if (remaining < 0)
    remaining = 0;
  if (reset_unix <= 0) {
    /* No window to place the count in: only believe it when it is lower. */
    if (b->synced && remaining < b->srv_remaining)
      b->srv_remaining = remaining;
    else if (!b->synced && remaining < b->tokens)
      b->tokens = remaining;
    return;
  }
  /* The reset is a whole Unix second and clocks differ between hosts, so
  ** clamp it into one window and treat resets within a quarter window (at
  ** most a second) of ours as the same window. */
  double in = reset_unix - now_unix;
  if (in < 0)
    in = 0;
  if (in > b->window)
    in = b->window;
  double reset = now_mono + in;
  double tol = b->window / 4 < 1 ? b->window / 4 : 1;
  if (!b->synced || reset > b->srv_reset + tol) {
    /* A window we have not seen: the server's count is the only truth. */
    b->synced = 1;
    b->srv_reset = reset;
    b->srv_remaining = remaining;
  } else if (reset >= b->srv_reset - tol) {
    /* Our window: we count down locally, so only a lower count (another
    ** app sharing the budget, or requests the server saw in another order)
    ** is news; a raised limit is the exception, since waiting for the next
    ** window would idle. */
    if (raised || remaining < b->srv_remaining)
      b->srv_remaining = remaining;
  }
  /* else: a late response from a window that has already ended. */
}

/* Holds every grant until `until`; see tbucket.h. */
void icx_tbucket_hold(struct icx_tbucket *b, double until) {
  if (until > b->hold_until)
    b->hold_until = until;
}

/* Tokens available now; see tbucket.h. */
double icx_tbucket_available(struct icx_tbucket *b, double now) {
  tb_refill(b, now);
  tb_roll(b, now);
  if (b->synced && b->srv_remaining < b->tokens)
    return b->srv_remaining;
  return b->tokens;
}
