/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3), "Closed without deregistering"; and
 * mw_waker_new(3)): after the caller closes a registered descriptor
 * without deregistering it, no call on that number reaches a descriptor
 * of the library's own, whatever the library creates afterwards.  A
 * waker opens no descriptor (the wakers of a poll share one object,
 * opened by mw_poll_new), so no waker can take the number; a poll made
 * later can, with its poller or its wakers' object.  In poll P, a pipe's
 * read end N is registered and then closed without deregistering:
 *
 *   (i)  while N is closed, mw_poll_register(P, N) is -EEXIST and
 *        mw_poll_reregister(P, N) is -EBADF; 64 wakers created on P open
 *        nothing (N stays closed), and each of their wakes is delivered,
 *        once;
 *   (ii) a second poll Q is made so that its k-th descriptor takes N
 *        (k = 1 .. as many as mw_poll_new opens; a diag says whose it
 *        is: Q's poller, Q's wakers' object, libkqueue's own), half of
 *        Q's wakers are woken, then one of mw_poll_deregister,
 *        mw_poll_reregister or mw_poll_register (or none) is called on
 *        (P, N), and the other half woken: every wake of Q's wakers is
 *        delivered once (Q's object was not taken over, removed or
 *        drained), and so is every wake of P's wakers.  The return codes
 *        are the pages': deregister 0 (then -ENOENT), register -EEXIST,
 *        reregister -EBADF on epoll and under libkqueue, 0 on poll(2) and
 *        a kernel's kqueue, which then watch the new descriptor;
 *   the same with N's file kept open by a dup() (epoll and libkqueue keep
 *   it in their sets under the old number);
 *   and with two threads, one closing and deregistering descriptors of
 *   P while the other makes polls that take their numbers.
 *
 * Under libkqueue, with N's file kept open, the page warns that the
 * emulation confuses it with whatever takes the number next, and that
 * the wakers' object of a poll made later that does may lose its wakes:
 * there a loss of Q's wakes is a skip, with what was lost.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#if defined(__SANITIZE_THREAD__)
# define UNDER_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define UNDER_TSAN 1
# endif
#endif

#define T_STALE ((mw_token)0x57A1E)
#define T_OTHER ((mw_token)0x07E2)
#define T_P0 ((mw_token)0x10000)    /* P's wakers: T_P0 + i */
#define T_Q0 ((mw_token)0x20000)    /* Q's wakers: T_Q0 + i */

#define NP 64
#define NQ 8
#define KMAX 8

enum action { ACT_NONE, ACT_DEREGISTER, ACT_REREGISTER, ACT_REGISTER };

static const char *const action_name[] = {
    "no call", "mw_poll_deregister", "mw_poll_reregister",
    "mw_poll_register",
};

/* A bound that only turns a lost wake into a failure: every wake is made
 * before the wait that looks for it begins. */
static int
loss_ms(void)
{
    return util_under_valgrind() ? UTIL_LONG_MS : UTIL_LONG_MS / 2;
}

/* What one collection saw. */
struct got {
    int distinct;       /* tokens of the range that came */
    int dups;           /* ... that came more than once */
    int others;         /* events with T_STALE, T_OTHER or foreign tokens */
};

/* Wait on p until each of the n tokens base .. base+n-1 has come, or the
 * bound passes; then a few timeout-0 waits for duplicates (a poll(2)
 * poll reports a closed registered number in every wait, so "until 0"
 * could last forever). */
static struct got
collect(mw_poll *p, mw_token base, int n)
{
    unsigned char seen[NP] = { 0 };
    struct mw_event ev[32];
    struct got g = { 0, 0, 0 };
    int64_t end = util_now_ms() + loss_ms();

    for (int round = 0; round < 3;) {
        int left = g.distinct < n ? (int)(end - util_now_ms()) : 0;
        int r;

        if (left < 0)
            left = 0;
        r = util_wait(p, ev, 32, left);
        if (r < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(r));
        for (int i = 0; i < r; i++) {
            mw_token t = ev[i].token;

            if (t >= base && t < base + (mw_token)n) {
                if (seen[t - base]++)
                    g.dups++;
                else
                    g.distinct++;
            } else {
                g.others++;
            }
        }
        if (left == 0)
            round++;
    }
    return g;
}

static void
wake_range(mw_waker **w, int from, int to)
{
    for (int i = from; i < to; i++)
        if (mw_waker_wake(w[i]) != 0)
            bail_out("mw_waker_wake failed");
}

/* How many descriptors mw_poll_new opens here while another poll is
 * open (libkqueue opens some of its own with the first kqueue only). */
