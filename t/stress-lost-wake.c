/* SPDX-License-Identifier: MIT */
/*
 * Stress: no wake is lost under contention, and a freed waker's event
 * never shows.
 *
 *   A. Four producers share one waker.  Each bumps a shared sequence
 *      counter, then wakes, without waiting for the consumer (unlike
 *      t/wake-no-loss.c, whose producers hand over one ticket at a time),
 *      so wakes merge, race with the collection of the event, and land
 *      at every point of the consumer's loop.  The consumer reads the
 *      counter after each event: it never goes back, and the event that
 *      follows the last wake shows the final value.  A lost final wake
 *      leaves the consumer with a stale value and no event coming.
 *   B. The same with one waker per producer on one poll, and one counter
 *      each: every waker's last value is observed, no event carries a
 *      token that is not one of them, and flags are exactly READABLE.
 *   C. Wakers woken by another thread, then freed before the wait
 *      begins, with new wakers taking their slots: a fence wake later,
 *      none of the freed tokens has shown, nor a new waker that was never
 *      woken, and every surviving woken waker has.
 *   D. More ready registrations than a wait's capacity: 40 socket ends
 *      registered for MW_WRITABLE and never written to (they stay
 *      writable; under edge triggering there is nothing more to do), and
 *      a waker made after them; waits of capacity 16.  Each wake is still
 *      delivered within a bounded number of waits (the contract: an event
 *      that does not fit stays pending for a later wait), so a backend
 *      that always reports the same first entries loses it.
 *
 * Short in `make check` (4 x 20,000 wakes per phase); MW_STRESS=1 runs
 * 4 x 1,000,000.  "No event for 10 s" is how a lost wake shows: the
 * producers never block, so a quiet poll while the counter is ahead of
 * what the consumer saw is a lost wake, not slowness.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define PRODUCERS 4
#define TOKEN_SHARED ((mw_token)0x5EA)
#define TOKEN_OWN 0x1000        /* + producer index */
#define TOKEN_FENCE ((mw_token)0xFE)
#define C_WAKERS 16
#define C_TOKEN(gen) ((mw_token)0x100000 + (mw_token)(gen))
#define D_SOCKETS 40
#define D_CAPACITY 16
#define D_MAX_WAITS 1000
#define D_TOKEN(i) ((mw_token)0x200000 + (mw_token)(i))
#define TOKEN_D ((mw_token)0xDD)

struct producer {
    struct shared *s;
    int id;
    mw_waker *w;                /* the waker this producer wakes */
    atomic_long *seq;           /* the counter it bumps before each wake */
};

struct shared {
    long per;                   /* wakes per producer */
    atomic_long shared_seq;
    atomic_long own_seq[PRODUCERS];
    atomic_long failures;       /* wakes that did not return 0 */
    atomic_int finished;        /* producers done */
    atomic_int start;
};

/* Pacing differs per producer so that wakes come both in tight bursts
 * (merging) and one at a time (each a fresh signal). */
static void
pace(int id, long i, unsigned *rnd)
{
    *rnd = *rnd * 1103515245u + 12345u;
    if (id == 0)
        return;
    if (id == 1 && i % 64 == 0)
        sched_yield();
    if (id >= 2 && (*rnd >> 16) % (unsigned)(id * 4) == 0)
        sched_yield();
}

static void *
produce(void *arg)
{
    struct producer *pr = arg;
    struct shared *s = pr->s;
    unsigned rnd = (unsigned)pr->id * 7919u + 1u;

    while (!atomic_load(&s->start))
        sched_yield();
    for (long i = 0; i < s->per; i++) {
        /* Publish, then wake: the consumer must see this value (or a
         * later one) after the event that covers this wake. */
        atomic_fetch_add(pr->seq, 1);
        if (mw_waker_wake(pr->w) != 0)
            atomic_fetch_add(&s->failures, 1);
        pace(pr->id, i, &rnd);
    }
    atomic_fetch_add(&s->finished, 1);
    return NULL;
}

struct result {
    long events;
    long waits;
    long eintr;
    long foreign;               /* tokens that are none of the wakers' */
    long bad_flags;
    long backwards;             /* a counter read lower than before */
    long errors;                /* wait failures */
    long quiet;                 /* 10 s without any event */
    bool lost;                  /* quiet after every producer finished */
};

/* Consume until every counter's final value has been seen after an
 * event of its waker.  tokens[k] is the waker of counter k. */
