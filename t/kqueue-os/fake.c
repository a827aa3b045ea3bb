/* SPDX-License-Identifier: MIT */
/*
 * The fake kqueue of the kqueue-os simulation (t/kqueue-os/kqueue-os.mk):
 * kqueue(), kevent() and, where the system played has them, kqueue1()
 * and kqueuex(), over the real Linux descriptors a test registers.  It
 * is compiled into each program against that program's stub
 * <sys/event.h> and config.h, so struct kevent, the constants and the
 * signatures are those of the system it plays; where systems behave
 * differently, `profile` below says what this one does and where that
 * was read.  fake.h is the side the tests see.
 *
 * The model:
 *   - A kqueue is the read end of a pipe, a real descriptor: close() and
 *     FD_CLOEXEC work on it, and a byte in the pipe wakes a blocked
 *     kevent().  The fake notes the pipe's (dev, ino), so that a kqueue
 *     whose number was closed and reused is seen to be gone: its table
 *     is dropped, and a new kqueue under the number starts empty.
 *   - A knote is (kqueue, ident, filter) with its flags, fflags, data
 *     and udata.  A descriptor's knote notes the file's (dev, ino) and
 *     disappears once the number names another file or none, as a BSD
 *     kernel drops knotes at close() (checked at each call: a knote of a
 *     file closed and reopened under its number between two calls, by a
 *     dup() of the same file, survives here).
 *   - kevent() reports knotes in the order they became active, as a
 *     kernel's active queue does (knote_enqueue() puts them at its
 *     tail), not in the order they were made: a test can then have a
 *     knote made first, the wakers' say, reported last.  A kernel
 *     activates a knote when its event comes; the fake sees that in the
 *     order of its epoll set's events, and, where no epoll event tells
 *     (a knote added on a ready file, a NOTE_TRIGGER, a knote that stays
 *     ready), when it looks: at each kevent() with changes, before and
 *     after them, and at each collection of events.
 *   - Readiness is what poll(2) and FIONREAD say of the real descriptor.
 *     EV_CLEAR reports a ready knote once, then again only when its
 *     state changes: new data or room, end-of-file, an error or urgent
 *     data appearing, ready again after not ready.  poll(2) cannot see
 *     a pipe drained and refilled between two looks (every wake of the
 *     library's pipe waker), so each kqueue also keeps the descriptors
 *     in an epoll set of its own, edge-triggered: an epoll event is the
 *     kernel's "something happened" that activates a BSD knote.
 *   - At end-of-file the read and write filters set EV_EOF and, on a
 *     socket, put the socket's error in fflags, in BSD numbering.
 *   - kevent() applies its changes in order; one that fails makes it
 *     return -1 with errno, or, given room for events, an EV_ERROR event
 *     (the library always passes no room).  Then, asked for events, it
 *     waits in ppoll(2) on its pipe and its epoll set; a change or a
 *     NOTE_TRIGGER from another thread writes to the pipe.
 *   - A kqueue is not inherited by fork(): in the child its number is
 *     closed (and may name the child's next file) and its knotes gone.
 *   - kevent() asked for events is a cancellation point, as in FreeBSD's
 *     libthr, even with a zero timeout.
 *   - One mutex guards everything; the wait does not hold it, nor does
 *     fake_after_wait_hook.
 * Filters other than EVFILT_READ, EVFILT_WRITE, EVFILT_EXCEPT and
 * EVFILT_USER are refused with EINVAL (the library uses no other).
 */
#include "config.h"

#include "fake.h"

#include <errno.h>

#if !defined(__linux__)
/* The simulation runs on Linux only (t/kqueue-os/kqueue-os.c skips elsewhere),
 * but the programs are built by every `make check`: these let them link
 * where the C library lacks one of the calls the profile's library
 * sources make (kqueuex() on macOS, say).  Nothing calls them. */
# include <sys/types.h>
# include <sys/event.h>

int
kqueue(void)
{
    errno = ENOSYS;
    return -1;
}

# ifdef KQUEUE_CLOEXEC
int
kqueuex(unsigned int flags)
{
    (void)flags;
    errno = ENOSYS;
    return -1;
}
# endif

# if KQOS_PROFILE != KQOS_MACOS && KQOS_PROFILE != KQOS_DRAGONFLY
int
kqueue1(int flags)
{
    (void)flags;
    errno = ENOSYS;
    return -1;
}
# endif

int
kevent(int kq, const struct kevent *changelist, KQOS_KEVENT_COUNT nchg,
       struct kevent *eventlist, KQOS_KEVENT_COUNT nevents,
       const struct timespec *timeout)
{
    (void)kq;
    (void)changelist;
    (void)nchg;
    (void)eventlist;
    (void)nevents;
    (void)timeout;
    errno = ENOSYS;
    return -1;
}

#else /* __linux__ */

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>

/* ---- what the system played does ------------------------------------- */

