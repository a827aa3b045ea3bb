/* SPDX-License-Identifier: MIT */
/*
 * Poller backed by kqueue, chosen by configure on the BSDs and macOS (and
 * on Linux when forced, through the libkqueue emulation).  Read and write
 * interest are separate EVFILT_READ and EVFILT_WRITE knotes with EV_CLEAR,
 * which makes them edge-triggered like epoll's EPOLLET; EV_EOF on them is
 * the peer's close, and a socket error when fflags holds an errno value.
 * Urgent data uses EVFILT_EXCEPT with NOTE_OOB where the system has it,
 * and MW_PRIORITY is -ENOTSUP where it has not (FreeBSD, NetBSD), or
 * where the system refuses the filter on that kind of file (pipes on
 * macOS, OpenBSD and DragonFly).  What the header declares comes from
 * configure's HAVE_DECL_* probes: a filter's value cannot stand for
 * "none", as NetBSD numbers its filters from 0 (EVFILT_READ).
 *
 * The kqueue descriptor is reference-counted: an EVFILT_USER waker keeps
 * it open after the poll is freed, so that a late wake triggers a knote on
 * a live kqueue rather than on whatever reused the number.  A dup() would
 * not do: libkqueue finds a kqueue by its descriptor number.
 */
#include "poller-kqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/time.h>

#define HAVE_EXCEPT (HAVE_DECL_EVFILT_EXCEPT && HAVE_DECL_NOTE_OOB)

/* kevent() results per wait; struct kevent is up to 64 bytes. */
#define BATCH 256

/* The longest timeout given to kevent(): Darwin fails a sleep much longer
 * with EINVAL.  A longer wait ends early with no events, and the core
 * waits again for what is left of it. */
#define MAX_TIMEOUT_S 1000000

/* Under libkqueue, a kevent() cancelled while it waits never finishes:
 * the emulation then keeps that kqueue's descriptors (its epoll set,
 * socket pair, eventfds) open for good.  There a wait is therefore
 * cancellable between slices of at most this long, each a kevent() with
 * cancellation off, after a pthread_testcancel(); the core waits again
 * for what is left of the timeout after each. */
#define EMULATED_SLICE_NS ((int64_t)100 * MW__NS_PER_MS)

/* The udata of a change: void * everywhere now, but intptr_t on NetBSD 7
 * and older, whose EV_SET assigns it as given. */
#define UDATA(kev, cookie) \
    _Generic((kev).udata, void *: (void *)(cookie), \
             default: (intptr_t)(cookie))

const size_t mw__os_poller_batch = BATCH;

/*
 * libkqueue cannot see close(): it keeps a closed descriptor's knotes, and
 * deleting them later runs EPOLL_CTL_DEL on whatever open file has the
 * number by then -- possibly the eventfd libkqueue made for an EVFILT_USER
 * waker, which then never fires again.  So under the emulation the poller
 * notes which file each registration was made on, and a change on a
 * number that now names another file leaves the kernel alone: the
 * registration's file was closed.  Its knotes, left behind, are deleted
 * before the number is next registered, when nothing is in libkqueue's
 * epoll set under it.  A BSD kernel removes knotes at close and needs
 * none of this.  Anonymous inodes (eventfd, timerfd, signalfd) all have
 * one identity on Linux, so one of them taking the number of another is
 * not seen.
 */
struct registered_file {
    dev_t dev;
    ino_t ino;
    unsigned left;              /* filters left behind by a closed file */
    bool known;
};

struct mw__os_poller {
    int kqfd;
    atomic_int refs;            /* the poll, plus each EVFILT_USER waker */
    struct registered_file *files;  /* by descriptor, emulation only */
    size_t nfiles;
    /* The waiting thread's, here rather than on its stack: see
     * wait_cancelled() in poll.c. */
    struct kevent buf[BATCH];
    struct timespec timeout;
};

/* A new kqueue descriptor, close-on-exec, or -errno.  kqueue descriptors
 * are not inherited by fork() on the BSDs, but the flag matters for exec()
 * and for emulations where they are files.  Where the system can create
 * the descriptor with the flag, it does; elsewhere (macOS, libkqueue,
 * older BSDs) the flag is set just after, and an exec() on another thread
 * in between inherits the descriptor. */