static void
consume(mw_poll *p, struct shared *s, const mw_token *tokens,
        atomic_long *const *seq, int nseq, long final, struct result *r)
{
    long seen[PRODUCERS] = { 0 };
    int complete = 0;

    memset(r, 0, sizeof *r);
    while (complete < nseq) {
        struct mw_event ev[8];
        int n = mw_poll_wait(p, ev, 8, UTIL_LONG_MS);

        if (n == -EINTR) {
            r->eintr++;
            continue;
        }
        if (n < 0 || n > 8) {
            diag("mw_poll_wait returned %d (%s)", n, tap_errno_name(n));
            r->errors++;
            return;
        }
        if (n == 0) {
            r->quiet++;
            if (atomic_load(&s->finished) == PRODUCERS) {
                r->lost = true;
                for (int k = 0; k < nseq; k++)
                    diag("counter %d: final %ld, last seen after an "
                         "event %ld", k, final, seen[k]);
                return;
            }
            continue;
        }
        r->waits++;
        for (int i = 0; i < n; i++) {
            int k;

            for (k = 0; k < nseq; k++)
                if (ev[i].token == tokens[k])
                    break;
            if (k == nseq) {
                r->foreign++;
                continue;
            }
            r->events++;
            if (ev[i].flags != MW_EV_READABLE)
                r->bad_flags++;
            {
                long v = atomic_load(seq[k]);

                if (v < seen[k])
                    r->backwards++;
                if (v == final && seen[k] != final)
                    complete++;
                seen[k] = v;
            }
        }
    }
}

static void
report(const char *phase, const struct result *r, long wakes,
       const struct shared *s)
{
    diag("%s: %ld wakes gave %ld events in %ld waits (%ld -EINTR, %ld "
         "quiet 10 s periods)", phase, wakes, r->events, r->waits, r->eintr,
         r->quiet);
    is_int(r->errors, 0, "%s: every wait returned events, 0 on its "
           "timeout, or -EINTR", phase);
    ok(!r->lost, "%s: the final value of every counter was observed after "
       "an event (no wake lost)", phase);
    is_int(atomic_load(&s->failures), 0, "%s: every mw_waker_wake "
           "returned 0", phase);
    is_int(r->backwards, 0, "%s: the counter read after an event never "
           "went back", phase);
    is_int(r->foreign, 0, "%s: no event carried a token other than the "
           "wakers'", phase);
    is_int(r->bad_flags, 0, "%s: every waker event's flags were exactly "
           "MW_EV_READABLE", phase);
    ok(r->events >= 1 && r->events <= wakes, "%s: between 1 and one "
       "event per wake (%ld)", phase, r->events);
}

static void
run_phase(mw_poll *p, struct shared *s, struct producer *pr,
          const mw_token *tokens, atomic_long *const *seq, int nseq,
          long final, struct result *r)
{
    pthread_t t[PRODUCERS];

    atomic_store(&s->finished, 0);
    atomic_store(&s->start, 0);
    atomic_store(&s->failures, 0);
    for (int i = 0; i < PRODUCERS; i++)
        util_thread_start(&t[i], produce, &pr[i]);
    atomic_store(&s->start, 1);
    consume(p, s, tokens, seq, nseq, final, r);
    if (r->lost || r->errors)
        atomic_store(&s->finished, PRODUCERS);
    for (int i = 0; i < PRODUCERS; i++)
        util_thread_join(t[i]);
}

/* ---- phase C: freed wakers ---- */

struct waking {
    mw_waker *w[C_WAKERS];
    int rounds;
    atomic_long failures;
};

static void *
wake_all(void *arg)
{
    struct waking *wk = arg;

    for (int r = 0; r < wk->rounds; r++)
        for (int i = 0; i < C_WAKERS; i++)
            if (mw_waker_wake(wk->w[i]) != 0)
                atomic_fetch_add(&wk->failures, 1);
    return NULL;
}

/* A: one waker, one counter, four producers. */
static void
phase_shared(mw_poll *p, struct shared *s, mw_waker *shared_w, long per)
{
    struct producer pr[PRODUCERS];
    mw_token tokens[1] = { TOKEN_SHARED };
    atomic_long *seq[1] = { &s->shared_seq };
    struct mw_event ev[8];
    struct result r;
    int64_t t0 = util_now_ms();
    int n;

    for (int i = 0; i < PRODUCERS; i++) {
        pr[i].s = s;
        pr[i].id = i;
        pr[i].w = shared_w;
        pr[i].seq = &s->shared_seq;
    }
    run_phase(p, s, pr, tokens, seq, 1, per * PRODUCERS, &r);
    report("one shared waker", &r, per * PRODUCERS, s);
    diag("phase A took %lld ms", (long long)(util_now_ms() - t0));
    n = util_wait(p, ev, 8, 0);
    ok(n == 0 || (n == 1 && ev[0].token == TOKEN_SHARED),
       "one shared waker: at most one merged event is left (%d)", n);
}

