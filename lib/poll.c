/* SPDX-License-Identifier: MIT */
/*
 * The portable half of mw_poll: argument checks, errno preservation, and
 * the tables (core.h) that turn the cookies a backend reports into the
 * caller's tokens; waker.c takes and gives back a waker's slot in them,
 * and deliver() here collects a waker's event straight from its struct.
 * Owning those tables in the core, rather than trusting the kernel's
 * copy of a token, is what makes every backend agree on -EEXIST/-ENOENT,
 * lets a waker be recognised without stealing a bit from 64-bit tokens,
 * and lets a registration or waker vanish while another thread waits:
 * an event whose cookie no longer names a live entry is dropped.
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define INTEREST_ALL (MW_READABLE | MW_WRITABLE | MW_PRIORITY)

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
    atomic_init(&poll->waiting, 0);
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
            w->poll = NULL;
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
            /* (b), (c) and (d) of the argument in waker.c, in that order:
             * empty the kernel object, then clear the flag. */
            mw__waker_consume(w->kobj);
            mw__pending_clear(&w->pending);
            ev[kept].token = w->token;
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
    if (atomic_exchange_explicit(&poll->waiting, 1, memory_order_acquire))
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
    atomic_store_explicit(&poll->waiting, 0, memory_order_release);
    return keep_errno(saved, n);
}

MW_EXPORT int
mw_poll_fd(const mw_poll *poll)
{
    if (!poll)
        return -EINVAL;
    return mw__poller_fd(poll->poller);
}
