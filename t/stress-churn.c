/* SPDX-License-Identifier: MIT */
/*
 * Stress: registrations and wakers come and go on other threads while
 * one thread waits; no crash, no leak, no stale token.
 *
 * Three threads register, reregister (new token, other interest) and
 * deregister socket pairs, write to them so they become readable, and
 * close and reopen them (so descriptor numbers are reused across
 * threads).  A fourth creates and frees wakers: "loud" ones that it
 * wakes, and "silent" ones that it never wakes.  A fifth wakes a
 * heartbeat waker after bumping a counter.  The main thread waits all
 * along.
 *
 * Every token names its registration or waker and a generation.  After a
 * deregister, a reregister or a mw_waker_free returns, the thread that
 * made it publishes that the generation is retired; before each wait the
 * waiting thread takes a snapshot of what is retired, and no event of
 * that wait may carry a retired token: "a wait that starts after a
 * deregister returned never reports that registration's token".  (A wait
 * already running may report it once; that is the contract, see
 * doc/ROBUSTNESS.md.)  A silent waker never gets an event, not even
 * one fetched for the freed waker whose slot it took.  Every call must
 * succeed; the heartbeat's last
 * value is observed after an event (no wake lost under churn); and once
 * everything is freed, the set of open descriptors is what it was before
 * (memory leaks are for ASan and valgrind to find).
 *
 * MW_STRESS=1 runs twenty times more operations.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define REG_THREADS 3
#define REG_SLOTS 8
#define WAKER_SLOTS 6
#define KINDS 3

enum { KIND_FD = 1, KIND_WAKER = 2, KIND_HEARTBEAT = 3 };

/* A token: kind (4 bits) | thread (4) | slot (8) | generation (the rest,
 * at least 16 bits). */
#define TOK_GEN_BITS ((int)sizeof(mw_token) * 8 - 16)
#define TOK_GEN_MAX (((mw_token)1 << TOK_GEN_BITS) - 1)
#define TOKEN(kind, th, slot, gen) \
    (((mw_token)(kind) << (TOK_GEN_BITS + 12)) \
     | ((mw_token)(th) << (TOK_GEN_BITS + 8)) \
     | ((mw_token)(slot) << TOK_GEN_BITS) | (mw_token)(gen))
#define TOK_KIND(t) ((int)((t) >> (TOK_GEN_BITS + 12)) & 0xf)
#define TOK_THREAD(t) ((int)((t) >> (TOK_GEN_BITS + 8)) & 0xf)
#define TOK_SLOT(t) ((int)((t) >> TOK_GEN_BITS) & 0xff)
#define TOK_GEN(t) ((t) & TOK_GEN_MAX)

#define HEARTBEAT TOKEN(KIND_HEARTBEAT, 0, 0, 1)
#define SLOTS_MAX REG_SLOTS     /* >= WAKER_SLOTS */

struct shared {
    mw_poll *p;
    long reg_ops;               /* per registration thread */
    long waker_ops;
    atomic_int stop_heartbeat;
    /* Per kind, thread and slot: the highest retired generation, and the
     * highest one handed out. */
    atomic_ulong retired[KINDS + 1][REG_THREADS][SLOTS_MAX];
    atomic_ulong issued[KINDS + 1][REG_THREADS][SLOTS_MAX];
    atomic_long unexpected;     /* calls that did not return what they must */
    atomic_int last_bad_rc;
    atomic_long ops;
    atomic_long silent_made;
    atomic_long heartbeat_seq;
    atomic_long heartbeat_wakes;
    atomic_int churners_done;
};

static struct shared s;

static void
expect(int rc, int want)
{
    if (rc != want) {
        atomic_fetch_add(&s.unexpected, 1);
        atomic_store(&s.last_bad_rc, rc);
    }
}

static unsigned
next_rand(unsigned *r)
{
    *r = *r * 1103515245u + 12345u;
    return *r >> 16;
}

/* ---- registration churn ---- */

struct reg_slot {
    int sv[2];
    bool registered;
    mw_token gen;
};

static void
retire(int kind, int th, int slot, mw_token gen)
{
    atomic_store_explicit(&s.retired[kind][th][slot], (unsigned long)gen,
                          memory_order_release);
}

