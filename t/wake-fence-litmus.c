/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_wake(3)): after a wake returns 0, "the current or the
 * next mw_poll_wait(3) on the poll returns the waker's event".  The wake
 * that finds the pending flag set makes no system call, so that promise
 * rests on the two fences of the pending-flag protocol (waker.c, at the
 * top): the producer's in mw__pending_seen() and the consumer's in
 * mw__pending_clear() (lib/core.h).  A stress test of the whole API
 * meets the window between them too seldom to notice one of them gone,
 * so this test runs the two primitives themselves, on atomics of its own,
 * as the store-buffering litmus test they exist to defeat:
 *
 *   P (the wake):     X = i;  mw__pending_seen(&Y) -> r1
 *   C (the wait):     mw__pending_clear(&Y);  X -> r2
 *
 * with Y = 1 (pending) at the start of round i.  r1 true means the wake
 * saw the flag still set and merged into an event the wait had already
 * collected; r2 < i means the wait's caller did not see the wake's data:
 * both at once is the lost wake, and the fences forbid it.  A control
 * runs the same rounds with each fence replaced by a compiler barrier,
 * which the hardware is free to reorder around (on x86-64 it does, in
 * its store buffer): it shows that the harness can see the outcome at
 * all, and is reported, not asserted, since a machine may happen not to
 * show it.
 *
 * The two threads run on two different CPUs, pinned where the system
 * lets a thread choose, and meet before every round on a spin barrier so
 * that their accesses overlap.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

#include "tap.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define UNDER_SANITIZER 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer)
#  define UNDER_SANITIZER 1
# endif
#endif
#ifndef UNDER_SANITIZER
# define UNDER_SANITIZER 0
#endif

/* Each on a cache line of its own, as a flag and the data it guards
 * usually are; the round counters apart from both. */
struct line {
    _Alignas(64) atomic_long v;
};

static struct line x;           /* the wake's data: the round number */
static _Alignas(64) atomic_int y;       /* the pending flag */
static struct line p_arm, c_arm, p_done;

#define CHUNK 100000L
/* A bound on the work, not a timing assertion: at most this long for the
 * fenced rounds, a quarter of it for the control. */
#define BUDGET_MS 8000

static long rounds;
static bool fenced;
static long both_stale, p_stale, c_stale;
static int cpus[2];
static atomic_int pinned;

static void
spin_until(struct line *a, long want)
{
    while (atomic_load_explicit(&a->v, memory_order_acquire) < want)
        ;
}

/* Put the calling thread on cpu, if the system lets it choose. */
static void
pin(int cpu)
{
#if defined(__linux__) && defined(CPU_SET)
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0)
        atomic_fetch_add(&pinned, 1);
#else
    (void)cpu;
#endif
}

/* A short delay that changes from round to round, so that over the run
 * the two threads' accesses meet at every offset of a few cycles. */
static void
skew(long i)
{
    for (volatile long k = (i * 7) & 7; k > 0; k--)
        ;
}

static void *
producer(void *arg)
{
    (void)arg;
    pin(cpus[0]);
    for (long i = 1; i <= rounds; i++) {
        bool r1;

        atomic_store_explicit(&p_arm.v, i, memory_order_release);
        spin_until(&c_arm, i);
        if (i & 8)
            skew(i);
        atomic_store_explicit(&x.v, i, memory_order_relaxed);
        if (fenced) {
            r1 = mw__pending_seen(&y);
        } else {
            atomic_signal_fence(memory_order_seq_cst);
            r1 = atomic_load_explicit(&y, memory_order_relaxed) != 0;
        }
        if (r1)
            p_stale++;
        /* The round is over for P, with r1 in the sign: only then may C
         * set the flag again, or a late load here could read the next
         * round's 1 and count a stale flag that was not. */
        atomic_store_explicit(&p_done.v, r1 ? -i : i, memory_order_release);
    }
    return NULL;
}

