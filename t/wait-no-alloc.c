/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3), mw_poll_wait(3)): mw_waker_wake allocates
 * nothing and takes no lock; mw_poll_wait allocates nothing after the
 * first wait.
 *
 * The allocation hook (t/lib/alloc-hook.c) counts every allocation call of
 * the process, forwarding each to the real allocator, and every
 * pthread_mutex_lock call (forwarded through dlsym(RTLD_NEXT) where that
 * exists, else through a trylock loop).
 *
 * Two controls show the counters see the library's own calls (a zero
 * proves nothing if the interposition silently failed): without the
 * allocator the whole test skips (valgrind; sanitizer builds skip too),
 * without the lock wrapper the lock checks do.  Each measured loop runs
 * after a first, uncounted wait.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "alloc-hook.h"
#include "tap.h"
#include "util.h"

#define ITERATIONS 1000
#define WAKER_TOKEN ((mw_token)0x3A4E)
#define PIPE_TOKEN ((mw_token)0x919E)

/* ---- the tests ---- */

struct counts {
    long allocs;
    long locks;
};

static struct counts
now(void)
{
    struct counts c = { alloc_hook_calls(), alloc_hook_lock_calls() };

    return c;
}

/* What every check works on. */
struct fixture {
    mw_poll *p;
    mw_waker *w;
    int fds[2];                 /* fds[0] registered as PIPE_TOKEN */
    bool count_locks;           /* the lock counter sees the library */
    /* The EVFILT_USER waker signals through kevent(), which libkqueue
     * implements with mutexes (a documented limit of the emulation). */
    bool libkqueue_user;
};

static struct mw_event ev[4096];

/* One event of `token` within a wait of `capacity`; anything else is a
 * failure. */
static bool
wait_one(mw_poll *p, size_t capacity, mw_token token)
{
    int n = util_wait(p, ev, capacity, -1);

    return n == 1 && ev[0].token == token
           && (ev[0].flags & MW_EV_READABLE);
}

/* Controls first: a zero proves nothing unless the counters see the
 * library's own calls. */