static mw_token
issue(int kind, int th, int slot, mw_token *gen)
{
    if (*gen >= TOK_GEN_MAX)
        return 0;
    ++*gen;
    atomic_store_explicit(&s.issued[kind][th][slot], (unsigned long)*gen,
                          memory_order_release);
    return TOKEN(kind, th, slot, *gen);
}

static unsigned
random_interest(unsigned *r)
{
    switch (next_rand(r) % 3) {
    case 0:
        return MW_READABLE;
    case 1:
        return MW_READABLE | MW_WRITABLE;
    default:
        return MW_WRITABLE;
    }
}

static void *
churn_registrations(void *arg)
{
    int th = (int)(intptr_t)arg;
    struct reg_slot slot[REG_SLOTS];
    unsigned r = 0x9E3779B9u * (unsigned)(th + 1);

    for (int i = 0; i < REG_SLOTS; i++) {
        util_socketpair(slot[i].sv);
        slot[i].registered = false;
        slot[i].gen = 0;
    }
    for (long op = 0; op < s.reg_ops; op++) {
        int i = (int)(next_rand(&r) % REG_SLOTS);
        struct reg_slot *sl = &slot[i];
        unsigned what = next_rand(&r) % 10;
        mw_token tok;

        if (!sl->registered) {
            tok = issue(KIND_FD, th, i, &sl->gen);
            if (tok == 0)
                continue;
            expect(mw_poll_register(s.p, sl->sv[0], tok,
                                    random_interest(&r)), 0);
            sl->registered = true;
        } else if (what < 3) {
            mw_token old = sl->gen;

            tok = issue(KIND_FD, th, i, &sl->gen);
            if (tok == 0)
                continue;
            expect(mw_poll_reregister(s.p, sl->sv[0], tok,
                                      random_interest(&r)), 0);
            retire(KIND_FD, th, i, old);
        } else if (what < 5) {
            expect(mw_poll_deregister(s.p, sl->sv[0]), 0);
            retire(KIND_FD, th, i, sl->gen);
            sl->registered = false;
        } else if (what < 8) {
            /* Readable now (and drained now and then): events to report. */
            util_write_byte(sl->sv[1]);
            if (what == 7)
                util_drain(sl->sv[0]);
        } else {
            /* Deregister, close and reopen: the numbers go back to the
             * pool and another thread may take them. */
            expect(mw_poll_deregister(s.p, sl->sv[0]), 0);
            retire(KIND_FD, th, i, sl->gen);
            sl->registered = false;
            util_close(sl->sv[0]);
            util_close(sl->sv[1]);
            util_socketpair(sl->sv);
        }
        atomic_fetch_add(&s.ops, 1);
        if (op % 32 == 0)
            sched_yield();
    }
    for (int i = 0; i < REG_SLOTS; i++) {
        if (slot[i].registered) {
            expect(mw_poll_deregister(s.p, slot[i].sv[0]), 0);
            retire(KIND_FD, th, i, slot[i].gen);
        }
        util_close(slot[i].sv[0]);
        util_close(slot[i].sv[1]);
    }
    atomic_fetch_add(&s.churners_done, 1);
    return NULL;
}

/* ---- waker churn ---- */

static void *
churn_wakers(void *arg)
{
    mw_waker *w[WAKER_SLOTS] = { NULL };
    mw_token gen[WAKER_SLOTS] = { 0 };
    unsigned r = 0xC0FFEEu;

    (void)arg;
    for (long op = 0; op < s.waker_ops; op++) {
        int i = (int)(next_rand(&r) % WAKER_SLOTS);

        if (w[i] == NULL) {
            /* Even slots hold loud wakers, odd slots silent ones. */
            mw_token tok = issue(KIND_WAKER, 0, i, &gen[i]);

            if (tok == 0)
                continue;
            expect(mw_waker_new(&w[i], s.p, tok), 0);
            if (i & 1)
                atomic_fetch_add(&s.silent_made, 1);
        } else if (!(i & 1) && next_rand(&r) % 3 != 0) {
            expect(mw_waker_wake(w[i]), 0);
        } else {
            mw_waker_free(w[i]);
            w[i] = NULL;
            retire(KIND_WAKER, 0, i, gen[i]);
        }
        atomic_fetch_add(&s.ops, 1);
        if (op % 16 == 0)
            sched_yield();
    }
    for (int i = 0; i < WAKER_SLOTS; i++) {
        if (w[i] != NULL) {
            mw_waker_free(w[i]);
            retire(KIND_WAKER, 0, i, gen[i]);
        }
    }
    atomic_fetch_add(&s.churners_done, 1);
    return NULL;
}

