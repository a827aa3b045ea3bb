/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: a pipeline, as users write one.  A producer thread pushes N
 * messages (default 1,000,000) into a lock-free single-producer ring and
 * wakes the consumer after each push; the consumer waits, then drains the
 * ring until it is empty, and waits again.  The library's variant wakes
 * an mw_waker and waits in mw_poll_wait; the baseline, in the same
 * process and the same rounds, is the same protocol written inline: a
 * pending flag behind a fence, and the raw wake-up object of the build's
 * poller (bench-common's raw_queue: an eventfd in an epoll set, say).
 * A third variant, "call", is the inline protocol behind a function
 * call that the compiler cannot inline, the shape of any library's wake:
 * on one CPU the scheduler turns the nanosecond of a call per message into
 * microseconds of extra round trips (doc/PERFORMANCE.md, 6.5), and this
 * variant shows how much of the library's figure that is.
 * Figures: ns per message for each, the library's ratio to the inline
 * protocol (the target is at most 1.2) and to the call, the consumer's
 * waits per message for each (every wait that sleeps costs the producer a
 * system call to end it), and the share of those waits that found only a
 * short batch (SHORT messages or fewer) when it ended.
 */
#include "config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-common.h"

#define RING 1024u                   /* a power of two */
#define DEFAULT_MESSAGES 1000000L
#define SHORT 8                      /* a drain of this many or fewer */

struct ring {
    _Alignas(64) atomic_ulong head;  /* written by the producer */
    _Alignas(64) atomic_ulong tail;  /* written by the consumer */
    _Alignas(64) unsigned long slot[RING];
};

enum variant { VAR_LIB, VAR_RAW, VAR_CALL, VARIANTS };

static const char *const variant_name[VARIANTS] = { "lib", "raw", "call" };

/* What one variant's run shares between its two threads. */
struct run {
    struct ring ring;
    long n;
    enum variant var;
    int cpu_producer;
    /* library */
    mw_waker *waker;
    /* baseline: the inline protocol */
    _Alignas(64) atomic_int pending;
    struct raw_queue *q;
};

static void
push(struct ring *r, unsigned long v)
{
    unsigned long h = atomic_load_explicit(&r->head, memory_order_relaxed);

    while (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= RING)
        sched_yield();
    r->slot[h % RING] = v;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* Take everything in the ring; returns how many, checking the order. */
static long
drain(struct ring *r, unsigned long *expect)
{
    unsigned long t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned long h = atomic_load_explicit(&r->head, memory_order_acquire);
    long got = 0;

    for (; t != h; t++, got++) {
        if (r->slot[t % RING] != *expect)
            bench_fail("message %lu out of order (expected %lu)",
                       r->slot[t % RING], *expect);
        (*expect)++;
    }
    atomic_store_explicit(&r->tail, t, memory_order_release);
    return got;
}

/* The inline wake: the pending-flag protocol with no library around it. */
static void
inline_wake(struct run *run)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&run->pending, memory_order_relaxed))
        return;
    if (atomic_exchange_explicit(&run->pending, 1, memory_order_acq_rel))
        return;
    if (raw_wake(run->q) < 0)
        bench_fail("raw wake failed");
}

/* The same wake, out of line, in the library's shape: called through a
 * volatile pointer (no compiler can inline it) as a shared library's
 * function is called through the GOT, with the fence the library uses
 * on x86-64 (lib/core.h), and the signalling half in another
 * function. */
static void
called_wake_signal(struct run *run)
{
    if (atomic_exchange_explicit(&run->pending, 1, memory_order_acq_rel))
        return;
    if (raw_wake(run->q) < 0)
        bench_fail("raw wake failed");
}

static void (*volatile called_wake_signal_ptr)(struct run *) =
    called_wake_signal;

static int
called_wake(struct run *run)
{
    if (!run)
        return -1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
    if (atomic_load_explicit(&run->pending, memory_order_relaxed))
        return 0;
    called_wake_signal_ptr(run);
    return 0;
}

static int (*volatile called_wake_ptr)(struct run *) = called_wake;

static void *
producer(void *arg)
{
    struct run *run = arg;

    if (run->cpu_producer >= 0)
        bench_pin_self(run->cpu_producer);
    for (long i = 1; i <= run->n; i++) {
        push(&run->ring, (unsigned long)i);
        if (run->var == VAR_RAW) {
            inline_wake(run);
        } else if (run->var == VAR_CALL) {
            if (called_wake_ptr(run) != 0)
                bench_fail("called wake failed");
        } else if (mw_waker_wake(run->waker) != 0) {
            bench_fail("mw_waker_wake failed");
        }
    }
    return NULL;
}

/* One run of n messages; returns ns per message, and adds the consumer's
 * waits to *waits and those that ended with SHORT messages or fewer in
 * the ring to *short_waits. */