/* B: a waker and a counter per producer. */
static void
phase_own(mw_poll *p, struct shared *s, long per)
{
    struct producer pr[PRODUCERS];
    mw_token tokens[PRODUCERS];
    atomic_long *seq[PRODUCERS];
    struct mw_event ev[8];
    struct result r;
    int64_t t0 = util_now_ms();
    int n, strays = 0;

    for (int i = 0; i < PRODUCERS; i++) {
        tokens[i] = (mw_token)(TOKEN_OWN + i);
        pr[i].s = s;
        pr[i].id = i;
        if (mw_waker_new(&pr[i].w, p, tokens[i]) != 0)
            bail_out("mw_waker_new failed");
        pr[i].seq = &s->own_seq[i];
        seq[i] = &s->own_seq[i];
    }
    run_phase(p, s, pr, tokens, seq, PRODUCERS, per, &r);
    report("a waker per producer", &r, per * PRODUCERS, s);
    diag("phase B took %lld ms", (long long)(util_now_ms() - t0));
    n = util_wait(p, ev, 8, 0);
    for (int i = 0; i < n; i++) {
        int k;

        for (k = 0; k < PRODUCERS; k++)
            if (ev[i].token == tokens[k])
                break;
        strays += k == PRODUCERS;
    }
    ok(n >= 0 && n <= PRODUCERS && strays == 0, "a waker per producer: "
       "at most one merged event per waker is left (%d)", n);
    for (int i = 0; i < PRODUCERS; i++)
        mw_waker_free(pr[i].w);
}

/* What phase C saw. */
struct freed_tally {
    long stale, fresh, missing, others, no_fence;
};

/* One round of phase C's collecting: events until the fence's, sorted
 * into the tally; `seen` marks the surviving wakers whose event came. */
static void
collect_to_fence(mw_poll *p, const mw_token live[C_WAKERS], mw_token dead_lo,
                 long round, bool seen[C_WAKERS], struct freed_tally *t)
{
    struct mw_event ev[64];
    bool fence_seen = false;
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    while (!fence_seen && util_now_ms() < end) {
        int n = util_wait(p, ev, 64, 100);

        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        for (int j = 0; j < n; j++) {
            mw_token tk = ev[j].token;
            int k;

            if (tk == TOKEN_FENCE) {
                fence_seen = true;
                continue;
            }
            for (k = 0; k < C_WAKERS; k++)
                if (tk == live[k])
                    break;
            if (k < C_WAKERS) {
                /* A survivor (woken) or a new waker (never). */
                if ((int)(k & 1) == (int)(round & 1))
                    t->fresh++;
                else
                    seen[k] = true;
            } else if (tk >= C_TOKEN(1) && tk < dead_lo) {
                t->stale++;
            } else {
                t->others++;
            }
        }
    }
    t->no_fence += !fence_seen;
}

/* C: wakers woken by another thread, then freed before the wait. */
static void
phase_freed(mw_poll *p, mw_waker *fence, long rounds_c)
{
    static struct waking wk;
    struct freed_tally t = { 0 };
    long gen = 0;
    mw_token live[C_WAKERS], dead_lo;
    int64_t t0 = util_now_ms();

    atomic_init(&wk.failures, 0);
    for (int i = 0; i < C_WAKERS; i++) {
        live[i] = C_TOKEN(++gen);
        if (mw_waker_new(&wk.w[i], p, live[i]) != 0)
            bail_out("mw_waker_new failed");
    }
    for (long round = 0; round < rounds_c; round++) {
        pthread_t th;
        bool seen[C_WAKERS] = { false };

        wk.rounds = 1 + (int)(round % 5);
        util_thread_start(&th, wake_all, &wk);
        util_thread_join(th);
        /* Free the odd ones (or the even ones) and put new wakers in
         * their slots, never woken.  Every token below dead_lo that is
         * not live is dead. */
        for (int i = (int)(round & 1); i < C_WAKERS; i += 2) {
            mw_waker_free(wk.w[i]);
            live[i] = C_TOKEN(++gen);
            if (mw_waker_new(&wk.w[i], p, live[i]) != 0)
                bail_out("mw_waker_new failed");
        }
        dead_lo = C_TOKEN(gen + 1);
        if (mw_waker_wake(fence) != 0)
            bail_out("mw_waker_wake(fence) failed");
        collect_to_fence(p, live, dead_lo, round, seen, &t);
        for (int k = (int)(~round & 1); k < C_WAKERS; k += 2)
            t.missing += !seen[k];
    }
    diag("phase C: %ld rounds, %ld wakers freed while pending, %lld ms",
         rounds_c, rounds_c * C_WAKERS / 2,
         (long long)(util_now_ms() - t0));
    is_int(t.no_fence, 0, "freed wakers: every fence wake came");
    is_int(t.stale, 0, "freed wakers: no event for a waker freed before "
           "the wait began");
    is_int(t.fresh, 0, "freed wakers: no event for a new waker that took "
           "a freed waker's place and was never woken");
    is_int(t.missing, 0, "freed wakers: every surviving woken waker's "
           "event came");
    is_int(t.others, 0, "freed wakers: no unknown token");
    is_int(atomic_load(&wk.failures), 0, "freed wakers: every wake "
           "returned 0");
    for (int i = 0; i < C_WAKERS; i++)
        mw_waker_free(wk.w[i]);
}

