/* SPDX-License-Identifier: MIT */
/*
 * Poller backed by poll(2), the fallback configure chooses where neither
 * epoll nor kqueue exists; any POSIX system has it.  The kernel keeps no
 * set, so the set lives here: a master array changed by registration
 * calls under a mutex, and a snapshot the waiting thread passes to poll()
 * without holding it.  A registration made while a wait blocks writes a
 * byte to a private interrupt pipe (never a waker's: a registering thread
 * that consumed a waker's byte would lose that wake), so the wait
 * returns, takes a fresh snapshot and goes on with what is left of the
 * timeout (the core recomputes it).  poll(2) is level-triggered: readiness
 * is reported again while it lasts, which the contract allows.  There is
 * no descriptor to nest in another loop, so mw_poll_fd() is -ENOTSUP.
 *
 * A timeout finer than a millisecond goes to ppoll() where the C library
 * has it; where it has not, or the kernel or a seccomp filter refuses it
 * (ENOSYS, EPERM), the process rounds such timeouts up to milliseconds
 * for poll() from then on (mw__timed_wait() in fd.c makes that choice).
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_PPOLL
# define PPOLL_BUILT 1
static int
timed_poll(struct pollfd *fds, nfds_t n, const struct timespec *ts)
{
    return ppoll(fds, n, ts, NULL);
}
#else
# define PPOLL_BUILT 0
static int
timed_poll(struct pollfd *fds, nfds_t n, const struct timespec *ts)
{
    (void)fds, (void)n, (void)ts;
    errno = ENOSYS;
    return -1;
}
#endif

/* A wait reports every ready entry that fits. */
const size_t mw__os_poller_batch = SIZE_MAX;

/* Linux reports a peer's shutdown of its writing side separately. */
#ifndef POLLRDHUP
# define POLLRDHUP 0
#endif

struct pollset {
    struct pollfd *fds;
    mw_token *cookies;
    size_t len;
    size_t cap;
};

struct mw__os_poller {
    pthread_mutex_t lock;       /* guards all but `snap` */
    struct pollset set;         /* entry 0 is intr[0] */
    size_t *index;              /* descriptor -> entry in set, 0 if none */
    size_t nindex;
    unsigned gen;               /* bumped on every change of `set` */
    bool waiting;               /* a wait is inside poll() */
    bool interrupted;           /* a byte is in intr[] */
    int intr[2];
    /* The waiting thread's own copy; only it touches these. */
    struct pollset snap;
    unsigned snap_gen;
    size_t cursor;              /* where the next scan of snap starts */
    /* Not on the waiting thread's stack: see wait_cancelled() in poll.c. */
    struct timespec timeout;
};

/* Room for need entries in both arrays of s, which share one capacity:
 * each grows from s->cap alike, and s->cap moves only when both have. */
static int
reserve(struct pollset *s, size_t need)
{
    size_t cap = s->cap;
    int rc = mw__array_grow((void **)&s->fds, &cap, sizeof(*s->fds), need,
                            16);

    if (rc < 0)
        return rc;
    cap = s->cap;
    rc = mw__array_grow((void **)&s->cookies, &cap, sizeof(*s->cookies),
                        need, 16);
    if (rc < 0)
        return rc;
    s->cap = cap;
    return 0;
}

int
mw__os_poller_open(struct mw__os_poller **out)
{
    struct mw__os_poller *p = calloc(1, sizeof(*p));
    int rc;

    if (!p)
        return -ENOMEM;
    rc = pthread_mutex_init(&p->lock, NULL);
    if (rc != 0) {
        free(p);
        return -rc;
    }
    rc = mw__pipe(p->intr);
    if (rc < 0)
        goto fail;
    rc = reserve(&p->set, 1);
    if (rc < 0)
        goto fail_pipe;
    p->set.fds[0] = (struct pollfd){ .fd = p->intr[0], .events = POLLIN };
    p->set.cookies[0] = 0;
    p->set.len = 1;
    p->gen = 1;
    *out = p;
    return 0;

fail_pipe:
    mw__close(p->intr[0]);
    mw__close(p->intr[1]);
fail:
    free(p->set.fds);
    free(p->set.cookies);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return rc;
}

void
mw__os_poller_close(struct mw__os_poller *p, bool in_child)
{
    mw__close(p->intr[0]);
    mw__close(p->intr[1]);
    free(p->set.fds);
    free(p->set.cookies);
    free(p->snap.fds);
    free(p->snap.cookies);
    free(p->index);
    /* A thread of the parent may have held the lock at the fork. */
    if (!in_child)
        pthread_mutex_destroy(&p->lock);
    free(p);
}

static short
interest_to_poll(unsigned interest)
{
    short e = 0;

    if (interest & MW_READABLE)
        e |= POLLIN | POLLRDHUP;
    if (interest & MW_WRITABLE)
        e |= POLLOUT;
    if (interest & MW_PRIORITY)
        e |= POLLPRI;
    return e;
}

static uint32_t
poll_to_flags(short r)
{
    uint32_t f = 0;

    if (r & POLLIN)
        f |= MW_EV_READABLE;
    if (r & POLLOUT)
        f |= MW_EV_WRITABLE;
    if (r & POLLPRI)
        f |= MW_EV_PRIORITY;
    if (r & (POLLERR | POLLNVAL))
        f |= MW_EV_ERROR;
    if (r & (POLLHUP | POLLRDHUP))
        f |= MW_EV_READ_CLOSED;
    if ((r & POLLHUP) || ((r & POLLOUT) && (r & POLLERR)) || r == POLLERR)
        f |= MW_EV_WRITE_CLOSED;
    return f;
}