static void
controls(struct fixture *f)
{
    struct counts c0, c1;
    bool counting;

    c0 = now();
    if (mw_poll_new(&f->p) != 0 || mw_waker_new(&f->w, f->p, WAKER_TOKEN) != 0)
        bail_out("cannot create a poll and a waker");
    c1 = now();
    /* A sanitizer build skips too: its runtime owns pthread_mutex_lock,
     * and its allocator is what would be counted. */
#ifdef ALLOC_HOOK_SANITIZER
    counting = false;
#else
    counting = c1.allocs > c0.allocs;
#endif
    if (!counting)
        plan_skip_all("malloc cannot be replaced here (a sanitizer or "
                      "valgrind owns it)");
    diag("backend %s; locks forwarded through %s", mw_backend(),
         alloc_hook_lock_forwarded() ? "dlsym(RTLD_NEXT)"
                                     : "pthread_mutex_trylock");
    ok(c1.allocs > c0.allocs, "control: the allocation counter sees "
       "mw_poll_new and mw_waker_new allocate (%ld calls)",
       c1.allocs - c0.allocs);
    util_pipe(f->fds);
    c0 = now();
    if (mw_poll_register(f->p, f->fds[0], PIPE_TOKEN, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    c1 = now();
    f->count_locks = c1.locks > c0.locks;
    if (f->count_locks)
        ok(true, "control: the lock counter sees mw_poll_register take "
           "its lock (%ld calls)", c1.locks - c0.locks);
    else
        skip(1, "pthread_mutex_lock could not be replaced: lock counts "
             "are not checked");
}

/* "... and took no lock", or a skip where locks are not counted. */
static void
no_lock(const struct fixture *f, long locks, const char *what)
{
    if (!f->count_locks) {
        skip(1, "lock calls are not counted");
        return;
    }
    if (f->libkqueue_user)
        todo("libkqueue's kevent() locks a mutex to trigger a knote");
    is_int(locks, 0, "%s", what);
}

/* Wake and wait, the wait with `capacity` events: no allocation, and the
 * wakes take no lock. */
static void
check_wake_wait(const struct fixture *f, size_t capacity)
{
    struct counts c0, c1;
    long bad = 0, wake_locks = 0;
    char what[80];

    c0 = now();
    for (int i = 0; i < ITERATIONS; i++) {
        long l0 = alloc_hook_lock_calls();

        bad += mw_waker_wake(f->w) != 0;
        wake_locks += alloc_hook_lock_calls() - l0;
        bad += !wait_one(f->p, capacity, WAKER_TOKEN);
    }
    c1 = now();
    is_int(bad, 0, "%d wake+wait cycles with capacity %zu each gave "
           "the waker's event", ITERATIONS, capacity);
    is_int(c1.allocs - c0.allocs, 0, "... and made no allocation");
    snprintf(what, sizeof what, "... and the %d signalling wakes took no "
             "lock", ITERATIONS);
    no_lock(f, wake_locks, what);
}

/* Readiness of a registered pipe: after a first round, nothing. */
static void
check_pipe_readiness(const struct fixture *f)
{
    struct counts c0, c1;
    char byte = 'x';
    long bad = 0;

    if (write(f->fds[1], &byte, 1) != 1
        || !wait_one(f->p, 64, PIPE_TOKEN)
        || read(f->fds[0], &byte, 1) != 1)
        bail_out("the first pipe readiness round failed");
    c0 = now();
    for (int i = 0; i < ITERATIONS; i++) {
        bad += write(f->fds[1], &byte, 1) != 1;
        bad += !wait_one(f->p, 64, PIPE_TOKEN);
        bad += read(f->fds[0], &byte, 1) != 1;
    }
    c1 = now();
    is_int(bad, 0, "%d rounds of pipe readiness + wait each gave the "
           "pipe's event", ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... and made no allocation");
}

/* 1000 wakes in a row: the first signals, the rest find it pending. */
static void
check_wakes_in_a_row(const struct fixture *f)
{
    struct counts c0, c1;
    long bad = 0;

    c0 = now();
    for (int i = 0; i < ITERATIONS; i++)
        bad += mw_waker_wake(f->w) != 0;
    c1 = now();
    is_int(bad, 0, "%d mw_waker_wake calls in a row returned 0",
           ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... made no allocation");
    no_lock(f, c1.locks - c0.locks, "... and took no lock");
}

/* Pending wakes alone: no lock on any backend. */
static void
check_pending_wakes(const struct fixture *f)
{
    struct counts c0, c1;
    long bad = 0;

    c0 = now();
    for (int i = 0; i < ITERATIONS; i++)
        bad += mw_waker_wake(f->w) != 0;
    c1 = now();
    is_int(bad, 0, "%d more wakes on the pending waker returned 0",
           ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... made no allocation");
    if (f->count_locks)
        is_int(c1.locks - c0.locks, 0, "... and took no lock");
    else
        skip(1, "lock calls are not counted");
    ok(wait_one(f->p, 64, WAKER_TOKEN), "and left one event to collect");
}

int
main(void)
{
    static const size_t caps[] = { 1, 64, 4096 };
    struct fixture f = { 0 };

    tap_watchdog(60);
    f.libkqueue_user = util_caps()->wake_takes_lock;
    controls(&f);

    /* The first wait may set things up; everything after it is counted. */
    if (mw_waker_wake(f.w) != 0 || !wait_one(f.p, 64, WAKER_TOKEN))
        bail_out("the first wake and wait failed");
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++)
        check_wake_wait(&f, caps[k]);
    check_pipe_readiness(&f);
    check_wakes_in_a_row(&f);
    check_pending_wakes(&f);

    mw_poll_deregister(f.p, f.fds[0]);
    util_close(f.fds[0]);
    util_close(f.fds[1]);
    mw_waker_free(f.w);
    mw_poll_free(f.p);
    return done_testing();
}