/* ---- heartbeat ---- */

static void *
heartbeat(void *arg)
{
    mw_waker *hb = arg;

    while (!atomic_load(&s.stop_heartbeat)) {
        atomic_fetch_add(&s.heartbeat_seq, 1);
        expect(mw_waker_wake(hb), 0);
        atomic_fetch_add(&s.heartbeat_wakes, 1);
        util_sleep_ms(1);
    }
    return NULL;
}

/* ---- the waiting thread ---- */

struct tally {
    long waits, events, eintr, errors, zero_at_minus1;
    long stale, unknown, bad_waker_flags, silent_events;
    long heartbeat_events;
    long heartbeat_seen;        /* the counter's value after the last one */
    mw_token first_stale;
};

static void
snapshot(unsigned long snap[KINDS + 1][REG_THREADS][SLOTS_MAX])
{
    for (int k = 0; k <= KINDS; k++)
        for (int t = 0; t < REG_THREADS; t++)
            for (int i = 0; i < SLOTS_MAX; i++)
                snap[k][t][i] = atomic_load_explicit(&s.retired[k][t][i],
                                                     memory_order_acquire);
}

static void
check_event(const struct mw_event *ev,
            unsigned long snap[KINDS + 1][REG_THREADS][SLOTS_MAX],
            struct tally *t)
{
    mw_token tok = ev->token;
    int kind = TOK_KIND(tok), th = TOK_THREAD(tok), slot = TOK_SLOT(tok);
    unsigned long gen = (unsigned long)TOK_GEN(tok);

    if (tok == HEARTBEAT) {
        t->heartbeat_events++;
        t->heartbeat_seen = atomic_load(&s.heartbeat_seq);
        if (ev->flags != MW_EV_READABLE)
            t->bad_waker_flags++;
        return;
    }
    if ((kind != KIND_FD && kind != KIND_WAKER) || th >= REG_THREADS
        || slot >= SLOTS_MAX || gen == 0
        || gen > atomic_load(&s.issued[kind][th][slot])
        || (kind == KIND_WAKER && (th != 0 || slot >= WAKER_SLOTS))) {
        t->unknown++;
        return;
    }
    if (gen <= snap[kind][th][slot]) {
        if (t->stale++ == 0)
            t->first_stale = tok;
        return;
    }
    if (kind == KIND_WAKER) {
        if (ev->flags != MW_EV_READABLE)
            t->bad_waker_flags++;
        if (slot & 1)
            t->silent_events++;
    }
}

/* Run the churn threads and the heartbeat, waiting on s.p all along,
 * then until the heartbeat's last value has been seen after an event.
 * Returns that last value. */
