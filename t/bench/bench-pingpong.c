/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: ping-pong latency.  Two threads, each with its own mw_poll and
 * mw_waker, wake each other N times; the figure is ns per round trip (two
 * wakes and two waits).  The baseline is the same exchange written with
 * the raw system calls of this build's poller (epoll_wait + an eventfd
 * write on epoll builds, kevent + EVFILT_USER on kqueue builds, poll(2) +
 * a pipe on poll builds), run in the same process, alternating with the
 * library round by round.  Each pin mode (both threads on one CPU, one
 * thread per CPU, not pinned) gets its own line, because a virtual
 * machine's cross-CPU wake-ups make unpinned figures bimodal.
 *
 * Every round checks that each side saw exactly one event per wake of its
 * peer and nothing else; a lost wake hangs until the watchdog exits 3.
 */
#include "config.h"

#include <stdio.h>

#include "bench-common.h"

#define DEFAULT_ITERATIONS 20000

static void
run_mode(struct pingpong *pp, enum raw_kind kind,
         const struct bench_opts *o, enum bench_pin pin)
{
    double lib[1000], base[1000];
    char b1[32], b2[32], b3[32], b4[32];
    const char *why;
    int cpu_a, cpu_b;
    double lib_med, base_med, paired;

    if (!bench_pin_cpus(pin, &cpu_a, &cpu_b, &why)) {
        bench_line("pin=%s base=%s iterations=%ld rounds=%d lib_ns=n/a "
                   "base_ns=n/a ratio=n/a paired_ratio=n/a skipped=%s",
                   bench_pin_name(pin), raw_kind_name(kind), o->iterations,
                   o->rounds, why);
        return;
    }
    /* Alternate which goes first, so that a drift of the machine's speed
     * within a pair of rounds favours neither. */
    for (int r = 0; r < o->rounds; r++) {
        if (r % 2 == 0) {
            lib[r] = pingpong_run(pp, false, o->iterations, cpu_a, cpu_b);
            base[r] = pingpong_run(pp, true, o->iterations, cpu_a, cpu_b);
        } else {
            base[r] = pingpong_run(pp, true, o->iterations, cpu_a, cpu_b);
            lib[r] = pingpong_run(pp, false, o->iterations, cpu_a, cpu_b);
        }
    }
    paired = kind == RAW_NONE ? -1
             : bench_paired_ratio(lib, base, o->rounds);
    lib_med = bench_median(lib, o->rounds);
    base_med = kind == RAW_NONE ? -1 : bench_median(base, o->rounds);
    bench_line("pin=%s base=%s iterations=%ld rounds=%d lib_ns=%s "
               "base_ns=%s ratio=%s paired_ratio=%s", bench_pin_name(pin),
               raw_kind_name(kind), o->iterations, o->rounds,
               bench_fmt_ns(b1, sizeof(b1), lib_med),
               bench_fmt_ns(b2, sizeof(b2), base_med),
               bench_fmt_ratio(b3, sizeof(b3), lib_med, base_med),
               bench_fmt_ratio(b4, sizeof(b4), paired, 1));
}

int
main(int argc, char **argv)
{
    struct bench_opts o;
    enum raw_kind kind = raw_kind_for_backend();
    struct pingpong *pp;

    bench_init("pingpong", argc, argv, &o, DEFAULT_ITERATIONS, PIN_ALL,
               "round trips per round (default 20000)");
    pp = pingpong_new(kind);
    if (o.pin == PIN_ALL) {
        for (int m = 0; m < PIN_MODES; m++)
            run_mode(pp, kind, &o, (enum bench_pin)m);
    } else {
        run_mode(pp, kind, &o, o.pin);
    }
    pingpong_free(pp);
    return 0;
}
