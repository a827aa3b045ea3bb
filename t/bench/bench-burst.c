/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: bursts.  1 and then 4 producer threads call mw_waker_wake in
 * a tight loop while one consumer thread waits on the poll and collects
 * the waker's events.  Figures: producer CPU ns per wake (the sum of the
 * producers' thread CPU time over the number of wakes: what a wake costs
 * the thread that makes it, whatever the scheduler does with five threads
 * on the machine), and how many events the consumer saw for all those
 * wakes.  The wall time per wake per producer is printed too.
 *
 * Baselines, in the same process, round by round:
 *   limit  each producer does the pending check by hand -- a seq_cst
 *          fence and a relaxed load of one shared _Atomic int, and an
 *          exchange when it reads 0 -- while a consumer sleeps and clears
 *          the flag at most as often as the library's consumer collected
 *          events in the round before (base_events counts the clears;
 *          each costs the producers one cache-line transfer);
 *   sys    each producer makes one raw wake system call per wake (an
 *          eventfd write on epoll builds) while the consumer waits in the
 *          raw poller: no pending flag at all;
 *   limit_signal
 *          the library's whole protocol written inline: the limit's
 *          producers, and the one whose exchange turns 0 into 1 makes the
 *          raw wake system call; the consumer waits in the raw poller and
 *          clears the flag after each event.  Not a target: it shows how
 *          much of the gap to the limit is the kernel's price of waking a
 *          sleeping consumer, which any correct waker pays once per event.
 *
 * The library and the limit run back to back in every round (the limit's
 * consumer takes its period from the library round just before); the
 * sys baseline runs last, and limit_signal alternates between first and
 * third place.
 *
 * Checks: every wake returned 0, the consumer saw only the waker's events
 * and at least one, and a last wake made after the producers finished
 * reached it (a lost wake hangs until the watchdog exits 3).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench-common.h"

#if defined(__linux__) && defined(__has_include)
# if __has_include(<sys/prctl.h>)
#  include <sys/prctl.h>
# endif
#endif


#define DEFAULT_ITERATIONS 2000000L  /* wakes per producer per round */
#define SYS_DIVISOR 50               /* raw system calls: N / 50 */
#define MAX_PRODUCERS 4
#define TOKEN ((mw_token)0xB0257)

enum variant { LIB, LIMIT, SYS, LIMIT_SIGNAL };

struct burst {
    enum variant v;
    int producers;
    long per;                       /* wakes per producer */
    mw_poll *poll;
    mw_waker *waker;
    struct raw_queue *raw;
    long clear_every_ns;            /* LIMIT: the consumer's period */

    alignas(64) _Atomic int flag;   /* LIMIT: the hand-written flag */
    alignas(64) atomic_int ready;   /* producers ready to start */
    atomic_int go;
    atomic_int finished;            /* every producer is done */
    atomic_long errors;
    atomic_llong cpu_ns;            /* sum of producers' CPU time */

    /* consumer's results */
    long events;
    long foreign;
    int consumer_err;
};

/* One wake of the protocol written inline (limit_signal). */
static inline int
limit_signal_wake(struct burst *b)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&b->flag, memory_order_relaxed))
        return 0;
    if (atomic_exchange_explicit(&b->flag, 1, memory_order_acq_rel))
        return 0;
    return raw_wake(b->raw);
}

static void *
producer(void *arg)
{
    struct burst *b = arg;
    int64_t c0, c1;
    long errors = 0;
    int rc = 0;

    atomic_fetch_add(&b->ready, 1);
    while (!atomic_load_explicit(&b->go, memory_order_acquire))
        sched_yield();
    c0 = bench_thread_cpu_ns();
    switch (b->v) {
    case LIB:
        for (long i = 0; i < b->per; i++)
            rc |= mw_waker_wake(b->waker);
        break;
    case LIMIT:
        for (long i = 0; i < b->per; i++) {
            atomic_thread_fence(memory_order_seq_cst);
            if (!atomic_load_explicit(&b->flag, memory_order_relaxed))
                (void)atomic_exchange_explicit(&b->flag, 1,
                                               memory_order_acq_rel);
        }
        break;
    case SYS:
        for (long i = 0; i < b->per; i++)
            rc |= raw_wake(b->raw);
        break;
    case LIMIT_SIGNAL:
        for (long i = 0; i < b->per; i++)
            rc |= limit_signal_wake(b);
        break;
    }
    c1 = bench_thread_cpu_ns();
    if (rc != 0)
        errors++;
    atomic_fetch_add(&b->cpu_ns, c1 - c0);
    atomic_fetch_add(&b->errors, errors);
    return NULL;
}

