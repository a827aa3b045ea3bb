/* SPDX-License-Identifier: MIT */
/*
 * The portable half of mw_poll: argument checks, errno preservation, the
 * table (core.h) that turns the cookies a backend reports into the
 * caller's tokens, and the wait, which hands the wakers' event to
 * mw__hub_deliver() (waker.c, beside the protocol it is a half of).
 * Owning the table in the core, rather than trusting the kernel's copy
 * of a token, is what makes every backend agree on -EEXIST/-ENOENT, and
 * lets a registration vanish while another thread waits: an event whose
 * cookie no longer names a live entry is dropped.
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define INTEREST_ALL (MW_READABLE | MW_WRITABLE | MW_PRIORITY)

/* The most events one backend call fetches (struct mw_poll's `fetched`):
 * libuv's batch, and epoll's. */
#define FETCH_MAX 1024

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
    if (!poll) {
        mw__errno_restore(saved);
        return -ENOMEM;
    }
    atomic_init(&poll->waiting, 0);
    poll->nfetched = mw__os_poller_batch < FETCH_MAX ? mw__os_poller_batch
                                                     : FETCH_MAX;
    poll->fetched = malloc(poll->nfetched * sizeof(*poll->fetched));
    if (!poll->fetched) {
        free(poll);
        mw__errno_restore(saved);
        return -ENOMEM;
    }
    rc = pthread_mutex_init(&poll->lock, NULL);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    rc = mw__os_poller_open(&poll->poller);
    if (rc < 0) {
        pthread_mutex_destroy(&poll->lock);
        goto fail;
    }
    poll->pid = getpid();
    rc = mw__hub_open(poll);
    if (rc < 0) {
        mw__os_poller_close(poll->poller, false);
        pthread_mutex_destroy(&poll->lock);
        goto fail;
    }
    poll->leftover = NULL;
    poll->leftover_tail = &poll->leftover;
    *out = poll;
    mw__errno_restore(saved);
    return 0;

fail:
    free(poll->fetched);
    free(poll);
    mw__errno_restore(saved);
    return rc;
}

MW_EXPORT void
mw_poll_free(mw_poll *poll)
{
    int saved = errno;
    bool in_child;

    if (!poll)
        return;
    in_child = poll->pid != getpid();
    mw__os_poller_close(poll->poller, in_child);
    mw__hub_orphan(poll);
    /* In a fork() child the lock may have been held by a thread of the
     * parent, and destroying a held mutex is undefined. */
    if (!in_child)
        pthread_mutex_destroy(&poll->lock);
    free(poll->fds);
    free(poll->fetched);
    free(poll);
    mw__errno_restore(saved);
}

MW_EXPORT int
mw_poll_register(mw_poll *poll, int fd, mw_token token, unsigned interest)
{
    struct fd_slot *slot;
    int saved = errno;
    int rc = check_args(poll, fd, interest);

    if (rc < 0) {
        mw__errno_restore(saved);
        return rc;
    }
    pthread_mutex_lock(&poll->lock);
    slot = slot_of(poll, (size_t)fd);
    /* The wakers' kernel object is the poll's own: a kqueue would let
     * the caller's registration take its knote over. */
    if ((slot && slot->registered) || fd == mw__os_waker_fd(poll->hub->kobj)) {
        rc = -EEXIST;
        goto out;
    }
    /* The kernel first: it is what says -EBADF for a descriptor that is
     * not open, before a huge number could make the table grow. */
    rc = mw__os_poller_ctl(poll->poller, MW__CTL_ADD, fd, (mw_token)fd,
                           interest, 0);
    if (rc < 0)
        goto out;
    rc = mw__array_grow((void **)&poll->fds, &poll->nfds, sizeof(*poll->fds),
                        (size_t)fd + 1, 16);
    if (rc < 0) {
        (void)mw__os_poller_ctl(poll->poller, MW__CTL_DEL, fd,
                                (mw_token)fd, 0, interest);
        goto out;
    }
    poll->fds[fd].token = token;
    poll->fds[fd].interest = interest;
    poll->fds[fd].registered = true;
out:
    pthread_mutex_unlock(&poll->lock);
    mw__errno_restore(saved);
    return rc;
}