static long
wait_through_churn(mw_waker *hb, struct tally *t)
{
    static unsigned long snap[KINDS + 1][REG_THREADS][SLOTS_MAX];
    pthread_t reg[REG_THREADS], wk, hb_thread;
    int64_t start, final_at = 0;
    long final_hb = -1;

    start = util_now_ms();
    util_thread_start(&hb_thread, heartbeat, hb);
    for (int i = 0; i < REG_THREADS; i++)
        util_thread_start(&reg[i], churn_registrations, (void *)(intptr_t)i);
    util_thread_start(&wk, churn_wakers, NULL);

    for (;;) {
        struct mw_event ev[32];
        /* While the churn lasts the heartbeat keeps events coming, so
         * half the waits have no limit; after it, a quiet 10 s means the
         * last wake was lost. */
        int timeout = final_hb >= 0 ? 100 : (t->waits & 1) ? 50 : -1;
        int n;

        if (final_hb < 0 && atomic_load(&s.churners_done) == REG_THREADS + 1) {
            atomic_store(&s.stop_heartbeat, 1);
            util_thread_join(hb_thread);
            final_hb = atomic_load(&s.heartbeat_seq);
            final_at = util_now_ms();
            /* One last wake after the final value, as a producer would. */
            expect(mw_waker_wake(hb), 0);
        }
        if (final_hb >= 0 && t->heartbeat_seen == final_hb)
            break;
        snapshot(snap);
        n = mw_poll_wait(s.p, ev, 32, timeout);
        if (n == -EINTR) {
            t->eintr++;
            continue;
        }
        if (n < 0 || n > 32) {
            diag("mw_poll_wait returned %d (%s)", n, tap_errno_name(n));
            t->errors++;
            break;
        }
        if (n == 0) {
            if (timeout < 0)
                t->zero_at_minus1++;
            if (final_hb >= 0 && util_now_ms() - final_at > UTIL_LONG_MS)
                break;
            continue;
        }
        t->waits++;
        t->events += n;
        for (int i = 0; i < n; i++)
            check_event(&ev[i], snap, t);
    }
    for (int i = 0; i < REG_THREADS; i++)
        util_thread_join(reg[i]);
    util_thread_join(wk);
    diag("%ld operations, %ld heartbeat wakes; %ld events in %ld waits "
         "(%ld -EINTR) in %lld ms", (long)atomic_load(&s.ops),
         (long)atomic_load(&s.heartbeat_wakes), t->events, t->waits,
         t->eintr, (long long)(util_now_ms() - start));
    return final_hb;
}

/* No stale token, no lost wake, every call as it must. */
static void
report(const struct tally *t, long final_hb)
{
    is_int(atomic_load(&s.unexpected), 0, "every register, reregister, "
           "deregister, mw_waker_new and wake returned 0 (last bad rc %s)",
           tap_errno_name(atomic_load(&s.last_bad_rc)));
    is_int(t->errors, 0, "every wait returned events, 0 or -EINTR");
    is_int(t->zero_at_minus1, 0, "no wait with timeout -1 returned 0");
    if (!is_int(t->stale, 0, "no wait reported a token retired before it "
                "began (deregistered, reregistered or freed)"))
        diag("first stale token: kind %d thread %d slot %d generation %lu",
             TOK_KIND(t->first_stale), TOK_THREAD(t->first_stale),
             TOK_SLOT(t->first_stale),
             (unsigned long)TOK_GEN(t->first_stale));
    is_int(t->unknown, 0, "no event carried a token never handed out");
    /* Before the generation in waker cookies, 13 to 696 of 29,976 such
     * wakers got the in-flight event of the freed waker whose slot they
     * took (doc/ROBUSTNESS.md). */
    is_int(t->silent_events, 0, "no waker that was never woken got an event "
           "(of %ld such wakers)", (long)atomic_load(&s.silent_made));
    is_int(t->bad_waker_flags, 0, "every waker event's flags were exactly "
           "MW_EV_READABLE");
    is_int(t->heartbeat_seen, final_hb, "the heartbeat's last value was "
           "observed after an event (no wake lost under churn)");
    ok(t->heartbeat_events >= 1, "the heartbeat was reported (%ld events)",
       t->heartbeat_events);
}

/* A registration whose descriptor was closed while a dup of it lives on,
 * then deregistered: the kernel may keep watching the file (epoll does:
 * its set holds files, not numbers), and its events come with the old
 * cookie, which no longer names a registration.  The old token never
 * shows again; if the number is registered again, the old file's
 * readiness may show under the new token (the kernel allows nothing
 * stronger: see doc/ROBUSTNESS.md). */
