/* SPDX-License-Identifier: MIT */
/*
 * Promise: a wake is never lost.  After mw_waker_wake returns 0, the
 * current or next mw_poll_wait on that poll returns the waker's event.
 *
 * Producers take a ticket (a shared counter), wake, and wait until the
 * consumer has acknowledged a value at least their ticket.  The consumer
 * waits with no time limit and, on each waker event, acknowledges the
 * counter as it reads it then.  A lost wake leaves the consumer blocked
 * while a producer waits for its acknowledgement: the watchdog turns that
 * hang into a failure.  A fifth thread wakes without pause all along, so
 * that wakes also land while the consumer is collecting an event (the
 * window where a pending flag cleared at the wrong moment loses one).
 * MW_STRESS=1 runs ten times more wakes.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define PRODUCERS 4

static int marker;  /* the token is a pointer to this */
#define TOKEN ((mw_token)(void *)&marker)

struct shared {
    mw_waker *w;
    long per_producer;
    atomic_long counter;        /* tickets handed out */
    atomic_long acked;          /* counter value the consumer has seen */
    atomic_long wake_failures;
    atomic_int stop;            /* the consumer is done: stop spinning */
    atomic_long noise_wakes;
};

static void *
noise(void *arg)
{
    struct shared *s = arg;
    long n = 0;

    while (!atomic_load(&s->stop)) {
        if (mw_waker_wake(s->w) != 0)
            atomic_fetch_add(&s->wake_failures, 1);
        if (++n % 64 == 0)
            sched_yield();
    }
    atomic_store(&s->noise_wakes, n);
    return NULL;
}

static void *
producer(void *arg)
{
    struct shared *s = arg;

    for (long i = 0; i < s->per_producer; i++) {
        long ticket = atomic_fetch_add(&s->counter, 1) + 1;

        if (mw_waker_wake(s->w) != 0)
            atomic_fetch_add(&s->wake_failures, 1);
        while (atomic_load(&s->acked) < ticket) {
            if (atomic_load(&s->stop))
                return NULL;
            sched_yield();
        }
    }
    return NULL;
}

/* What the consumer saw. */
struct tally {
    long events, waits, eintr, foreign, bad_flags, errors;
};

static long
wakes_per_producer(void)
{
    const char *stress = getenv("MW_STRESS");
    long n = 100000 / PRODUCERS;

    if (stress != NULL && *stress != '\0' && strcmp(stress, "0") != 0)
        n *= 10;
    if (util_under_valgrind()) {
        /* valgrind runs one thread at a time: keep it to minutes. */
        n /= 4;
        diag("under valgrind: %ld wakes per producer", n);
    }
    return n;
}

/* Acknowledge, at each waker event, every ticket handed out before it:
 * a producer waits for its own ticket, so a lost wake hangs it. */
static void
consume_until_every_ticket_is_acked(mw_poll *p, struct shared *s,
                                    long total, struct tally *c)
{
    while (atomic_load(&s->acked) < total) {
        struct mw_event ev[8];
        int n = mw_poll_wait(p, ev, 8, -1);

        if (n == -EINTR) {
            c->eintr++;
            continue;
        }
        if (n <= 0 || n > 8) {
            diag("mw_poll_wait(-1) returned %d (%s)", n, tap_errno_name(n));
            c->errors++;
            break;
        }
        c->waits++;
        for (int i = 0; i < n; i++) {
            if (ev[i].token != TOKEN) {
                c->foreign++;
                continue;
            }
            if (ev[i].flags != MW_EV_READABLE)
                c->bad_flags++;
            c->events++;
            atomic_store(&s->acked, atomic_load(&s->counter));
        }
    }
}

static void
every_cross_thread_wake_is_acknowledged(struct shared *s, long total,
                                        const struct tally *c)
{
    is_int(c->errors, 0, "every wait with timeout -1 returned events or "
           "-EINTR");
    is_int(atomic_load(&s->wake_failures), 0, "all cross-thread wakes "
           "returned 0");
    is_int(atomic_load(&s->acked), total, "every one of %ld wakes was "
           "followed by a waker event that acknowledged it", total);
    ok(c->events >= 1 && c->events <= total + atomic_load(&s->noise_wakes),
       "waker events are at least one and at most one per wake (merged "
       "wakes)");
    is_int(c->foreign, 0, "no event carries a token other than the "
           "waker's");
    is_int(c->bad_flags, 0, "every waker event's flags are exactly "
           "MW_EV_READABLE");
}

static void
waker_still_works_once_threads_stop(mw_poll *p, struct shared *s)
{
    struct mw_event ev[8];
    int n = mw_poll_wait(p, ev, 8, 0);

    /* The last wakes may have merged into an event collected after
     * them, or be collected now; never more than one event. */
    ok(n == 0 || (n == 1 && ev[0].token == TOKEN), "at most one "
       "waker event is left once all threads stopped");
    n = mw_waker_wake(s->w) == 0 ? mw_poll_wait(p, ev, 8, -1) : -1;
    ok(n == 1 && ev[0].token == TOKEN, "after all that the waker still "
       "delivers a fresh wake");
}

int
main(void)
{
    static struct shared s;
    struct tally c = { 0, 0, 0, 0, 0, 0 };
    mw_poll *p;
    pthread_t t[PRODUCERS], noise_thread;
    long total;
    int64_t start;

    tap_watchdog(120);

    s.per_producer = wakes_per_producer();
    total = s.per_producer * PRODUCERS;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&s.w, p, TOKEN) != 0)
        bail_out("cannot create a poll and a waker");
    atomic_init(&s.counter, 0);
    atomic_init(&s.acked, 0);
    atomic_init(&s.wake_failures, 0);
    atomic_init(&s.stop, 0);
    atomic_init(&s.noise_wakes, 0);

    start = util_now_ms();
    for (int i = 0; i < PRODUCERS; i++)
        util_thread_start(&t[i], producer, &s);
    util_thread_start(&noise_thread, noise, &s);
    consume_until_every_ticket_is_acked(p, &s, total, &c);
    atomic_store(&s.stop, 1);
    for (int i = 0; i < PRODUCERS; i++)
        util_thread_join(t[i]);
    util_thread_join(noise_thread);

    diag("%ld counted wakes from %d threads and %ld more from a noise "
         "thread gave %ld events in %ld waits (%ld interrupted) in %lld ms",
         total, PRODUCERS, (long)atomic_load(&s.noise_wakes), c.events,
         c.waits, c.eintr, (long long)(util_now_ms() - start));

    every_cross_thread_wake_is_acknowledged(&s, total, &c);
    waker_still_works_once_threads_stop(p, &s);

    mw_waker_free(s.w);
    mw_poll_free(p);
    return done_testing();
}