MW_EXPORT int
mw_poll_reregister(mw_poll *poll, int fd, mw_token token, unsigned interest)
{
    struct fd_slot *slot;
    int saved = errno;
    int rc = check_args(poll, fd, interest);

    if (rc < 0) {
        mw__errno_restore(saved);
        return rc;
    }
    pthread_mutex_lock(&poll->lock);
    slot = slot_of(poll, (size_t)fd);
    if (!slot || !slot->registered) {
        rc = -ENOENT;
    } else {
        rc = mw__os_poller_ctl(poll->poller, MW__CTL_MOD, fd, (mw_token)fd,
                               interest, slot->interest);
        if (rc == 0) {
            slot->token = token;
            slot->interest = interest;
        }
    }
    pthread_mutex_unlock(&poll->lock);
    mw__errno_restore(saved);
    return rc;
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
        /* 0 also for a descriptor closed (or replaced by dup2) before
         * deregistering: it has already left the kernel's set, and
         * releasing its slot is all that is left to do (backend.h). */
        rc = mw__os_poller_ctl(poll->poller, MW__CTL_DEL, fd, (mw_token)fd,
                               0, slot->interest);
        if (rc == 0)
            slot->registered = false;
    }
    pthread_mutex_unlock(&poll->lock);
    mw__errno_restore(saved);
    return rc;
}

/* Turn the n (cookie, flags) pairs the backend fetched into the caller's
 * events, dropping those whose registration has gone, and then, in the
 * room left (n is at most capacity), the events of the wakers taken from
 * the ready list; returns the count written to ev. */
static int
deliver(mw_poll *poll, struct mw_event *ev, int n, size_t capacity)
{
    const struct mw_event *raw = poll->fetched;
    bool hub_event = false;
    int kept = 0;

    /* A batch of the wakers' event alone needs no lock. */
    for (int i = 0; i < n && !hub_event; i++)
        hub_event = raw[i].token == HUB_COOKIE;
    if (n > (hub_event ? 1 : 0)) {
        pthread_mutex_lock(&poll->lock);
        for (int i = 0; i < n; i++) {
            mw_token cookie = raw[i].token;
            const struct fd_slot *slot;

            if (cookie == HUB_COOKIE)
                continue;
            slot = slot_of(poll, (size_t)cookie);
            if (!slot || !slot->registered)
                continue;
            ev[kept].token = slot->token;
            ev[kept].flags = raw[i].flags;
            kept++;
        }
        pthread_mutex_unlock(&poll->lock);
    }
    return kept + mw__hub_deliver(poll, ev + kept,
                                  capacity - (size_t)kept, hub_event);
}

/* CLOCK_MONOTONIC in nanoseconds. */
static int64_t
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Nanoseconds left until deadline, rounded up to a whole unit so that
 * a wait never ends early, and so that a wait given in milliseconds asks
 * its backend for whole milliseconds only. */
static int64_t
ns_until(int64_t deadline, int64_t unit)
{
    int64_t ns = deadline - now_ns();

    if (ns <= 0)
        return 0;
    return (ns + unit - 1) / unit * unit;
}

/* Fetch and deliver until there is something to return, the timeout
 * (timeout_ns, negative: no limit) has run out, or the backend fails.
 * want is what one backend call may fetch: fewer than that means nothing
 * else was ready, and only then is 0 the truth once the timeout has run
 * out, so that a full batch of stale events (dropped by deliver()) never
 * hides a live one behind it whatever the timeout.  This is the core's
 * half of the batch rule in backend.h (mw__os_poller_wait()), for the
 * events the core drops; the refill loop in poller-kqueue.c's wait is the
 * backend's half, for the events that poller drops before the core sees
 * them, so that a short count still means the kernel had no more.  Two
 * sets of dropped events, one rule: neither loop can do the other's. */
