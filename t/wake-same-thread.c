/* SPDX-License-Identifier: MIT */
/*
 * Promise: a waker makes mw_poll_wait return an event whose token is the
 * waker's and whose flags are exactly MW_EV_READABLE; once collected, it
 * is gone.  Here the wake and the wait happen on the same thread.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

static int object_for_pointer_token;

static void
round_trip(mw_poll *p, mw_waker *w, mw_token tok, int timeout_ms,
           const char *what)
{
    struct mw_event ev[8];
    int r;

    errno = 4321;
    r = mw_waker_wake(w);
    is_errno(r, 0, "%s: mw_waker_wake returns 0", what);
    is_int(errno, 4321, "%s: mw_waker_wake leaves errno alone", what);

    ev[0].token = tok + 1;
    ev[0].flags = 0xdead;
    errno = 4321;
    r = mw_poll_wait(p, ev, 8, timeout_ms);
    is_int(r, 1, "%s: a wait with timeout %d after one wake gives exactly "
           "one event", what, timeout_ms);
    is_int(errno, 4321, "%s: mw_poll_wait leaves errno alone", what);
    ok(r >= 1 && ev[0].token == tok,
       "%s: the event carries the waker's token", what);
    if (r >= 1 && ev[0].token != tok)
        diag("got token %#jx, expected %#jx", (uintmax_t)ev[0].token,
             (uintmax_t)tok);
    ok(r >= 1 && ev[0].flags == MW_EV_READABLE,
       "%s: the event's flags are exactly MW_EV_READABLE", what);
    if (r >= 1 && ev[0].flags != MW_EV_READABLE)
        diag("got flags %s", util_flags_str(ev[0].flags));

    r = mw_poll_wait(p, ev, 8, 0);
    is_int(r, 0, "%s: after the event was collected a wait with timeout 0 "
           "gives nothing", what);
}

static mw_poll *
new_poll_reports_nothing(void)
{
    mw_poll *p = NULL;
    struct mw_event ev[4];
    int r;

    r = mw_poll_new(&p);
    if (!is_errno(r, 0, "mw_poll_new succeeds") || p == NULL)
        bail_out("cannot create a poll");
    diag("backend %s, version %s", mw_backend(), mw_version());

    r = mw_poll_wait(p, ev, 4, 0);
    is_int(r, 0, "a new poll has nothing to report");
    return p;
}

/* Tokens at the edges of mw_token's range, and a pointer. */
static void
any_token_comes_back_exactly(mw_poll *p)
{
    static const struct {
        mw_token tok;
        const char *what;
    } tokens[] = {
        { 0, "token 0" },
        { 7, "token 7" },
        { (mw_token)1 << 31, "token 2^31" },
        { UINTPTR_MAX, "token UINTPTR_MAX" },
        { 0, "a pointer token" },   /* filled in below */
    };
    struct mw_event ev[4];
    mw_waker *w;
    int r;

    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        mw_token tok = tokens[i].tok;

        if (i == sizeof tokens / sizeof tokens[0] - 1)
            tok = (mw_token)(void *)&object_for_pointer_token;
        w = NULL;
        r = mw_waker_new(&w, p, tok);
        if (!is_errno(r, 0, "%s: mw_waker_new succeeds", tokens[i].what)
            || w == NULL)
            bail_out("cannot create a waker");
        r = mw_poll_wait(p, ev, 4, 0);
        is_int(r, 0, "%s: a new waker has no event before a wake",
               tokens[i].what);
        round_trip(p, w, tok, -1, tokens[i].what);
        round_trip(p, w, tok, 0, tokens[i].what);
        round_trip(p, w, tok, 5000, tokens[i].what);
        mw_waker_free(w);
    }
}

/* With room for just one event. */
static void
collected_waker_wakes_again_any_number_of_times(mw_poll *p)
{
    mw_waker *w = NULL;
    int r, good = 0;

    r = mw_waker_new(&w, p, 99);
    if (r != 0 || w == NULL)
        bail_out("cannot create a waker");
    for (int i = 0; i < 100; i++) {
        struct mw_event one;

        if (mw_waker_wake(w) == 0
            && mw_poll_wait(p, &one, 1, -1) == 1
            && one.token == 99 && one.flags == MW_EV_READABLE
            && mw_poll_wait(p, &one, 1, 0) == 0)
            good++;
    }
    is_int(good, 100, "100 wake/wait rounds each give exactly one "
           "event (capacity 1)");
    mw_waker_free(w);
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(60);

    p = new_poll_reports_nothing();
    any_token_comes_back_exactly(p);
    collected_waker_wakes_again_any_number_of_times(p);

    mw_poll_free(p);
    return done_testing();
}
