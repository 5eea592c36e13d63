/*
** clock.h: the one clock of icx (Lua-free).
**
** Timers, rate limits and request deadlines all read the monotonic clock, so
** a wall-clock step (NTP, a laptop waking up) never stretches or cuts a wait.
** The wall clock is only for values compared with a server's Unix times
** (X-RateLimit-Reset) and for what a user reads.
*/
#ifndef ICX_CLOCK_H
#define ICX_CLOCK_H

/* Seconds on the monotonic clock, from an arbitrary start. */
double icx_clock_now(void);

/* Seconds since the Unix epoch, with sub-second precision. */
double icx_clock_wall(void);

#endif
