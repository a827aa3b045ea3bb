/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3), NOTES): wakers taken from the ready list
 * beyond the caller's array go out first on the next wait, oldest first,
 * but not at the expense of the registered descriptors: while such a
 * backlog lasts, half of each wait's room goes to what is ready now.
 *
 *   1. 200 wakers woken, and a registered pipe made readable: with
 *      capacity 4, the pipe's event comes within the first two waits,
 *      long before the 200 wakers' events are all out;
 *   2. every waker's event comes exactly once all the same;
 *   3. the wakers' events come in the order they were woken;
 *   4. with capacity 1 the backlog still drains, one waker a wait.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define NWAKERS 200
#define T_PIPE ((mw_token)0xF00D)

static int seen[NWAKERS];
static int pipe_at = -1, dup_or_foreign, order_bad, got, next_token, waits;

/* Count what one wait returned. */
static void
tally(const struct mw_event *ev, int n)
{
    waits++;
    for (int k = 0; k < n; k++) {
        if (ev[k].token == T_PIPE) {
            if (pipe_at < 0)
                pipe_at = waits;
        } else if (ev[k].token < NWAKERS) {
            if (seen[ev[k].token]++)
                dup_or_foreign++;
            if ((int)ev[k].token != next_token++)
                order_bad++;
            got++;
        } else {
            dup_or_foreign++;
        }
    }
}

int
main(void)
{
    static mw_waker *w[NWAKERS];
    mw_poll *p;
    int fds[2], n;

    tap_watchdog(60);
    plan(4);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    for (int i = 0; i < NWAKERS; i++)
        if (mw_waker_new(&w[i], p, (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    for (int i = 0; i < NWAKERS; i++)
        if (mw_waker_wake(w[i]) != 0)
            bail_out("mw_waker_wake failed");
    /* The first wait takes the whole list; the pipe becomes ready after
     * it, while the backlog is still long. */
    {
        struct mw_event ev[4];

        n = mw_poll_wait(p, ev, 4, UTIL_LONG_MS);
        tally(ev, n > 0 ? n : 0);
    }
    if (write(fds[1], "x", 1) != 1)
        bail_out("write failed");
    while (got < NWAKERS || pipe_at < 0) {
        struct mw_event ev[4];

        n = mw_poll_wait(p, ev, 4, UTIL_LONG_MS);
        if (n <= 0)
            break;
        tally(ev, n);
    }
    ok(pipe_at >= 1 && pipe_at <= 2, "the pipe's event came in wait %d "
       "of %d, while the backlog of %d wakers' events lasted", pipe_at,
       waits, NWAKERS);
    ok(got == NWAKERS && dup_or_foreign == 0, "every waker's event came "
       "once (%d events, %d duplicate or foreign)", got, dup_or_foreign);
    is_int(order_bad, 0, "in the order they were woken");

    /* Capacity 1: the backlog drains one waker a wait. */
    for (int i = 0; i < 10; i++)
        (void)mw_waker_wake(w[i]);
    got = 0;
    for (int i = 0; i < 20; i++) {
        struct mw_event ev[1];

        n = mw_poll_wait(p, ev, 1, 0);
        if (n != 1)
            break;
        if (ev[0].token < 10)
            got++;
    }
    is_int(got, 10, "with capacity 1, ten wakers come in ten waits");
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[i]);
    mw_poll_free(p);
    util_close(fds[0]);
    util_close(fds[1]);
    return done_testing();
}
