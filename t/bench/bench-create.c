/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: the cost of making wakers as a poll fills up.  N wakers
 * (default 1,000,000) are made on one poll, the time of each block of
 * 1,000 is taken, and the line reports the ns per waker of the first and
 * of the last block, and their ratio: a waker makes no system call and
 * finds its place in constant time, so the ratio should stay near 1 (the
 * target is at most 1.2) however many wakers the poll holds.  The same
 * process's baseline is the allocation alone (posix_memalign of a waker's
 * size and alignment, in the same blocks), the part of mw_waker_new that
 * the C library does.  Each round also frees them all and reports the ns
 * per mw_waker_free.  Each fill begins with an untimed block made and
 * freed: the first allocations after a million frees are where glibc
 * consolidates its free lists, tens of microseconds each, for the
 * library and the baseline alike.  And so that the last blocks do not
 * pay for page faults the first ones do not (memory freed by the round
 * before is reused first), glibc is told to keep freed memory, and an
 * untimed round comes first.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
# include <malloc.h>
#endif

#include "bench-common.h"

#define BLOCK 1000L
#define DEFAULT_WAKERS 1000000L

/* ns per item of the first and the last block of n items made by make(),
 * and of freeing them all. */
struct fill {
    double first, last, free_each;
};

static struct fill
fill_wakers(mw_poll *p, mw_waker **w, long n)
{
    struct fill f = { -1, -1, -1 };
    int64_t t0, t1;

    for (long j = 0; j < BLOCK; j++)
        if (mw_waker_new(&w[j], p, (mw_token)j) != 0)
            bench_fail("mw_waker_new failed at %ld", j);
    for (long j = 0; j < BLOCK; j++)
        mw_waker_free(w[j]);
    for (long i = 0; i < n; i += BLOCK) {
        t0 = bench_now_ns();
        for (long j = i; j < i + BLOCK && j < n; j++)
            if (mw_waker_new(&w[j], p, (mw_token)j) != 0)
                bench_fail("mw_waker_new failed at %ld", j);
        t1 = bench_now_ns();
        if (i == 0)
            f.first = (double)(t1 - t0) / BLOCK;
        f.last = (double)(t1 - t0) / BLOCK;
    }
    t0 = bench_now_ns();
    for (long j = 0; j < n; j++)
        mw_waker_free(w[j]);
    f.free_each = (double)(bench_now_ns() - t0) / (double)n;
    return f;
}

static struct fill
fill_allocs(void **m, long n)
{
    struct fill f = { -1, -1, -1 };
    int64_t t0, t1;

    for (long j = 0; j < BLOCK; j++)
        if (posix_memalign(&m[j], 64, 64) != 0)
            bench_fail("posix_memalign failed at %ld", j);
    for (long j = 0; j < BLOCK; j++)
        free(m[j]);
    for (long i = 0; i < n; i += BLOCK) {
        t0 = bench_now_ns();
        for (long j = i; j < i + BLOCK && j < n; j++)
            if (posix_memalign(&m[j], 64, 64) != 0)
                bench_fail("posix_memalign failed at %ld", j);
        t1 = bench_now_ns();
        if (i == 0)
            f.first = (double)(t1 - t0) / BLOCK;
        f.last = (double)(t1 - t0) / BLOCK;
    }
    t0 = bench_now_ns();
    for (long j = 0; j < n; j++)
        free(m[j]);
    f.free_each = (double)(bench_now_ns() - t0) / (double)n;
    return f;
}

int
main(int argc, char **argv)
{
    struct bench_opts o;
    mw_poll *p;
    mw_waker **w;
    void **m;
    double *lf, *ll, *lfree, *af, *al;
    char b1[32], b2[32], b3[32], b4[32], b5[32], r1[32];
    long n;

    bench_init("create", argc, argv, &o, DEFAULT_WAKERS, PIN_NONE,
               "wakers made on one poll per round, default 1000000");
    n = o.iterations < 2 * BLOCK ? 2 * BLOCK : o.iterations;
    w = malloc((size_t)n * sizeof(*w));
    m = malloc((size_t)n * sizeof(*m));
    lf = malloc((size_t)o.rounds * sizeof(double) * 5);
    if (!w || !m || !lf)
        bench_fail("out of memory");
    ll = lf + o.rounds;
    lfree = ll + o.rounds;
    af = lfree + o.rounds;
    al = af + o.rounds;
    if (mw_poll_new(&p) != 0)
        bench_fail("mw_poll_new failed");
#ifdef __GLIBC__
    (void)mallopt(M_TRIM_THRESHOLD, INT_MAX);
    (void)mallopt(M_MMAP_THRESHOLD, INT_MAX);
#endif
    (void)fill_wakers(p, w, n);
    (void)fill_allocs(m, n);
    for (int r = 0; r < o.rounds; r++) {
        struct fill lib = fill_wakers(p, w, n);
        struct fill raw = fill_allocs(m, n);

        lf[r] = lib.first;
        ll[r] = lib.last;
        lfree[r] = lib.free_each;
        af[r] = raw.first;
        al[r] = raw.last;
    }
    mw_poll_free(p);
    {
        double last_to_first = bench_paired_ratio(ll, lf, o.rounds);

        bench_line("wakers=%ld first_ns=%s last_ns=%s last_to_first=%s "
                   "free_ns=%s alloc_first_ns=%s alloc_last_ns=%s",
                   n, bench_fmt_ns(b1, sizeof b1, bench_median(lf, o.rounds)),
                   bench_fmt_ns(b2, sizeof b2, bench_median(ll, o.rounds)),
                   bench_fmt_ratio(r1, sizeof r1, last_to_first, 1.0),
                   bench_fmt_ns(b3, sizeof b3,
                                bench_median(lfree, o.rounds)),
                   bench_fmt_ns(b4, sizeof b4, bench_median(af, o.rounds)),
                   bench_fmt_ns(b5, sizeof b5, bench_median(al, o.rounds)));
    }
    free(lf);
    free(m);
    free(w);
    return 0;
}
