/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_free(3), mw_poll_free(3)): a waker may be freed
 * while its event is pending, and the poll before its wakers.  A woken
 * waker is on its poll's ready list until a wait takes it; one freed
 * while listed is reclaimed by the wait that takes it, and never handed
 * out; once the poll is freed, the wakers still alive are freed with the
 * hub they share, listed or not, and their wakes return 0.
 *
 *   1. of 16 wakers woken, the 8 freed before the wait are never handed
 *      out, and the other 8 are, once each; then nothing;
 *   2. the same when the wait had room for only some of them, and the
 *      freed ones were waiting in the poll's leftover for the next wait;
 *   3. wakers made after that (their memory may be the freed ones')
 *      deliver their own tokens;
 *   4. with the poll freed first, while some of its wakers are listed,
 *      a wake of each waker, listed or not, returns 0, and so does the
 *      next one; then the wakers are freed, listed or not, the last one
 *      listed: nothing leaks (the ASan and valgrind builds check);
 *   5. a waker woken and freed, and then its poll freed with no wait in
 *      between: nothing leaks either.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define N 16

/* Events from waits until nothing more comes: counts per token (tokens
 * 0 .. N-1, and base + i for the later ones); capacity cap per wait. */
static int
drain(mw_poll *p, size_t cap, int *count, mw_token base)
{
    struct mw_event ev[N];
    int total = 0, n;

    memset(count, 0, N * sizeof *count);
    /* The first wait may have to wait for the signal; the rest must
     * find what the first one left at once. */
    n = util_wait(p, ev, cap, UTIL_LONG_MS / 2);
    while (n > 0) {
        for (int i = 0; i < n; i++) {
            if (ev[i].token >= base && ev[i].token < base + N)
                count[ev[i].token - base]++;
            total++;
        }
        n = util_wait(p, ev, cap, 0);
    }
    if (n < 0)
        bail_out("mw_poll_wait: %s", tap_errno_name(n));
    return total;
}

static void
make(mw_poll *p, mw_waker **w, mw_token base)
{
    for (int i = 0; i < N; i++)
        if (mw_waker_new(&w[i], p, base + (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
}

static void
wake_all(mw_waker **w)
{
    for (int i = 0; i < N; i++)
        if (w[i] && mw_waker_wake(w[i]) != 0)
            bail_out("mw_waker_wake failed");
}

/* True if the events (count) came for the odd wakers only, once each. */
static bool
only_odd_once(const int *count)
{
    for (int i = 0; i < N; i++)
        if (count[i] != (i % 2 ? 1 : 0))
            return false;
    return true;
}

static void
freed_while_listed_are_not_handed_out(mw_poll *p)
{
    mw_waker *w[N];
    int count[N], total;
    struct mw_event ev[4];

    make(p, w, 0);
    wake_all(w);
    for (int i = 0; i < N; i += 2) {
        mw_waker_free(w[i]);
        w[i] = NULL;
    }
    total = drain(p, N, count, 0);
    ok(only_odd_once(count) && total == N / 2, "the %d wakers freed while "
       "listed are not handed out, the other %d are, once each (%d "
       "events)", N / 2, N / 2, total);

    /* Again, with the freed ones in the leftover of a wait that had room
     * for 4. */
    for (int i = 0; i < N; i += 2)
        if (mw_waker_new(&w[i], p, (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    wake_all(w);
    total = util_wait(p, ev, 4, UTIL_LONG_MS / 2);
    if (total != 4)
        bail_out("a wait of capacity 4 returned %d", total);
    memset(count, 0, sizeof count);
    for (int i = 0; i < 4; i++)
        count[ev[i].token]++;
    /* Free the even ones not handed out yet: they are in the leftover. */
    for (int i = 0; i < N; i += 2) {
        if (count[i] == 0) {
            mw_waker_free(w[i]);
            w[i] = NULL;
        }
    }
    {
        int rest[N], more;

        more = drain(p, N, rest, 0);
        for (int i = 0; i < N; i++)
            count[i] += rest[i];
        for (int i = 0; i < N; i++) {
            bool kept = w[i] != NULL;

            if (count[i] != (kept ? 1 : 0))
                more = -1;
        }
        ok(more >= 0, "freed while waiting in the poll's leftover for the "
           "next wait, they are not handed out either; every other "
           "waker is, once");
    }
    is_int(util_wait(p, ev, 4, 0), 0, "and then nothing is left");

    for (int i = 0; i < N; i++)
        mw_waker_free(w[i]);
}

static void
later_wakers_deliver_their_own_tokens(mw_poll *p)
{
    mw_waker *w[N];
    int count[N], total;
    bool once = true;

    make(p, w, 100);
    wake_all(w);
    total = drain(p, N, count, 100);
    for (int i = 0; i < N; i++)
        once &= count[i] == 1;
    ok(once && total == N, "wakers made afterwards deliver their own "
       "tokens, once each (%d events)", total);
    for (int i = 0; i < N; i++)
        mw_waker_free(w[i]);
}

static void
poll_freed_first(void)
{
    mw_waker *w[N];
    mw_poll *p;
    int bad_first = 0, bad_again = 0;

    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    make(p, w, 0);
    /* A quarter listed and freed, a quarter listed and kept. */
    for (int i = 0; i < N / 2; i++)
        if (mw_waker_wake(w[i]) != 0)
            bail_out("mw_waker_wake failed");
    for (int i = 0; i < N / 4; i++) {
        mw_waker_free(w[i]);
        w[i] = NULL;
    }
    mw_poll_free(p);
    for (int i = N / 4; i < N; i++) {
        bad_first += mw_waker_wake(w[i]) != 0;
        bad_again += mw_waker_wake(w[i]) != 0;
    }
    is_int(bad_first, 0, "with the poll freed first, a wake of each of "
           "its wakers, listed or not, returns 0");
    is_int(bad_again, 0, "and so does the next one");
    /* Free them listed (woken after the poll was freed) but one, which
     * is freed idle in the middle; the last reference is a listed one. */
    for (int i = N / 4; i < N; i++)
        if (i == N / 2)
            mw_waker_free(w[i]);
    for (int i = N / 4; i < N; i++)
        if (i != N / 2)
            mw_waker_free(w[i]);
    ok(true, "then each of them is freed, listed or not, the last one "
       "listed (a leak is the ASan or valgrind build's failure)");
}

static void
freed_listed_then_poll_without_a_wait(void)
{
    mw_waker *w, *idle;
    mw_poll *p;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0
        || mw_waker_new(&idle, p, 2) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");
    is_errno(mw_waker_wake(w), 0, "a waker is woken");
    mw_waker_free(w);
    mw_poll_free(p);
    is_errno(mw_waker_wake(idle), 0, "freed, and its poll freed with no wait "
             "between; a waker of that poll woken afterwards returns 0");
    mw_waker_free(idle);
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(60);
    plan(9);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    freed_while_listed_are_not_handed_out(p);
    later_wakers_deliver_their_own_tokens(p);
    mw_poll_free(p);
    poll_freed_first();
    freed_listed_then_poll_without_a_wait();
    return done_testing();
}
