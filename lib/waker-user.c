/* SPDX-License-Identifier: MIT */
/*
 * Waker backed by a kqueue EVFILT_USER knote, chosen by configure with the
 * kqueue poller where <sys/event.h> declares EVFILT_USER and NOTE_TRIGGER.
 * No descriptor of its own: the knote is added once with EV_ADD|EV_CLEAR,
 * and a signal is a NOTE_TRIGGER change with no EV_CLEAR (on FreeBSD a
 * trigger carrying EV_CLEAR cancels itself) and no result buffer, which
 * never blocks.  The trigger repeats the udata because any change to a
 * knote overwrites it.  EV_CLEAR resets the knote when the wait collects
 * it, so there is nothing to consume.  Under libkqueue, kevent() takes
 * mutexes, so a signal from a signal handler can deadlock there: that is
 * the emulation's limit, documented in miowake(3).
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>

struct mw__waker {
    struct mw__poller *kq;      /* a reference: it may outlive the poll */
    uintptr_t ident;
    mw_token cookie;
};

/* Knote identities must never repeat within a kqueue, even after a waker
 * slot (and so its cookie) is reused, or freeing one waker could delete
 * the knote of the next. */
static atomic_uintptr_t next_ident = 1;

int
mw__waker_open(struct mw__waker **out, struct mw__poller *p)
{
    struct mw__waker *wk = malloc(sizeof(*wk));

    if (!wk)
        return -ENOMEM;
    wk->ident = atomic_fetch_add_explicit(&next_ident, 1,
                                          memory_order_relaxed);
    wk->cookie = 0;
    wk->kq = mw__poller_kqueue_ref(p);
    *out = wk;
    return 0;
}

int
mw__waker_arm(struct mw__waker *wk, struct mw__poller *p, mw_token cookie)
{
    wk->cookie = cookie;
    return mw__poller_kqueue_change(p, wk->ident, EVFILT_USER,
                                    EV_ADD | EV_CLEAR, 0, cookie);
}

int
mw__waker_signal(struct mw__waker *wk)
{
    return mw__poller_kqueue_change(wk->kq, wk->ident, EVFILT_USER, 0,
                                    NOTE_TRIGGER, wk->cookie);
}

void
mw__waker_consume(struct mw__waker *wk)
{
    (void)wk;
}

void
mw__waker_close(struct mw__waker *wk, bool in_child)
{
    /* A user knote has no descriptor whose close would remove it.  A
     * child has no such knote: kqueues are not inherited (and under
     * libkqueue, kevent() takes locks a parent's thread may have held). */
    if (!in_child)
        (void)mw__poller_kqueue_change(wk->kq, wk->ident, EVFILT_USER,
                                       EV_DELETE, 0, 0);
    mw__poller_kqueue_unref(wk->kq, in_child);
    free(wk);
}

int
mw__waker_fd(const struct mw__waker *wk)
{
    (void)wk;
    return -1;
}
