/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_new(3), NOTES): the object the wakers of a poll share
 * stays open after mw_poll_free() until the last of its wakers is freed,
 * so that a wake never reaches a descriptor number that was closed (and
 * maybe reused); then it is closed.
 *
 *   1. after mw_poll_free, with two wakers alive, the wakers' descriptors
 *      are still open and still the same kind of file;
 *   2. a wake on each then returns 0;
 *   3. after the first waker is freed they are still open;
 *   4. after the second they are closed.
 * Where the wakers share an EVFILT_USER knote there is no descriptor of
 * theirs to look at, and the cases skip.
 */
#include "config.h"

#include <fcntl.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

static bool
is_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

int
main(void)
{
    struct util_fds before, after;
    enum util_fd_kind kind;
    int rfd = -1, wfd = -1;
    mw_waker *a, *b;
    mw_poll *p;

    tap_watchdog(60);
    plan(4);
    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    util_hub_fds(&before, &after, &rfd, &wfd);
    util_fds_free(&before);
    util_fds_free(&after);
    if (mw_waker_new(&a, p, 1) != 0 || mw_waker_new(&b, p, 2) != 0)
        bail_out("mw_waker_new failed");
    if (rfd < 0) {
        mw_poll_free(p);
        mw_waker_free(a);
        mw_waker_free(b);
        skip(4, "%s: the wakers share no descriptor", mw_backend());
        return done_testing();
    }
    kind = util_fd_kind(rfd);
    mw_poll_free(p);
    ok(is_open(rfd) && is_open(wfd) && util_fd_kind(rfd) == kind,
       "after mw_poll_free the wakers' descriptors (%d, %d) are still "
       "open, the same kind of file", rfd, wfd);
    ok(mw_waker_wake(a) == 0 && mw_waker_wake(b) == 0,
       "a wake on each waker returns 0");
    mw_waker_free(a);
    ok(is_open(rfd) && is_open(wfd), "after the first waker is freed "
       "they are still open");
    mw_waker_free(b);
    ok(!is_open(rfd) && !is_open(wfd), "after the last waker is freed "
       "they are closed");
    return done_testing();
}
