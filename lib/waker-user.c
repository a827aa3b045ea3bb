/* SPDX-License-Identifier: MIT */
/*
 * The wakers' object of a poll as a kqueue EVFILT_USER knote (one per
 * poll, shared by all its wakers: core.h), chosen by configure with the
 * kqueue poller where <sys/event.h> declares EVFILT_USER and NOTE_TRIGGER.
 * No descriptor of its own: the knote is added once with EV_ADD|EV_CLEAR,
 * and a signal is a NOTE_TRIGGER change with no EV_CLEAR (on FreeBSD a
 * trigger carrying EV_CLEAR cancels itself) and no result buffer, which
 * never blocks.  The trigger repeats the udata because any change to a
 * knote overwrites it.  EV_CLEAR resets the knote when the wait collects
 * it, so there is nothing to consume.  Under libkqueue, kevent() takes
 * mutexes, so a signal from a signal handler can deadlock there: that is
 * the emulation's limit, documented in miowake(3).
 *
 * A header that declares EVFILT_USER does not promise a knote: OpenBSD
 * counts user knotes with timers against a per-process limit (ENOMEM past
 * it), and a kernel older than its headers refuses the filter (EINVAL,
 * ENOSYS).  Such a poll's wakers fall back to a self-pipe, as the pipe
 * waker makes one, decided when the object is opened, before the core
 * learns its descriptor and arms it.  libkqueue sets no such limit, and
 * there the knote is added once, when armed by mw_poll_new(), before any
 * other thread can know the poll.
 */
#include "poller-kqueue.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#if MW_KQUEUE_EMULATED
# include <sys/eventfd.h>
#endif

struct mw__os_waker {
    struct mw__os_poller *kq;   /* a reference: it may outlive the poll;
                                 * NULL for a waker on a pipe */
    uintptr_t ident;
    mw_token cookie;
    int pipe[2];                /* the fallback's ends, else -1 */
};

/* A poll's kqueue holds one user knote, the wakers'; identities counted
 * per process keep any two apart all the same, for nothing. */
static atomic_uintptr_t next_ident = 1;

/* Errors of adding a user knote that a pipe does not share. */
static bool
user_knote_refused(int rc)
{
    return rc == -EINVAL || rc == -ENOMEM || rc == -ENOSYS;
}

/* Add the waker's knote, untriggered and under no cookie yet, so that a
 * refusal is known before the core looks for the waker's descriptor; on
 * a refusal, make the waker a pipe.  0 or -errno. */
static int
add_knote_or_pipe(struct mw__os_waker *wk, struct mw__os_poller *p)
{
    int rc;

    if (MW_KQUEUE_EMULATED) {
        wk->kq = mw__os_poller_kqueue_ref(p);  /* added when armed */
        return 0;
    }
    rc = mw__os_poller_kqueue_change(p, wk->ident, EVFILT_USER,
                                     EV_ADD | EV_CLEAR, 0, 0);
    if (rc == 0) {
        wk->kq = mw__os_poller_kqueue_ref(p);
        return 0;
    }
    wk->kq = NULL;
    return user_knote_refused(rc) ? mw__pipe(wk->pipe) : rc;
}

int
mw__os_waker_open(struct mw__os_waker **out, struct mw__os_poller *p)
{
    struct mw__os_waker *wk = malloc(sizeof(*wk));
    int rc;

    if (!wk)
        return -ENOMEM;
    wk->ident = atomic_fetch_add_explicit(&next_ident, 1,
                                          memory_order_relaxed);
    wk->cookie = 0;
    wk->pipe[0] = wk->pipe[1] = -1;
    rc = add_knote_or_pipe(wk, p);
    if (rc < 0) {
        free(wk);
        return rc;
    }
    *out = wk;
    return 0;
}

/* libkqueue adds a user knote by opening an eventfd, and when eventfd()
 * fails it closes the -1 it got, so kevent() reports that close's EBADF
 * instead of EMFILE or ENFILE (the kqueue itself is open: the waker holds
 * a reference to it).  An eventfd of our own then says which: its error,
 * or, when one is free again by now, nothing stands in the way of a
 * second try. */
static int
arm_knote(struct mw__os_waker *wk, struct mw__os_poller *p, mw_token cookie)
{
    int rc = mw__os_poller_kqueue_change(p, wk->ident, EVFILT_USER,
                                         EV_ADD | EV_CLEAR, 0, cookie);
#if MW_KQUEUE_EMULATED
    if (rc == -EBADF) {
        int fd = eventfd(0, EFD_CLOEXEC);

        if (fd < 0)
            return -errno;
        mw__close(fd);
        rc = mw__os_poller_kqueue_change(p, wk->ident, EVFILT_USER,
                                         EV_ADD | EV_CLEAR, 0, cookie);
    }
#endif
    return rc;
}

int
mw__os_waker_arm(struct mw__os_waker *wk, struct mw__os_poller *p,
                 mw_token cookie)
{
    wk->cookie = cookie;
    if (!wk->kq)
        return mw__os_poller_ctl(p, MW__CTL_ADD, wk->pipe[0], cookie,
                                 MW_READABLE, 0);
    return arm_knote(wk, p, cookie);
}

int
mw__os_waker_signal(struct mw__os_waker *wk)
{
    if (!wk->kq)
        return mw__pipe_signal(wk->pipe[1]);
    return mw__os_poller_kqueue_change(wk->kq, wk->ident, EVFILT_USER, 0,
                                       NOTE_TRIGGER, wk->cookie);
}

void
mw__os_waker_consume(struct mw__os_waker *wk)
{
    /* A pipe must be emptied for the next signal to be an edge (see
     * waker-pipe.c); a user knote was reset by EV_CLEAR. */
    if (!wk->kq)
        mw__fd_drain(wk->pipe[0]);
}

void
mw__os_waker_close(struct mw__os_waker *wk, bool in_child)
{
    if (!wk->kq) {
        mw__close(wk->pipe[0]);
        mw__close(wk->pipe[1]);
        free(wk);
        return;
    }
    /* A user knote has no descriptor whose close would remove it.  A
     * child has no such knote: kqueues are not inherited (and under
     * libkqueue, kevent() takes locks a parent's thread may have held). */
    if (!in_child)
        (void)mw__os_poller_kqueue_change(wk->kq, wk->ident, EVFILT_USER,
                                          EV_DELETE, 0, 0);
    mw__os_poller_kqueue_unref(wk->kq, in_child);
    free(wk);
}

int
mw__os_waker_fd(const struct mw__os_waker *wk)
{
    return wk->pipe[0];
}
