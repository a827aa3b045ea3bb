/* SPDX-License-Identifier: MIT */
/*
 * The portable half of mw_waker: the pending flag and the waker's
 * lifetime, including its slot in the poll's tables (core.h).  The kernel
 * object behind it (eventfd, EVFILT_USER, self-pipe) is the waker-*.c
 * that configure linked.
 *
 * Why no wake is lost.  The pending flag (struct mw_waker) is 1 from the
 * wake that signals the kernel object until the wait has collected that
 * signal's event, else 0.  A producer P does: (1) its own writes (the
 * data the consumer will look at: atomic objects, of any order, for
 * C11's fences order only atomic accesses; plain data needs a lock of its
 * own), (2) a seq_cst fence, (3) a relaxed load of the flag; if it reads
 * 1 it returns without a system call.
 * The consumer C does: (a) collect the kernel event, (b) consume what the
 * kernel object holds, (c) store 0, (d) a seq_cst fence, (e) hand the
 * event out, after which its caller reads the data.  The two fences are
 * ordered one way or the other.  If P's fence comes first, C's reads
 * after (d) see P's writes (1): the event C hands out covers P's wake.
 * If C's fence comes first, P's load (3) sees the 0 stored at (c) or a 1
 * stored after it by a wake that will signal again, and either P or that
 * wake makes a new kernel event.  Without the fences this is the
 * store-buffering pattern: P could read a stale 1 while C reads stale
 * data, and both would sleep (a relaxed "already pending?" load with no
 * fence is exactly that bug).  Clearing before consuming (b before c
 * reversed) would let C drain the signal of a wake that saw 0, leaving
 * the flag 1 over an empty object: every later wake would be skipped.
 *
 * P is mw_waker_wake() here; C is mw_poll_wait(), whose deliver()
 * (poll.c) does (b) to (d).
 */
#include "core.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* A waker's new descriptor took the number of a descriptor the caller
 * closed while it was registered.  Release that registration before the
 * waker's goes into the kernel set under the number: the caller's later
 * calls on the number then get -ENOENT instead of reaching the waker, and
 * the poll(2) and libkqueue backends, which keep entries by number, drop
 * the old entry that would otherwise refuse or swallow the waker's.  The
 * kernel call fails harmlessly where the kernel forgot the old file at
 * its close (the waker's descriptor is not in the set yet).  Lock held. */
static void
release_stale(mw_poll *poll, int fd)
{
    struct fd_slot *slot = &poll->fds[fd];

    if (!slot->registered)
        return;
    (void)mw__poller_ctl(poll->poller, MW__CTL_DEL, fd, (mw_token)fd, 0,
                         slot->interest);
    slot->registered = false;
}

/* Give w a slot in its poll and a cookie, and arm its kernel object under
 * that cookie, all under the poll's lock. */
static int
attach(mw_waker *w)
{
    mw_poll *poll = w->poll;
    int fd = mw__waker_fd(w->kobj);
    mw_token gen, c;
    size_t id;
    int rc;

    pthread_mutex_lock(&poll->lock);
    id = 0;
    while (id < poll->nwakers && poll->wakers[id].waker)
        id++;
    if (id > WAKER_ID_MAX)
        rc = -ENOMEM;
    else
        rc = mw__array_grow((void **)&poll->wakers, &poll->nwakers,
                            sizeof(*poll->wakers), id + 1, 16);
    /* The descriptor's slot marks it as the waker's, so that registering
     * it is -EEXIST on every backend: a kqueue would take it over. */
    if (rc == 0 && fd >= 0)
        rc = mw__array_grow((void **)&poll->fds, &poll->nfds,
                            sizeof(*poll->fds), (size_t)fd + 1, 16);
    if (rc < 0)
        goto out;
    if (fd >= 0)
        release_stale(poll, fd);
    gen = (poll->wakers[id].gen + 1) & WAKER_GEN_MAX;
    c = MW__COOKIE_WAKER | gen << WAKER_GEN_SHIFT | (mw_token)id;
    rc = mw__waker_arm(w->kobj, poll->poller, c);
    if (rc < 0)
        goto out;
    poll->wakers[id].gen = gen;
    poll->wakers[id].waker = w;
    if (fd >= 0)
        poll->fds[fd].waker = true;
    w->cookie = c;
out:
    pthread_mutex_unlock(&poll->lock);
    return rc;
}

/* Give w's slot back: after this the wait drops events for its cookie. */
static void
detach(mw_waker *w)
{
    mw_poll *poll = w->poll;
    int fd = mw__waker_fd(w->kobj);

    pthread_mutex_lock(&poll->lock);
    if (fd >= 0) {
        poll->fds[fd].waker = false;
        /* Under the lock, so that no wait takes a new snapshot of the
         * poll(2) set that still has it once the slot is free. */
        mw__poller_forget(poll->poller, fd);
    }
    poll->wakers[waker_id(w->cookie)].waker = NULL;
    pthread_mutex_unlock(&poll->lock);
}

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
    rc = mw__waker_open(&w->kobj, poll->poller);
    if (rc < 0)
        goto fail_free;
    rc = attach(w);
    if (rc < 0)
        goto fail_close;
    *out = w;
    mw__errno_restore(saved);
    return 0;

fail_close:
    mw__waker_close(w->kobj, false);
fail_free:
    free(w);
    mw__errno_restore(saved);
    return rc;
}

/* The part of a wake that signals, kept out of line (noinline: a static
 * function called once is otherwise inlined back) so that the pending
 * path in mw_waker_wake() needs no stack frame: inlined, its callee-saved
 * registers are pushed before the fence on every wake: 15 instructions
 * instead of 9, and a fifth more time.  Measured (doc/PERFORMANCE.md has
 * the figures); not to be copied to other functions without the same
 * measurement. */
MW__NOINLINE static int
wake_signal(mw_waker *waker)
{
    int saved;
    int rc;

    /* Only the wake that turns 0 into 1 signals; a concurrent one that
     * loses the race merges into that signal. */
    if (atomic_exchange_explicit(&waker->pending, 1, memory_order_acq_rel))
        return 0;
    /* The backend's system call may change errno: keep the caller's. */
    saved = errno;
    rc = mw__waker_signal(waker->kobj);
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
    /* (2) and (3) of the argument at the top of this file. */
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
        detach(waker);
    mw__waker_close(waker->kobj, in_child);
    free(waker);
    mw__errno_restore(saved);
}
