/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_wake(3)): a wake whose signal fails returns the
 * error, and does not leave the waker "pending" with no event coming.
 * The wakers of a poll share its one kernel object (mw_poll_new opens
 * it), so a failed signal is owed by the whole poll:
 *   - the waker whose signal failed is left listed but "unsignalled":
 *     its own next wake signals again instead of merging;
 *   - the poll owes a signal: the next wake of any other waker of the
 *     poll signals too, even though the list it joins is not empty;
 *   - once the kernel object works again, (a) a later wake of the same
 *     waker is delivered, and (b) so is a later wake of another waker.
 * The object's writable descriptor (the eventfd, or the pipe's write
 * end, among those mw_poll_new opened) is swapped for a read-only
 * /dev/null with dup2(), so that its write fails with EBADF, then
 * swapped back.  An EVFILT_USER knote has no descriptor: there the
 * wrapper of kevent() (t/lib/wrap.h) makes the trigger fail with EBADF.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_A ((mw_token)5)
#define T_B ((mw_token)6)

static int wfd = -1;            /* the descriptor a wake writes to */
static int saved_fd = -1;       /* the real object while it is swapped */
static bool fail_kevent;        /* kqueue+user: fail the trigger */

static int
fail_trigger(const struct kevent *changes, int nchanges, int nevents)
{
    (void)changes;
    return fail_kevent && nchanges == 1 && nevents == 0 ? EBADF : 0;
}

/* Create the poll and find its wakers' descriptor; skips the test when
 * there is neither a descriptor to swap nor a kevent() to wrap. */
static mw_poll *
poll_with_breakable_signal(void)
{
    struct util_fds before, after;
    mw_poll *p;
    int rfd;

    wrap_init();
    wrap_before_kevent_hook = fail_trigger;
    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("cannot create a poll");
    util_fds_take(&after);
    util_hub_fds(&before, &after, &rfd, &wfd);
    util_fds_free(&before);
    util_fds_free(&after);
    if (wfd >= 0) {
        diag("%s: the wakers' object writes to descriptor %d", mw_backend(),
             wfd);
    } else if (util_caps()->set_call == UTIL_SET_KEVENT
               && wrap_forwards(WRAP_KEVENT)) {
        diag("%s: the wakers' knote's trigger is made to fail in kevent()",
             mw_backend());
    } else {
        mw_poll_free(p);
        plan_skip_all("%s: the wakers' object has no descriptor to make "
                      "fail, and kevent() cannot be wrapped", mw_backend());
    }
    return p;
}

static void
break_signal(void)
{
    int devnull;

    if (wfd < 0) {
        fail_kevent = true;
        return;
    }
    saved_fd = fcntl(wfd, F_DUPFD_CLOEXEC, 0);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (saved_fd < 0 || devnull < 0 || dup2(devnull, wfd) < 0)
        bail_out("cannot swap the wakers' descriptor: %s", strerror(errno));
    util_close(devnull);
}

/* Put the real object back (dup2 keeps its registration, which the
 * kernel keys by the open file: the saved duplicate kept it alive). */
static void
restore_signal(void)
{
    if (wfd < 0) {
        fail_kevent = false;
        return;
    }
    if (dup2(saved_fd, wfd) < 0)
        bail_out("cannot restore the wakers' descriptor: %s",
                 strerror(errno));
    util_close(saved_fd);
    saved_fd = -1;
}

/* Collect events until every token of want (bit 0: T_A, bit 1: T_B) has
 * come or timeout_ms passes; returns the tokens seen (same bits). */
static unsigned
collect(mw_poll *p, unsigned want, int timeout_ms)
{
    struct mw_event ev[8];
    int64_t end = util_now_ms() + timeout_ms;
    unsigned seen = 0;

    while ((seen & want) != want) {
        int left = (int)(end - util_now_ms());
        int n;

        if (left < 0)
            left = 0;
        n = util_wait(p, ev, 8, left);
        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        for (int i = 0; i < n; i++)
            seen |= ev[i].token == T_A ? 1u : ev[i].token == T_B ? 2u : 0u;
        if (n == 0 && left == 0)
            break;
    }
    return seen;
}

/* Failed wakes, then (a): the same waker's later wake is delivered. */
static void
same_waker_signals_again(mw_poll *p, mw_waker *a, mw_waker *b)
{
    unsigned seen;

    break_signal();
    is_errno(mw_waker_wake(a), -EBADF, "a wake whose signal fails returns "
             "the error");
    is_errno(mw_waker_wake(a), -EBADF, "the next wake of the same waker "
             "signals again rather than merging into an event that is not "
             "coming");
    is_errno(mw_waker_wake(b), -EBADF, "a wake of another waker of the "
             "poll, while that signal is owed, signals too rather than "
             "trusting the non-empty list");
    restore_signal();
    is_errno(mw_waker_wake(a), 0, "once the object works again, a wake of "
             "the waker whose signal failed succeeds");
    seen = collect(p, 3, UTIL_LONG_MS / 2);
    ok(seen & 1, "(a) and the waker's event is delivered");
    ok(seen & 2, "the other waker, listed by its failed wake, is handed "
       "out by the same wait");
    is_int(collect(p, 3, 0), 0, "each of them once");
}

/* A failed wake, then (b): another waker's later wake is delivered, and
 * so is the failed one's listed waker. */
static void
other_waker_signals_the_owed(mw_poll *p, mw_waker *a, mw_waker *b)
{
    unsigned seen;

    break_signal();
    is_errno(mw_waker_wake(a), -EBADF, "again: a wake whose signal fails "
             "returns the error");
    restore_signal();
    is_errno(mw_waker_wake(b), 0, "once the object works again, a wake of "
             "another waker of the poll succeeds");
    seen = collect(p, 3, UTIL_LONG_MS / 2);
    ok(seen & 2, "(b) and its event is delivered: it signalled although "
       "the list it joined was not empty");
    ok(seen & 1, "the waker whose signal failed, still listed, is handed "
       "out with it");
    is_int(collect(p, 3, 0), 0, "each of them once");
}

static void
both_work_afterwards(mw_poll *p, mw_waker *a, mw_waker *b)
{
    ok(mw_waker_wake(a) == 0 && mw_waker_wake(b) == 0
           && collect(p, 3, UTIL_LONG_MS / 2) == 3,
       "afterwards both wakers wake and are delivered as usual");
}

int
main(void)
{
    mw_poll *p;
    mw_waker *a, *b;

    tap_watchdog(60);
    p = poll_with_breakable_signal();
    if (mw_waker_new(&a, p, T_A) != 0 || mw_waker_new(&b, p, T_B) != 0)
        bail_out("cannot create the wakers");
    plan(13);
    same_waker_signals_again(p, a, b);
    other_waker_signals_the_owed(p, a, b);
    both_work_afterwards(p, a, b);

    mw_waker_free(a);
    mw_waker_free(b);
    mw_poll_free(p);
    return done_testing();
}
