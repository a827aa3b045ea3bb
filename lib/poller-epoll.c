/* SPDX-License-Identifier: MIT */
/*
 * Poller backed by Linux epoll, chosen by configure where <sys/epoll.h>
 * and epoll_create1() exist.  Every registration is edge-triggered
 * (EPOLLET), as in mio: an event is reported once per change of
 * readiness, and the caller drains until EAGAIN.  EPOLLRDHUP comes with
 * read interest so a peer's shutdown shows as MW_EV_READ_CLOSED even
 * while unread data remains.  The epoll descriptor is the one the caller
 * can nest in another loop.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

/* Events fetched per epoll_wait() (libuv's number); a larger capacity
 * just means the rest comes with the next wait. */
#define BATCH 1024

const size_t mw__poller_batch = BATCH;

struct mw__poller {
    int epfd;
    /* The waiting thread's, here rather than on its stack: see
     * wait_cancelled() in poll.c. */
    struct epoll_event buf[BATCH];
};


int
mw__poller_open(struct mw__poller **out)
{
    struct mw__poller *p = malloc(sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int rc = -errno;

        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void
mw__poller_close(struct mw__poller *p, bool in_child)
{
    (void)in_child;
    mw__close(p->epfd);
    free(p);
}

static uint32_t
interest_to_epoll(unsigned interest)
{
    uint32_t e = EPOLLET;

    if (interest & MW_READABLE)
        e |= EPOLLIN | EPOLLRDHUP;
    if (interest & MW_WRITABLE)
        e |= EPOLLOUT;
    if (interest & MW_PRIORITY)
        e |= EPOLLPRI;
    return e;
}

/* mio's reading of epoll's bits: a pipe's read end shows a closed writer
 * as EPOLLHUP alone, a socket's peer shutdown as EPOLLRDHUP, and a pipe's
 * write end a closed reader as EPOLLERR (with EPOLLOUT). */
static uint32_t
epoll_to_flags(uint32_t e)
{
    uint32_t f = 0;

    if (e & EPOLLIN)
        f |= MW_EV_READABLE;
    if (e & EPOLLOUT)
        f |= MW_EV_WRITABLE;
    if (e & EPOLLPRI)
        f |= MW_EV_PRIORITY;
    if (e & EPOLLERR)
        f |= MW_EV_ERROR;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        f |= MW_EV_READ_CLOSED;
    if ((e & EPOLLHUP) || ((e & EPOLLOUT) && (e & EPOLLERR)) || e == EPOLLERR)
        f |= MW_EV_WRITE_CLOSED;
    return f;
}

int
mw__poller_ctl(struct mw__poller *p, enum mw__ctl op, int fd,
               mw_token cookie, unsigned interest, unsigned was)
{
    /* DEL ignores the event, but kernels before 2.6.9 insist on one. */
    struct epoll_event ev = {
        .events = interest_to_epoll(interest),
        .data.u64 = cookie,
    };
    int eop = op == MW__CTL_ADD ? EPOLL_CTL_ADD
            : op == MW__CTL_MOD ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;

    (void)was;
    if (epoll_ctl(p->epfd, eop, fd, &ev) < 0) {
        /* A modified number not in the set: its registered file was
         * closed and the number names a new one, which to the caller is
         * a closed descriptor, as when the number is still closed. */
        if (op == MW__CTL_MOD && errno == ENOENT)
            return -EBADF;
        return -errno;
    }
    return 0;
}

int
mw__poller_wait(struct mw__poller *p, struct mw_event *ev, size_t cap,
                int timeout_ms)
{
    int n = epoll_wait(p->epfd, p->buf, cap < BATCH ? (int)cap : BATCH,
                       timeout_ms);

    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        ev[i].token = (mw_token)p->buf[i].data.u64;
        ev[i].flags = epoll_to_flags(p->buf[i].events);
    }
    return n;
}

int
mw__poller_fd(const struct mw__poller *p)
{
    return p->epfd;
}
