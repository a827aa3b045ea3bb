/* SPDX-License-Identifier: MIT */
/*
 * The portable half of mw_poll: argument checks, errno preservation, and
 * the tables that turn the cookies a backend reports into the caller's
 * tokens.  Owning those tables here, rather than trusting the kernel's
 * copy of a token, is what makes every backend agree on -EEXIST/-ENOENT,
 * lets a waker be recognised without stealing a bit from 64-bit tokens,
 * and lets a registration or waker vanish while another thread waits:
 * an event whose cookie no longer names a live entry is dropped.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define INTEREST_ALL (MW_READABLE | MW_WRITABLE | MW_PRIORITY)

struct fd_slot {
    mw_token token;
    unsigned interest;
    bool registered;            /* by the caller */
    bool waker;                 /* a waker's own descriptor: not the caller's */
};

struct mw_poll {
    struct mw__poller *poller;
    pid_t pid;                  /* of the process that made it (fork) */
    /* A thread is inside mw_poll_wait(): a second one gets -EBUSY rather
     * than a share of the events, which it could not tell from its own. */
    atomic_bool waiting;
    /*
     * Guards the tables below.  Registration calls hold it across their
     * kernel call so the table and the kernel's set change together; the
     * wait takes it only to translate a batch, never while it blocks.
     */
    pthread_mutex_t lock;
    struct fd_slot *fds;        /* indexed by descriptor number */
    size_t nfds;
    struct waker_slot *wakers;  /* indexed by the waker's cookie */
    size_t nwakers;
};

/*
 * A waker's place in the poll.  A slot is reused by the next waker, and an
 * event the wait has already fetched from the kernel may belong to the
 * waker that held it before, freed meanwhile: the generation, counted per
 * slot and carried in the cookie, tells the two apart, so that such an
 * event is dropped instead of being handed out in the new waker's name.
 *
 * A waker's cookie is MW__COOKIE_WAKER | generation << WAKER_GEN_SHIFT |
 * slot index: the generation takes bits 32-63 where mw_token has them,
 * else bits 16-30, which caps a 32-bit poll at 65,536 wakers and makes an
 * event outlive 32,768 reuses of its slot before it could be mistaken.
 */
struct waker_slot {
    mw_waker *waker;            /* NULL when free */
    mw_token gen;
};

#if UINTPTR_MAX > 0xFFFFFFFFu
# define WAKER_GEN_SHIFT 32
# define WAKER_GEN_MAX ((mw_token)0xFFFFFFFFu)
# define WAKER_ID_MAX ((size_t)MW__COOKIE_WAKER - 1)
#else
# define WAKER_GEN_SHIFT 16
# define WAKER_GEN_MAX ((mw_token)0x7FFFu)
# define WAKER_ID_MAX ((size_t)0xFFFFu)
#endif

static size_t
waker_id(mw_token cookie)
{
    return (size_t)(cookie & WAKER_ID_MAX);
}

static mw_token
waker_gen(mw_token cookie)
{
    return (cookie >> WAKER_GEN_SHIFT) & WAKER_GEN_MAX;
}

/* The waker a cookie names, if it is still the one in its slot, else
 * NULL.  Lock held. */
static mw_waker *
waker_of(const mw_poll *poll, mw_token cookie)
{
    size_t id = waker_id(cookie);
    const struct waker_slot *slot;

    if (id >= poll->nwakers)
        return NULL;
    slot = &poll->wakers[id];
    if (slot->gen != waker_gen(cookie))
        return NULL;
    return slot->waker;
}

static int
keep_errno(int saved, int rc)
{
    mw__errno_restore(saved);
    return rc;
}

/* fd's slot if the table reaches that far, else NULL.  Lock held. */
static struct fd_slot *
slot_of(mw_poll *poll, size_t fd)
{
    return fd < poll->nfds ? &poll->fds[fd] : NULL;
}

static int
check_args(const mw_poll *poll, int fd, unsigned interest)
{
    if (!poll)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (interest == 0 || (interest & ~INTEREST_ALL))
        return -EINVAL;
    return 0;
}

MW_EXPORT int
mw_poll_new(mw_poll **out)
{
    int saved = errno;
    mw_poll *poll;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    poll = calloc(1, sizeof(*poll));
    if (!poll)
        return keep_errno(saved, -ENOMEM);
    atomic_init(&poll->waiting, false);
    rc = pthread_mutex_init(&poll->lock, NULL);
    if (rc != 0) {
        free(poll);
        return keep_errno(saved, -rc);
    }
    rc = mw__poller_open(&poll->poller);
    if (rc < 0) {
        pthread_mutex_destroy(&poll->lock);
        free(poll);
        return keep_errno(saved, rc);
    }
    poll->pid = getpid();
    *out = poll;
    return keep_errno(saved, 0);
}