#if KQOS_PROFILE == KQOS_FREEBSD14
static const struct fake_profile profile = {
    .name = "freebsd14",
    .has_user = true,
    .has_except = false,
    /* No EVFILT_EXCEPT on FreeBSD.  Had one been asked of a pipe,
     * pipe_kqfilter() in sys/kern/sys_pipe.c refuses every filter but
     * EVFILT_READ and EVFILT_WRITE with EINVAL (a fifo goes to the vnode
     * filters, which have no such filter either). */
    .except_pipe_error = EINVAL,
    .except_is_read_filter = false,
    /* pipe_kqfilter(): EVFILT_WRITE when "other end of pipe has been
     * closed" returns EPIPE before attaching. */
    .widowed_pipe_write_error = EPIPE,
    .max_timeout_sec = 0,
    .user_limit = 0,
};
#elif KQOS_PROFILE == KQOS_MACOS
static const struct fake_profile profile = {
    .name = "macos",
    .has_user = true,
    .has_except = true,
    /* xnu-10002 bsd/kern/sys_pipe.c pipe_kqfilter(): any filter but
     * EVFILT_READ and EVFILT_WRITE gets knote_set_error(kn, EINVAL). */
    .except_pipe_error = EINVAL,
    /* xnu-10002 bsd/kern/uipc_socket.c: soexcept_filtops are soread's
     * filter_ops, and filt_soread_common() sets NOTE_OOB only when asked
     * and the OOB mark is there; otherwise it fires as EVFILT_READ does,
     * at end-of-file with EV_EOF and fflags = so_error (ECONNRESET, 54,
     * has the NOTE_OOB bit 0x2 set). */
    .except_is_read_filter = true,
    /* pipe_kqfilter(): "FreeBSD will fail the attach with EPIPE if the
     * peer pipe is detached, however, this isn't a programming error" --
     * it attaches, and filt_pipewrite reports EV_EOF. */
    .widowed_pipe_write_error = 0,
    /* Go's runtime (netpoll_kqueue.go) clamps kevent() timeouts to 1e6 s
     * because "Darwin returns EINVAL if the sleep time is too long"; the
     * xnu sources themselves refuse only more than 1e8 s (itimerfix(),
     * xnu-3789 and before) or INT32_MAX s (timespec_is_valid(), xnu-4570
     * on).  The fake keeps Go's bound, the one a library can rely on. */
    .max_timeout_sec = 1000000,
    .user_limit = 0,
};
#elif KQOS_PROFILE == KQOS_NETBSD7 || KQOS_PROFILE == KQOS_NETBSD9 \
    || KQOS_PROFILE == KQOS_NETBSD10
static const struct fake_profile profile = {
# if KQOS_PROFILE == KQOS_NETBSD7
    .name = "netbsd7",
    .has_user = false,
# elif KQOS_PROFILE == KQOS_NETBSD9
    .name = "netbsd9",
    .has_user = false,
# else
    .name = "netbsd10",
    .has_user = true,
# endif
    .has_except = false,
    /* No EVFILT_EXCEPT on NetBSD; sys/kern/sys_pipe.c pipe_kqfilter()
     * refuses other filters with EINVAL. */
    .except_pipe_error = EINVAL,
    .except_is_read_filter = false,
    /* pipe_kqfilter(), from the 2015 tree to revision 1.160 (2023):
     * EVFILT_WRITE when the "other end of pipe has been closed" returns
     * EBADF before attaching. */
    .widowed_pipe_write_error = EBADF,
    .max_timeout_sec = 0,
    .user_limit = 0,
};
#elif KQOS_PROFILE == KQOS_OPENBSD77 || KQOS_PROFILE == KQOS_OPENBSD78
static const struct fake_profile profile = {
# if KQOS_PROFILE == KQOS_OPENBSD77
    .name = "openbsd77",
    .has_user = false,
# else
    .name = "openbsd78",
    .has_user = true,
# endif
    .has_except = true,
    /* sys/kern/sys_pipe.c (1.149) pipe_kqfilter(): EVFILT_EXCEPT other
     * than from poll(2) is refused: "Disallow usage through kevent(2)",
     * EINVAL.  Its filt_soexcept() fires on sockets for the OOB mark
     * only. */
    .except_pipe_error = EINVAL,
    .except_is_read_filter = false,
    /* pipe_kqfilter(): a write knote whose reader is closed is attached
     * to the pipe's own side and reports EV_EOF. */
    .widowed_pipe_write_error = 0,
    .max_timeout_sec = 0,
# if KQOS_PROFILE == KQOS_OPENBSD78
    /* sys/kern/kern_event.c (1.205): kq_usereventsmax = 1024 user and
     * timer events per process (fd_nuserevents); filt_userattach() fails
     * with ENOMEM past it.  The library makes no timers. */
    .user_limit = 1024,
# else
    .user_limit = 0,
# endif
};
#elif KQOS_PROFILE == KQOS_DRAGONFLY
static const struct fake_profile profile = {
    .name = "dragonfly",
    .has_user = true,
    .has_except = true,
    /* sys/kern/sys_pipe.c pipe_kqfilter() (the 2013 rewrite, and the
     * pipebuf code after it): any filter but EVFILT_READ and
     * EVFILT_WRITE returns EOPNOTSUPP (on Linux the same number as
     * ENOTSUP).  Its socket EVFILT_EXCEPT is taken to fire for the OOB
     * mark only, as OpenBSD's; not confirmed from its source. */
    .except_pipe_error = EOPNOTSUPP,
    .except_is_read_filter = false,
    /* pipe_kqfilter(): EVFILT_WRITE when "other end of pipe has been
     * closed" returns EPIPE. */
    .widowed_pipe_write_error = EPIPE,
    .max_timeout_sec = 0,
    .user_limit = 0,
};
#else
# error "unknown KQOS_PROFILE"
#endif

