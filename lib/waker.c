/* SPDX-License-Identifier: MIT */
/*
 * The portable half of mw_waker: the pending flag and the waker's
 * lifetime.  The kernel object behind it (eventfd, EVFILT_USER, self-pipe)
 * is the waker-*.c that configure linked.
 */
#include "internal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct mw_waker {
    /*
     * The pending flag: 1 from the wake that signals the kernel object
     * until the wait has collected that signal's event, else 0.  Its own
     * cache line: producers that find it set only read it, so a burst of
     * wakes on a pending waker shares the line instead of bouncing it.
     *
     * Set by mw_waker_wake() (any thread, signal handlers); cleared only
     * by the thread in mw_poll_wait(), in mw__waker_collected().
     *
     * Why no wake is lost.  A producer P does: (1) its own writes (the
     * data the consumer will look at: atomic objects, of any order, for
     * C11's fences order only atomic accesses; plain data needs a lock of
     * its own), (2) a seq_cst fence, (3) a relaxed load of the flag; if it
     * reads 1 it returns without a system call.
     * The consumer C does: (a) collect the kernel event, (b) consume what
     * the kernel object holds, (c) store 0, (d) a seq_cst fence, (e) hand
     * the event out, after which its caller reads the data.  The two
     * fences are ordered one way or the other.  If P's fence comes first,
     * C's reads after (d) see P's writes (1): the event C hands out covers
     * P's wake.  If C's fence comes first, P's load (3) sees the 0 stored
     * at (c) or a 1 stored after it by a wake that will signal again, and
     * either P or that wake makes a new kernel event.  Without the fences
     * this is the store-buffering pattern: P could read a stale 1 while C
     * reads stale data, and both would sleep (libuv issue 349 is that bug
     * with a relaxed "already pending?" load).  Clearing before consuming
     * (b before c reversed) would let C drain the signal of a wake that
     * saw 0, leaving the flag 1 over an empty object: every later wake
     * would be skipped.
     */
    alignas(64) atomic_int pending;
    struct mw__wake *wake;
    mw_token token;
    mw_token cookie;
    mw_poll *poll;              /* NULL once the poll has been freed */
    pid_t pid;                  /* of the process that made it (fork) */
};

MW_EXPORT int
mw_waker_new(mw_waker **out, mw_poll *poll, mw_token token)
{
    int saved = errno;
    mw_waker *w;
    void *mem;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!poll)
        return -EINVAL;
    if (posix_memalign(&mem, alignof(mw_waker), sizeof(mw_waker)) != 0) {
        mw__errno_restore(saved);
        return -ENOMEM;
    }
    w = mem;
    atomic_init(&w->pending, 0);
    w->token = token;
    w->poll = poll;
    w->pid = getpid();
    rc = mw__wake_open(&w->wake, mw__poll_poller(poll));
    if (rc < 0)
        goto fail_free;
    rc = mw__poll_attach(poll, w, w->wake, &w->cookie);
    if (rc < 0)
        goto fail_close;
    *out = w;
    mw__errno_restore(saved);
    return 0;

fail_close:
    mw__wake_close(w->wake, false);
fail_free:
    free(w);
    mw__errno_restore(saved);
    return rc;
}

/* The part of a wake that signals, kept out of line (noinline: a static
 * function called once is otherwise inlined back) so that the pending
 * path in mw_waker_wake() needs no stack frame: inlined, its callee-saved
 * registers are pushed before the fence on every wake: 15 instructions
 * instead of 9, and a fifth more time (doc/PERFORMANCE.md). */
MW__NOINLINE static int
wake_signal(mw_waker *waker)
{
    int saved;
    int rc;

    /* Only the wake that turns 0 into 1 signals; a concurrent one that
     * loses the race merges into that signal. */
    if (atomic_exchange_explicit(&waker->pending, 1, memory_order_acq_rel))
        return 0;
    saved = errno;
    rc = mw__wake_signal(waker->wake);
    /* No event is coming for a failed signal: unset the flag, or every
     * later wake would merge into nothing. */
    if (rc < 0)
        atomic_store_explicit(&waker->pending, 0, memory_order_relaxed);
    mw__errno_restore(saved);
    return rc;
}

MW_EXPORT int
mw_waker_wake(mw_waker *waker)
{
    if (!waker)
        return -EINVAL;
    /* (2) and (3) of the argument at the flag. */
    if (mw__pending_seen(&waker->pending))
        return 0;
    return wake_signal(waker);
}

MW_EXPORT void
mw_waker_free(mw_waker *waker)
{
    int saved = errno;
    bool in_child;

    if (!waker)
        return;
    /* A fork() child frees its copy without the poll's lock, which a
     * thread of the parent may have held at the fork, and leaves the
     * poll alone: the child's copy of it is not waited on. */
    in_child = waker->pid != getpid();
    /* After detach the wait can no longer reach this waker. */
    if (waker->poll && !in_child)
        mw__poll_detach(waker->poll, waker->cookie, mw__wake_fd(waker->wake));
    mw__wake_close(waker->wake, in_child);
    free(waker);
    mw__errno_restore(saved);
}

void
mw__waker_collected(mw_waker *w)
{
    /* (b), (c) and (d) of the argument at the flag, in that order. */
    mw__wake_consume(w->wake);
    mw__pending_clear(&w->pending);
}

mw_token
mw__waker_token(const mw_waker *w)
{
    return w->token;
}

void
mw__waker_orphan(mw_waker *w)
{
    w->poll = NULL;
}
