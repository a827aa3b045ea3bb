/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3)): what a thread published before a wake that
 * returned 0 is visible to the thread that receives the waker's event, if
 * it was published with atomic operations (of any memory order) or under
 * a lock.  The wake may merge into an event that is already pending: the
 * test makes each round do that, a wake, then the data, then a second
 * wake, and it checks what the consumer reads after the events that
 * cover the second wake.
 *
 * Part 1, every build: the data are relaxed atomic stores, the pattern
 * the page shows; the consumer reads them with relaxed loads and must see
 * the round's values.
 *
 * Part 2, ThreadSanitizer builds of the library only: the data are plain
 * stores.  C11 gives those no happens-before edge across a wake that
 * merges (the page says so), but a TSan build of the library makes the
 * pending flag's edge visible to TSan; if the protocol lost it, TSan
 * would report a data race here and the test would fail.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#if defined(__SANITIZE_THREAD__)
# define TSAN_BUILD 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define TSAN_BUILD 1
# endif
#endif
#ifndef TSAN_BUILD
# define TSAN_BUILD 0
#endif

#define T_W 5
#define N 64

static mw_waker *the_waker;
static atomic_int published[N];
static int plain[N];
static atomic_int done;         /* the last round the producer finished */
static int rounds;
static bool use_plain;

static void *
producer(void *arg)
{
    (void)arg;
    for (int r = 1; r <= rounds; r++) {
        /* The consumer's ack of round r - 1, an acquire load: the edge
         * from its reads of the last round's data to this round's writes
         * is the test's own.  The edge the other way, from these writes
         * to its next reads, must come from the library alone: done = r
         * below is relaxed. */
        while (atomic_load_explicit(&done, memory_order_acquire) != -(r - 1))
            continue;
        if (mw_waker_wake(the_waker) != 0)
            return NULL;
        for (int i = 0; i < N; i++) {
            if (use_plain)
                plain[i] = r;
            else
                atomic_store_explicit(&published[i], r, memory_order_relaxed);
        }
        if (mw_waker_wake(the_waker) != 0)
            return NULL;
        atomic_store_explicit(&done, r, memory_order_relaxed);
    }
    return NULL;
}

/* Rounds in which the consumer read the round's data in full. */
static int
run(mw_poll *p, bool plain_data)
{
    struct mw_event ev[4];
    pthread_t t;
    int good = 0;

    use_plain = plain_data;
    atomic_store(&done, 0);
    util_thread_start(&t, producer, NULL);
    for (int r = 1; r <= rounds; r++) {
        int64_t end = util_now_ms() + UTIL_LONG_MS;
        bool all = true;

        /* Events until the producer says it has made its second wake;
         * then take whatever is still pending: the event that covers the
         * second wake has been collected by the time a wait returns 0. */
        while (atomic_load_explicit(&done, memory_order_relaxed) != r
               && util_now_ms() < end)
            (void)mw_poll_wait(p, ev, 4, 20);
        while (mw_poll_wait(p, ev, 4, 0) > 0)
            continue;
        for (int i = 0; i < N; i++) {
            int v = plain_data
                    ? plain[i]
                    : atomic_load_explicit(&published[i],
                                           memory_order_relaxed);
            all = all && v == r;
        }
        good += all;
        atomic_store_explicit(&done, -r, memory_order_release);
    }
    util_thread_join(t);
    return good;
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(120);
    rounds = util_under_valgrind() ? 50 : 2000;
    if (mw_poll_new(&p) != 0 || mw_waker_new(&the_waker, p, T_W) != 0)
        bail_out("cannot create a poll and a waker");

    is_int(run(p, false), rounds, "data published with relaxed atomics "
           "before a wake that merged is seen after the event, every round "
           "of %d", rounds);
    if (TSAN_BUILD)
        is_int(run(p, true), rounds, "plain data: a ThreadSanitizer build "
               "sees the pending flag's edge (no race reported) and reads "
               "the round's data");
    else
        skip(1, "plain data across a wake that merges is a data race by "
             "the contract; only a ThreadSanitizer build of the library "
             "shows its edge to TSan");

    mw_waker_free(the_waker);
    mw_poll_free(p);
    return done_testing();
}