const struct fake_profile *
fake_profile(void)
{
    return &profile;
}

/* A socket error as the BSDs and macOS number it (all share 4.4BSD's
 * <errno.h> here); values 1 to 34 are Linux's too. */
static int
bsd_errno(int linux_errno)
{
    switch (linux_errno) {
    case 0:             return 0;
    case EPIPE:         return 32;
    case ENETDOWN:      return 50;
    case ENETUNREACH:   return 51;
    case ENETRESET:     return 52;
    case ECONNABORTED:  return 53;
    case ECONNRESET:    return 54;
    case ENOBUFS:       return 55;
    case ETIMEDOUT:     return 60;
    case ECONNREFUSED:  return 61;
    case EHOSTDOWN:     return 64;
    case EHOSTUNREACH:  return 65;
    default:            return linux_errno;
    }
}

/* ---- state ------------------------------------------------------------- */

#define F_READ  ((long)EVFILT_READ)
#define F_WRITE ((long)EVFILT_WRITE)
#ifdef EVFILT_EXCEPT
# define F_EXCEPT ((long)EVFILT_EXCEPT)
#endif
#ifdef EVFILT_USER
# define F_USER ((long)EVFILT_USER)
#endif

/* The flags a kernel keeps in a knote; the actions are not kept. */
#define KEPT_FLAGS (~(unsigned)(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE))

/* What a descriptor's knote looked like. */
struct look {
    bool ready;
    bool eof;
    bool pri;               /* urgent data (POLLPRI) */
    long nread;             /* FIONREAD */
    int error;              /* the socket's error, BSD-numbered */
};

struct knote {
    int kq;
    uintptr_t ident;
    long filter;
    unsigned flags;         /* as registered, less the actions */
    unsigned sfflags;
    int64_t sdata;
    uintptr_t udata;
    bool disabled;
    bool dead;              /* EV_ONESHOT, reported: dropped after a scan */
    /* Descriptor filters. */
    bool isfd;
    dev_t dev;
    ino_t ino;
    mode_t mode;
    int sockerr;            /* sticky: Linux clears SO_ERROR when read */
    bool fresh;             /* not reported since added or changed */
    bool activated;         /* an epoll event came since last reported */
    struct look seen;       /* at the last look */
    /* EVFILT_USER. */
    bool triggered;
    unsigned ufflags;
    uint64_t queued;        /* its place on the active queue; 0: off it */
};

