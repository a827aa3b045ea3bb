/* SPDX-License-Identifier: MIT */
/*
 * The helpers every file of lib/ may call: the export macro, descriptors
 * and system calls (fd.c), array growth (array.c), errno, and timeouts.
 * They call nothing of the core's or of a backend's.  The contract
 * between the core and its backends is backend.h; the core's own structs
 * and the pending flag's primitives are core.h.
 */
#ifndef MW_INTERNAL_H
#define MW_INTERNAL_H

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* poll.c defines mw_poll_wait_ts and mw_poll_wait_ts64 for both layouts
 * of struct timespec, not the one this build has: the header's prototype
 * would name one. */
#define MW__BUILDING_LIBRARY 1
#include <miowake.h>

#ifdef MW_HAVE_VISIBILITY
# define MW_EXPORT __attribute__((visibility("default")))
#else
# define MW_EXPORT
#endif

/* A ThreadSanitizer build: the pending flag takes another path there
 * (core.h), and so do fd.c's read(), write() and close(). */
#if defined(__SANITIZE_THREAD__)
# define MW__TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define MW__TSAN 1
# endif
#endif

/* ---- descriptor helpers (fd.c) ---- */

/* Turn the calling thread's cancellation off; returns the state to give
 * back to mw__cancel_restore().  For calls that may be cancellation
 * points and must not be (kevent() on some systems and in libkqueue). */
int  mw__cancel_off(void);
void mw__cancel_restore(int old);
/* read() and write() that are never cancellation points and, where the
 * system allows, async-signal-safe (fd.c says how). */
ssize_t mw__read(int fd, void *buf, size_t len);
ssize_t mw__write(int fd, const void *buf, size_t len);
int  mw__fd_set_cloexec(int fd);
int  mw__fd_set_nonblock(int fd);
/* A pipe with both ends close-on-exec and non-blocking; -errno. */
int  mw__pipe(int fds[2]);
/* Make a non-blocking pipe readable: one byte into the write end wfd.
 * 0 when the pipe holds a byte afterwards (a full one already did), else
 * -errno.  Async-signal-safe. */
int  mw__pipe_signal(int wfd);
/* Empty a non-blocking pipe: read until a short read, EAGAIN or EOF. */
void mw__fd_drain(int fd);
/* close() that keeps errno, ignores EINTR (the descriptor is gone) and
 * is never a cancellation point. */
void mw__close(int fd);

/* ---- errno ----
 * The one way lib/ keeps the caller's errno: save it on entry (int saved
 * = errno), put it back before returning.  The store is volatile because
 * clang takes the allocation functions to leave errno alone and deleted a
 * plain store made after a failed calloc() (t/fault-enomem). */
static inline void
mw__errno_restore(int saved)
{
    *(volatile int *)&errno = saved;
}

/* ---- array growth (array.c), for the core and the backends ---- */

/* Make *array, *len entries of elem bytes each, hold at least need
 * entries: from first entries (when *len is 0), double *len until it
 * does.  The new entries are zeroed.  -ENOMEM, with *array and *len as
 * they were, when realloc() fails or the size would not fit a size_t. */
int  mw__array_grow(void **array, size_t *len, size_t elem, size_t need,
                    size_t first);

/* ---- timeouts ---- */

/* A timeout in nanoseconds (negative: no limit) as the milliseconds of
 * poll(2) and epoll_wait(2): rounded up, so that a wait never ends
 * early, and at most INT_MAX (about 25 days), after which the core waits
 * again for the rest. */
#define MW__NS_PER_MS 1000000
static inline int
mw__timeout_ms(int64_t timeout_ns)
{
    int64_t ms;

    if (timeout_ns < 0)
        return -1;
    ms = timeout_ns / MW__NS_PER_MS + (timeout_ns % MW__NS_PER_MS != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The blocking call of a poller that has two, one taking a timespec (the
 * finer: epoll_pwait2(), ppoll()) and one taking milliseconds
 * (epoll_wait(), poll()), made the one way both pollers make it (fd.c):
 * a timeout that is not a whole number of milliseconds goes to fine(),
 * given *ts set to it (at most MW__FINE_MAX_S seconds: a longer wait ends
 * early with no events, and the core waits again for what is left), as
 * long as fine_built says the build has one and the process has not seen
 * it refused; every other timeout goes to coarse(), given
 * mw__timeout_ms(timeout_ns), so that mw_poll_wait() makes the system
 * calls it always made.  The first ENOSYS or EPERM from fine() (an older
 * kernel, a seccomp filter) is remembered for the whole process, as the
 * kernel and its filters are, and that call and all later ones take
 * coarse(), rounded up.  Returns what the call made returned, with its
 * errno.  ts is the poller's, not on the waiting thread's stack (see
 * wait_cancelled() in poll.c). */
#define MW__FINE_MAX_S 1000000
int  mw__timed_wait(int64_t timeout_ns, bool fine_built, struct timespec *ts,
                    int (*fine)(void *arg, const struct timespec *ts),
                    int (*coarse)(void *arg, int timeout_ms), void *arg);

#endif /* MW_INTERNAL_H */
