/* SPDX-License-Identifier: MIT */
/*
 * Promise: mw_poll_wait waits up to timeout_ms: 0 does not block, a
 * positive timeout returns 0 once it passes with nothing ready, and a
 * negative one has no limit: such a wait returns only with at least one
 * event (or -EINTR), never 0.  Only generous lower bounds are checked,
 * plus an upper sanity bound of seconds.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN 77
#define SANITY_MS 5000

static void
timeout_zero_does_not_block(mw_poll *p)
{
    struct mw_event ev[8];
    int64_t t0, dt;
    int r, zeros = 0;

    t0 = util_now_ms();
    r = mw_poll_wait(p, ev, 8, 0);
    dt = util_now_ms() - t0;
    is_int(r, 0, "timeout 0 with nothing ready returns 0");
    ok(dt < SANITY_MS, "timeout 0 does not block (%lld ms)",
       (long long)dt);

    for (int i = 0; i < 100; i++)
        zeros += mw_poll_wait(p, ev, 8, 0) == 0;
    is_int(zeros, 100, "100 waits with timeout 0 all return 0");
}

static void
positive_timeout_returns_zero_once_it_passes(mw_poll *p)
{
    struct mw_event ev[8];
    int64_t t0, dt;
    int r;

    t0 = util_now_ms();
    do
        r = mw_poll_wait(p, ev, 8, 50);
    while (r == -EINTR);
    dt = util_now_ms() - t0;
    is_int(r, 0, "a 50 ms timeout with nothing ready returns 0");
    ok(dt >= 40, "the 50 ms wait took at least about 50 ms (%lld ms)",
       (long long)dt);
    ok(dt < SANITY_MS, "the 50 ms wait returned within seconds");

    t0 = util_now_ms();
    r = mw_poll_wait(p, ev, 8, 1);
    dt = util_now_ms() - t0;
    is_int(r, 0, "a 1 ms timeout with nothing ready returns 0");
    ok(dt < SANITY_MS, "the 1 ms wait returned within seconds");
}

static void
long_timeout_returns_as_soon_as_an_event_comes(mw_poll *p, mw_waker *w)
{
    struct util_later l = { w, 20 };
    struct mw_event ev[8];
    pthread_t t;
    int64_t t0, dt;
    int r;

    util_thread_start(&t, util_wake_later, &l);
    t0 = util_now_ms();
    do
        r = mw_poll_wait(p, ev, 8, 30000);
    while (r == -EINTR);
    dt = util_now_ms() - t0;
    util_thread_join(t);
    ok(r == 1 && ev[0].token == TOKEN, "a wait with a 30 s timeout "
       "returns the event that comes during it");
    ok(dt < SANITY_MS, "... without waiting for the timeout (%lld ms)",
       (long long)dt);
}

static void
negative_timeout_has_no_limit(mw_poll *p, mw_waker *w)
{
    static const int negatives[] = { -1, -2, -1000, INT_MIN };
    struct mw_event ev[8];
    int64_t t0, dt;
    int r;

    for (size_t i = 0; i < sizeof negatives / sizeof negatives[0]; i++) {
        struct util_later l = { w, 150 };
        pthread_t t;
        int eintr = 0;

        util_thread_start(&t, util_wake_later, &l);
        t0 = util_now_ms();
        for (;;) {
            r = mw_poll_wait(p, ev, 8, negatives[i]);
            if (r != -EINTR)
                break;
            eintr++;
        }
        dt = util_now_ms() - t0;
        util_thread_join(t);
        ok(r >= 1, "a wait with timeout %d does not return 0: it returns "
           "when woken 150 ms later (rc %s)", negatives[i],
           tap_errno_name(r));
        ok(r >= 1 && util_count_token(ev, r, TOKEN, NULL) == 1,
           "... with the waker's event");
        ok(dt >= 100, "a wait with timeout %d blocked until the wake "
           "(%lld ms)", negatives[i], (long long)dt);
    }
}

/* Readiness the poll has to drop: the pipe's read end was closed while a
 * dup kept the pipe open, so epoll still holds the old registration after
 * mw_poll_deregister.  Whatever it reports for it must not end a wait with
 * no limit with 0. */
static void
unlimited_wait_never_returns_zero_for_a_gone_registration(mw_poll *p,
                                                          mw_waker *w)
{
    struct util_later l = { w, 150 };
    struct mw_event ev[8];
    pthread_t t;
    int a[2], b, r, zeros = 0, stale = 0, eintr = 0;
    bool woken = false;

    util_pipe(a);
    b = dup(a[0]);
    if (b < 0)
        bail_out("dup failed");
    if (mw_poll_register(p, a[0], 6, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    close(a[0]);
    r = mw_poll_deregister(p, a[0]);
    diag("mw_poll_deregister of a closed fd: %s", tap_errno_name(r));
    util_write_byte(a[1]);
    util_thread_start(&t, util_wake_later, &l);
    while (!woken) {
        r = mw_poll_wait(p, ev, 8, -1);
        if (r == -EINTR) {
            eintr++;
            continue;
        }
        if (r == 0) {
            if (++zeros > 100)
                break;
            continue;
        }
        if (r < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(r));
        woken = util_count_token(ev, r, TOKEN, NULL) > 0;
        stale += util_count_token(ev, r, 6, NULL);
    }
    util_thread_join(t);
    if (stale)
        diag("the deregistered, closed fd's token came %d times", stale);
    is_int(zeros, 0, "a wait with timeout -1 never returns 0, even "
           "when the only readiness it sees is for a registration "
           "that is gone");
    ok(woken, "it returns with the waker's event");
    util_close(b);
    util_close(a[1]);
}

int
main(void)
{
    mw_poll *p;
    mw_waker *w;
    int fds[2];

    tap_watchdog(60);

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, TOKEN) != 0)
        bail_out("cannot create a poll and a waker");
    /* Something registered that never becomes ready, so that the waits
     * below time out with a registration in place, not an empty poll. */
    util_pipe(fds);
    if (mw_poll_register(p, fds[0], 5, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");

    timeout_zero_does_not_block(p);
    positive_timeout_returns_zero_once_it_passes(p);
    long_timeout_returns_as_soon_as_an_event_comes(p, w);
    negative_timeout_has_no_limit(p, w);
    unlimited_wait_never_returns_zero_for_a_gone_registration(p, w);

    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