struct fkq {
    int fd;                 /* the kqueue: a pipe's read end */
    int wake;               /* its write end */
    int ep;                 /* its descriptors' activations (EPOLLET) */
    dev_t dev;
    ino_t ino;
    unsigned waiters;       /* threads blocked in its kevent() */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fkq *kqs;
static size_t nkqs, kqs_cap;
static struct knote *knotes;
static size_t nknotes, knotes_cap;
static struct fake_change *changes;
static size_t nchanges, changes_cap;
static size_t user_knotes;
static int fail_user_err;
static int fail_wait_err;
static int last_kq = -1;
static uint64_t queue_tail;     /* the last place given on a queue */

void (*_Atomic fake_after_wait_hook)(int kq, int n);

static void
grow(void **array, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return;
    while (n < need)
        n *= 2;
    p = realloc(*array, n * elem);
    if (!p) {
        fputs("fake kqueue: out of memory\n", stderr);
        abort();
    }
    *array = p;
    *cap = n;
}

static bool
names_file(int fd, dev_t dev, ino_t ino)
{
    struct stat st;

    return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static void
drop_knote(size_t i)
{
#ifdef F_USER
    if (knotes[i].filter == F_USER)
        user_knotes--;
#endif
    memmove(&knotes[i], &knotes[i + 1],
            (nknotes - i - 1) * sizeof(*knotes));
    nknotes--;
}

/* Forget kqueues whose descriptor was closed (their knotes with them),
 * and descriptor knotes whose descriptor was.  Lock held. */
static void
sweep(void)
{
    for (size_t i = 0; i < nkqs;) {
        if (names_file(kqs[i].fd, kqs[i].dev, kqs[i].ino)) {
            i++;
            continue;
        }
        for (size_t k = 0; k < nknotes;) {
            if (knotes[k].kq == kqs[i].fd)
                drop_knote(k);
            else
                k++;
        }
        close(kqs[i].wake);
        close(kqs[i].ep);
        memmove(&kqs[i], &kqs[i + 1], (nkqs - i - 1) * sizeof(*kqs));
        nkqs--;
    }
    for (size_t k = 0; k < nknotes;) {
        const struct knote *kn = &knotes[k];

        if (kn->isfd && (kn->ident > INT_MAX
                         || !names_file((int)kn->ident, kn->dev, kn->ino)))
            drop_knote(k);
        else
            k++;
    }
}

static struct fkq *
find_kq(int fd)
{
    for (size_t i = 0; i < nkqs; i++)
        if (kqs[i].fd == fd)
            return &kqs[i];
    return NULL;
}

static struct knote *
find_knote(int kq, uintptr_t ident, long filter)
{
    for (size_t i = 0; i < nknotes; i++)
        if (knotes[i].kq == kq && knotes[i].ident == ident
            && knotes[i].filter == filter)
            return &knotes[i];
    return NULL;
}

/* Wake the threads blocked in q's kevent(), to look again. */
static void
kick(const struct fkq *q)
{
    if (q->waiters > 0) {
        ssize_t r = write(q->wake, "", 1);

        (void)r;            /* a full pipe wakes them as well */
    }
}

static void
record(int kq, const struct kevent *c, int error)
{
    struct fake_change *r;

    grow((void **)&changes, &changes_cap, nchanges + 1, sizeof(*changes));
    r = &changes[nchanges++];
    r->kq = kq;
    r->ident = c->ident;
    r->filter = (long)c->filter;
    r->flags = (unsigned long)c->flags;
    r->fflags = (unsigned long)c->fflags;
    r->udata = (uintptr_t)c->udata;
    r->error = error;
}

/* ---- kqueue() ---------------------------------------------------------- */

/* "The queue is not inherited by a child created with fork(2)"
 * (FreeBSD's kqueue(2); the other systems say the same): in the child
 * every kqueue's number is closed, free for the child's next file, and
 * its knotes are gone.
 * The lock is taken across the fork so that the child's copy of the
 * tables is whole. */
static void
fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

static void
fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

static void
fork_child(void)
{
    for (size_t i = 0; i < nkqs; i++) {
        close(kqs[i].fd);
        close(kqs[i].wake);
        close(kqs[i].ep);
    }
    nkqs = 0;
    nknotes = 0;
    user_knotes = 0;
    pthread_mutex_unlock(&lock);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
atfork_install(void)
{
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
        fputs("fake kqueue: pthread_atfork failed\n", stderr);
        abort();
    }
}

static int
new_kqueue(bool cloexec, bool nonblock)
{
    struct fkq *q;
    struct stat st;
    int fds[2], ep;
    int saved;

    pthread_once(&atfork_once, atfork_install);
    pthread_mutex_lock(&lock);
    sweep();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        goto fail;
    if (pipe(fds) < 0) {
        saved = errno;
        close(ep);
        errno = saved;
        goto fail;
    }
    if (fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0
        || fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0
        || (cloexec && fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0)
        || (nonblock && fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0)
        || fstat(fds[0], &st) < 0) {
        saved = errno;
        close(fds[0]);
        close(fds[1]);
        close(ep);
        errno = saved;
        goto fail;
    }
    grow((void **)&kqs, &kqs_cap, nkqs + 1, sizeof(*kqs));
    q = &kqs[nkqs++];
    q->fd = fds[0];
    q->wake = fds[1];
    q->ep = ep;
    q->dev = st.st_dev;
    q->ino = st.st_ino;
    q->waiters = 0;
    last_kq = fds[0];
    pthread_mutex_unlock(&lock);
    return fds[0];

fail:
    saved = errno;
    pthread_mutex_unlock(&lock);
    errno = saved;
    return -1;
}

int
kqueue(void)
{
    return new_kqueue(false, false);
}

#ifdef KQUEUE_CLOEXEC
/* FreeBSD: KQUEUE_CLOEXEC is the one flag. */
int
kqueuex(unsigned int flags)
{
    if (flags & ~(unsigned int)KQUEUE_CLOEXEC) {
        errno = EINVAL;
        return -1;
    }
    return new_kqueue((flags & KQUEUE_CLOEXEC) != 0, false);
}
#endif

#if KQOS_PROFILE != KQOS_MACOS && KQOS_PROFILE != KQOS_DRAGONFLY
/* NetBSD and OpenBSD take O_CLOEXEC and O_NONBLOCK; FreeBSD's kqueue1()
 * takes O_CLOEXEC and ignores O_NONBLOCK (its kqueue1() of 2023). */
int
kqueue1(int flags)
{
    if (flags & ~(O_CLOEXEC | O_NONBLOCK)) {
        errno = EINVAL;
        return -1;
    }
    return new_kqueue((flags & O_CLOEXEC) != 0,
                      KQOS_PROFILE != KQOS_FREEBSD14
                      && (flags & O_NONBLOCK) != 0);
}
#endif

/* ---- applying a change ------------------------------------------------- */

static bool
is_fd_filter(long filter)
{
    if (filter == F_READ || filter == F_WRITE)
        return true;
#ifdef F_EXCEPT
    if (filter == F_EXCEPT)
        return true;
#endif
    return false;
}

static bool
is_user_filter(long filter)
{
#ifdef F_USER
    return filter == F_USER;
#else
    (void)filter;
    return false;
#endif
}

#ifdef F_USER
static void
user_fflags(struct knote *kn, unsigned fflags)
{
    unsigned value = fflags & NOTE_FFLAGSMASK;

    switch (fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND:
        kn->ufflags &= value;
        break;
    case NOTE_FFOR:
        kn->ufflags |= value;
        break;
    case NOTE_FFCOPY:
        kn->ufflags = value;
        break;
    default:
        break;
    }
    if (fflags & NOTE_TRIGGER)
        kn->triggered = true;
}
#endif

/* Would a kernel refuse to attach this new knote to descriptor fd? */
static int
attach_error(long filter, int fd, mode_t mode)
{
#ifdef F_EXCEPT
    if (filter == F_EXCEPT && !S_ISSOCK(mode)) {
        if (S_ISFIFO(mode) || isatty(fd))
            return profile.except_pipe_error;
        return EINVAL;
    }
#endif
    if (filter == F_WRITE && S_ISFIFO(mode)
        && profile.widowed_pipe_write_error != 0) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int fl = fcntl(fd, F_GETFL);

        /* Linux: a pipe's write end without readers polls POLLERR. */
        if (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && poll(&p, 1, 0) == 1
            && (p.revents & POLLERR))
            return profile.widowed_pipe_write_error;
    }
    return 0;
}

/* The epoll events that activate a knote of filter. */
static uint32_t
activating(long filter)
{
    if (filter == F_READ)
        return EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
    if (filter == F_WRITE)
        return EPOLLOUT | EPOLLHUP | EPOLLERR;
    return EPOLLPRI | (profile.except_is_read_filter
                       ? EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR : 0);
}

/* Make q's epoll set watch descriptor fd for what its knotes in q need,
 * or not at all.  Errors are ignored: epoll refuses regular files and
 * directories, whose knotes then only see the changes poll(2) shows.
 * Lock held. */
static void
ep_sync(const struct fkq *q, int fd)
{
    struct epoll_event ev;
    uint32_t mask = 0;

    for (size_t i = 0; i < nknotes; i++)
        if (knotes[i].kq == q->fd && knotes[i].isfd && !knotes[i].dead
            && knotes[i].ident == (uintptr_t)fd)
            mask |= activating(knotes[i].filter);
    memset(&ev, 0, sizeof(ev));
    ev.events = (mask & ~(uint32_t)(EPOLLHUP | EPOLLERR)) | EPOLLET;
    ev.data.fd = fd;
    if (mask == 0)
        (void)epoll_ctl(q->ep, EPOLL_CTL_DEL, fd, &ev);
    else if (epoll_ctl(q->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        (void)epoll_ctl(q->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Mark the knotes the epoll events that came for q activate, and queue
 * them in the order epoll gives, which is the order the events came.
 * Lock held. */
static void
harvest(const struct fkq *q)
{
    struct epoll_event ev[64];
    int n;

    do {
        n = epoll_wait(q->ep, ev, 64, 0);
        for (int j = 0; j < n; j++)
            for (size_t i = 0; i < nknotes; i++) {
                struct knote *kn = &knotes[i];

                if (kn->kq == q->fd && kn->isfd
                    && kn->ident == (uintptr_t)ev[j].data.fd
                    && (ev[j].events & activating(kn->filter))) {
                    kn->activated = true;
                    if (kn->queued == 0)
                        kn->queued = ++queue_tail;
                }
            }
    } while (n == 64 || (n < 0 && errno == EINTR));
}

/* One change; its errno, or 0.  Lock held, sweep() done. */
static int
apply(struct fkq *q, const struct kevent *c)
{
    long filter = (long)c->filter;
    unsigned flags = (unsigned)c->flags;
    unsigned fflags = (unsigned)c->fflags;
    struct knote *kn;
    struct stat st;

    memset(&st, 0, sizeof(st));
    if (!is_fd_filter(filter) && !is_user_filter(filter))
        return EINVAL;
    if (is_fd_filter(filter)
        && (c->ident > INT_MAX || fstat((int)c->ident, &st) < 0))
        return EBADF;
    kn = find_knote(q->fd, c->ident, filter);
    if (flags & EV_DELETE) {
        if (!kn)
            return ENOENT;
        drop_knote((size_t)(kn - knotes));
        if (is_fd_filter(filter))
            ep_sync(q, (int)c->ident);
        kick(q);
        return 0;
    }
    if (!kn && !(flags & EV_ADD))
        return ENOENT;
    if (!kn) {
        int err = is_fd_filter(filter)
                      ? attach_error(filter, (int)c->ident, st.st_mode) : 0;

        if (err == 0 && is_user_filter(filter)) {
            if (fail_user_err != 0)
                err = fail_user_err;
            else if (profile.user_limit != 0
                     && user_knotes >= profile.user_limit)
                err = ENOMEM;
        }
        if (err != 0)
            return err;
        grow((void **)&knotes, &knotes_cap, nknotes + 1, sizeof(*knotes));
        kn = &knotes[nknotes++];
        memset(kn, 0, sizeof(*kn));
        kn->kq = q->fd;
        kn->ident = c->ident;
        kn->filter = filter;
        kn->isfd = is_fd_filter(filter);
        if (kn->isfd) {
            kn->dev = st.st_dev;
            kn->ino = st.st_ino;
            kn->mode = st.st_mode;
        } else {
            user_knotes++;
        }
    }
    /* Any change updates udata, and EV_ADD the registration; a knote
     * changed is looked at afresh, as a kernel re-evaluates it. */
#ifdef EV_KEEPUDATA
    if (!(flags & EV_KEEPUDATA))
#endif
        kn->udata = (uintptr_t)c->udata;
    if (flags & EV_ADD) {
        kn->flags = flags & KEPT_FLAGS;
        kn->sfflags = fflags;
        kn->sdata = (int64_t)c->data;
    }
    if (flags & EV_DISABLE)
        kn->disabled = true;
    if (flags & EV_ENABLE)
        kn->disabled = false;
    kn->fresh = true;
#ifdef F_USER
    if (filter == F_USER)
        user_fflags(kn, fflags);
#endif
    if (kn->isfd)
        ep_sync(q, (int)c->ident);
    kick(q);
    return 0;
}

/* ---- looking at knotes ------------------------------------------------- */

/* The socket error of kn's socket: remembered once read, as reading
 * SO_ERROR on Linux clears it and a BSD kernel keeps so_error.  Lock
 * held. */
static int
socket_error(struct knote *kn, short revents)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (kn->sockerr == 0 && (revents & POLLERR)
        && getsockopt((int)kn->ident, SOL_SOCKET, SO_ERROR, &err, &len) == 0
        && err != 0) {
        for (size_t i = 0; i < nknotes; i++)
            if (knotes[i].isfd && knotes[i].dev == kn->dev
                && knotes[i].ino == kn->ino)
                knotes[i].sockerr = bsd_errno(err);
    }
    return kn->sockerr;
}

static void
look_read(struct knote *kn, short revents, struct look *l)
{
    int n = 0;

    if ((S_ISSOCK(kn->mode) || S_ISFIFO(kn->mode) || S_ISREG(kn->mode))
        && ioctl((int)kn->ident, FIONREAD, &n) == 0 && n > 0)
        l->nread = n;
    if (S_ISSOCK(kn->mode)) {
        l->eof = (revents & (POLLRDHUP | POLLHUP)) != 0;
        l->error = socket_error(kn, revents);
    } else if (S_ISFIFO(kn->mode)) {
        l->eof = (revents & POLLHUP) != 0;
    }
    l->ready = (revents & POLLIN) || l->eof || l->error != 0;
}

static void
look_write(struct knote *kn, short revents, struct look *l)
{
    if (S_ISSOCK(kn->mode)) {
        l->eof = (revents & POLLHUP) != 0;
        l->error = socket_error(kn, revents);
    } else if (S_ISFIFO(kn->mode)) {
        /* Linux polls a pipe's write end POLLERR once its readers are
         * gone. */
        l->eof = (revents & POLLERR) != 0;
    }
    l->ready = (revents & POLLOUT) || l->eof || l->error != 0;
}

static void
look(struct knote *kn, short revents, struct look *l)
{
    memset(l, 0, sizeof(*l));
    if (kn->filter == F_READ) {
        look_read(kn, revents, l);
    } else if (kn->filter == F_WRITE) {
        look_write(kn, revents, l);
    } else {
#ifdef F_EXCEPT
        bool oob = (kn->sfflags & NOTE_OOB) != 0;

        l->pri = (revents & POLLPRI) != 0;
        if (profile.except_is_read_filter) {
            look_read(kn, revents, l);
            l->ready = l->ready || (l->pri && oob);
        } else {
            l->ready = l->pri && oob;
        }
#endif
    }
}

static bool
to_report(const struct knote *kn, const struct look *l)
{
    const struct look *s = &kn->seen;

    if (!l->ready)
        return false;
    if (!(kn->flags & EV_CLEAR) || kn->fresh || kn->activated)
        return true;
    return !s->ready || l->nread > s->nread || (l->eof && !s->eof)
           || (l->pri && !s->pri) || (l->error != 0 && s->error == 0);
}

static void
fill(struct kevent *ev, const struct knote *kn, const struct look *l)
{
    unsigned flags = kn->flags;
    unsigned fflags = 0;
    int64_t data = 0;

    memset(ev, 0, sizeof(*ev));
    if (!kn->isfd) {
        fflags = kn->ufflags;
        data = kn->sdata;
    } else if (kn->filter == F_READ || kn->filter == F_WRITE) {
        data = l->nread;
        if (l->eof) {
            flags |= EV_EOF;
            fflags = (unsigned)l->error;
        }
    } else {
#ifdef F_EXCEPT
        data = l->nread;
        if (l->pri && (kn->sfflags & NOTE_OOB)) {
            fflags = NOTE_OOB;
        } else if (l->eof) {
            flags |= EV_EOF;
            fflags = (unsigned)l->error;
        }
#endif
    }
    ev->ident = kn->ident;
    ev->filter = (__typeof__(ev->filter))kn->filter;
    ev->flags = (__typeof__(ev->flags))flags;
    ev->fflags = (__typeof__(ev->fflags))fflags;
    ev->data = (__typeof__(ev->data))data;
    ev->udata = (__typeof__(ev->udata))kn->udata;
}

/* poll(2)'s revents for each of q's descriptor knotes, by knote index;
 * NULL when there are no knotes.  The caller frees it.  Lock held. */
static short *
poll_knotes(const struct fkq *q)
{
    struct pollfd *pfd;
    short *revents;
    size_t npfd = 0;

    if (nknotes == 0)
        return NULL;
    pfd = calloc(nknotes, sizeof(*pfd));
    revents = calloc(nknotes, sizeof(*revents));
    if (!pfd || !revents) {
        fputs("fake kqueue: out of memory\n", stderr);
        abort();
    }
    for (size_t i = 0; i < nknotes; i++) {
        if (knotes[i].kq != q->fd || !knotes[i].isfd)
            continue;
        pfd[npfd].fd = (int)knotes[i].ident;
        pfd[npfd++].events = POLLIN | POLLOUT | POLLPRI | POLLRDHUP;
    }
    while (npfd > 0 && poll(pfd, npfd, 0) < 0 && errno == EINTR)
        continue;
    for (size_t i = 0, j = 0; i < nknotes; i++)
        if (knotes[i].kq == q->fd && knotes[i].isfd)
            revents[i] = pfd[j++].revents;
    free(pfd);
    return revents;
}

/* Is kn due to be reported?  *l is what its descriptor looks like.
 * Lock held. */
static bool
due(struct knote *kn, short revents, struct look *l)
{
    memset(l, 0, sizeof(*l));
    if (!kn->isfd)
        return kn->triggered;
    look(kn, revents, l);
    return to_report(kn, l);
}

/* Put q's knotes that are due and not queued yet at the tail of its
 * active queue, in the order found, and take those not due off it.
 * What was seen of them is left for collect() to note, as their events
 * are not reported yet.  Lock held, sweep() done. */
static void
activate(const struct fkq *q)
{
    short *revents;

    harvest(q);
    revents = poll_knotes(q);
    for (size_t i = 0; i < nknotes; i++) {
        struct knote *kn = &knotes[i];
        struct look l;

        if (kn->kq != q->fd)
            continue;
        if (kn->disabled || !due(kn, revents ? revents[i] : 0, &l))
            kn->queued = 0;
        else if (kn->queued == 0)
            kn->queued = ++queue_tail;
    }
    free(revents);
}

/* Look at q's knotes once and report up to max of them into out, first
 * queued first.  Lock held, sweep() done. */
static size_t
collect(const struct fkq *q, struct kevent *out, size_t max)
{
    struct look *looks = NULL;
    size_t *order = NULL;
    size_t ndue = 0, n = 0;
    short *revents;
    bool dead = false;

    harvest(q);
    revents = poll_knotes(q);
    if (nknotes > 0) {
        looks = calloc(nknotes, sizeof(*looks));
        order = calloc(nknotes, sizeof(*order));
        if (!looks || !order) {
            fputs("fake kqueue: out of memory\n", stderr);
            abort();
        }
    }
    for (size_t i = 0; i < nknotes; i++) {
        struct knote *kn = &knotes[i];
        size_t k;

        if (kn->kq != q->fd)
            continue;
        /* A kernel's scan drops from the queue a knote that is not due
         * any more: it is queued afresh, at the tail, when it is. */
        if (kn->disabled || !due(kn, revents ? revents[i] : 0, &looks[i])) {
            kn->queued = 0;
            if (kn->isfd && !kn->disabled) {
                if (!looks[i].ready)
                    kn->activated = false;  /* whatever it was, it is over */
                kn->seen = looks[i];
            }
            continue;
        }
        if (kn->queued == 0)
            kn->queued = ++queue_tail;
        for (k = ndue++; k > 0 && knotes[order[k - 1]].queued > kn->queued;
             k--)
            order[k] = order[k - 1];
        order[k] = i;
    }
    /* Those past max stay due and queued for the next call, and keep
     * what was seen of them before. */
    for (; n < ndue && n < max; n++) {
        struct knote *kn = &knotes[order[n]];

        fill(&out[n], kn, &looks[order[n]]);
        kn->fresh = false;
        kn->activated = false;
        if (!kn->isfd && (kn->flags & EV_CLEAR))
            kn->triggered = false;
        if (kn->flags & EV_ONESHOT)
            dead = kn->dead = true;
#ifdef EV_DISPATCH
        if (kn->flags & EV_DISPATCH)
            kn->disabled = true;
#endif
        /* Reported, a knote leaves the queue; one without EV_CLEAR, still
         * due, goes back to its tail, after the others. */
        kn->queued = (kn->flags & EV_CLEAR) || kn->dead || kn->disabled
                         ? 0 : ++queue_tail;
        if (kn->isfd)
            kn->seen = looks[order[n]];
    }
    for (size_t i = 0; dead && i < nknotes;) {
        if (knotes[i].dead) {
            int fd = (int)knotes[i].ident;
            bool isfd = knotes[i].isfd;

            drop_knote(i);
            if (isfd)
                ep_sync(q, fd);
        } else {
            i++;
        }
    }
    free(revents);
    free(looks);
    free(order);
    return n;
}

/* Read what kick() wrote.  Lock held. */
static void
drain(const struct fkq *q)
{
    char buf[64];
    int avail = 0;

    while (ioctl(q->fd, FIONREAD, &avail) == 0 && avail > 0) {
        ssize_t r = read(q->fd, buf,
                         (size_t)avail < sizeof(buf) ? (size_t)avail
                                                     : sizeof(buf));
        if (r <= 0)
            break;
    }
}

static bool
bad_timeout(const struct timespec *ts)
{
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
        return true;
    return profile.max_timeout_sec != 0
           && ts->tv_sec > profile.max_timeout_sec;
}

static void
add_ns(struct timespec *t, long long ns)
{
    t->tv_sec += (time_t)(ns / 1000000000LL);
    t->tv_nsec += (long)(ns % 1000000000LL);
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* ns from now to t, at least 0. */
static long long
ns_until(const struct timespec *t)
{
    struct timespec now;
    long long ns;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000LL
         + (t->tv_nsec - now.tv_nsec);
    return ns > 0 ? ns : 0;
}

static bool
count_ok(long long n)
{
    return n >= 0 && n <= INT_MAX;
}

/* ---- kevent() ---------------------------------------------------------- */

int
kevent(int kqfd, const struct kevent *changelist, KQOS_KEVENT_COUNT nchg,
       struct kevent *eventlist, KQOS_KEVENT_COUNT nevents,
       const struct timespec *timeout)
{
    struct timespec deadline;
    size_t nev, nerr = 0, n = 0;
    struct fkq *q;
    int err = 0;

    if (!count_ok((long long)nchg) || !count_ok((long long)nevents)) {
        errno = EINVAL;
        return -1;
    }
    nev = (size_t)nevents;
    /* FreeBSD's libthr makes kevent() a cancellation point when it is
     * asked for events, whatever the timeout, and acts on a pending
     * request on entry; so here, before the lock is taken. */
    if (nev > 0)
        pthread_testcancel();
    pthread_mutex_lock(&lock);
    sweep();
    q = find_kq(kqfd);
    if (!q) {
        err = EBADF;
        goto out;
    }
    if (timeout && bad_timeout(timeout)) {
        err = EINVAL;
        goto out;
    }
    /* The events that came before the changes are ahead of those the
     * changes bring (a NOTE_TRIGGER, a knote added on a ready file). */
    if (nchg > 0)
        activate(q);
    for (size_t i = 0; i < (size_t)nchg; i++) {
        int e = apply(q, &changelist[i]);

        record(q->fd, &changelist[i], e);
        if (e == 0)
            continue;
        if (nerr == nev) {
            err = e;
            goto out;
        }
        eventlist[nerr] = changelist[i];
        eventlist[nerr].flags = EV_ERROR;
        eventlist[nerr].data = e;
        nerr++;
    }
    if (nchg > 0)
        activate(q);
    if (nerr > 0 || nev == 0) {
        n = nerr;
        goto out;
    }
    if (fail_wait_err != 0) {
        err = fail_wait_err;
        fail_wait_err = 0;
        goto out;
    }
    if (timeout) {
        /* More than 30 years is as good as forever, and does not
         * overflow. */
        long long sec = timeout->tv_sec < 1000000000 ? timeout->tv_sec
                                                      : 1000000000;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        add_ns(&deadline, sec * 1000000000LL + timeout->tv_nsec);
    }
    for (;;) {
        struct pollfd set[2];
        struct timespec ts = { 0, 0 };
        int r;

        n = collect(q, eventlist, nev);
        if (n > 0)
            break;
        if (timeout) {
            long long left = ns_until(&deadline);

            if (left == 0)
                break;
            add_ns(&ts, left);
        }
        /* Woken by kick() through the pipe, or by an activation. */
        set[0].fd = q->fd;
        set[0].events = POLLIN;
        set[1].fd = q->ep;
        set[1].events = POLLIN;
        q->waiters++;
        pthread_mutex_unlock(&lock);
        r = ppoll(set, 2, timeout ? &ts : NULL, NULL);
        err = r < 0 ? errno : 0;
        pthread_mutex_lock(&lock);
        sweep();
        q = find_kq(kqfd);
        if (!q) {
            err = EBADF;    /* closed while it waited */
            goto out;
        }
        q->waiters--;
        drain(q);
        if (err == EINTR)
            goto out;
        err = 0;
    }
out:
    pthread_mutex_unlock(&lock);
    if (err != 0) {
        errno = err;
        return -1;
    }
    if (nev > 0 && nerr == 0) {
        void (*hook)(int, int) = fake_after_wait_hook;

        if (hook)
            hook(kqfd, (int)n);
    }
    return (int)n;
}

/* ---- the tests' side --------------------------------------------------- */

size_t
fake_change_count(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    n = nchanges;
    pthread_mutex_unlock(&lock);
    return n;
}

bool
fake_change_get(size_t i, struct fake_change *out)
{
    bool there;

    pthread_mutex_lock(&lock);
    there = i < nchanges;
    if (there)
        *out = changes[i];
    pthread_mutex_unlock(&lock);
    return there;
}

void
fake_changes_clear(void)
{
    pthread_mutex_lock(&lock);
    nchanges = 0;
    pthread_mutex_unlock(&lock);
}

bool
fake_knote_exists(int kq, uintptr_t ident, long filter)
{
    bool there;

    pthread_mutex_lock(&lock);
    sweep();
    there = find_knote(kq, ident, filter) != NULL;
    pthread_mutex_unlock(&lock);
    return there;
}

size_t
fake_fd_knotes(int kq, int fd)
{
    size_t n = 0;

    pthread_mutex_lock(&lock);
    sweep();
    for (size_t i = 0; i < nknotes; i++)
        if (knotes[i].kq == kq && knotes[i].isfd
            && knotes[i].ident == (uintptr_t)fd)
            n++;
    pthread_mutex_unlock(&lock);
    return n;
}

size_t
fake_user_knotes(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    sweep();
    n = user_knotes;
    pthread_mutex_unlock(&lock);
    return n;
}

int
fake_last_kqueue(void)
{
    int fd;

    pthread_mutex_lock(&lock);
    fd = last_kq;
    pthread_mutex_unlock(&lock);
    return fd;
}

void
fake_fail_user_add(int err)
{
    pthread_mutex_lock(&lock);
    fail_user_err = err;
    pthread_mutex_unlock(&lock);
}

void
fake_fail_next_wait(int err)
{
    pthread_mutex_lock(&lock);
    fail_wait_err = err;
    pthread_mutex_unlock(&lock);
}

#endif /* __linux__ */
