/* SIGINT/SIGTERM as a request to stop: see signals.h. The handlers are
** installed only by `icx run`, so one-shot commands keep the default
** action. A signal that lands just before a wait starts would be missed by
** checking a flag alone, so the handler also writes to a pipe (the
** self-pipe trick) whose read end every wait polls: once written, it stays
** readable, and every later wait returns at once. */

#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t caught;
static int wake[2] = {-1, -1};

/* The handler: records the first signal and wakes every wait. Only
** async-signal-safe calls. */
static void on_signal(int sig) {
  if (!caught)
    caught = sig;
  /* Either signal a second time stops icx at once (sigaction is
  ** async-signal-safe). */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGINT, &dfl, NULL);
  sigaction(SIGTERM, &dfl, NULL);
  if (wake[1] >= 0) {
    int saved = errno; /* the interrupted code may be about to read it */
    ssize_t n = write(wake[1], "", 1);
    (void)n; /* full pipe: already readable, which is all a wait needs */
    errno = saved;
  }
}

/* Installs the handlers and the wake pipe; see signals.h. */
void icx_signals_install(void) {
  if (wake[0] < 0 && pipe(wake) == 0) {
    for (int i = 0; i < 2; i++) {
      fcntl(wake[i], F_SETFL, fcntl(wake[i], F_GETFL) | O_NONBLOCK);
      fcntl(wake[i], F_SETFD, FD_CLOEXEC);
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: blocking calls return EINTR. */
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* The signal caught so far, or 0; see signals.h. */
int icx_signal_caught(void) {
  return caught;
}

/* The wake pipe's read end, or -1; see signals.h. */
int icx_signal_fd(void) {
  return wake[0];
}
