/* SPDX-License-Identifier: MIT */
/*
 * Promise: mw_waker_wake from another thread makes a wait that is blocked
 * with no time limit return the waker's event.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN 0x5eed

struct waker_job {
    mw_waker *w;
    long delay_ms;
    atomic_int rc;          /* mw_waker_wake's result */
    atomic_int errno_kept;  /* 1 if errno was unchanged by the wake */
};

static void *
wake_later(void *arg)
{
    struct waker_job *job = arg;
    int r;

    util_sleep_ms(job->delay_ms);
    errno = 777;
    r = mw_waker_wake(job->w);
    atomic_store(&job->errno_kept, errno == 777);
    atomic_store(&job->rc, r);
    return NULL;
}

static void
wake_from_another_thread_ends_an_unlimited_wait(mw_poll *p, mw_waker *w,
                                                long delay_ms)
{
    struct mw_event ev[8];
    struct waker_job job;
    pthread_t t;
    int n, r, count;
    uint32_t flags;

    job.w = w;
    job.delay_ms = delay_ms;
    atomic_init(&job.rc, 1);
    atomic_init(&job.errno_kept, 0);
    util_thread_start(&t, wake_later, &job);

    /* Blocks until the other thread's wake; the watchdog turns a
     * wake that does not reach this wait into a failure. */
    do
        n = mw_poll_wait(p, ev, 8, -1);
    while (n == -EINTR);
    util_thread_join(t);

    is_errno(atomic_load(&job.rc), 0,
             "a wake from another thread after %ld ms returns 0",
             delay_ms);
    ok(atomic_load(&job.errno_kept),
       "mw_waker_wake on another thread leaves that thread's errno");
    ok(n >= 1, "a wait blocked with timeout -1 returns when another "
       "thread wakes (%ld ms later)", delay_ms);
    count = n > 0 ? util_count_token(ev, n, TOKEN, &flags) : 0;
    is_int(count, 1, "it returns exactly one event with the waker's "
           "token");
    ok(count == 1 && flags == MW_EV_READABLE,
       "the cross-thread event's flags are exactly MW_EV_READABLE");
    r = mw_poll_wait(p, ev, 8, 0);
    is_int(r, 0, "nothing is left after the event was collected");
}

int
main(void)
{
    static const long delays[] = { 100, 20, 1, 0, 50 };
    mw_poll *p;
    mw_waker *w;

    tap_watchdog(60);

    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    if (mw_waker_new(&w, p, TOKEN) != 0)
        bail_out("mw_waker_new failed");

    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++)
        wake_from_another_thread_ends_an_unlimited_wait(p, w, delays[i]);

    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