static void *
consumer(void *arg)
{
    struct burst *b = arg;
    struct mw_event ev[16];
    struct timespec next;

    if (b->v == LIMIT) {
#ifdef PR_SET_TIMERSLACK
        /* Sleep to the microsecond, not Linux's default 50 us slack. */
        (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
        clock_gettime(CLOCK_MONOTONIC, &next);
    }
    for (;;) {
        int n;

        switch (b->v) {
        case LIB:
            n = mw_poll_wait(b->poll, ev, 16, -1);
            if (n == -EINTR)
                continue;
            if (n <= 0) {
                b->consumer_err = n < 0 ? n : -EPROTO;
                return NULL;
            }
            for (int i = 0; i < n; i++) {
                if (ev[i].token == TOKEN && ev[i].flags == MW_EV_READABLE)
                    b->events++;
                else
                    b->foreign++;
            }
            break;
        case LIMIT:
            /* Absolute deadlines: a late wake-up catches up.  On a loaded
             * machine the timer still wakes this thread less often than
             * the period asks; base_events counts the clears. */
            next.tv_nsec += b->clear_every_ns;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
                                   NULL) == EINTR)
                continue;
            if (atomic_load_explicit(&b->flag, memory_order_relaxed)) {
                atomic_store_explicit(&b->flag, 0, memory_order_relaxed);
                atomic_thread_fence(memory_order_seq_cst);
                b->events++;
            }
            break;
        case SYS:
        case LIMIT_SIGNAL:
            n = raw_wait(b->raw);
            if (n < 0) {
                b->consumer_err = n;
                return NULL;
            }
            b->events += n;
            if (b->v == LIMIT_SIGNAL) {
                /* The event is collected (the raw queue needs no read):
                 * clear, then the fence, as the library's wait does. */
                atomic_store_explicit(&b->flag, 0, memory_order_relaxed);
                atomic_thread_fence(memory_order_seq_cst);
            }
            break;
        }
        if (atomic_load_explicit(&b->finished, memory_order_acquire))
            return NULL;
    }
}

struct result {
    double cpu_ns;      /* producer CPU ns per wake */
    double wall_ns;     /* wall ns per wake per producer */
    double period_ns;   /* wall ns between consumer events */
    long wakes;
    long events;
};

static struct result
run(enum variant v, int producers, long per, mw_poll *poll, mw_waker *w,
    struct raw_queue *raw, long clear_every_ns)
{
    static struct burst b;
    pthread_t pt[MAX_PRODUCERS], ct;
    struct result res;
    int64_t t0, t1;
    int rc = 0;

    memset(&b, 0, sizeof(b));
    b.v = v;
    b.producers = producers;
    b.per = per;
    b.poll = poll;
    b.waker = w;
    b.raw = raw;
    b.clear_every_ns = clear_every_ns;
    atomic_init(&b.flag, 0);
    atomic_init(&b.ready, 0);
    atomic_init(&b.go, 0);
    atomic_init(&b.finished, 0);
    atomic_init(&b.errors, 0);
    atomic_init(&b.cpu_ns, 0);

    bench_thread_start(&ct, consumer, &b);
    for (int i = 0; i < producers; i++)
        bench_thread_start(&pt[i], producer, &b);
    while (atomic_load(&b.ready) < producers)
        sched_yield();
    t0 = bench_now_ns();
    atomic_store_explicit(&b.go, 1, memory_order_release);
    for (int i = 0; i < producers; i++)
        bench_thread_join(pt[i]);
    t1 = bench_now_ns();

    /* The last wake: the consumer must see it (or an event after the
     * store of `finished`) and return. */
    atomic_store_explicit(&b.finished, 1, memory_order_release);
    switch (v) {
    case LIB:
        rc = mw_waker_wake(w);
        break;
    case SYS:
        rc = raw_wake(raw);
        break;
    case LIMIT_SIGNAL:
        rc = limit_signal_wake(&b);
        break;
    case LIMIT:
        break;
    }
    if (rc != 0)
        bench_fail("the final wake failed: %s", strerror(-rc));
    bench_thread_join(ct);

