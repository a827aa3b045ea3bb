/* SPDX-License-Identifier: MIT */
/*
 * Poller backed by Linux epoll, chosen by configure where <sys/epoll.h>
 * and epoll_create1() exist.  Every registration is edge-triggered
 * (EPOLLET), as in mio: an event is reported once per change of
 * readiness, and the caller drains until EAGAIN.  EPOLLRDHUP comes with
 * read interest so a peer's shutdown shows as MW_EV_READ_CLOSED even
 * while unread data remains.  The epoll descriptor is the one the caller
 * can nest in another loop.
 *
 * A timeout finer than a millisecond needs epoll_pwait2() (Linux 5.11).
 * An older kernel, or a seccomp filter, refuses it with ENOSYS (EPERM
 * under some filters): from then on the process rounds such timeouts up
 * to milliseconds for epoll_wait(), as a build without it always does
 * (mw__timed_wait() in fd.c makes that choice).
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

/* How epoll_pwait2() is reached: the C library's wrapper (glibc 2.35),
 * else the raw system call where the headers number it (musl), else not
 * at all. */
#ifdef HAVE_EPOLL_PWAIT2
# define PWAIT2_BUILT 1
#elif defined(HAVE_DECL_SYS_EPOLL_PWAIT2) && HAVE_DECL_SYS_EPOLL_PWAIT2
# define PWAIT2_BUILT 1
# include <sys/syscall.h>
# include <unistd.h>
#else
# define PWAIT2_BUILT 0
#endif

/* Events fetched per epoll_wait() (libuv's number); a larger capacity
 * just means the rest comes with the next wait. */
#define BATCH 1024

const size_t mw__os_poller_batch = BATCH;

struct mw__os_poller {
    int epfd;
    /* The waiting thread's, here rather than on its stack: see
     * wait_cancelled() in poll.c. */
    int max;                    /* the events this wait may fetch */
    struct timespec timeout;
    struct epoll_event buf[BATCH];
};

int
mw__os_poller_open(struct mw__os_poller **out)
{
    struct mw__os_poller *p = malloc(sizeof(*p));

    if (!p)
        return -ENOMEM;
    /* Zero also the padding of a timespec whose tv_nsec is narrower than
     * the kernel's. */
    memset(&p->timeout, 0, sizeof(p->timeout));
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
mw__os_poller_close(struct mw__os_poller *p, bool in_child)
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
mw__os_poller_ctl(struct mw__os_poller *p, enum mw__ctl op, int fd,
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
        /* A number not in the set: its registered file was closed (the
         * close took it out of the set) and the number names a new one,
         * which is, as when the number is still closed (EBADF), a closed
         * descriptor: MOD says so, and DEL has nothing left to do. */
        if (op == MW__CTL_DEL && (errno == EBADF || errno == ENOENT))
            return 0;
        if (op == MW__CTL_MOD && errno == ENOENT)
            return -EBADF;
        return -errno;
    }
    return 0;
}

#ifdef HAVE_EPOLL_PWAIT2
static int
pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts)
{
    return epoll_pwait2(epfd, ev, max, ts, NULL);
}
#elif PWAIT2_BUILT
/* Without the C library's wrapper the raw call is no cancellation point
 * of its own: it becomes one the way C libraries made theirs, with
 * asynchronous cancellation around the call alone. */
static int
pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts)
{
    int type, n, err;

    (void)pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
    n = (int)syscall(SYS_epoll_pwait2, epfd, ev, max, ts, NULL, 0);
    err = errno;
    (void)pthread_setcanceltype(type, NULL);
    errno = err;
    return n;
}
#else
static int
pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts)
{
    (void)epfd, (void)ev, (void)max, (void)ts;
    errno = ENOSYS;
    return -1;
}
#endif

/* The two timed calls, as mw__timed_wait() makes them. */
static int
fine_wait(void *arg, const struct timespec *ts)
{
    struct mw__os_poller *p = arg;

    return pwait2(p->epfd, p->buf, p->max, ts);
}

static int
coarse_wait(void *arg, int timeout_ms)
{
    struct mw__os_poller *p = arg;

    return epoll_wait(p->epfd, p->buf, p->max, timeout_ms);
}

int
mw__os_poller_wait(struct mw__os_poller *p, struct mw_event *ev, size_t cap,
                   int64_t timeout_ns)
{
    int n;

    p->max = cap < BATCH ? (int)cap : BATCH;
    n = mw__timed_wait(timeout_ns, PWAIT2_BUILT, &p->timeout, fine_wait,
                       coarse_wait, p);
    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        ev[i].token = (mw_token)p->buf[i].data.u64;
        ev[i].flags = epoll_to_flags(p->buf[i].events);
    }
    return n;
}

int
mw__os_poller_fd(const struct mw__os_poller *p)
{
    return p->epfd;
}