static void
check_closed_with_dup(mw_waker *hb)
{
    long rounds = util_count(200, 4000, 10), stale_dup = 0;
    long under_new = 0, not_reused = 0, bad_rc = 0;

    for (long r = 0; r < rounds; r++) {
        mw_token old = (mw_token)0x7A000000 + (mw_token)(2 * r);
        mw_token fresh = old + 1;
        int a[2], b[2], d, num, hits = 0, others = 0;

        util_pipe(a);
        num = a[0];
        d = dup(a[0]);
        if (d < 0)
            bail_out("dup: %s", strerror(errno));
        bad_rc += mw_poll_register(s.p, num, old, MW_READABLE) != 0;
        util_close(a[0]);
        bad_rc += mw_poll_deregister(s.p, num) != 0;
        util_write_byte(a[1]);
        if (!util_fence(s.p, hb, HEARTBEAT, old, &hits, &others))
            bad_rc++;
        stale_dup += hits;
        util_pipe(b);
        if (b[0] == num) {
            bad_rc += mw_poll_register(s.p, num, fresh, MW_READABLE) != 0;
            util_write_byte(a[1]);
            hits = 0;
            others = 0;
            if (!util_fence(s.p, hb, HEARTBEAT, old, &hits, &others))
                bad_rc++;
            stale_dup += hits;
            under_new += others;
            bad_rc += mw_poll_deregister(s.p, num) != 0;
        } else {
            not_reused++;
        }
        util_close(b[0]);
        util_close(b[1]);
        util_close(d);
        util_close(a[1]);
        /* What the poll may still report for the old file. */
        util_poll_drain(s.p, 0, 4, NULL);
    }
    diag("closed with a dup alive: %ld rounds; the old file's readiness "
         "showed under the number's next token %ld times; number not "
         "reused %ld times", rounds, under_new, not_reused);
    is_int(bad_rc, 0, "closed with a dup alive: register, deregister "
           "(0 for a closed descriptor) and every fence worked");
    is_int(stale_dup, 0, "closed with a dup alive: after the deregister "
           "returned, the old token never showed, though the kernel may "
           "still watch the file");
}

/* The poll still works: a new registration and the waker. */
static void
check_still_works(mw_waker *hb)
{
    int fds[2];
    uint32_t flags = 0;

    util_pipe(fds);
    is_int(mw_poll_register(s.p, fds[0], 7, MW_READABLE), 0,
           "a descriptor can still be registered");
    util_write_byte(fds[1]);
    is_int(util_wait_token(s.p, 7, UTIL_LONG_MS, &flags, NULL), 1,
           "and its readiness is reported");
    is_int(mw_poll_deregister(s.p, fds[0]), 0, "and deregistered");
    util_close(fds[0]);
    util_close(fds[1]);
    is_int(mw_waker_wake(hb), 0, "the heartbeat waker still wakes");
    is_int(util_wait_token(s.p, HEARTBEAT, UTIL_LONG_MS, &flags, NULL), 1,
           "and is delivered");
}

int
main(void)
{
    static struct util_fds before, during, after;
    struct tally t;
    mw_waker *hb;
    int first = -1;
    bool same;
    long final_hb;

    tap_watchdog(util_stress() ? 900 : 120);
    s.reg_ops = util_count(6000, 120000, 20);
    s.waker_ops = util_count(6000, 120000, 20);
    diag("backend %s; %d registration threads x %ld operations, one waker "
         "thread x %ld", mw_backend(), REG_THREADS, s.reg_ops, s.waker_ops);

    /* Warm up once (an emulation may open descriptors of its own on first
     * use), then take the baseline. */
    {
        mw_poll *p0;
        mw_waker *w0;

        if (mw_poll_new(&p0) != 0 || mw_waker_new(&w0, p0, 1) != 0)
            bail_out("cannot create a poll and a waker");
        mw_waker_free(w0);
        mw_poll_free(p0);
        util_settle();
    }
    util_fds_take(&before);

    if (mw_poll_new(&s.p) != 0 || mw_waker_new(&hb, s.p, HEARTBEAT) != 0)
        bail_out("cannot create a poll and a waker");
    util_fds_take(&during);

    memset(&t, 0, sizeof t);
    final_hb = wait_through_churn(hb, &t);
    report(&t, final_hb);
    check_closed_with_dup(hb);
    same = util_fds_settled(&during, &after, &first);
    ok(same, "once the churn is over the open descriptors are those of the "
       "poll and its waker (first difference: %d)", first);
    check_still_works(hb);

    mw_waker_free(hb);
    mw_poll_free(s.p);
    first = -1;
    same = util_fds_settled(&before, &after, &first);
    ok(same, "after mw_poll_free no descriptor is left open (first "
       "difference: %d)", first);
    return done_testing();
}