    if (b.consumer_err)
        bench_fail("consumer: wait failed: %s", strerror(-b.consumer_err));
    if (atomic_load(&b.errors))
        bench_fail("%ld producers saw a wake fail",
                   (long)atomic_load(&b.errors));
    if (b.foreign)
        bench_fail("the consumer saw %ld events not from the waker",
                   b.foreign);
    res.wakes = (long)producers * per;
    res.events = b.events;
    if (v != LIMIT && (b.events < 1 || b.events > res.wakes + 1))
        bench_fail("%ld wakes gave %ld events", res.wakes, b.events);
    if (v == LIB) {
        /* Leave nothing pending for the next round. */
        struct mw_event ev[4];

        while ((rc = mw_poll_wait(poll, ev, 4, 0)) != 0)
            if (rc < 0 && rc != -EINTR)
                bench_fail("drain: %s", strerror(-rc));
    }
    res.cpu_ns = (double)atomic_load(&b.cpu_ns) / (double)res.wakes;
    res.wall_ns = (double)(t1 - t0) / (double)per;
    res.period_ns = b.events ? (double)(t1 - t0) / (double)b.events : -1;
    return res;
}

/* What the rounds of one producer count measured. */
struct burst_samples {
    double lib[1000], lim[1000], sys[1000], libw[1000], limw[1000];
    double sysw[1000], sig[1000];
    long wakes, events, lim_events, sys_wakes, sys_events, sig_events;
};

static void
burst_rounds(const struct bench_opts *o, int np, long n_sys, mw_poll *poll,
             mw_waker *w, struct raw_queue *raw, struct burst_samples *b)
{
    memset(b, 0, sizeof(*b));
    /* Warm-up, untimed. */
    (void)run(LIB, np, o->iterations / 10 + 1, poll, w, raw, 0);
    for (int r = 0; r < o->rounds; r++) {
        struct result l, m, s = { -1, -1, -1, 0, 0 };
        struct result g = { -1, -1, -1, 0, 0 };

        /* limit_signal runs before the library in odd rounds and after
         * it in even ones, so that neither always inherits the machine's
         * state from the other. */
        if (raw && r % 2 == 1)
            g = run(LIMIT_SIGNAL, np, o->iterations, poll, w, raw, 0);
        l = run(LIB, np, o->iterations, poll, w, raw, 0);
        /* The limit's consumer clears as often as the library's consumer
         * collected (1 us .. 10 ms). */
        m = run(LIMIT, np, o->iterations, poll, w, raw,
                l.period_ns < 1000 ? 1000
                : l.period_ns > 1e7 ? 10000000 : (long)l.period_ns);
        if (raw && r % 2 == 0)
            g = run(LIMIT_SIGNAL, np, o->iterations, poll, w, raw, 0);
        if (raw)
            s = run(SYS, np, n_sys, poll, w, raw, 0);
        b->lib[r] = l.cpu_ns;
        b->libw[r] = l.wall_ns;
        b->lim[r] = m.cpu_ns;
        b->limw[r] = m.wall_ns;
        b->sys[r] = s.cpu_ns;
        b->sysw[r] = s.wall_ns;
        b->sig[r] = g.cpu_ns;
        b->sig_events += g.events;
        b->wakes += l.wakes;
        b->events += l.events;
        b->lim_events += m.events;
        b->sys_wakes += s.wakes;
        b->sys_events += s.events;
    }
}

static void
burst_report(const struct bench_opts *o, int np, long n_sys,
             enum raw_kind kind, bool have_raw, struct burst_samples *bu)
{
    int n = o->rounds;
    double p_lim = bench_paired_ratio(bu->lib, bu->lim, n);
    double p_sys = have_raw ? bench_paired_ratio(bu->lib, bu->sys, n) : -1;
    double p_sig = have_raw ? bench_paired_ratio(bu->lib, bu->sig, n) : -1;
    double sig_med = have_raw ? bench_median(bu->sig, n) : -1;
    double lib_med = bench_median(bu->lib, n);
    double libw_med = bench_median(bu->libw, n);
    double lim_med = bench_median(bu->lim, n);
    double limw_med = bench_median(bu->limw, n);
    double sys_med = have_raw ? bench_median(bu->sys, n) : -1;
    double sysw_med = have_raw ? bench_median(bu->sysw, n) : -1;
    char b[8][32];

