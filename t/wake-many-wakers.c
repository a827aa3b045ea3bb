/* SPDX-License-Identifier: MIT */
/*
 * Promise: several wakers may be attached to one poll; each delivers its
 * own token.  Waking a subset gives exactly that subset; a wait fills at
 * most `capacity` events and the rest stay for the next wait; a freed
 * waker's token never appears again.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define N 8
#define MANY 100
#define BASE 100        /* waker i has token BASE + i */
#define NEWBASE 500     /* wakers made after some were freed */

/* Per-token tally of one collection. */
struct tally {
    int count[1000];    /* events per token (tokens < 1000) */
    int foreign;        /* events with any other token */
    int bad_flags;      /* events whose flags were not MW_EV_READABLE */
    int over_capacity;  /* waits that returned more than capacity */
    int errors;         /* waits that failed other than -EINTR */
};

static void
tally_add(struct tally *t, const struct mw_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        if (ev[i].token < 1000)
            t->count[ev[i].token]++;
        else
            t->foreign++;
        if (ev[i].flags != MW_EV_READABLE)
            t->bad_flags++;
    }
}

/* Wait (-1) until `expect` events came, then keep collecting with timeout
 * 0 until a wait gives nothing; capacity cap each time. */
static void
collect(mw_poll *p, size_t cap, int expect, struct tally *t)
{
    struct mw_event ev[MANY + 8];
    int got = 0, n;

    memset(t, 0, sizeof *t);
    for (;;) {
        n = mw_poll_wait(p, ev, cap, got < expect ? UTIL_LONG_MS : 0);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            t->errors++;
            return;
        }
        if (n == 0)
            return;
        if ((size_t)n > cap) {
            t->over_capacity++;
            n = (int)cap;
        }
        tally_add(t, ev, n);
        got += n;
    }
}

/* Did exactly the tokens in want[0..nw) come, once each, and nothing
 * else?  Prints what differed. */
static bool
exactly(const struct tally *t, const mw_token *want, int nw)
{
    bool good = t->foreign == 0 && t->errors == 0 && t->over_capacity == 0;
    int expected[1000];

    memset(expected, 0, sizeof expected);
    for (int i = 0; i < nw; i++)
        expected[want[i]] = 1;
    for (int i = 0; i < 1000; i++)
        if (t->count[i] != expected[i]) {
            diag("token %d: %d events, expected %d", i, t->count[i],
                 expected[i]);
            good = false;
        }
    if (t->foreign || t->errors || t->over_capacity)
        diag("foreign %d, errors %d, over capacity %d", t->foreign,
             t->errors, t->over_capacity);
    return good;
}

/* The poll and its wakers, which each promise below leaves for the next. */
struct fixture {
    mw_poll *p;
    mw_waker *w[MANY];
};

static void
wakers_attach_to_one_poll(struct fixture *fx)
{
    int good = 0;

    if (mw_poll_new(&fx->p) != 0)
        bail_out("mw_poll_new failed");
    for (int i = 0; i < N; i++)
        good += mw_waker_new(&fx->w[i], fx->p, BASE + i) == 0
                && fx->w[i] != NULL;
    if (!is_int(good, N, "%d wakers can be attached to one poll", N))
        bail_out("cannot create the wakers");
}

static void
waker_alone_delivers_its_own_token(struct fixture *fx)
{
    mw_token want[1];
    struct tally t;
    int good = 0;

    for (int i = 0; i < N; i++) {
        want[0] = BASE + i;
        if (mw_waker_wake(fx->w[i]) != 0)
            continue;
        collect(fx->p, 16, 1, &t);
        good += exactly(&t, want, 1);
    }
    is_int(good, N, "each of %d wakers woken alone delivers its own token "
           "and nothing else", N);
}

static void
all_wakers_give_each_token_once(struct fixture *fx)
{
    mw_token want[N];
    struct tally t;
    int good = 0;

    for (int i = 0; i < N; i++) {
        good += mw_waker_wake(fx->w[i]) == 0;
        want[i] = BASE + i;
    }
    collect(fx->p, 16, N, &t);
    ok(good == N && exactly(&t, want, N), "waking all %d wakers gives "
       "each token exactly once", N);
    is_int(t.bad_flags, 0, "every waker event's flags are exactly "
           "MW_EV_READABLE");
}

static void
subset_woken_twice_gives_that_subset_once(struct fixture *fx)
{
    static const int subset[] = { 1, 3, 4, 6 };
    int ns = (int)(sizeof subset / sizeof subset[0]);
    mw_token want[N];
    struct tally t;

    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ns; i++)
            mw_waker_wake(fx->w[subset[i]]);
    for (int i = 0; i < ns; i++)
        want[i] = BASE + subset[i];
    collect(fx->p, 16, ns, &t);
    ok(exactly(&t, want, ns), "waking a subset of the wakers (twice "
       "each) gives exactly that subset, once each");
}