static void *
consumer(void *arg)
{
    (void)arg;
    pin(cpus[1]);
    for (long i = 1; i <= rounds; i++) {
        long r2, done;

        atomic_store_explicit(&y, 1, memory_order_relaxed);
        atomic_store_explicit(&c_arm.v, i, memory_order_release);
        spin_until(&p_arm, i);
        if (!(i & 8))
            skew(i);
        if (fenced) {
            mw__pending_clear(&y);
        } else {
            atomic_store_explicit(&y, 0, memory_order_relaxed);
            atomic_signal_fence(memory_order_seq_cst);
        }
        r2 = atomic_load_explicit(&x.v, memory_order_relaxed);
        if (r2 < i)
            c_stale++;
        /* Wait for P's verdict on this round before the next one sets
         * the flag again. */
        do
            done = atomic_load_explicit(&p_done.v, memory_order_acquire);
        while (done != i && done != -i);
        if (done == -i && r2 < i)
            both_stale++;
    }
    return NULL;
}

/* Run n rounds, fenced or not; returns the "both stale" count. */
static long
run(long n, bool with_fences, long *ps, long *cs)
{
    pthread_t tp, tc;

    rounds = n;
    fenced = with_fences;
    both_stale = p_stale = c_stale = 0;
    atomic_store(&x.v, 0);
    atomic_store(&y, 0);
    atomic_store(&p_arm.v, 0);
    atomic_store(&c_arm.v, 0);
    atomic_store(&p_done.v, 0);
    atomic_store(&pinned, 0);
    util_thread_start(&tp, producer, NULL);
    util_thread_start(&tc, consumer, NULL);
    util_thread_join(tp);
    util_thread_join(tc);
    *ps = p_stale;
    *cs = c_stale;
    return both_stale;
}

/* Up to n rounds in chunks, fewer if they take longer than budget_ms
 * (a machine that emulates this one, binfmt_misc's qemu-user say, runs
 * them tens of times slower and cannot be told from here).  The rounds
 * run go to *done; returns the "both stale" count. */
static long
run_for(long n, bool with_fences, int64_t budget_ms, long *done, long *ps,
        long *cs)
{
    int64_t end = util_now_ms() + budget_ms;
    long both = 0, p1, c1;

    *done = *ps = *cs = 0;
    while (*done < n && (*done == 0 || util_now_ms() < end)) {
        long chunk = n - *done < CHUNK ? n - *done : CHUNK;

        both += run(chunk, with_fences, &p1, &c1);
        *done += chunk;
        *ps += p1;
        *cs += c1;
    }
    return both;
}

/* Two CPUs this process may run on, into cpus[]; false if it has one. */
static bool
two_cpus(void)
{
#if defined(__linux__) && defined(CPU_SET)
    cpu_set_t set;
    int found = 0;

    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
            if (CPU_ISSET(c, &set))
                cpus[found++] = c;
        return found == 2;
    }
#endif
    cpus[0] = 0;
    cpus[1] = 1;
    return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

int
main(void)
{
    long n, control_n, ran, ps, cs, both, cboth;
    const char *runner = getenv("MW_TEST_RUNNER");
    int64_t t0;

    tap_watchdog(300);
    if (util_under_valgrind())
        plan_skip_all("valgrind runs one thread at a time: the two sides "
                      "never overlap, and each spin costs a time slice");
    if (!two_cpus())
        plan_skip_all("one CPU: the two sides of the litmus test cannot "
                      "run at the same time");
    plan(1);

    /* About 10^7 rounds in all natively (some seconds); far fewer where
     * every access is emulated or instrumented. */
    n = util_count(8000000, 40000000, 1);
    if (runner != NULL && *runner != '\0')
        n /= 100;
    else if (UNDER_SANITIZER)
        n /= 20;
    control_n = n / 4;

    t0 = util_now_ms();
    cboth = run_for(control_n, false, BUDGET_MS / 4, &ran, &ps, &cs);
    diag("control, no fences: %ld rounds on CPUs %d and %d (%s): %ld "
         "wake(s) stale, %ld wait(s) stale, %ld both", ran, cpus[0], cpus[1],
         atomic_load(&pinned) == 2 ? "pinned" : "not pinned", ps, cs,
         cboth);
    if (cboth == 0)
        diag("the control showed no store-buffering outcome on this "
             "machine: the result below proves less here");
    both = run_for(n, true, BUDGET_MS, &ran, &ps, &cs);
    diag("with the library's fences: %ld rounds: %ld wake(s) stale, %ld "
         "wait(s) stale, %ld both (%lld ms in all)", ran, ps, cs, both,
         (long long)(util_now_ms() - t0));
    is_int(both, 0, "over %ld rounds, never does the wake read the flag "
           "still set while the wait misses the wake's data (the lost wake "
           "mw__pending_seen and mw__pending_clear exclude)", ran);
    return done_testing();
}
