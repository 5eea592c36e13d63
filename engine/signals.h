/* Graceful stop on SIGINT and SIGTERM: the handler only records the signal;
** waits in icx.http and icx.sys return early once one has arrived, and the
** Lua scheduler unwinds every task between pages. */
#ifndef ICX_SIGNALS_H
#define ICX_SIGNALS_H

/* Installs the handlers. After the first signal both get the default
** action again, so a second Ctrl-C (or SIGTERM) stops icx at once. */
void icx_signals_install(void);

/* The signal number caught so far, or 0. Async-signal-safe to read. */
int icx_signal_caught(void);

/* A descriptor that becomes readable once a signal is caught (and stays
** so), for poll-based waits; -1 before icx_signals_install. */
int icx_signal_fd(void);

#endif
