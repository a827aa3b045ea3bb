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
 * Figures: ns per message for each, their ratio (the target is at most
 * 1.2), and the consumer's waits per message for each: every wait that
 * sleeps costs the producer a system call to end it.
 */
#include "config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-common.h"

#define RING 1024u                   /* a power of two */
#define DEFAULT_MESSAGES 1000000L

struct ring {
    _Alignas(64) atomic_ulong head;  /* written by the producer */
    _Alignas(64) atomic_ulong tail;  /* written by the consumer */
    _Alignas(64) unsigned long slot[RING];
};

/* What one variant's run shares between its two threads. */
struct run {
    struct ring ring;
    long n;
    bool raw;
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

static void *
producer(void *arg)
{
    struct run *run = arg;

    if (run->cpu_producer >= 0)
        bench_pin_self(run->cpu_producer);
    for (long i = 1; i <= run->n; i++) {
        push(&run->ring, (unsigned long)i);
        if (run->raw)
            inline_wake(run);
        else if (mw_waker_wake(run->waker) != 0)
            bench_fail("mw_waker_wake failed");
    }
    return NULL;
}

/* One run of n messages; returns ns per message, and the consumer's waits
 * in *waits. */
static double
run_once(struct run *run, mw_poll *p, int cpu_a, int cpu_b, long *waits)
{
    unsigned long expect = 1;
    long got = 0;
    int64_t t0;
    pthread_t t;

    atomic_store(&run->ring.head, 0);
    atomic_store(&run->ring.tail, 0);
    atomic_store(&run->pending, 0);
    run->cpu_producer = cpu_b;
    *waits = 0;
    if (cpu_a >= 0)
        bench_pin_self(cpu_a);
    t0 = bench_now_ns();
    bench_thread_start(&t, producer, run);
    while (got < run->n) {
        got += drain(&run->ring, &expect);
        if (got >= run->n)
            break;
        (*waits)++;
        if (run->raw) {
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
        double *lib = malloc(sizeof(double) * 2 * (size_t)o.rounds);
        double *raw = lib + o.rounds;
        long lw = 0, rw = 0, w;
        double ratio;
        int cpu_a = -1, cpu_b = -1;
        const char *why = NULL;
        char b1[32], b2[32], r1[32];

        if (!lib)
            bench_fail("out of memory");
        if (pins[i] != PIN_NONE
            && !bench_pin_cpus(pins[i], &cpu_a, &cpu_b, &why)) {
            bench_line("pin=%s skipped=%s", bench_pin_name(pins[i]), why);
            free(lib);
            continue;
        }
        for (int r = 0; r < o.rounds; r++) {
            run->raw = false;
            lib[r] = run_once(run, p, cpu_a, cpu_b, &w);
            lw += w;
            raw[r] = -1;
            if (run->q) {
                run->raw = true;
                raw[r] = run_once(run, p, cpu_a, cpu_b, &w);
                rw += w;
            }
        }
        /* Paired first: bench_median sorts its array. */
        ratio = run->q ? bench_paired_ratio(lib, raw, o.rounds) : -1;
        bench_line("pin=%s messages=%ld lib_ns=%s %s_ns=%s ratio=%s "
                   "lib_waits_per_msg=%.4f raw_waits_per_msg=%.4f",
                   bench_pin_name(pins[i]), run->n,
                   bench_fmt_ns(b1, sizeof b1, bench_median(lib, o.rounds)),
                   raw_kind_name(kind),
                   bench_fmt_ns(b2, sizeof b2,
                                run->q ? bench_median(raw, o.rounds) : -1),
                   bench_fmt_ratio(r1, sizeof r1, ratio, 1.0),
                   (double)lw / ((double)run->n * o.rounds),
                   run->q ? (double)rw / ((double)run->n * o.rounds) : -1.0);
        free(lib);
    }
    if (run->q)
        raw_close(run->q);
    mw_waker_free(run->waker);
    mw_poll_free(p);
    free(run);
    return 0;
}