/* Make a blocked wait return so that it sees the change.  Lock held. */
static void
interrupt_wait(struct mw__os_poller *p)
{
    p->gen++;
    if (!p->waiting || p->interrupted)
        return;
    /* Only another process's writes could fill the pipe; any other error
     * is a pipe the caller broke, and the wait then ends at its timeout. */
    (void)mw__pipe_signal(p->intr[1]);
    p->interrupted = true;
}

static size_t
entry_of(const struct mw__os_poller *p, int fd)
{
    return (size_t)fd < p->nindex ? p->index[fd] : 0;
}

static int
add(struct mw__os_poller *p, int fd, mw_token cookie, unsigned interest)
{
    size_t i = p->set.len;
    int rc;

    if (entry_of(p, fd))
        return -EEXIST;
    rc = mw__array_grow((void **)&p->index, &p->nindex, sizeof(*p->index),
                        (size_t)fd + 1, 64);
    if (rc < 0)
        return rc;
    rc = reserve(&p->set, i + 1);
    if (rc < 0)
        return rc;
    p->set.fds[i] = (struct pollfd){ .fd = fd,
                                     .events = interest_to_poll(interest) };
    p->set.cookies[i] = cookie;
    p->set.len++;
    p->index[fd] = i;
    return 0;
}

static void
remove_entry(struct mw__os_poller *p, int fd, size_t i)
{
    size_t last = p->set.len - 1;

    if (i != last) {
        p->set.fds[i] = p->set.fds[last];
        p->set.cookies[i] = p->set.cookies[last];
        p->index[p->set.fds[i].fd] = i;
    }
    p->index[fd] = 0;
    p->set.len--;
}

int
mw__os_poller_ctl(struct mw__os_poller *p, enum mw__ctl op, int fd,
                  mw_token cookie, unsigned interest, unsigned was)
{
    size_t i;
    int rc = 0;

    (void)was;
    /* With no kernel set to refuse a closed descriptor, ask fcntl(). */
    if (op != MW__CTL_DEL && fcntl(fd, F_GETFD) < 0)
        return -errno;
    pthread_mutex_lock(&p->lock);
    i = entry_of(p, fd);
    switch (op) {
    case MW__CTL_ADD:
        rc = add(p, fd, cookie, interest);
        break;
    case MW__CTL_MOD:
        if (!i) {
            rc = -ENOENT;
            break;
        }
        p->set.fds[i].events = interest_to_poll(interest);
        p->set.cookies[i] = cookie;
        break;
    case MW__CTL_DEL:
        /* Not in the set: gone already, which DEL answers with 0 on every
         * poller (backend.h); nothing changed for a wait to see.  (The
         * core deletes only what it added, so it never meets this.) */
        if (!i) {
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        remove_entry(p, fd, i);
        break;
    }
    if (rc == 0)
        interrupt_wait(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* The two timed calls on the snapshot, as mw__timed_wait() makes them. */
static int
fine_wait(void *arg, const struct timespec *ts)
{
    struct mw__os_poller *p = arg;

    return timed_poll(p->snap.fds, (nfds_t)p->snap.len, ts);
}

static int
coarse_wait(void *arg, int timeout_ms)
{
    struct mw__os_poller *p = arg;

    return poll(p->snap.fds, (nfds_t)p->snap.len, timeout_ms);
}

int
mw__os_poller_wait(struct mw__os_poller *p, struct mw_event *ev, size_t cap,
                   int64_t timeout_ns)
{
    struct pollset *s = &p->snap;
    size_t n = 0;
    int rc = 0;
    int ready;

    pthread_mutex_lock(&p->lock);
    if (p->snap_gen != p->gen) {
        rc = reserve(s, p->set.len);
        if (rc == 0) {
            memcpy(s->fds, p->set.fds, p->set.len * sizeof(*s->fds));
            memcpy(s->cookies, p->set.cookies,
                   p->set.len * sizeof(*s->cookies));
            s->len = p->set.len;
            p->snap_gen = p->gen;
        }
    }
    p->waiting = rc == 0;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return rc;

    /* The wait's cancellation point.  A thread cancelled here leaves
     * `waiting` (and perhaps `interrupted`) set: a registration then
     * writes at most one byte, and the next wait drains it below after
     * one early return.  Nothing is lost, so no cleanup handler. */
    ready = mw__timed_wait(timeout_ns, PPOLL_BUILT, &p->timeout, fine_wait,
                           coarse_wait, p);
    if (ready < 0)
        rc = -errno;

    pthread_mutex_lock(&p->lock);
    p->waiting = false;
    /* Drain whenever a byte is there, not only for our own interrupt: a
     * fork() child shares the pipe, and a byte it left would make every
     * later poll() return at once. */
    if (p->interrupted || (ready > 0 && (s->fds[0].revents & POLLIN))) {
        mw__fd_drain(p->intr[0]);
        p->interrupted = false;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return rc;

    /* Entry 0 is the interrupt pipe: never reported.  Readiness is level-
     * triggered, so with more entries ready than cap a scan that always
     * began at entry 1 would report the same ones forever and starve the
     * rest (a waker among them): each scan begins where the last one
     * stopped. */
    if (s->len > 1) {
        size_t i = p->cursor < s->len && p->cursor > 0 ? p->cursor : 1;

        if (s->fds[0].revents)
            ready--;
        for (size_t seen = 1; seen < s->len && n < cap && ready > 0; seen++) {
            if (s->fds[i].revents) {
                ready--;
                ev[n].token = s->cookies[i];
                ev[n].flags = poll_to_flags(s->fds[i].revents);
                n++;
            }
            i = i + 1 < s->len ? i + 1 : 1;
        }
        p->cursor = i;
    }
    return (int)n;
}

int
mw__os_poller_fd(const struct mw__os_poller *p)
{
    (void)p;
    return -ENOTSUP;
}
