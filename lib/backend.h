/* SPDX-License-Identifier: MIT */
/*
 * The backend contract: the seam between the portable core (poll.c,
 * waker.c) and the operating system's mechanisms.  Exactly one poller-*.c
 * (struct mw__os_poller) and one waker-*.c (struct mw__os_waker) are
 * linked; configure chooses the pair, and the core never names one.
 * Calls cross the seam one way, from the core to the backends; both
 * sides may call the helpers of internal.h, and a waker-*.c calls the
 * poller's functions to register its object, never the other way round.
 * The core's own structs are in core.h, which only the core includes.
 *
 * Who calls what:
 *   - a poll has one waker kernel object, shared by all its wakers (the
 *     hub, core.h): mw_poll_new() opens and arms it, and the last of the
 *     poll and its wakers to be freed closes it, after the poller.
 *   - mw__os_waker_signal() runs on any thread and in signal handlers: it
 *     must be async-signal-safe (no locks, no allocation).
 *   - mw__os_poller_wait() and mw__os_waker_consume() run only on the
 *     thread in mw_poll_wait(), one at a time per poll.
 *   - mw__os_poller_ctl() and mw__os_waker_arm() run on any thread with
 *     the poll's lock held (struct mw_poll, core.h), possibly while
 *     another thread is in mw__os_poller_wait().
 *   - the *_open() and *_close() functions run without that lock, on an
 *     object no other thread uses yet or any more; the *_fd() functions
 *     run on any thread at any time and only read what *_open() set.
 *   - the *_close() functions run with in_child set in a fork() child of
 *     the process that made the object: another thread of the parent may
 *     have held any lock at the fork, and the kernel objects may be shared
 *     with the parent, so they then only close what the child inherited
 *     and free memory.
 *   - none of them needs to keep errno but mw__os_poller_fd(), which must
 *     not set it (mw_poll_fd() calls it bare): the core's other public
 *     functions save errno on entry and put it back on return (for
 *     mw__os_waker_signal(), its one caller, wake_signal() in waker.c,
 *     does).
 *   - each backend answers in the contract's terms, mapping its system's
 *     errors itself: the core passes what it gets on to the caller.
 */
#ifndef MW_BACKEND_H
#define MW_BACKEND_H

#include "internal.h"

/* ---- cookies ----
 * Backends never see tokens.  They tag each kernel registration with a
 * cookie and report the cookie back; the core turns it into the caller's
 * token under its lock, which is what lets a registration or a waker go
 * away while a wait is running.  A descriptor's cookie is its number
 * (below 2^31); the wakers' one kernel object has MW__COOKIE_WAKER
 * (core.h).  Both fit in a uintptr_t, so a backend writes cookies into
 * an mw_event array of the poll's own, from which the core writes the
 * caller's events. */
#define MW__COOKIE_WAKER ((mw_token)1 << 31)

/* ---- poller: implemented by exactly one poller-*.c ---- */

struct mw__os_poller;

enum mw__ctl { MW__CTL_ADD, MW__CTL_MOD, MW__CTL_DEL };

int  mw__os_poller_open(struct mw__os_poller **out);
/* Close the poller's descriptors and free it, with no EPOLL_CTL_DEL or
 * EV_DELETE first on a set a child may share. */
void mw__os_poller_close(struct mw__os_poller *p, bool in_child);
/* ADD/MOD/DEL fd with its cookie.  interest (MW_READABLE...) is what fd
 * is to be watched for after the call, 0 for DEL; was is what it was
 * watched for before, 0 for ADD.  A kqueue keeps one knote per bit and
 * needs both to change all of them or none.  Errors come back as -errno:
 * the kernel's, or the poller's own where it keeps the set itself
 * (-EEXIST, -ENOENT, -ENOMEM from the poll(2) poller; -EBADF from the
 * kqueue poller for a file libkqueue cannot see was closed, and from
 * epoll's MOD for a number whose registered file was closed).  DEL of a
 * registration whose descriptor was closed (or replaced by dup2) is 0:
 * the registration has already left the set, and the caller's slot is
 * all there is left to release. */
int  mw__os_poller_ctl(struct mw__os_poller *p, enum mw__ctl op, int fd,
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
 * fetches at most mw__os_poller_batch events; fewer than it could fetch
 * means that nothing else was ready, so a backend that leaves some of
 * the kernel's events out fetches again into their room while the
 * kernel's batches come full.
 * A poller with two timed calls, one finer, makes its choice through
 * mw__timed_wait() (internal.h).
 * The core relies on a short count to look again after a full batch of
 * events it drops itself (fetch_and_deliver() in poll.c): the refill
 * loop in poller-kqueue.c is the backend's half of that one rule. */
extern const size_t mw__os_poller_batch;
int  mw__os_poller_wait(struct mw__os_poller *p, struct mw_event *ev,
                        size_t cap, int64_t timeout_ns);
/* The descriptor to nest in another loop, or -ENOTSUP. */
int  mw__os_poller_fd(const struct mw__os_poller *p);

/* ---- waker: implemented by exactly one waker-*.c ---- */

struct mw__os_waker;

/* Create the poll's kernel object, not yet armed under a cookie.  A
 * mechanism that may fall back to another (EVFILT_USER to a pipe)
 * decides here. */
int  mw__os_waker_open(struct mw__os_waker **out, struct mw__os_poller *p);
/* Register the object with p under cookie, for MW_READABLE: edge-
 * triggered where the poller is (epoll, kqueue), level on poll(2). */
int  mw__os_waker_arm(struct mw__os_waker *wk, struct mw__os_poller *p,
                      mw_token cookie);
/* Make the registered object readable.  Async-signal-safe (with the one
 * exception of EVFILT_USER under libkqueue, whose kevent() takes locks:
 * miowake(3)).  It may change errno; waker.c puts it back.  Called when
 * a wake put the first waker on the hub's empty ready list, or found a
 * signal owed (waker.c). */
int  mw__os_waker_signal(struct mw__os_waker *wk);
/* The wait collected the object's event: consume what it holds so that
 * the next signal makes a fresh edge: step (b) of the argument in
 * waker.c, run by the wait (take_ready() there) before it takes the
 * ready list. */
void mw__os_waker_consume(struct mw__os_waker *wk);
/* Release everything, after the poller was closed (the poll is freed)
 * or, in a fork() child, with in_child set.  Also called when
 * mw_poll_new() fails after mw__os_waker_open(): then the object is not
 * registered. */
void mw__os_waker_close(struct mw__os_waker *wk, bool in_child);
/* The descriptor the object registered with the poller, or -1 if it has
 * none (EVFILT_USER): the core keeps callers from registering it. */
int  mw__os_waker_fd(const struct mw__os_waker *wk);

#endif /* MW_BACKEND_H */
