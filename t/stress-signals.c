/* SPDX-License-Identifier: MIT */
/*
 * Stress: a storm of signals on the waiting thread.  A handler installed
 * without SA_RESTART runs over and over while the main thread waits:
 * every wait must return events, 0 when its (non-negative) timeout ran
 * out, or -EINTR; a wait with no limit never returns 0; and no wake is
 * lost across the interruptions.
 *
 *   - A producer thread hands over numbered wakes one at a time: it
 *     publishes n, wakes, and waits until the main thread has seen n
 *     after a waker event (t/wake-no-loss.c does this without signals).
 *     The signals hit the waiting thread and, now and then, the producer
 *     inside mw_waker_wake.
 *   - The handler itself bumps a counter and wakes a second waker (on the
 *     waiting thread, or on the producer): the last value is observed
 *     after an event.  Under libkqueue, kqueue+user's wake is a kevent()
 *     call that takes a mutex and can deadlock in a handler, so that part
 *     is skipped where util_caps()->wake_async_signal_safe is false.
 *   - The waits cycle through timeouts -1, 0 and 7 ms.
 *
 * A lost wake shows as 10 s without progress (the signals keep the waits
 * returning, so the main thread notices).  MW_STRESS=1: 50 times longer.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN_PRODUCER ((mw_token)0x9E0)
#define TOKEN_HANDLER ((mw_token)0x516)

static mw_waker *handler_waker;         /* NULL: the handler only counts */
static atomic_long handler_calls;
static atomic_long handler_seq;         /* bumped before each handler wake */
static atomic_long handler_failures;
static atomic_long errno_clobbered;

static void
on_signal(int sig)
{
    int saved = errno;

    (void)sig;
    atomic_fetch_add(&handler_calls, 1);
    if (handler_waker != NULL) {
        errno = 4242;
        atomic_fetch_add(&handler_seq, 1);
        if (mw_waker_wake(handler_waker) != 0)
            atomic_fetch_add(&handler_failures, 1);
        if (errno != 4242)
            atomic_fetch_add(&errno_clobbered, 1);
    }
    errno = saved;
}

struct shared {
    mw_waker *w;
    long rounds;
    pthread_t waiter;
    pthread_t producer;
    atomic_long seq;            /* the producer's published value */
    atomic_long acked;          /* what the waiting thread saw */
    atomic_long wake_failures;
    atomic_long signals_sent;
    atomic_int stop;
    atomic_int producer_started;
};

static struct shared s;

static void *
produce(void *arg)
{
    (void)arg;
    atomic_store(&s.producer_started, 1);
    for (long i = 1; i <= s.rounds; i++) {
        atomic_store(&s.seq, i);
        if (mw_waker_wake(s.w) != 0)
            atomic_fetch_add(&s.wake_failures, 1);
        while (atomic_load(&s.acked) < i) {
            if (atomic_load(&s.stop))
                return NULL;
            sched_yield();
        }
    }
    return NULL;
}