static int
fetch_and_deliver(mw_poll *poll, struct mw_event *events, size_t capacity,
                  int64_t timeout_ns, int64_t unit_ns)
{
    size_t want = capacity < poll->nfetched ? capacity : poll->nfetched;
    int64_t deadline = 0;

    /* Wakers taken by an earlier wait that the caller had no room for
     * go out first, without waiting (unless all were freed since).  Half
     * the room goes to what is ready now, so that a long backlog of
     * wakers does not starve the registered descriptors. */
    if (poll->leftover) {
        size_t room = capacity / 2 < poll->nfetched ? capacity / 2
                                                    : poll->nfetched;
        int fetched = room > 0 ? mw__os_poller_wait(poll->poller,
                                                    poll->fetched, room, 0)
                               : 0;
        int n = deliver(poll, events, fetched > 0 ? fetched : 0, capacity);

        if (n > 0)
            return n;
    }
    if (timeout_ns > 0) {
        int64_t now = now_ns();

        /* Past what the clock can count (about 292 years): no limit. */
        if (timeout_ns > INT64_MAX - now)
            timeout_ns = -1;
        else
            deadline = now + timeout_ns;
    }
    for (;;) {
        int fetched = mw__os_poller_wait(poll->poller, poll->fetched, want,
                                         timeout_ns);
        int n = fetched > 0 ? deliver(poll, events, fetched, capacity)
                            : fetched;

        if (n != 0)
            return n;
        /* Everything fetched was stale, or the backend woke for its own
         * reasons: wait again for what is left of the timeout. */
        if (timeout_ns > 0)
            timeout_ns = ns_until(deadline, unit_ns);
        if (timeout_ns == 0 && (size_t)fetched < want)
            return 0;
    }
}

/* A thread cancelled in the backend's wait (its one cancellation point)
 * leaves the poll as a wait that failed with -EINTR would: nothing it
 * fetched was live (fetch_and_deliver() returns as soon as something
 * is), so only the -EBUSY guard is left to release.
 *
 * The frames a cancellation unwinds (fetch_and_deliver() and the
 * backend's wait) keep no array and take no local's address, so that
 * AddressSanitizer has no redzone in them: it does not see a
 * cancellation unwind them, and the poison it would leave behind makes
 * it report an overflow in the cleanup that follows. */
static void
wait_cancelled(void *arg)
{
    mw_poll *poll = arg;

    atomic_store_explicit(&poll->waiting, 0, memory_order_release);
}

/* The waits' common part: the -EBUSY guard around fetch_and_deliver(). */
static int
wait_guarded(mw_poll *poll, struct mw_event *events, size_t capacity,
             int64_t timeout_ns, int64_t unit_ns)
{
    int n;

    /* Acquire pairs with the release at the end of the last wait, so
     * that this wait sees the backend's state as that one left it. */
    if (atomic_exchange_explicit(&poll->waiting, 1, memory_order_acquire))
        return -EBUSY;
    /* Nothing computed here lives across the setjmp() that
     * pthread_cleanup_push() may be: gcc's -Wclobbered says so of such a
     * variable on some architectures (ppc64el). */
    pthread_cleanup_push(wait_cancelled, poll);
    n = fetch_and_deliver(poll, events, capacity, timeout_ns, unit_ns);
    pthread_cleanup_pop(0);
    atomic_store_explicit(&poll->waiting, 0, memory_order_release);
    return n;
}

MW_EXPORT int
mw_poll_wait(mw_poll *poll, struct mw_event *events, size_t capacity,
             int timeout_ms)
{
    int saved = errno;
    int n;

    if (!poll || !events || capacity == 0)
        return -EINVAL;
    n = wait_guarded(poll, events, capacity,
                     timeout_ms < 0 ? -1 : (int64_t)timeout_ms * MW__NS_PER_MS,
                     MW__NS_PER_MS);
    mw__errno_restore(saved);
    return n;
}

