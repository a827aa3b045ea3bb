/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3)): a waker costs no descriptor, however many
 * there are: the wakers of a poll share its one kernel object, so a
 * million wakers on one poll are made, woken and freed with
 * RLIMIT_NOFILE at 1024; and a wake is never lost: each wake of each of
 * them is delivered, exactly once, across as many waits as it takes.
 *
 *   1. a million wakers are made with the descriptor limit at 1024, and
 *      open no descriptor;
 *   2. each is woken once from the main thread, and the waits that
 *      follow hand out each token exactly once, and then nothing;
 *   3. each is woken once more, by two threads that wake a half each
 *      while the main thread waits: again each token exactly once, and
 *      then nothing;
 *   4. all are freed.
 * A million normally (a few seconds at most); 20,000 under valgrind and
 * 100,000 in a sanitizer's build.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define UNDER_SANITIZER 1
#endif
#if defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer)
#  define UNDER_SANITIZER 1
# endif
#endif

#define CAPACITY 4096

static mw_waker **wakers;
static long nwakers;
static unsigned char *seen;     /* per token: how many events came */

static long
how_many(void)
{
    if (util_under_valgrind())
        return 20000;
#ifdef UNDER_SANITIZER
    return 100000;
#else
    return 1000000;
#endif
}

/* RLIMIT_NOFILE's soft limit to 1024 (or lower already); skips the test
 * when it cannot be set. */
static void
lower_descriptor_limit(void)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        plan_skip_all("getrlimit: %s", strerror(errno));
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur <= 1024)
        return;
    r.rlim_cur = 1024;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0)
        plan_skip_all("cannot lower RLIMIT_NOFILE to 1024: %s",
                      strerror(errno));
}

/* Wait until `want` events have come (or a wait of UTIL_LONG_MS brings
 * none), counting each token's events; then one timeout-0 wait, which
 * must find nothing.  Returns the events counted; *waits gets the waits
 * that returned some, *late what the last wait returned. */
static long
collect(mw_poll *p, long want, long *waits, int *late)
{
    static struct mw_event ev[CAPACITY];
    long got = 0;

    *waits = 0;
    while (got < want) {
        int n = util_wait(p, ev, CAPACITY, UTIL_LONG_MS);

        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        if (n == 0)
            break;
        (*waits)++;
        for (int i = 0; i < n; i++) {
            mw_token t = ev[i].token;

            if (t < (mw_token)nwakers && seen[t] < 255)
                seen[t]++;
            got++;
        }
    }
    *late = util_wait(p, ev, CAPACITY, 0);
    return got;
}

/* Tokens whose count is not exactly 1; clears the counts. */
static long
not_once(void)
{
    long bad = 0;

    for (long i = 0; i < nwakers; i++)
        bad += seen[i] != 1;
    memset(seen, 0, (size_t)nwakers);
    return bad;
}

struct half {
    long from, to;
    atomic_long failed;
};

static void *
wake_half(void *arg)
{
    struct half *h = arg;

    for (long i = h->from; i < h->to; i++)
        if (mw_waker_wake(wakers[i]) != 0)
            atomic_fetch_add(&h->failed, 1);
    return NULL;
}

int
main(void)
{
    struct util_fds before, after;
    struct half h[2];
    pthread_t t[2];
    mw_poll *p;
    long got, waits, failed = 0, made = 0;
    int late, rc = 0, opened;
    int64_t start;

    tap_watchdog(util_under_valgrind() ? 600 : 120);
    nwakers = how_many();
    lower_descriptor_limit();
    wakers = calloc((size_t)nwakers, sizeof *wakers);
    seen = calloc((size_t)nwakers, 1);
    if (!wakers || !seen)
        bail_out("out of memory for %ld wakers", nwakers);
    plan(9);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");

    start = util_now_ms();
    util_fds_take(&before);
    for (long i = 0; i < nwakers; i++) {
        rc = mw_waker_new(&wakers[i], p, (mw_token)i);
        if (rc != 0)
            break;
        made++;
    }
    util_fds_take(&after);
    opened = util_fds_new(&before, &after, NULL, 0);
    is_int(made, nwakers, "%ld wakers are made on one poll with "
           "RLIMIT_NOFILE at 1024 (the first failure: %s)", nwakers,
           tap_errno_name(rc));
    if (made < nwakers)
        bail_out("cannot go on with %ld wakers of %ld", made, nwakers);
    is_int(opened, 0, "and they opened no descriptor");

    for (long i = 0; i < nwakers; i++)
        failed += mw_waker_wake(wakers[i]) != 0;
    is_int(failed, 0, "each is woken once from the main thread");
    got = collect(p, nwakers, &waits, &late);
    diag("%ld events in %ld waits of capacity %d", got, waits, CAPACITY);
    is_int(got, nwakers, "the waits hand out one event per wake");
    is_int(not_once(), 0, "each token exactly once");
    is_int(late, 0, "and then nothing");

    for (int k = 0; k < 2; k++) {
        h[k].from = nwakers / 2 * k;
        h[k].to = k ? nwakers : nwakers / 2;
        atomic_init(&h[k].failed, 0);
        util_thread_start(&t[k], wake_half, &h[k]);
    }
    got = collect(p, nwakers, &waits, &late);
    for (int k = 0; k < 2; k++)
        util_thread_join(t[k]);
    diag("two threads: %ld events in %ld waits made while they woke", got,
         waits);
    ok(atomic_load(&h[0].failed) + atomic_load(&h[1].failed) == 0
           && got == nwakers,
       "two threads wake a half each while the main thread waits: one "
       "event per wake (%ld of %ld)", got, nwakers);
    ok(not_once() == 0 && late == 0, "each token exactly once, and then "
       "nothing (the last wait returned %d)", late);

    for (long i = 0; i < nwakers; i++)
        mw_waker_free(wakers[i]);
    mw_poll_free(p);
    free(wakers);
    free(seen);
    diag("%ld wakers made, woken twice and freed in %lld ms", nwakers,
         (long long)(util_now_ms() - start));
    ok(true, "all are freed");
    return done_testing();
}