    bench_line("pin=none producers=%d base=limit iterations=%ld "
               "rounds=%d lib_ns=%s base_ns=%s ratio=%s paired_ratio=%s "
               "lib_wall_ns=%s base_wall_ns=%s wakes=%ld events=%ld "
               "wakes_per_event=%s base_events=%ld", np, o->iterations,
               n, bench_fmt_ns(b[0], 32, lib_med),
               bench_fmt_ns(b[1], 32, lim_med),
               bench_fmt_ratio(b[2], 32, lib_med, lim_med),
               bench_fmt_ratio(b[6], 32, p_lim, 1),
               bench_fmt_ns(b[3], 32, libw_med),
               bench_fmt_ns(b[4], 32, limw_med), bu->wakes, bu->events,
               bench_fmt_ratio(b[5], 32, (double)bu->wakes,
                               (double)bu->events),
               bu->lim_events);
    bench_line("pin=none producers=%d base=%s iterations=%ld rounds=%d "
               "lib_ns=%s base_ns=%s ratio=%s paired_ratio=%s "
               "lib_wall_ns=%s base_wall_ns=%s base_wakes=%ld "
               "base_events=%ld", np, raw_kind_name(kind), n_sys,
               n, bench_fmt_ns(b[0], 32, lib_med),
               bench_fmt_ns(b[1], 32, sys_med),
               bench_fmt_ratio(b[2], 32, lib_med, sys_med),
               bench_fmt_ratio(b[6], 32, p_sys, 1),
               bench_fmt_ns(b[3], 32, libw_med),
               bench_fmt_ns(b[4], 32, sysw_med), bu->sys_wakes,
               bu->sys_events);
    bench_line("pin=none producers=%d base=limit_signal signal=%s "
               "iterations=%ld rounds=%d lib_ns=%s base_ns=%s ratio=%s "
               "paired_ratio=%s wakes_per_event=%s "
               "base_wakes_per_event=%s", np, raw_kind_name(kind),
               o->iterations, n, bench_fmt_ns(b[0], 32, lib_med),
               bench_fmt_ns(b[1], 32, sig_med),
               bench_fmt_ratio(b[2], 32, lib_med, sig_med),
               bench_fmt_ratio(b[6], 32, p_sig, 1),
               bench_fmt_ratio(b[5], 32, (double)bu->wakes,
                               (double)bu->events),
               bench_fmt_ratio(b[7], 32, (double)bu->wakes,
                               (double)bu->sig_events));
}

int
main(int argc, char **argv)
{
    static const int counts[] = { 1, MAX_PRODUCERS };
    static struct burst_samples bu;
    struct bench_opts o;
    enum raw_kind kind = raw_kind_for_backend();
    struct raw_queue *raw = NULL;
    mw_poll *poll;
    mw_waker *w;
    long n_sys;
    int rc;

    bench_init("burst", argc, argv, &o, DEFAULT_ITERATIONS, PIN_NONE,
               "wakes per producer per round, default 2000000; raw system "
               "calls are N/50");
    if (o.pin != PIN_NONE && o.pin != PIN_ALL)
        bench_fail("bench-burst runs unpinned (five threads, two CPUs)");
    o.pin = PIN_NONE;
    n_sys = o.iterations / SYS_DIVISOR > 0 ? o.iterations / SYS_DIVISOR : 1;
    if ((rc = mw_poll_new(&poll)) != 0 || (rc = mw_waker_new(&w, poll,
                                                             TOKEN)) != 0)
        bench_fail("mw_poll_new/mw_waker_new: %s", strerror(-rc));
    if (kind != RAW_NONE)
        raw = raw_open(kind);

    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        burst_rounds(&o, counts[c], n_sys, poll, w, raw, &bu);
        burst_report(&o, counts[c], n_sys, kind, raw != NULL, &bu);
    }
    raw_close(raw);
    mw_waker_free(w);
    mw_poll_free(poll);
    return 0;
}