/*
 * The timespec waits.  A program may be built with a time_t of another
 * size than the library (glibc's _TIME_BITS=64 on i386 or armhf), so
 * the two entry points take the layouts themselves, not this build's
 * struct timespec: mw_poll_wait_ts the ABI's original one, and
 * mw_poll_wait_ts64 one with a 64-bit tv_sec and a tv_nsec that is a
 * long, padded to 64 bits on the side of its high half where a long is
 * narrower (glibc's and musl's layout, and x32's, whose 64-bit tv_nsec
 * holds the same value).
 */
#if defined(__TIMESIZE) && __TIMESIZE == 32
/* glibc on an ABI whose time_t was 32 bits, whatever this build uses. */
struct timespec_abi {
    int32_t tv_sec;
    int32_t tv_nsec;
};
#else
# define timespec_abi timespec
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
# define NSEC_PAD_FIRST 1
#else
# define NSEC_PAD_FIRST 0
#endif

struct timespec_64 {
    int64_t tv_sec;
#if LONG_MAX == INT32_MAX && NSEC_PAD_FIRST
    int32_t pad;
#endif
    long tv_nsec;
#if LONG_MAX == INT32_MAX && !NSEC_PAD_FIRST
    int32_t pad;
#endif
};

static const int64_t ns_per_s = 1000000000;

/* Not in <miowake.h> for this file: see internal.h. */
int mw_poll_wait_ts(mw_poll *poll, struct mw_event *events, size_t capacity,
                    const struct timespec_abi *timeout);
int mw_poll_wait_ts64(mw_poll *poll, struct mw_event *events,
                      size_t capacity, const struct timespec_64 *timeout);

/* The nanoseconds of a timeout, -1 for none, or -EINVAL: through
 * *timeout_ns, so that any tv_sec fits. */
static int
timeout_from(bool none, int64_t sec, long nsec, int64_t *timeout_ns)
{
    if (none) {
        *timeout_ns = -1;
        return 0;
    }
    if (sec < 0 || nsec < 0 || nsec >= ns_per_s)
        return -EINVAL;
    /* Past what the clock can count (about 292 years): no limit. */
    *timeout_ns = sec > (INT64_MAX - nsec) / ns_per_s ? -1
                                                      : sec * ns_per_s + nsec;
    return 0;
}

static int
wait_ts(mw_poll *poll, struct mw_event *events, size_t capacity,
        bool none, int64_t sec, long nsec)
{
    int saved = errno;
    int64_t timeout_ns;
    int rc;

    if (!poll || !events || capacity == 0)
        return -EINVAL;
    rc = timeout_from(none, sec, nsec, &timeout_ns);
    if (rc < 0)
        return rc;
    rc = wait_guarded(poll, events, capacity, timeout_ns, 1);
    mw__errno_restore(saved);
    return rc;
}

MW_EXPORT int
mw_poll_wait_ts(mw_poll *poll, struct mw_event *events, size_t capacity,
                const struct timespec_abi *timeout)
{
    return wait_ts(poll, events, capacity, !timeout,
                   timeout ? (int64_t)timeout->tv_sec : 0,
                   timeout ? (long)timeout->tv_nsec : 0);
}

MW_EXPORT int
mw_poll_wait_ts64(mw_poll *poll, struct mw_event *events, size_t capacity,
                  const struct timespec_64 *timeout)
{
    return wait_ts(poll, events, capacity, !timeout,
                   timeout ? timeout->tv_sec : 0,
                   timeout ? timeout->tv_nsec : 0);
}

MW_EXPORT int
mw_poll_fd(const mw_poll *poll)
{
    if (!poll)
        return -EINVAL;
    return mw__os_poller_fd(poll->poller);
}
