/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: how late a timed wait ends.  For timeouts of 50 us, 250 us
 * and 1 ms, N waits (default 200) of mw_poll_wait_ts on a poll with
 * nothing ready, each against CLOCK_MONOTONIC from before the call to
 * after it, alternate with N waits of the system's own call on a raw
 * queue of the build's kind (bench-common's raw_wait_timed: epoll_pwait2,
 * kevent or ppoll where they exist), in the same process.  The figures
 * are the median and the 99th percentile of the oversleep (the time past
 * the timeout) of each, and the median's ratio and difference.  The
 * target: the library's median oversleep is at most 1.2 times the raw
 * call's, or at most 20 us more, whichever allows more.  A wait that
 * returns 0 before its timeout fails the benchmark (make check's
 * t/wait-ts checks that promise; here it would make the figure a lie).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench-common.h"

#define DEFAULT_WAITS 200L

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The p-th percentile (0 to 100) of n values, nearest rank (sorts v). */
static double
percentile(double *v, long n, double p)
{
    long rank;

    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    rank = (long)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

/* One wait's oversleep in ns; fails the benchmark on anything but 0 at
 * or after the timeout. */
static double
lib_oversleep(mw_poll *p, int64_t timeout_ns)
{
    struct mw_event ev[4];
    struct timespec ts = { (time_t)(timeout_ns / 1000000000),
                           (long)(timeout_ns % 1000000000) };
    int64_t t0 = bench_now_ns(), dt;
    int n = mw_poll_wait_ts(p, ev, 4, &ts);

    dt = bench_now_ns() - t0;
    if (n != 0)
        bench_fail("mw_poll_wait_ts on an empty poll returned %d", n);
    if (dt < timeout_ns)
        bench_fail("mw_poll_wait_ts returned 0 after %lld ns, before its "
                   "timeout of %lld ns", (long long)dt,
                   (long long)timeout_ns);
    return (double)(dt - timeout_ns);
}

static double
raw_oversleep(struct raw_queue *q, int64_t timeout_ns)
{
    int64_t t0 = bench_now_ns(), dt;
    int n = raw_wait_timed(q, timeout_ns);

    dt = bench_now_ns() - t0;
    if (n != 0)
        bench_fail("the raw timed wait on an empty queue returned %d", n);
    return (double)(dt - timeout_ns);
}

int
main(int argc, char **argv)
{
    static const int64_t timeouts[] = { 50000, 250000, 1000000 };
    enum raw_kind kind = raw_kind_for_backend();
    struct raw_queue *q;
    struct bench_opts o;
    double *lib, *raw;
    long n;
    mw_poll *p;

    bench_init("timeout", argc, argv, &o, DEFAULT_WAITS, PIN_NONE,
               "waits per timeout and round, default 200");
    n = o.iterations * o.rounds;
    lib = malloc(sizeof(double) * 2 * (size_t)n);
    if (!lib)
        bench_fail("out of memory");
    raw = lib + n;
    if (mw_poll_new(&p) != 0)
        bench_fail("mw_poll_new failed");
    q = kind != RAW_NONE ? raw_open(kind) : NULL;
    for (size_t t = 0; t < sizeof(timeouts) / sizeof(timeouts[0]); t++) {
        int64_t timeout = timeouts[t];
        double lib_med, raw_med = -1, lib_p99, raw_p99 = -1, limit;
        char b[4][32], r[32];

        /* Alternating, so that both see the same machine. */
        for (long i = 0; i < n; i++) {
            if (i % 2 == 0 || !q) {
                lib[i] = lib_oversleep(p, timeout);
                raw[i] = q ? raw_oversleep(q, timeout) : -1;
            } else {
                raw[i] = raw_oversleep(q, timeout);
                lib[i] = lib_oversleep(p, timeout);
            }
        }
        lib_p99 = percentile(lib, n, 99);
        lib_med = percentile(lib, n, 50);
        if (q) {
            raw_p99 = percentile(raw, n, 99);
            raw_med = percentile(raw, n, 50);
        }
        limit = raw_med * 1.2 > raw_med + 20000 ? raw_med * 1.2
                                                 : raw_med + 20000;
        bench_line("timeout_us=%lld waits=%ld lib_oversleep_us=%s "
                   "lib_p99_us=%s %s_oversleep_us=%s %s_p99_us=%s "
                   "ratio=%s diff_us=%.1f target_met=%s",
                   (long long)timeout / 1000, n,
                   bench_fmt_ns(b[0], sizeof b[0], lib_med / 1000),
                   bench_fmt_ns(b[1], sizeof b[1], lib_p99 / 1000),
                   raw_timed_call_name(kind),
                   bench_fmt_ns(b[2], sizeof b[2],
                                q ? raw_med / 1000 : -1),
                   raw_timed_call_name(kind),
                   bench_fmt_ns(b[3], sizeof b[3],
                                q ? raw_p99 / 1000 : -1),
                   bench_fmt_ratio(r, sizeof r, lib_med, raw_med),
                   q ? (lib_med - raw_med) / 1000 : -1.0,
                   !q ? "n/a" : lib_med <= limit ? "yes" : "no");
    }
    if (q)
        raw_close(q);
    mw_poll_free(p);
    free(lib);
    return 0;
}