static double
run_once(struct run *run, mw_poll *p, int cpu_a, int cpu_b, long *waits,
         long *short_waits)
{
    unsigned long expect = 1;
    bool waited = false;
    long got = 0;
    int64_t t0;
    pthread_t t;

    atomic_store(&run->ring.head, 0);
    atomic_store(&run->ring.tail, 0);
    atomic_store(&run->pending, 0);
    run->cpu_producer = cpu_b;
    if (cpu_a >= 0)
        bench_pin_self(cpu_a);
    t0 = bench_now_ns();
    bench_thread_start(&t, producer, run);
    while (got < run->n) {
        long batch = drain(&run->ring, &expect);

        if (waited && batch <= SHORT)
            (*short_waits)++;
        got += batch;
        if (got >= run->n)
            break;
        (*waits)++;
        waited = true;
        if (run->var != VAR_LIB) {
            if (raw_wait(run->q) < 1)
                bench_fail("raw wait failed");
            atomic_store_explicit(&run->pending, 0, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst);
        } else {
            struct mw_event ev[4];
            int k = mw_poll_wait(p, ev, 4, -1);

            if (k != 1 || ev[0].token != 1)
                bench_fail("mw_poll_wait returned %d", k);
        }
    }
    bench_thread_join(t);
    if (cpu_a >= 0)
        bench_pin_self(-1);
    return (double)(bench_now_ns() - t0) / (double)run->n;
}

int
main(int argc, char **argv)
{
    enum raw_kind kind = raw_kind_for_backend();
    enum bench_pin pins[PIN_MODES];
    struct bench_opts o;
    struct run *run;
    mw_poll *p;
    int npins = 0;

    bench_init("pipeline", argc, argv, &o, DEFAULT_MESSAGES, PIN_ALL,
               "messages per round, default 1000000");
    if (o.pin == PIN_ALL)
        for (int m = 0; m < PIN_MODES; m++)
            pins[npins++] = (enum bench_pin)m;
    else
        pins[npins++] = o.pin;
    run = aligned_alloc(64, (sizeof(*run) + 63) / 64 * 64);
    if (!run)
        bench_fail("out of memory");
    run->n = o.iterations;
    if (mw_poll_new(&p) != 0 || mw_waker_new(&run->waker, p, 1) != 0)
        bench_fail("mw_poll_new or mw_waker_new failed");
    run->q = kind != RAW_NONE ? raw_open(kind) : NULL;
    for (int i = 0; i < npins; i++) {
        double *ns[VARIANTS];
        long waits[VARIANTS] = { 0 }, shorts[VARIANTS] = { 0 };
        int cpu_a = -1, cpu_b = -1;
        int nvar = run->q ? VARIANTS : 1;
        const char *why = NULL;
        char b[VARIANTS][32], r1[32], r2[32];
        double msgs = (double)run->n * o.rounds;

        if (pins[i] != PIN_NONE
            && !bench_pin_cpus(pins[i], &cpu_a, &cpu_b, &why)) {
            bench_line("pin=%s skipped=%s", bench_pin_name(pins[i]), why);
            continue;
        }
        ns[0] = malloc(sizeof(double) * VARIANTS * (size_t)o.rounds);
        if (!ns[0])
            bench_fail("out of memory");
        for (int v = 1; v < VARIANTS; v++)
            ns[v] = ns[0] + (size_t)v * (size_t)o.rounds;
        /* Each round starts with the next variant: which one runs first
         * (after the thread that ran the round before) changes the
         * figures on one CPU by more than the differences measured. */
        for (int r = 0; r < o.rounds; r++)
            for (int k = 0; k < VARIANTS; k++) {
                int v = (r + k) % VARIANTS;

                run->var = (enum variant)v;
                ns[v][r] = v < nvar ? run_once(run, p, cpu_a, cpu_b,
                                               &waits[v], &shorts[v])
                                    : -1;
            }
        /* Paired first: bench_median sorts its array. */
        bench_fmt_ratio(r1, sizeof r1,
                        run->q ? bench_paired_ratio(ns[VAR_LIB], ns[VAR_RAW],
                                                    o.rounds) : -1, 1.0);
        bench_fmt_ratio(r2, sizeof r2,
                        run->q ? bench_paired_ratio(ns[VAR_LIB], ns[VAR_CALL],
                                                    o.rounds) : -1, 1.0);
        for (int v = 0; v < VARIANTS; v++)
            bench_fmt_ns(b[v], sizeof b[v],
                         v < nvar ? bench_median(ns[v], o.rounds) : -1);
        bench_line("pin=%s messages=%ld lib_ns=%s %s_ns=%s call_ns=%s "
                   "ratio=%s ratio_to_call=%s",
                   bench_pin_name(pins[i]), run->n, b[VAR_LIB],
                   raw_kind_name(kind), b[VAR_RAW], b[VAR_CALL], r1, r2);
        for (int v = 0; v < nvar; v++)
            bench_line("pin=%s variant=%s waits_per_msg=%.4f "
                       "short_waits=%.2f",
                       bench_pin_name(pins[i]), variant_name[v],
                       (double)waits[v] / msgs,
                       waits[v] ? (double)shorts[v] / (double)waits[v] : 0.0);
        free(ns[0]);
    }
    if (run->q)
        raw_close(run->q);
    mw_waker_free(run->waker);
    mw_poll_free(p);
    free(run);
    return 0;
}
