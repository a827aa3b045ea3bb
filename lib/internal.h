/* SPDX-License-Identifier: MIT */
/*
 * The one internal header: the seam between the portable core (poll.c,
 * waker.c, version.c) and the mechanism files.  Exactly one poller-*.c and
 * one waker-*.c are linked, chosen by configure; the core never names one.
 * Calls cross the seam one way, from the core to the mechanisms; both
 * sides may call the shared helpers (fd.c, array.c), and a waker-*.c
 * calls the poller's functions to register its object, never the other
 * way round.  The core's own structs, and the pending flag's primitives,
 * are in core.h, which only poll.c and waker.c include.
 *
 * Valid pairs: epoll+eventfd, epoll+pipe, kqueue+user, kqueue+pipe,
 * poll+pipe.  The pipe waker works with any poller because it only
 * registers a descriptor through mw__poller_ctl(); "user" needs kqueue.
 *
 * Who calls what:
 *   - a poll has one waker kernel object, shared by all its wakers (the
 *     hub, core.h): mw_poll_new() opens and arms it, and the last of the
 *     poll and its wakers to be freed closes it, after the poller.
 *   - mw__waker_signal() runs on any thread and in signal handlers: it must
 *     be async-signal-safe (no locks, no allocation).
 *   - mw__poller_wait() and mw__waker_consume() run only on the thread in
 *     mw_poll_wait(), one at a time per poll.
 *   - mw__poller_ctl() and mw__waker_arm() run on any
 *     thread with the poll's lock held (struct mw_poll, core.h), possibly
 *     while another thread is in mw__poller_wait().
 *   - the *_open() and *_close() functions run without that lock, on an
 *     object no other thread uses yet or any more; the *_fd() functions
 *     run on any thread at any time and only read what *_open() set.
 *   - the *_close() functions run with in_child set in a fork() child of
 *     the process that made the object: another thread of the parent may
 *     have held any lock at the fork, and the kernel objects may be shared
 *     with the parent, so they then only close what the child inherited
 *     and free memory.
 *   - none of them needs to keep errno but mw__poller_fd(), which must not
 *     set it (mw_poll_fd() calls it bare): the core's other public
 *     functions save errno on entry and put it back on return (for
 *     mw__waker_signal(), its one caller, wake_signal() in waker.c, does).
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

/* poll.c defines mw_poll_wait_ts and mw_poll_wait_ts64 for both layouts
 * of struct timespec, not the one this build has: the header's prototype
 * would name one. */
#define MW__BUILDING_LIBRARY 1
#include <miowake.h>

/* A ThreadSanitizer build: the pending flag takes another path there
 * (core.h), and so do fd.c's read(), write() and close(). */
#if defined(__SANITIZE_THREAD__)
# define MW__TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define MW__TSAN 1
# endif
#endif

/* ---- export and descriptor helpers (fd.c) ---- */

#ifdef MW_HAVE_VISIBILITY
# define MW_EXPORT __attribute__((visibility("default")))
#else
# define MW_EXPORT
#endif

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
/* Put errno back as the caller had it.  The store is volatile because
 * clang takes the allocation functions to leave errno alone and deleted a
 * plain store made after a failed calloc() (t/fault-enomem). */
static inline void
mw__errno_restore(int saved)
{
    *(volatile int *)&errno = saved;
}
/* close() that keeps errno, ignores EINTR (the descriptor is gone) and
 * is never a cancellation point. */
void mw__close(int fd);

/* ---- array growth (array.c), for the core and the mechanism files ---- */

/* Make *array, *len entries of elem bytes each, hold at least need
 * entries: from first entries (when *len is 0), double *len until it
 * does.  The new entries are zeroed.  -ENOMEM, with *array and *len as
 * they were, when realloc() fails or the size would not fit a size_t. */
int  mw__array_grow(void **array, size_t *len, size_t elem, size_t need,
                    size_t first);

/* ---- cookies ----
 * Backends never see tokens.  They tag each kernel registration with a
 * cookie and report the cookie back; the core turns it into the caller's
 * token under its lock, which is what lets a registration or a waker go
 * away while a wait is running.  A descriptor's cookie is its number
 * (below 2^31); a waker's has MW__COOKIE_WAKER set, and its slot index
 * and the slot's generation below and above it (core.h).
 * Both fit in a uintptr_t, so a backend writes cookies into an mw_event
 * array of the poll's own, from which the core writes the caller's
 * events. */
#define MW__COOKIE_WAKER ((mw_token)1 << 31)

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

/* ---- poller: implemented by exactly one poller-*.c ---- */

struct mw__poller;

enum mw__ctl { MW__CTL_ADD, MW__CTL_MOD, MW__CTL_DEL };

int  mw__poller_open(struct mw__poller **out);
/* Close the poller's descriptors and free it, with no EPOLL_CTL_DEL or
 * EV_DELETE first on a set a child may share. */