/* D: more ready registrations than fit in one wait. */
static void
phase_overflow(mw_poll *p)
{
    int sv[D_SOCKETS][2];
    bool seen[D_SOCKETS] = { false };
    mw_waker *wd;
    long rounds_d = util_count(100, 2000, 10), lost = 0, waits = 0;
    long unseen = 0, max_waits = 0;

    for (int i = 0; i < D_SOCKETS; i++) {
        util_socketpair(sv[i]);
        if (mw_poll_register(p, sv[i][0], D_TOKEN(i), MW_WRITABLE) != 0)
            bail_out("mw_poll_register failed");
    }
    if (mw_waker_new(&wd, p, TOKEN_D) != 0)
        bail_out("mw_waker_new failed");
    for (long round = 0; round < rounds_d; round++) {
        bool got = false;
        long w;

        if (mw_waker_wake(wd) != 0)
            bail_out("mw_waker_wake failed");
        for (w = 0; w < D_MAX_WAITS && !got; w++) {
            struct mw_event ev[D_CAPACITY];
            int n = util_wait(p, ev, D_CAPACITY, 100);

            if (n < 0)
                bail_out("mw_poll_wait: %s", tap_errno_name(n));
            for (int i = 0; i < n; i++) {
                if (ev[i].token == TOKEN_D)
                    got = true;
                else if (ev[i].token >= D_TOKEN(0)
                         && ev[i].token < D_TOKEN(D_SOCKETS))
                    seen[ev[i].token - D_TOKEN(0)] = true;
            }
        }
        waits += w;
        if (w > max_waits)
            max_waits = w;
        lost += !got;
        if (lost > 3)
            break;      /* it will not get better */
    }
    for (int i = 0; i < D_SOCKETS; i++)
        unseen += !seen[i];
    diag("more ready than fit: %ld rounds, %ld waits, at most %ld for "
         "one wake", rounds_d, waits, max_waits);
    is_int(lost, 0, "more ready registrations than the capacity: every "
           "wake was delivered within %d waits of %d events",
           D_MAX_WAITS, D_CAPACITY);
    is_int(unseen, 0, "and every ready registration was reported");
    mw_waker_free(wd);
    for (int i = 0; i < D_SOCKETS; i++) {
        mw_poll_deregister(p, sv[i][0]);
        util_close(sv[i][0]);
        util_close(sv[i][1]);
    }
    /* What the deregistered sockets left behind in this poll. */
    while (util_wait(p, (struct mw_event[8]){ { 0, 0 } }, 8, 0) > 0)
        ;
}

int
main(void)
{
    static struct shared s;
    mw_poll *p;
    mw_waker *shared_w, *fence;
    struct mw_event ev[8];
    long per;
    int n;

    tap_watchdog(util_stress() ? 900 : 120);
    per = util_count(20000, 1000000, 20);
    s.per = per;
    diag("backend %s; %d producers x %ld wakes per phase%s", mw_backend(),
         PRODUCERS, per, util_stress() ? " (MW_STRESS)" : "");

    if (mw_poll_new(&p) != 0 || mw_waker_new(&shared_w, p, TOKEN_SHARED) != 0
        || mw_waker_new(&fence, p, TOKEN_FENCE) != 0)
        bail_out("cannot create a poll and wakers");

    phase_shared(p, &s, shared_w, per);
    phase_own(p, &s, per);
    phase_freed(p, fence, util_count(300, 5000, 10));
    phase_overflow(p);

    /* The poll still works. */
    n = mw_waker_wake(shared_w) == 0 ? util_wait(p, ev, 8, UTIL_LONG_MS) : -1;
    ok(n == 1 && ev[0].token == TOKEN_SHARED, "after all that a fresh "
       "wake is delivered alone");
    mw_waker_free(shared_w);
    mw_waker_free(fence);
    mw_poll_free(p);
    return done_testing();
}
