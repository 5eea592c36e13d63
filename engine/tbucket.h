/* Token bucket for the Intercom rate limit, free of Lua and of clocks.
**
** Intercom counts requests in fixed 10-second windows and reports, on every
** authenticated response, the window's limit, what is left of it and when it
** resets (X-RateLimit-Limit, -Remaining, -Reset). The bucket combines two
** constraints and grants a request only when both allow it:
**
**   1. a classic token bucket (capacity `limit`, refill `limit / window`
**      tokens per second), which paces requests when nothing is known about
**      the server yet and smooths bursts across window edges;
**   2. once a response has been seen, the server's window: the requests left
**      in it and the moment it resets, counted down locally on every grant
**      and re-aligned by every response (icx_tbucket_sync).
**
** Every function takes the current time as an argument, in seconds on a
** monotonic clock, so tests drive time by hand and never sleep.
*/
#ifndef ICX_TBUCKET_H
#define ICX_TBUCKET_H

struct icx_tbucket {
  double limit;         /* requests per window (capacity of the bucket) */
  double window;        /* window length in seconds */
  double tokens;        /* tokens in the bucket at time `last` */
  double last;          /* monotonic time of the last refill */
  int synced;           /* 1 once a response told us the server's window */
  double srv_remaining; /* requests the server still allows before srv_reset */
  double srv_reset;     /* monotonic time the server's window ends */
  double grants;        /* requests granted so far: tickets for sync */
  double hold_until;    /* monotonic time before which nothing is granted */
};

/* Starts a full bucket at monotonic time `now`. A limit or window that is not
** positive is replaced by the Intercom default (166 per 10 s). */
void icx_tbucket_init(struct icx_tbucket *b, double limit, double window,
                      double now);

/* Takes one token at `now`: returns 0 when the request may go, else the
** seconds to wait before asking again (nothing is taken then). After a
** grant, b->grants is the request's ticket for icx_tbucket_sync. */
double icx_tbucket_take(struct icx_tbucket *b, double now);

/* Re-aligns the bucket from one response's headers. `limit` and `remaining`
** are ignored when negative, `reset_unix` when not positive; `now_unix` and
** `now_mono` are the wall and monotonic clocks read when the response
** arrived, used to place the reset on the monotonic clock. `ticket` is the
** request's b->grants right after its grant (negative: unknown): requests
** granted after it were most likely not yet counted in `remaining`. */
void icx_tbucket_sync(struct icx_tbucket *b, double limit, double remaining,
                      double reset_unix, double now_unix, double now_mono,
                      double ticket);

/* Grants nothing before monotonic time `until` (a 429's Retry-After):
** the pause the server asked for, without emptying its window, so a short
** Retry-After holds every request for that long and no longer. A later
** hold extends an earlier one, never shortens it. */
void icx_tbucket_hold(struct icx_tbucket *b, double until);

/* Tokens available at `now` (refilled, and capped by the server's window),
** without taking any. */
double icx_tbucket_available(struct icx_tbucket *b, double now);

#endif