static int
poll_new_fd_count(void)
{
    struct util_fds before, after;
    mw_poll *first, *p;
    int fds[KMAX], n;

    if (mw_poll_new(&first) != 0)
        bail_out("mw_poll_new failed");
    util_settle();
    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    n = util_fds_new(&before, &after, fds, KMAX);
    mw_poll_free(p);
    mw_poll_free(first);
    util_settle();
    return n < KMAX ? n : KMAX;
}

/* The reregister's return code the page gives once N names another
 * descriptor (took) or while it is still closed. */
static int
want_reregister(bool took)
{
    if (!took || !util_caps()->registration_by_number)
        return -EBADF;
    return 0;
}

/* "Q's wakers' object (its eventfd)" and the like, into buf. */
static const char *
whose(char *buf, size_t len, mw_poll *q, int n, const struct util_fds *b,
      const struct util_fds *a)
{
    static const char *const kinds[] = {
        "descriptor", "eventfd", "pipe's read end", "pipe's write end",
    };
    int qr, qw;

    if (!a->open[n] || b->open[n]) {
        snprintf(buf, len, "nothing Q opened");
        return buf;
    }
    util_hub_fds(b, a, &qr, &qw);
    snprintf(buf, len, "%s (its %s)",
             n == qr || n == qw ? "Q's wakers' object"
             : n == mw_poll_fd(q) ? "Q's poller (mw_poll_fd)"
             : util_caps()->emulated ? "a descriptor libkqueue opened for Q"
             : "another descriptor of Q's poller",
             kinds[util_fd_kind(n)]);
    return buf;
}

