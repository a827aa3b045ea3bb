/* SPDX-License-Identifier: MIT */
/*
 * Waker backed by a Linux eventfd, chosen by configure where eventfd()
 * exists and the poller is epoll (the pair relies on edge triggering).
 * Every write to an eventfd wakes its epoll waiters, even when the counter
 * is already non-zero, so with EPOLLET each signal is a fresh edge and the
 * wait never needs to read the counter: one system call per collected
 * event.  The counter can only approach its maximum (2^64 - 2) through
 * outside writes; then a write fails with EAGAIN, and mw__os_waker_signal()
 * drains and writes again, as mio does.
 */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>

struct mw__os_waker {
    int efd;
};


int
mw__os_waker_open(struct mw__os_waker **out, struct mw__os_poller *p)
{
    struct mw__os_waker *wk = malloc(sizeof(*wk));

    (void)p;
    if (!wk)
        return -ENOMEM;
    wk->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wk->efd < 0) {
        int rc = -errno;

        free(wk);
        return rc;
    }
    *out = wk;
    return 0;
}

int
mw__os_waker_arm(struct mw__os_waker *wk, struct mw__os_poller *p,
                 mw_token cookie)
{
    return mw__os_poller_ctl(p, MW__CTL_ADD, wk->efd, cookie, MW_READABLE,
                             0);
}

int
mw__os_waker_signal(struct mw__os_waker *wk)
{
    const uint64_t one = 1;
    uint64_t drained;

    for (;;) {
        if (mw__write(wk->efd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        /* The counter is full.  Reading zeroes it; the write that follows
         * is then a new edge. */
        if (mw__read(wk->efd, &drained, sizeof(drained)) < 0
            && errno != EAGAIN && errno != EINTR)
            return -errno;
    }
}

void
mw__os_waker_consume(struct mw__os_waker *wk)
{
    /* Collecting the edge was the consumption; see the file comment. */
    (void)wk;
}

void
mw__os_waker_close(struct mw__os_waker *wk, bool in_child)
{
    /* No EPOLL_CTL_DEL: the set may be shared with a forked child, and
     * closing the last reference removes the eventfd from it anyway. */
    (void)in_child;
    mw__close(wk->efd);
    free(wk);
}

int
mw__os_waker_fd(const struct mw__os_waker *wk)
{
    return wk->efd;
}