MW_EXPORT void
mw_poll_free(mw_poll *poll)
{
    int saved = errno;
    bool in_child;

    if (!poll)
        return;
    in_child = poll->pid != getpid();
    /* Wakers still attached keep working on their own descriptors; they
     * just stop referring to this poll.  A fork() child's wakers never
     * refer to it (mw_waker_free leaves the poll alone there), and the
     * table may still list wakers the child has freed. */
    for (size_t i = 0; i < poll->nwakers && !in_child; i++) {
        mw_waker *w = poll->wakers[i].waker;

        if (w)
            mw__waker_orphan(w);
    }
    mw__poller_close(poll->poller, in_child);
    /* In a fork() child the lock may have been held by a thread of the
     * parent, and destroying a held mutex is undefined. */
    if (!in_child)
        pthread_mutex_destroy(&poll->lock);
    free(poll->fds);
    free(poll->wakers);
    free(poll);
    mw__errno_restore(saved);
}

MW_EXPORT int
mw_poll_register(mw_poll *poll, int fd, mw_token token, unsigned interest)
{
    struct fd_slot *slot;
    int saved = errno;
    int rc = check_args(poll, fd, interest);

    if (rc < 0)
        return keep_errno(saved, rc);
    pthread_mutex_lock(&poll->lock);
    slot = slot_of(poll, (size_t)fd);
    if (slot && (slot->registered || slot->waker)) {
        rc = -EEXIST;
        goto out;
    }
    /* The kernel first: it is what says -EBADF for a descriptor that is
     * not open, before a huge number could make the table grow. */
    rc = mw__poller_ctl(poll->poller, MW__CTL_ADD, fd, (mw_token)fd,
                        interest, 0);
    if (rc < 0)
        goto out;
    rc = mw__array_grow((void **)&poll->fds, &poll->nfds, sizeof(*poll->fds),
                        (size_t)fd + 1, 16);
    if (rc < 0) {
        (void)mw__poller_ctl(poll->poller, MW__CTL_DEL, fd, (mw_token)fd,
                             0, interest);
        goto out;
    }
    poll->fds[fd].token = token;
    poll->fds[fd].interest = interest;
    poll->fds[fd].registered = true;
out:
    pthread_mutex_unlock(&poll->lock);
    return keep_errno(saved, rc);
}

MW_EXPORT int
mw_poll_reregister(mw_poll *poll, int fd, mw_token token, unsigned interest)
{
    struct fd_slot *slot;
    int saved = errno;
    int rc = check_args(poll, fd, interest);

    if (rc < 0)
        return keep_errno(saved, rc);
    pthread_mutex_lock(&poll->lock);
    slot = slot_of(poll, (size_t)fd);
    if (!slot || !slot->registered) {
        rc = -ENOENT;
    } else {
        rc = mw__poller_ctl(poll->poller, MW__CTL_MOD, fd, (mw_token)fd,
                            interest, slot->interest);
        /* epoll's word for a number whose registered file was closed and
         * whose new file is not in the set: to the caller, the registered
         * descriptor is gone, as when the number is still closed. */
        if (rc == -ENOENT)
            rc = -EBADF;
        if (rc == 0) {
            slot->token = token;
            slot->interest = interest;
        }
    }
    pthread_mutex_unlock(&poll->lock);
    return keep_errno(saved, rc);
}

MW_EXPORT int
mw_poll_deregister(mw_poll *poll, int fd)
{
    struct fd_slot *slot;
    int saved = errno;
    int rc;

    if (!poll)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    pthread_mutex_lock(&poll->lock);
    slot = slot_of(poll, (size_t)fd);
    if (!slot || !slot->registered) {
        rc = -ENOENT;
    } else {
        rc = mw__poller_ctl(poll->poller, MW__CTL_DEL, fd, (mw_token)fd, 0,
                            slot->interest);
        /* A descriptor closed (or replaced by dup2) before deregistering
         * has already left the kernel's set; releasing its slot is all
         * that is left to do. */
        if (rc == -EBADF || rc == -ENOENT)
            rc = 0;
        if (rc == 0)
            slot->registered = false;
    }
    pthread_mutex_unlock(&poll->lock);
    return keep_errno(saved, rc);
}