static void
stale_number_reaches_nothing_of_the_library(enum action act, bool keep,
                                            int k)
{
    struct util_fds before, after;
    mw_waker *pw[NP], *qw[NQ];
    mw_poll *p, *q;
    int fds[2], ph[KMAX], n, keepfd = -1, rc, rc2 = 0, nnew;
    bool lowest = true, took, q_may_lose;
    char tag[96], who[96];
    struct got g;

    snprintf(tag, sizeof tag, "%s, %s, Q's descriptor %d", action_name[act],
             keep ? "file kept by a dup()" : "file closed", k);
    util_settle();
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    /* k-1 numbers below N to free before Q is made, so that Q's k-th
     * descriptor is the one that gets N. */
    for (int i = 0; i < k - 1; i++) {
        ph[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (ph[i] < 0)
            bail_out("open /dev/null: %s", strerror(errno));
    }
    util_pipe(fds);
    n = fds[0];
    if (mw_poll_register(p, n, T_STALE, MW_READABLE) != 0)
        bail_out("cannot register the descriptor that goes stale");
    if (keep) {
        keepfd = fcntl(n, F_DUPFD_CLOEXEC, n + 1);
        if (keepfd < 0)
            bail_out("dup: %s", strerror(errno));
    }
    util_close(n);

    /* (i) N is closed. */
    is_errno(mw_poll_register(p, n, T_OTHER, MW_READABLE), -EEXIST,
             "%s: mw_poll_register of the closed number is -EEXIST", tag);
    is_errno(mw_poll_reregister(p, n, T_OTHER, MW_READABLE), -EBADF,
             "%s: mw_poll_reregister of the closed number is -EBADF", tag);
    util_fds_take(&before);
    for (int i = 0; i < NP; i++)
        if (mw_waker_new(&pw[i], p, T_P0 + (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    util_fds_take(&after);
    nnew = util_fds_new(&before, &after, NULL, 0);
    ok(!after.open[n], "%s: %d wakers made on P leave number %d closed "
       "(they opened %d descriptor(s))", tag, NP, n, nnew);
    wake_range(pw, 0, NP);
    g = collect(p, T_P0, NP);
    ok(g.distinct == NP && g.dups == 0, "%s: each of their wakes is "
       "delivered once (%d of %d, %d twice; %d other events)", tag,
       g.distinct, NP, g.dups, g.others);

    /* (ii) Q takes N. */
    for (int i = 0; i < k - 1; i++)
        util_close(ph[i]);
    util_fds_take(&before);
    for (int i = 0; i < n; i++) {
        bool placeholder = false;

        for (int j = 0; j < k - 1; j++)
            placeholder |= ph[j] == i;
        if (!before.open[i] && !placeholder)
            lowest = false;
    }
    if (mw_poll_new(&q) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    took = after.open[n] && !before.open[n];
    diag("%s: %s: number %d went to %s%s", mw_backend(), tag, n,
         whose(who, sizeof who, q, n, &before, &after),
         lowest ? "" : " (a lower number was free too)");
    for (int i = 0; i < NQ; i++)
        if (mw_waker_new(&qw[i], q, T_Q0 + (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    wake_range(qw, 0, NQ / 2);

    switch (act) {
    case ACT_NONE:
        break;
    case ACT_DEREGISTER:
        rc = mw_poll_deregister(p, n);
        rc2 = mw_poll_deregister(p, n);
        diag("%s: %s: deregister -> %s, again -> %s", mw_backend(), tag,
             tap_errno_name(rc), tap_errno_name(rc2));
        ok(rc == 0 && rc2 == -ENOENT, "%s: mw_poll_deregister(P, N) "
           "returns 0, and then -ENOENT", tag);
        break;
    case ACT_REREGISTER:
        rc = mw_poll_reregister(p, n, T_OTHER, MW_READABLE);
        diag("%s: %s: reregister -> %s", mw_backend(), tag,
             tap_errno_name(rc));
        is_errno(rc, want_reregister(took), "%s: mw_poll_reregister(P, N) "
                 "returns what the page says for %s", tag,
                 took ? "a number now another descriptor's"
                      : "a closed number");
        break;
    case ACT_REGISTER:
        rc = mw_poll_register(p, n, T_OTHER, MW_READABLE);
        diag("%s: %s: register -> %s", mw_backend(), tag,
             tap_errno_name(rc));
        is_errno(rc, -EEXIST, "%s: mw_poll_register(P, N) is -EEXIST",
                 tag);
        break;
    }

    /* P's wakers first: P's waits must not disturb Q's object either. */
    wake_range(pw, 0, NP);
    g = collect(p, T_P0, NP);
    ok(g.distinct == NP && g.dups == 0, "%s: every wake of P's wakers is "
       "delivered once after the call (%d of %d, %d twice; %d other "
       "events)", tag, g.distinct, NP, g.dups, g.others);
    wake_range(qw, NQ / 2, NQ);
    g = collect(q, T_Q0, NQ);
    q_may_lose = keep && util_caps()->emulated && took;
    if (q_may_lose && !(g.distinct == NQ && g.dups == 0 && g.others == 0))
        skip(1, "%s: Q's wakers lost wakes (%d of %d delivered, %d twice, "
             "%d other events), as mw_poll_register(3) says they may under "
             "libkqueue, which keeps the closed file under number %d in "
             "P's set", tag, g.distinct, NQ, g.dups, g.others, n);
    else
        ok(g.distinct == NQ && g.dups == 0 && g.others == 0, "%s: every "
           "wake of Q's wakers, before and after the call, is delivered "
           "once (%d of %d, %d twice, %d other events)", tag, g.distinct,
           NQ, g.dups, g.others);

    for (int i = 0; i < NQ; i++)
        mw_waker_free(qw[i]);
    mw_poll_free(q);
    for (int i = 0; i < NP; i++)
        mw_waker_free(pw[i]);
    mw_poll_free(p);
    util_close(fds[1]);
    if (keepfd >= 0)
        util_close(keepfd);
    util_fds_free(&before);
    util_fds_free(&after);
}

#ifndef UNDER_TSAN
/* ---- two threads ----
 *
 * Each round, one thread opens a pipe, registers its read end N in P,
 * closes it and deregisters it (after the close, as the pages allow),
 * while the other makes a poll Q as soon as N has been closed, and wakes
 * a waker of Q and one of P, and waits for each wake.  The rounds start
 * together at a barrier, and the deregistration starts when the other
 * thread enters mw_poll_new, so that the two calls run at the same time,
 * with N the lowest free number: either may come first.
 */

static mw_poll *race_poll;
static pthread_barrier_t race_barrier;
static atomic_int race_stop;
static atomic_int race_closed_round, race_creating_round, race_number;
static atomic_int race_bad_dereg, race_bad_reg;
static atomic_int race_last_bad;

static void *
closer(void *arg)
{
    int fds[2], rc;

    (void)arg;
    for (int round = 1; ; round++) {
        pthread_barrier_wait(&race_barrier);
        if (atomic_load(&race_stop))
            break;
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            atomic_fetch_add(&race_bad_reg, 1);
            atomic_store(&race_last_bad, -errno);
            atomic_store(&race_number, -1);
            atomic_store(&race_closed_round, round);
            continue;
        }
        rc = mw_poll_register(race_poll, fds[0], T_STALE, MW_READABLE);
        if (rc != 0) {
            atomic_fetch_add(&race_bad_reg, 1);
            atomic_store(&race_last_bad, rc);
        }
        close(fds[0]);
        atomic_store(&race_number, fds[0]);
        atomic_store(&race_closed_round, round);
        while (atomic_load(&race_creating_round) < round)
            sched_yield();
        for (volatile int spin = (round * 37) % 128 * 100; spin > 0; spin--)
            ;
        /* 0 whether the number is still closed or Q has it now. */
        rc = mw_poll_deregister(race_poll, fds[0]);
        if (rc != 0) {
            atomic_fetch_add(&race_bad_dereg, 1);
            atomic_store(&race_last_bad, rc);
        }
        close(fds[1]);
    }
    return NULL;
}

/* Wake w and wait on p until its token comes; 1 if it did. */
static int
wake_and_wait(mw_poll *p, mw_waker *w, mw_token token)
{
    if (mw_waker_wake(w) != 0)
        return -1;
    return util_wait_token(p, token, loss_ms(), NULL, NULL);
}

static void
polls_made_while_another_thread_closes_deliver(void)
{
    pthread_t t;
    mw_waker *pw;
    int rounds = util_under_valgrind() ? 50
                 : util_caps()->emulated ? 300 : 1000;
    int made = 0, bad_new = 0, last_new = 0, lost_p = 0, lost_q = 0;
    int took = 0, round;

    if (mw_poll_new(&race_poll) != 0
        || mw_waker_new(&pw, race_poll, T_P0) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");
    if (pthread_barrier_init(&race_barrier, NULL, 2) != 0)
        bail_out("pthread_barrier_init failed");
    util_thread_start(&t, closer, NULL);
    for (round = 1; ; round++) {
        mw_poll *q;
        mw_waker *w;
        int rc, n;

        if (round > rounds || lost_p + lost_q > 0)
            atomic_store(&race_stop, true);
        pthread_barrier_wait(&race_barrier);
        if (atomic_load(&race_stop))
            break;
        while (atomic_load(&race_closed_round) < round)
            sched_yield();
        atomic_store(&race_creating_round, round);
        rc = mw_poll_new(&q);
        n = atomic_load(&race_number);
        if (n >= 0 && util_fd_is_open(n))
            took++;
        if (rc != 0) {
            bad_new++;
            last_new = rc;
            continue;
        }
        if (mw_waker_new(&w, q, T_Q0) != 0)
            bail_out("mw_waker_new failed");
        made++;
        for (int j = 0; j < 2; j++)
            if (wake_and_wait(q, w, T_Q0) != 1)
                lost_q++;
        if (wake_and_wait(race_poll, pw, T_P0) != 1)
            lost_p++;
        mw_waker_free(w);
        mw_poll_free(q);
    }
    util_thread_join(t);
    pthread_barrier_destroy(&race_barrier);
    diag("%d rounds; in %d a descriptor of the new poll had the number "
         "just closed (before or after its deregistration)", round - 1,
         took);
    is_int(atomic_load(&race_bad_dereg), 0, "two threads: every "
           "mw_poll_deregister after close returns 0 (last other: %s)",
           tap_errno_name(atomic_load(&race_last_bad)));
    is_int(atomic_load(&race_bad_reg), 0, "two threads: every "
           "mw_poll_register of a fresh descriptor returns 0");
    is_int(bad_new, 0, "two threads: every mw_poll_new succeeds (last "
           "failure: %s)", tap_errno_name(last_new));
    ok(lost_p == 0 && lost_q == 0, "two threads: every wake of the new "
       "polls' wakers and of P's is delivered (%d and %d lost, in %d "
       "polls)", lost_q, lost_p, made);
    mw_waker_free(pw);
    mw_poll_free(race_poll);
}

#endif /* !UNDER_TSAN */

int
main(void)
{
    int kmax;

    tap_watchdog(300);
    kmax = poll_new_fd_count();
    diag("backend %s; mw_poll_new opens %d descriptor(s)", mw_backend(),
         kmax);
    if (kmax < 1)
        kmax = 1;
    for (int keep = 0; keep < 2; keep++)
        for (int act = ACT_NONE; act <= ACT_REGISTER; act++)
            for (int k = 1; k <= kmax; k++)
                stale_number_reaches_nothing_of_the_library(act, keep, k);
#ifdef UNDER_TSAN
    /* The case closes a descriptor on one thread while another opens one
     * that gets its number, and then uses the number on the first: what
     * ThreadSanitizer reports as a race on the descriptor, whatever the
     * library does. */
    skip(4, "two threads: ThreadSanitizer reports a descriptor number "
         "closed on one thread and reused on another as a data race");
#else
    polls_made_while_another_thread_closes_deliver();
#endif
    return done_testing();
}