void mw__poller_close(struct mw__poller *p, bool in_child);
/* ADD/MOD/DEL fd with its cookie.  interest (MW_READABLE...) is what fd
 * is to be watched for after the call, 0 for DEL; was is what it was
 * watched for before, 0 for ADD.  A kqueue keeps one knote per bit and
 * needs both to change all of them or none.  Errors come back as -errno:
 * the kernel's, or the poller's own where it keeps the set itself
 * (-EEXIST, -ENOENT, -ENOMEM from the poll(2) poller; -EBADF from the
 * kqueue poller for a file libkqueue cannot see was closed, and from
 * epoll's MOD for a number whose registered file was closed). */
int  mw__poller_ctl(struct mw__poller *p, enum mw__ctl op, int fd,
                    mw_token cookie, unsigned interest, unsigned was);
/* Block up to timeout_ns nanoseconds (negative: no limit, 0: do not
 * block); write up to cap (cookie, MW_EV_* flags) pairs into ev and
 * return their count, or -errno (-EINTR when a signal handler ran).  A
 * timeout the poller's call cannot express exactly is rounded up, never
 * down (mw__timeout_ms()); a whole number of milliseconds goes to the
 * call that takes milliseconds where there is one, so that mw_poll_wait()
 * makes the system calls it always made.  Its blocking call is the
 * library's one cancellation point: a poller that keeps state across it
 * must leave the poller usable when the thread is cancelled there (the
 * core releases its own -EBUSY guard in a cleanup handler), and must keep
 * no array on the waiting thread's stack nor take a local's address (see
 * wait_cancelled() in poll.c).  0 is a timeout, or, whatever the timeout,
 * a wake-up of the poller's own (the poll(2) poller's, when a
 * registration changed its set) or a wait cut short (a kqueue's longest
 * sleep): the core then waits again for what is left of it.  One call
 * fetches at most mw__poller_batch events; fewer than it could fetch
 * means that nothing else was ready, so a backend that leaves some of
 * the kernel's events out fetches again into their room while the
 * kernel's batches come full. */
extern const size_t mw__poller_batch;
int  mw__poller_wait(struct mw__poller *p, struct mw_event *ev, size_t cap,
                     int64_t timeout_ns);
/* The descriptor to nest in another loop, or -ENOTSUP. */
int  mw__poller_fd(const struct mw__poller *p);

/* ---- waker: implemented by exactly one waker-*.c ---- */

struct mw__waker;

/* Create the poll's kernel object, not yet armed under a cookie.  A
 * mechanism that may fall back to another (EVFILT_USER to a pipe)
 * decides here. */
int  mw__waker_open(struct mw__waker **out, struct mw__poller *p);
/* Register the object with p under cookie, for MW_READABLE: edge-
 * triggered where the poller is (epoll, kqueue), level on poll(2). */
int  mw__waker_arm(struct mw__waker *wk, struct mw__poller *p,
                   mw_token cookie);
/* Make the registered object readable.  Async-signal-safe (with the one
 * exception of EVFILT_USER under libkqueue, whose kevent() takes locks:
 * miowake(3)).  It may change errno; waker.c puts it back.  Called when
 * a wake put the first waker on the hub's empty ready list, or found a
 * signal owed (waker.c). */
int  mw__waker_signal(struct mw__waker *wk);
/* The wait collected the object's event: consume what it holds so that
 * the next signal makes a fresh edge: step (b) of the argument in
 * waker.c, run by the wait (take_ready() there) before it takes the
 * ready list. */
void mw__waker_consume(struct mw__waker *wk);
/* Release everything, after the poller was closed (the poll is freed)
 * or, in a fork() child, with in_child set.  Also called when
 * mw_poll_new() fails after mw__waker_open(): then the object is not
 * registered. */
void mw__waker_close(struct mw__waker *wk, bool in_child);
/* The descriptor the object registered with the poller, or -1 if it has
 * none (EVFILT_USER): the core keeps callers from registering it. */
int  mw__waker_fd(const struct mw__waker *wk);

/* ---- kqueue poller services for the EVFILT_USER waker (waker-user.c) ----
 * Defined by poller-kqueue.c, so named mw__poller_ like everything a
 * poller-*.c defines; only waker-user.c calls them, which configure links
 * with the kqueue poller alone.  The kqueue is reference-counted
 * (atomically: ref and unref run on any thread) so that a waker keeps it
 * open after its poll is freed.  mw__poller_kqueue_change() applies one
 * kevent change; it is also the EVFILT_USER waker's signal. */

/* configure defines it to 1 when <sys/event.h> is libkqueue's. */
#ifndef MW_KQUEUE_EMULATED
# define MW_KQUEUE_EMULATED 0
#endif

struct mw__poller *mw__poller_kqueue_ref(struct mw__poller *p);
void mw__poller_kqueue_unref(struct mw__poller *p, bool in_child);
int  mw__poller_kqueue_change(struct mw__poller *p, uintptr_t ident,
                              short filter, unsigned short flags,
                              unsigned int fflags, mw_token cookie);

#endif /* MW_INTERNAL_H */
