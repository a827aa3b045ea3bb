/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: idle scale.  The ping-pong of bench-pingpong, with 10, 1,000
 * and 10,000 idle pipes registered (MW_READABLE, never written) on the
 * poll of the side that starts each round trip, and the same descriptors
 * in the raw baseline's set.  Figures: ns per round trip for each count,
 * the ratio to the raw baseline, and the ratio to the 10-pipe case.  With
 * epoll and kqueue idle registrations should cost nothing per wait; with
 * poll(2) every wait scans them all.
 *
 * 10,000 pipes need 20,000 descriptors: RLIMIT_NOFILE is raised as far as
 * the hard limit allows, and the counts scaled down (said on each line as
 * scaled_from=) if that is not enough.  Default: both threads on one CPU
 * (pin=same), the steadiest placement on a virtual machine.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-common.h"

/* Round trips per round.  poll(2) scans every idle descriptor on every
 * wait (about 0.1 us each), so its count is smaller to keep the run to a
 * minute or so; the per-round-trip figures stay comparable. */
#define DEFAULT_ITERATIONS 5000L
#define DEFAULT_ITERATIONS_POLL 500L
#define RESERVED_FDS 64              /* stdio, polls, wakers, baselines */

static void
nonblock_cloexec(int fd)
{
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0
        || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        bench_fail("fcntl: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
    static const long wanted[] = { 10, 1000, 10000 };
    enum { NCOUNTS = sizeof(wanted) / sizeof(wanted[0]) };
    struct bench_opts o;
    enum raw_kind kind = raw_kind_for_backend();
    long limit, maxpipes, counts[NCOUNTS];
    double lib10 = -1, base10 = -1;
    int (*pipes)[2];
    enum bench_pin pins[PIN_MODES];
    int npins = 0;

    bench_init("idle", argc, argv, &o,
               !util_caps()->kernel_keeps_set
               ? DEFAULT_ITERATIONS_POLL : DEFAULT_ITERATIONS, PIN_SAME,
               "round trips per round for each pipe count, default 5000 "
               "(500 with the poll(2) poller)");
    if (o.pin == PIN_ALL) {
        for (int m = 0; m < PIN_MODES; m++)
            pins[npins++] = (enum bench_pin)m;
    } else {
        pins[npins++] = o.pin;
    }

    limit = bench_raise_nofile(2 * wanted[NCOUNTS - 1] + RESERVED_FDS);
    maxpipes = (limit - RESERVED_FDS) / 2;
    if (maxpipes < 1)
        bench_fail("RLIMIT_NOFILE is %ld: no room for idle pipes", limit);
    for (int i = 0; i < NCOUNTS; i++)
        counts[i] = wanted[i] < maxpipes ? wanted[i] : maxpipes;

    pipes = calloc((size_t)counts[NCOUNTS - 1], sizeof(*pipes));
    if (!pipes)
        bench_fail("out of memory");
    for (long i = 0; i < counts[NCOUNTS - 1]; i++) {
        if (pipe(pipes[i]) < 0)
            bench_fail("pipe %ld: %s", i, strerror(errno));
        nonblock_cloexec(pipes[i][0]);
        nonblock_cloexec(pipes[i][1]);
    }

    for (int pi = 0; pi < npins; pi++) {
        enum bench_pin pin = pins[pi];
        const char *why;
        int cpu_a, cpu_b;

        if (!bench_pin_cpus(pin, &cpu_a, &cpu_b, &why)) {
            bench_line("pin=%s skipped=%s", bench_pin_name(pin), why);
            continue;
        }
        for (int c = 0; c < NCOUNTS; c++) {
            struct pingpong *pp = pingpong_new(kind);
            double lib[1000], base[1000], lib_med, base_med, paired;
            char b[6][32], scaled[48] = "";

            for (long i = 0; i < counts[c]; i++)
                pingpong_add_idle(pp, pipes[i][0]);
            for (int r = 0; r < o.rounds; r++) {
                bool raw_first = r % 2;

                if (raw_first)
                    base[r] = pingpong_run(pp, true, o.iterations, cpu_a,
                                           cpu_b);
                lib[r] = pingpong_run(pp, false, o.iterations, cpu_a, cpu_b);
                if (!raw_first)
                    base[r] = pingpong_run(pp, true, o.iterations, cpu_a,
                                           cpu_b);
            }
            pingpong_free(pp);
            paired = kind == RAW_NONE ? -1
                     : bench_paired_ratio(lib, base, o.rounds);
            lib_med = bench_median(lib, o.rounds);
            base_med = kind == RAW_NONE ? -1 : bench_median(base, o.rounds);
            if (c == 0) {
                lib10 = lib_med;
                base10 = base_med;
            }
            if (counts[c] != wanted[c])
                snprintf(scaled, sizeof(scaled),
                         " scaled_from=%ld nofile=%ld", wanted[c], limit);
            bench_line("pin=%s base=%s pipes=%ld iterations=%ld rounds=%d "
                       "lib_ns=%s base_ns=%s ratio=%s paired_ratio=%s "
                       "lib_vs_10=%s base_vs_10=%s%s", bench_pin_name(pin),
                       raw_kind_name(kind), counts[c], o.iterations,
                       o.rounds, bench_fmt_ns(b[0], 32, lib_med),
                       bench_fmt_ns(b[1], 32, base_med),
                       bench_fmt_ratio(b[2], 32, lib_med, base_med),
                       bench_fmt_ratio(b[5], 32, paired, 1),
                       bench_fmt_ratio(b[3], 32, lib_med, lib10),
                       bench_fmt_ratio(b[4], 32, base_med, base10),
                       scaled);
        }
    }
    for (long i = 0; i < counts[NCOUNTS - 1]; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    free(pipes);
    return 0;
}
