/* SPDX-License-Identifier: MIT */
/*
 * Waker backed by a self-pipe, the portable choice: configure picks it
 * where eventfd and EVFILT_USER are missing, and it works with every
 * poller because it only registers its read end.  Both ends are
 * non-blocking and close-on-exec.  A signal writes one byte; the wait
 * drains the pipe before the core clears the pending flag, so every
 * signal lands in an empty pipe and is a fresh edge for epoll's EPOLLET
 * and kqueue's EV_CLEAR (a write to a non-empty pipe need not be one).
 * A full pipe (only outside writes can fill it) already reads as ready.
 */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct mw__os_waker {
    int rfd;
    int wfd;
};

int
mw__os_waker_open(struct mw__os_waker **out, struct mw__os_poller *p)
{
    struct mw__os_waker *wk = malloc(sizeof(*wk));
    int fds[2];
    int rc;

    (void)p;
    if (!wk)
        return -ENOMEM;
    rc = mw__pipe(fds);
    if (rc < 0) {
        free(wk);
        return rc;
    }
    wk->rfd = fds[0];
    wk->wfd = fds[1];
    *out = wk;
    return 0;
}

int
mw__os_waker_arm(struct mw__os_waker *wk, struct mw__os_poller *p,
                 mw_token cookie)
{
    return mw__os_poller_ctl(p, MW__CTL_ADD, wk->rfd, cookie, MW_READABLE,
                             0);
}

int
mw__os_waker_signal(struct mw__os_waker *wk)
{
    return mw__pipe_signal(wk->wfd);
}

void
mw__os_waker_consume(struct mw__os_waker *wk)
{
    mw__fd_drain(wk->rfd);
}

void
mw__os_waker_close(struct mw__os_waker *wk, bool in_child)
{
    /* The poller was closed first (backend.h): no set holds the read
     * end any more. */
    (void)in_child;
    mw__close(wk->rfd);
    mw__close(wk->wfd);
    free(wk);
}

int
mw__os_waker_fd(const struct mw__os_waker *wk)
{
    return wk->rfd;
}