static void *
signal_storm(void *arg)
{
    struct timespec gap = { 0, 20000 };     /* 20 us */
    long n = 0;

    (void)arg;
    while (!atomic_load(&s.producer_started))
        sched_yield();
    while (!atomic_load(&s.stop)) {
        pthread_kill(s.waiter, SIGUSR1);
        if (++n % 4 == 0)
            pthread_kill(s.producer, SIGUSR1);
        atomic_fetch_add(&s.signals_sent, 1);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

/* What the waiting thread saw. */
struct seen {
    long waits, eintr, zero_at_minus1, errors, foreign;
    long bad_flags, events, handler_events;
    long handler_seen, final_handler;
    bool stalled;
};

/* One wait's events. */
static void
count_events(const struct mw_event *ev, int n, struct seen *t)
{
    for (int i = 0; i < n; i++) {
        if (ev[i].flags != MW_EV_READABLE)
            t->bad_flags++;
        if (ev[i].token == TOKEN_PRODUCER) {
            t->events++;
            atomic_store(&s.acked, atomic_load(&s.seq));
        } else if (ev[i].token == TOKEN_HANDLER) {
            t->handler_events++;
            t->handler_seen = atomic_load(&handler_seq);
        } else {
            t->foreign++;
        }
    }
}

/* Start the producer and the storm, and wait on p until every handed-over
 * wake and the handler's last one (where it wakes) were seen. */
static void
wait_through_storm(mw_poll *p, bool handler_wakes, struct seen *t)
{
    static const int timeouts[] = { -1, 0, 7 };
    pthread_t prod, storm;
    int64_t start, progress_at;
    long last_progress = -1;

    t->final_handler = -1;
    s.waiter = pthread_self();
    start = progress_at = util_now_ms();
    util_thread_start(&prod, produce, NULL);
    s.producer = prod;
    util_thread_start(&storm, signal_storm, NULL);

    for (;;) {
        struct mw_event ev[8];
        /* Once the storm is over nothing interrupts a wait with no limit:
         * bounded waits, so that a lost last wake shows as no progress. */
        int timeout = t->final_handler >= 0 ? 100 : timeouts[t->waits % 3];
        long progress;
        int n;

        if (atomic_load(&s.acked) >= s.rounds && t->final_handler < 0) {
            /* The producer is done: stop the storm, then one last signal
             * to this thread, whose handler's wake must be seen too. */
            atomic_store(&s.stop, 1);
            util_thread_join(storm);
            util_thread_join(prod);
            pthread_kill(pthread_self(), SIGUSR1);
            t->final_handler = atomic_load(&handler_seq);
        }
        if (t->final_handler >= 0
            && (!handler_wakes || t->handler_seen == t->final_handler))
            break;

        n = mw_poll_wait(p, ev, 8, timeout);
        t->waits++;
        progress = atomic_load(&s.acked) + t->handler_seen;
        if (progress != last_progress) {
            last_progress = progress;
            progress_at = util_now_ms();
        } else if (util_now_ms() - progress_at > UTIL_LONG_MS) {
            t->stalled = true;
            diag("no progress for 10 s: seq %ld acked %ld, handler seq %ld "
                 "seen %ld", (long)atomic_load(&s.seq),
                 (long)atomic_load(&s.acked),
                 (long)atomic_load(&handler_seq), t->handler_seen);
            break;
        }
        if (n == -EINTR) {
            t->eintr++;
            continue;
        }
        if (n < 0 || n > 8) {
            if (t->errors++ == 0)
                diag("mw_poll_wait(%d) returned %d (%s)", timeout, n,
                     tap_errno_name(n));
            continue;
        }
        if (n == 0) {
            t->zero_at_minus1 += timeout < 0;
            continue;
        }
        count_events(ev, n, t);
    }
    if (t->final_handler < 0) {
        atomic_store(&s.stop, 1);
        util_thread_join(storm);
        util_thread_join(prod);
    }
    diag("%ld signals sent, %ld handler runs; %ld waits, %ld returned "
         "-EINTR; %ld producer events, %ld handler events; %lld ms",
         (long)atomic_load(&s.signals_sent), (long)atomic_load(&handler_calls),
         t->waits, t->eintr, t->events, t->handler_events,
         (long long)(util_now_ms() - start));
}

/* What the storm must not have broken. */
static void
report(const struct seen *t, bool handler_wakes)
{
    ok(!t->stalled, "the waits kept making progress (no wake lost for "
       "10 s)");
    is_int(t->errors, 0, "every wait returned events, 0 or -EINTR");
    is_int(t->zero_at_minus1, 0, "no wait with timeout -1 returned 0");
    is_int(atomic_load(&s.acked), s.rounds, "each of the %ld handed-over "
           "wakes was followed by its event", s.rounds);
    is_int(atomic_load(&s.wake_failures), 0, "every producer wake returned "
           "0, signals or not");
    ok(atomic_load(&handler_calls) > 0, "the signal handler ran (%ld times)",
       (long)atomic_load(&handler_calls));
    is_int(t->foreign, 0, "no event carried an unknown token");
    is_int(t->bad_flags, 0, "every waker event's flags were exactly "
           "MW_EV_READABLE");
    if (handler_wakes) {
        is_int(t->handler_seen, t->final_handler, "the last wake made in a "
               "signal handler was observed after an event");
        is_int(atomic_load(&handler_failures), 0, "every wake in a handler "
               "returned 0");
        is_int(atomic_load(&errno_clobbered), 0, "and left errno alone");
    } else {
        skip(3, "kqueue+user under libkqueue: kevent() in a signal handler "
             "may deadlock");
    }
}

/* After the storm a fresh wake is delivered. */
static void
check_fresh_wake(mw_poll *p)
{
    struct mw_event ev[8];
    int n = mw_waker_wake(s.w) == 0 ? util_wait(p, ev, 8, UTIL_LONG_MS) : -1;
    int extra = n > 0 ? n - util_count_token(ev, n, TOKEN_PRODUCER, NULL)
                      : 0;

    ok(n >= 1 && util_count_token(ev, n, TOKEN_PRODUCER, NULL) == 1
       && extra <= 1, "after the storm a fresh wake is delivered");
}

int
main(void)
{
    struct sigaction sa;
    struct seen t;
    mw_poll *p;
    mw_waker *hw;
    bool handler_wakes;

    tap_watchdog(util_stress() ? 900 : 120);
    s.rounds = util_count(40000, 2000000, 40);
    handler_wakes = util_caps()->wake_async_signal_safe;
    diag("backend %s; %ld handed-over wakes under a signal storm; wakes "
         "from the handler: %s", mw_backend(), s.rounds,
         handler_wakes ? "yes" : "no (kqueue+user under libkqueue)");

    if (mw_poll_new(&p) != 0 || mw_waker_new(&s.w, p, TOKEN_PRODUCER) != 0
        || mw_waker_new(&hw, p, TOKEN_HANDLER) != 0)
        bail_out("cannot create a poll and wakers");
    if (handler_wakes)
        handler_waker = hw;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;            /* no SA_RESTART: waits see -EINTR */
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bail_out("sigaction: %s", strerror(errno));

    memset(&t, 0, sizeof t);
    wait_through_storm(p, handler_wakes, &t);
    /* No handler may touch the wakers once they are freed. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &sa, NULL);
    report(&t, handler_wakes);
    check_fresh_wake(p);

    mw_waker_free(s.w);
    mw_waker_free(hw);
    mw_poll_free(p);
    return done_testing();
}