static int
kqueue_cloexec(void)
{
#if defined(MW_HAVE_KQUEUEX)
    int fd = kqueuex(KQUEUE_CLOEXEC);
#elif defined(MW_HAVE_KQUEUE1)
    int fd = kqueue1(O_CLOEXEC);
#else
    int fd = kqueue();
    int rc;

    if (fd >= 0 && (rc = mw__fd_set_cloexec(fd)) < 0) {
        mw__close(fd);
        return rc;
    }
#endif
    return fd < 0 ? -errno : fd;
}

int
mw__os_poller_open(struct mw__os_poller **out)
{
    struct mw__os_poller *p = malloc(sizeof(*p));
    int cancel;

    if (!p)
        return -ENOMEM;
    p->files = NULL;
    p->nfiles = 0;
    /* libkqueue's kqueue() makes calls that are cancellation points. */
    cancel = mw__cancel_off();
    p->kqfd = kqueue_cloexec();
    mw__cancel_restore(cancel);
    if (p->kqfd < 0) {
        int rc = p->kqfd;

        free(p);
        return rc;
    }
    atomic_init(&p->refs, 1);
    *out = p;
    return 0;
}

struct mw__os_poller *
mw__os_poller_kqueue_ref(struct mw__os_poller *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void
mw__os_poller_kqueue_unref(struct mw__os_poller *p, bool in_child)
{
    /* acq_rel: the last owner must see every other owner's use before it
     * closes the descriptor. */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* A fork() child has no kqueue of ours: the kernel does not pass a
     * kqueue on, and libkqueue's fork handler closes its descriptors in
     * the child to behave the same.  The number may be the child's own
     * descriptor by now. */
    if (!in_child)
        mw__close(p->kqfd);
    free(p->files);
    free(p);
}

void
mw__os_poller_close(struct mw__os_poller *p, bool in_child)
{
    mw__os_poller_kqueue_unref(p, in_child);
}

/* Apply one change and report its own error: simpler to read than an
 * EV_RECEIPT batch, and registration is not a hot path.  Also the signal
 * of the EVFILT_USER waker: one kevent() with no result buffer, which
 * never blocks.  FreeBSD's kevent() is no cancellation point without a
 * result buffer, but not every system promises that, and libkqueue's
 * makes calls that are, with its own locks held: cancellation is off
 * around it, as the library is no cancellation point outside a wait. */
int
mw__os_poller_kqueue_change(struct mw__os_poller *p, uintptr_t ident,
                            short filter, unsigned short flags,
                            unsigned int fflags, mw_token cookie)
{
    struct kevent kev;
    int cancel = mw__cancel_off();
    int rc = 0;

    EV_SET(&kev, ident, filter, flags, fflags, 0, UDATA(kev, cookie));
    while (kevent(p->kqfd, &kev, 1, NULL, 0, NULL) < 0) {
        if (errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    mw__cancel_restore(cancel);
    return rc;
}

/* The knote of each kind of interest: only those the system has. */
static const struct {
    unsigned interest;
    short filter;
    unsigned int fflags;
} filters[] = {
    { MW_READABLE, EVFILT_READ, 0 },
    { MW_WRITABLE, EVFILT_WRITE, 0 },
#if HAVE_EXCEPT
    { MW_PRIORITY, EVFILT_EXCEPT, NOTE_OOB },
#endif
};
#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

/* Delete the filters of fd in mask; the first error other than ENOENT
 * (not there: nothing to delete) is returned. */
static int
delete_filters(struct mw__os_poller *p, int fd, unsigned mask)
{
    int rc = 0;

    for (size_t i = 0; i < NFILTERS; i++) {
        int drc;

        if (!(mask & filters[i].interest))
            continue;
        drc = mw__os_poller_kqueue_change(p, (uintptr_t)fd, filters[i].filter,
                                          EV_DELETE, 0, 0);
        if (drc < 0 && drc != -ENOENT && rc == 0)
            rc = drc;
    }
    return rc;
}

/* The registration of fd as libkqueue may still hold it; NULL where no
 * file was noted (and always on a kernel kqueue). */
static struct registered_file *
file_of(struct mw__os_poller *p, int fd)
{
    return (size_t)fd < p->nfiles ? &p->files[fd] : NULL;
}

/* Is the registration of fd made on a file that fd no longer names?  Not
 * when fd is closed: deleting a closed descriptor's knotes is safe, as its
 * number names nothing in libkqueue's epoll set. */
static bool
file_replaced(struct mw__os_poller *p, int fd)
{
    const struct registered_file *f = file_of(p, fd);
    struct stat st;

    if (!MW_KQUEUE_EMULATED || !f || !f->known || fstat(fd, &st) < 0)
        return false;
    return st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Note the file fd names now (st), and first delete the knotes a closed
 * file left under its number (see struct registered_file). */
static int
note_file(struct mw__os_poller *p, int fd, const struct stat *st)
{
    struct registered_file *f;
    int rc;

    if (!MW_KQUEUE_EMULATED)
        return 0;
    rc = mw__array_grow((void **)&p->files, &p->nfiles, sizeof(*p->files),
                        (size_t)fd + 1, 64);
    if (rc < 0)
        return rc;
    f = &p->files[fd];
    if (f->left)
        (void)delete_filters(p, fd, f->left);
    *f = (struct registered_file){ .dev = st->st_dev, .ino = st->st_ino,
                                   .known = true };
    return 0;
}

/* What the refusal rc of the knote for one kind of interest means to the
 * caller.  macOS and OpenBSD refuse EVFILT_EXCEPT on a pipe, fifo or tty
 * with EINVAL, DragonFly with EOPNOTSUPP: urgent data is what this file
 * cannot have.  FreeBSD and DragonFly refuse the write filter on a pipe
 * whose reader is gone with EPIPE, NetBSD with EBADF although the
 * descriptor is open: both are -EPIPE, so the caller learns of the
 * peer's close now rather than from an event that would never come. */
static int
refusal(int fd, unsigned interest, int rc)
{
    if (interest == MW_PRIORITY && (rc == -EINVAL || rc == -EOPNOTSUPP))
        return -ENOTSUP;
    if (interest == MW_WRITABLE && rc == -EBADF && fcntl(fd, F_GETFD) >= 0)
        return -EPIPE;
    return rc;
}

/* A kqueue keeps one knote per filter and changes them one kevent() at a
 * time, so a change of interest is made all or nothing by its order:
 * every wanted filter is added first (EV_ADD on a knote that exists only
 * updates it, and the cookie of a descriptor never changes), and only
 * when all of them are in are the unwanted ones deleted.  A failed add
 * takes back just the filters the registration did not have before. */
int
mw__os_poller_ctl(struct mw__os_poller *p, enum mw__ctl op, int fd,
                  mw_token cookie, unsigned interest, unsigned was)
{
    struct stat st;
    int rc;

    if (op != MW__CTL_ADD && file_replaced(p, fd)) {
        /* The registered file is closed, as a BSD kernel would say: MOD
         * fails, and DEL has nothing left to do (backend.h). */
        file_of(p, fd)->left |= was;
        return op == MW__CTL_DEL ? 0 : -EBADF;
    }
    if (op == MW__CTL_DEL) {
        /* EBADF: the descriptor was closed, which removed its knotes
         * (ENOENT, a knote not there, is no error to delete_filters()). */
        rc = delete_filters(p, fd, was);
        return rc == -EBADF ? 0 : rc;
    }
    if ((interest & MW_PRIORITY) && !HAVE_EXCEPT)
        return -ENOTSUP;
    /* A BSD kernel refuses a closed descriptor with EBADF; libkqueue,
     * which cannot see close(), would modify the stale knote instead. */
    if (fstat(fd, &st) < 0)
        return -errno;
    /* A kqueue watches a regular file or a directory as a vnode, ready
     * whenever the offset is short of the end: with EV_CLEAR FreeBSD
     * reports it on every wait.  Refused as epoll refuses it. */
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM;
    if (op == MW__CTL_ADD) {
        rc = note_file(p, fd, &st);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < NFILTERS; i++) {
        if (!(interest & filters[i].interest))
            continue;
        rc = mw__os_poller_kqueue_change(p, (uintptr_t)fd, filters[i].filter,
                                         EV_ADD | EV_CLEAR, filters[i].fflags,
                                         cookie);
        if (rc < 0) {
            (void)delete_filters(p, fd, interest & ~was);
            return refusal(fd, filters[i].interest, rc);
        }
    }
    /* Deleting a knote that exists fails only for a descriptor closed
     * since the check above, whose knotes the close removed anyway. */
    (void)delete_filters(p, fd, was & ~interest);
    return 0;
}

/* The MW_EV_* flags of an event; 0 for one that says nothing the caller
 * asked about (macOS's except filter on ordinary data or EOF). */
static uint32_t
kevent_to_flags(const struct kevent *kev)
{
    uint32_t f = 0;

#if HAVE_DECL_EVFILT_USER
    if (kev->filter == EVFILT_USER)
        return MW_EV_READABLE;
#endif
    if (kev->flags & EV_ERROR)
        f |= MW_EV_ERROR;
    /* A socket error (a refused connect, a reset) never comes as
     * EV_ERROR: the read and write filters end the stream with EV_EOF and
     * put the socket's pending error, an errno value, in fflags, which is
     * 0 after an orderly close.  Only these two filters are read so: the
     * fflags of EVFILT_EXCEPT carry NOTE_OOB. */
    if (kev->filter == EVFILT_READ) {
        f |= MW_EV_READABLE;
        if (kev->flags & EV_EOF)
            f |= MW_EV_READ_CLOSED | (kev->fflags != 0 ? MW_EV_ERROR : 0);
    } else if (kev->filter == EVFILT_WRITE) {
        f |= MW_EV_WRITABLE;
        if (kev->flags & EV_EOF)
            f |= MW_EV_WRITE_CLOSED | (kev->fflags != 0 ? MW_EV_ERROR : 0);
    }
#if HAVE_EXCEPT
    /* XNU's except filter for sockets is the read filter with a test for
     * NOTE_OOB: it also fires for ordinary data, without NOTE_OOB, and at
     * the end of the stream, with EV_EOF and the socket's error in fflags
     * (ECONNRESET, 54, has NOTE_OOB's bit): so EV_EOF first, and it is
     * the end of the stream, which epoll reports whatever the interest. */
    else if (kev->filter == EVFILT_EXCEPT) {
        if (kev->flags & EV_EOF)
            f |= MW_EV_READ_CLOSED | (kev->fflags != 0 ? MW_EV_ERROR : 0);
        else if (kev->fflags & NOTE_OOB)
            f |= MW_EV_PRIORITY;
    }
#endif
    return f;
}

int
mw__os_poller_wait(struct mw__os_poller *p, struct mw_event *ev, size_t cap,
                   int64_t timeout_ns)
{
    struct kevent *buf = p->buf;
    struct timespec *ts = &p->timeout;
    int want = cap < BATCH ? (int)cap : BATCH;
    int room = want;
    bool cancel_off = MW_KQUEUE_EMULATED;
    int cancel = 0;
    int out = 0;

    if (MW_KQUEUE_EMULATED) {
        pthread_testcancel();
        if (timeout_ns < 0 || timeout_ns > EMULATED_SLICE_NS)
            timeout_ns = EMULATED_SLICE_NS;
        cancel = mw__cancel_off();
    }
    if (timeout_ns >= 0) {
        int64_t sec = timeout_ns / 1000000000;

        ts->tv_sec = (time_t)(sec < MAX_TIMEOUT_S ? sec : MAX_TIMEOUT_S);
        ts->tv_nsec = (long)(timeout_ns % 1000000000);
    }
    /* Events with no flags are left out.  The core counts fewer events
     * than it asked for as all that was ready, so while the kernel fills
     * the batch, the room the left-out ones made is filled again at
     * once: a short count is then the kernel's own.  Otherwise a batch
     * whose kept events the core finds stale would end a run of
     * timeout-0 waits with, say, a waker's event still behind it.  This
     * loop is the backend's half of the batch rule (backend.h), for the
     * events this poller drops; the core's loop in fetch_and_deliver()
     * (poll.c) is the other half, for the stale events the core drops,
     * and relies on this one: neither repeats the other. */
    for (;;) {
        int n = kevent(p->kqfd, NULL, 0, buf, room,
                       timeout_ns >= 0 ? ts : NULL);

        if (n < 0) {
            /* Events already taken are consumed in the kernel
             * (EV_CLEAR): return them; an error that lasts comes back
             * from the next wait. */
            if (out == 0)
                out = -errno;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t flags = kevent_to_flags(&buf[i]);

            if (flags == 0)
                continue;
            ev[out].token = (mw_token)buf[i].udata;
            ev[out].flags = flags;
            out++;
        }
        if (n < room || (room = want - out) == 0)
            break;
        /* A look again never blocks, so it need not be a cancellation
         * point, and must not: a cancellation there would lose the
         * events taken. */
        if (!cancel_off) {
            cancel = mw__cancel_off();
            cancel_off = true;
        }
        ts->tv_sec = 0;
        ts->tv_nsec = 0;
        timeout_ns = 0;
    }
    if (cancel_off)
        mw__cancel_restore(cancel);
    return out;
}

int
mw__os_poller_fd(const struct mw__os_poller *p)
{
    /* libkqueue's descriptor is one end of a socketpair that never turns
     * readable, so a loop nesting it would sleep through every event. */
    if (MW_KQUEUE_EMULATED)
        return -ENOTSUP;
    return p->kqfd;
}
