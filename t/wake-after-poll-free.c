/* SPDX-License-Identifier: MIT */
/*
 * Promise: a waker may outlive its poll.  mw_waker_wake then still returns
 * 0 and touches no freed memory (run this under valgrind: make
 * check-valgrind), and mw_waker_free after mw_poll_free is valid.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

/* Wake n times, checking errno each time: how many returned 0 with errno
 * unchanged. */
static int
wake_n(mw_waker *w, int n)
{
    int good = 0;

    for (int i = 0; i < n; i++) {
        errno = 9999;
        good += mw_waker_wake(w) == 0 && errno == 9999;
    }
    return good;
}

struct hammer {
    mw_waker *w;
    atomic_int stop;
    atomic_long calls;
    atomic_long failures;
};

static void *
hammer_wakes(void *arg)
{
    struct hammer *h = arg;

    while (!atomic_load(&h->stop)) {
        if (mw_waker_wake(h->w) != 0)
            atomic_fetch_add(&h->failures, 1);
        atomic_fetch_add(&h->calls, 1);
    }
    return NULL;
}

static void
idle_waker_wakes_after_poll_free(void)
{
    mw_poll *p;
    mw_waker *w;
    int good;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0)
        bail_out("cannot create a poll and a waker");
    mw_poll_free(p);
    good = wake_n(w, 1);
    is_int(good, 1, "a wake after mw_poll_free returns 0 and keeps errno");
    good = wake_n(w, 1000);
    is_int(good, 1000, "1,000 more wakes after mw_poll_free all return 0");
    mw_waker_free(w);
}

static void
pending_waker_wakes_after_poll_free(void)
{
    mw_poll *p;
    mw_waker *w;
    int good;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 2) != 0)
        bail_out("cannot create a poll and a waker");
    good = wake_n(w, 3);
    is_int(good, 3, "wakes before mw_poll_free return 0");
    mw_poll_free(p);
    good = wake_n(w, 100);
    is_int(good, 100, "wakes on a pending waker after mw_poll_free "
           "return 0");
    mw_waker_free(w);
}

static void
collected_waker_wakes_after_poll_free(void)
{
    mw_poll *p;
    mw_waker *w;
    struct mw_event ev[2];
    int n, good;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 3) != 0)
        bail_out("cannot create a poll and a waker");
    wake_n(w, 1);
    do
        n = mw_poll_wait(p, ev, 2, -1);
    while (n == -EINTR);
    is_int(n, 1, "the waker's event is collected before the poll "
           "goes");
    mw_poll_free(p);
    good = wake_n(w, 100);
    is_int(good, 100, "wakes after the event was collected and the poll "
           "freed return 0");
    mw_waker_free(w);
}

/* Freed in mixed order. */
static void
several_wakers_outlive_one_poll(void)
{
    mw_poll *p;
    mw_waker *w, *w2, *w3;
    int good;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 4) != 0
        || mw_waker_new(&w2, p, 5) != 0 || mw_waker_new(&w3, p, 6) != 0)
        bail_out("cannot create a poll and wakers");
    wake_n(w2, 1);
    mw_poll_free(p);
    good = wake_n(w, 10) + wake_n(w2, 10) + wake_n(w3, 10);
    is_int(good, 30, "three wakers of one freed poll each still wake "
           "with 0");
    mw_waker_free(w2);
    good = wake_n(w, 10) + wake_n(w3, 10);
    is_int(good, 20, "after one of them is freed the other two still "
           "wake with 0");
    mw_waker_free(w3);
    mw_waker_free(w);
}

static void
poll_freed_under_a_waking_thread(void)
{
    mw_poll *p;
    struct hammer h;
    pthread_t t;
    long before;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&h.w, p, 7) != 0)
        bail_out("cannot create a poll and a waker");
    atomic_init(&h.stop, 0);
    atomic_init(&h.calls, 0);
    atomic_init(&h.failures, 0);
    util_thread_start(&t, hammer_wakes, &h);
    while (atomic_load(&h.calls) < 1000)
        util_sleep_ms(1);
    mw_poll_free(p);
    before = atomic_load(&h.calls);
    while (atomic_load(&h.calls) < before + 1000)
        util_sleep_ms(1);
    atomic_store(&h.stop, 1);
    util_thread_join(t);
    is_int(atomic_load(&h.failures), 0, "a thread waking while the "
           "poll is freed under it gets 0 from every wake (%ld wakes)",
           (long)atomic_load(&h.calls));
    mw_waker_free(h.w);
}

static void
waker_freed_before_its_poll_never_delivers(void)
{
    mw_poll *p;
    mw_waker *w;
    struct mw_event ev[2];
    int n;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 8) != 0)
        bail_out("cannot create a poll and a waker");
    wake_n(w, 1);
    mw_waker_free(w);
    n = mw_poll_wait(p, ev, 2, 0);
    ok(n == 0 || (n > 0 && util_count_token(ev, n, 8, NULL) == 0),
       "a waker freed before its poll never delivers its pending "
       "event");
    mw_poll_free(p);
}

int
main(void)
{
    tap_watchdog(60);

    idle_waker_wakes_after_poll_free();
    pending_waker_wakes_after_poll_free();
    collected_waker_wakes_after_poll_free();
    several_wakers_outlive_one_poll();
    poll_freed_under_a_waking_thread();
    waker_freed_before_its_poll_never_delivers();

    return done_testing();
}