/* Turn n raw (cookie, flags) pairs into the caller's events in place,
 * dropping those whose registration or waker has gone; returns the count
 * kept. */
static int
deliver(mw_poll *poll, struct mw_event *ev, int n)
{
    int kept = 0;

    pthread_mutex_lock(&poll->lock);
    for (int i = 0; i < n; i++) {
        mw_token cookie = ev[i].token;
        uint32_t flags = ev[i].flags;

        if (cookie & MW__COOKIE_WAKER) {
            mw_waker *w = waker_of(poll, cookie);

            if (!w)
                continue;
            mw__waker_collected(w);
            ev[kept].token = mw__waker_token(w);
            ev[kept].flags = MW_EV_READABLE;
        } else {
            const struct fd_slot *slot = slot_of(poll, (size_t)cookie);

            if (!slot || !slot->registered)
                continue;
            ev[kept].token = slot->token;
            ev[kept].flags = flags;
        }
        kept++;
    }
    pthread_mutex_unlock(&poll->lock);
    return kept;
}

static void
deadline_after(struct timespec *t, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Milliseconds left until t, rounded up so a wait never ends early. */
static int
ms_until(const struct timespec *t)
{
    struct timespec now;
    long long ns;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000LL
         + (t->tv_nsec - now.tv_nsec);
    if (ns <= 0)
        return 0;
    return (int)((ns + 999999) / 1000000);
}

MW_EXPORT int
mw_poll_wait(mw_poll *poll, struct mw_event *events, size_t capacity,
             int timeout_ms)
{
    int saved = errno;
    struct timespec deadline;
    int n;

    if (!poll || !events || capacity == 0)
        return -EINVAL;
    /* Acquire pairs with the release at the end of the last wait, so
     * that this wait sees the backend's state as that one left it. */
    if (atomic_exchange_explicit(&poll->waiting, true, memory_order_acquire))
        return -EBUSY;
    if (capacity > INT_MAX)
        capacity = INT_MAX;
    if (timeout_ms > 0)
        deadline_after(&deadline, timeout_ms);
    for (;;) {
        int fetched = mw__poller_wait(poll->poller, events, capacity,
                                      timeout_ms);

        n = fetched > 0 ? deliver(poll, events, fetched) : fetched;
        if (n != 0)
            break;
        /* Everything fetched was stale, or the backend woke for its own
         * reasons: wait again for what is left of the timeout.  A timeout
         * of 0 looks again only after a full batch of stale events, which
         * may have hidden live ones behind it; a batch with room to spare
         * was all that was ready, and 0 is then the truth. */
        if (timeout_ms == 0) {
            if ((size_t)fetched < (capacity < mw__poller_batch
                                   ? capacity : mw__poller_batch))
                break;
            continue;
        }
        if (timeout_ms > 0) {
            timeout_ms = ms_until(&deadline);
            if (timeout_ms == 0)
                break;
        }
    }
    atomic_store_explicit(&poll->waiting, false, memory_order_release);
    return keep_errno(saved, n);
}

MW_EXPORT int
mw_poll_fd(const mw_poll *poll)
{
    if (!poll)
        return -EINVAL;
    return mw__poller_fd(poll->poller);
}

struct mw__poller *
mw__poll_poller(mw_poll *poll)
{
    return poll->poller;
}

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

int
mw__poll_attach(mw_poll *poll, mw_waker *w, struct mw__wake *wk,
                mw_token *cookie)
{
    int fd = mw__wake_fd(wk);
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
    rc = mw__wake_arm(wk, poll->poller, c);
    if (rc < 0)
        goto out;
    poll->wakers[id].gen = gen;
    poll->wakers[id].waker = w;
    if (fd >= 0)
        poll->fds[fd].waker = true;
    *cookie = c;
out:
    pthread_mutex_unlock(&poll->lock);
    return rc;
}

void
mw__poll_detach(mw_poll *poll, mw_token cookie, int fd)
{
    pthread_mutex_lock(&poll->lock);
    if (fd >= 0) {
        poll->fds[fd].waker = false;
        /* Under the lock, so that no wait takes a new snapshot of the
         * poll(2) set that still has it once the slot is free. */
        mw__poller_forget(poll->poller, fd);
    }
    poll->wakers[waker_id(cookie)].waker = NULL;
    pthread_mutex_unlock(&poll->lock);
}