static void
events_beyond_capacity_stay_for_next_wait(struct fixture *fx)
{
    struct mw_event ev[4];
    mw_token want[N];
    struct tally t, rest;
    int n, saw_all;

    for (int i = 0; i < N; i++)
        mw_waker_wake(fx->w[i]);
    do
        n = mw_poll_wait(fx->p, ev, 3, -1);
    while (n == -EINTR);
    ok(n >= 1 && n <= 3, "a wait with capacity 3 and %d events "
       "pending returns between 1 and 3 events (got %d)", N, n);
    memset(&t, 0, sizeof t);
    if (n > 0 && n <= 3)
        tally_add(&t, ev, n);
    collect(fx->p, 3, N - (n > 0 && n <= 3 ? n : 0), &rest);
    for (int i = 0; i < 1000; i++)
        t.count[i] += rest.count[i];
    t.foreign += rest.foreign;
    t.errors += rest.errors;
    t.over_capacity += rest.over_capacity;
    for (int i = 0; i < N; i++)
        want[i] = BASE + i;
    saw_all = exactly(&t, want, N);
    ok(saw_all, "the events that did not fit are returned by the "
       "following waits, each token exactly once");
}

/* Waker 2 is freed with its event pending, 5 while idle. */
static void
freed_waker_never_delivers_its_pending_event(struct fixture *fx)
{
    mw_token want[1];
    struct tally t;

    mw_waker_wake(fx->w[2]);
    mw_waker_wake(fx->w[6]);
    mw_waker_free(fx->w[2]);
    mw_waker_free(fx->w[5]);
    fx->w[2] = fx->w[5] = NULL;
    collect(fx->p, 16, 1, &t);
    want[0] = BASE + 6;
    ok(exactly(&t, want, 1), "a waker freed with its event pending never "
       "delivers it; the others still do");
}

/* New wakers may reuse whatever the freed ones held. */
static void
new_wakers_never_show_freed_tokens(struct fixture *fx)
{
    mw_token want[N];
    struct tally t;

    if (mw_waker_new(&fx->w[2], fx->p, NEWBASE + 2) != 0
        || mw_waker_new(&fx->w[5], fx->p, NEWBASE + 5) != 0)
        bail_out("mw_waker_new failed");
    for (int i = 0; i < N; i++) {
        mw_waker_wake(fx->w[i]);
        want[i] = (i == 2 || i == 5 ? NEWBASE : BASE) + i;
    }
    collect(fx->p, 16, N, &t);
    ok(exactly(&t, want, N), "after freeing two wakers and making two new "
       "ones, every wake gives the new tokens and never the freed ones");
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < N; i++)
            mw_waker_wake(fx->w[i]);
        collect(fx->p, 16, N, &t);
        if (t.count[BASE + 2] || t.count[BASE + 5])
            break;
    }
    ok(t.count[BASE + 2] == 0 && t.count[BASE + 5] == 0, "three more "
       "rounds never show a freed waker's token");

    for (int i = 0; i < N; i++)
        mw_waker_free(fx->w[i]);
}

static void
many_wakers_give_distinct_tokens(struct fixture *fx)
{
    mw_token want[MANY];
    struct tally t;
    int good = 0;

    for (int i = 0; i < MANY; i++)
        good += mw_waker_new(&fx->w[i], fx->p, BASE + i) == 0;
    if (!is_int(good, MANY, "%d wakers can be attached to one poll", MANY))
        bail_out("cannot create %d wakers", MANY);
    for (int i = 0; i < MANY; i++) {
        mw_waker_wake(fx->w[i]);
        want[i] = BASE + i;
    }
    collect(fx->p, MANY + 8, MANY, &t);
    ok(exactly(&t, want, MANY), "waking %d wakers gives %d distinct "
       "tokens, once each", MANY, MANY);
    for (int i = 0; i < MANY; i += 2) {
        mw_waker_wake(fx->w[i]);
        want[i / 2] = BASE + i;
    }
    collect(fx->p, 7, MANY / 2, &t);
    ok(exactly(&t, want, MANY / 2), "waking every second one of %d "
       "wakers, collected 7 at a time, gives exactly those", MANY);
    for (int i = 0; i < MANY; i++)
        mw_waker_free(fx->w[i]);
}

int
main(void)
{
    struct fixture fx;

    tap_watchdog(60);

    wakers_attach_to_one_poll(&fx);
    waker_alone_delivers_its_own_token(&fx);
    all_wakers_give_each_token_once(&fx);
    subset_woken_twice_gives_that_subset_once(&fx);
    events_beyond_capacity_stay_for_next_wait(&fx);
    freed_waker_never_delivers_its_pending_event(&fx);
    new_wakers_never_show_freed_tokens(&fx);
    many_wakers_give_distinct_tokens(&fx);

    mw_poll_free(fx.p);
    return done_testing();
}
