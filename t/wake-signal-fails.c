/* SPDX-License-Identifier: MIT */
/*
 * Promise: a wake whose signal fails returns the error, and does not leave
 * the waker "pending" with no event coming: the next wake signals again
 * (and, once the kernel object works again, is delivered).  The waker's
 * writable descriptor is swapped for a read-only /dev/null with dup2(), so
 * that its write() fails with EBADF, then swapped back.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN 5

/* The descriptor the waker writes to: the one it opened for writing.
 * Skips the whole test when it opened none. */
static int
wakers_writable_fd_or_skip(mw_poll *p, mw_waker **w)
{
    struct util_fds before, after;
    int fds[8], n, wfd = -1;

    util_fds_take(&before);
    if (mw_waker_new(w, p, TOKEN) != 0)
        bail_out("cannot create a waker");
    util_fds_take(&after);
    n = util_fds_new(&before, &after, fds, 8);
    util_fds_free(&before);
    util_fds_free(&after);
    for (int i = 0; i < n && i < 8; i++) {
        int mode = fcntl(fds[i], F_GETFL) & O_ACCMODE;

        if (mode == O_WRONLY || mode == O_RDWR)
            wfd = fds[i];
    }
    if (wfd < 0) {
        mw_waker_free(*w);
        mw_poll_free(p);
        plan_skip_all("%s: the waker has no descriptor to make fail",
                      mw_backend());
    }
    return wfd;
}

/* Returns a duplicate of the real descriptor, to put back. */
static int
failed_wake_returns_error_and_next_signals_again(mw_waker *w, int wfd)
{
    int saved, devnull, r;

    saved = dup(wfd);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (saved < 0 || devnull < 0 || dup2(devnull, wfd) < 0)
        bail_out("cannot swap the waker's descriptor: %s", strerror(errno));
    close(devnull);

    r = mw_waker_wake(w);
    is_errno(r, -EBADF, "a wake whose write fails returns the error");
    r = mw_waker_wake(w);
    is_errno(r, -EBADF, "the next wake signals again rather than merging "
             "into an event that is not coming");
    return saved;
}

static void
wake_is_delivered_once_the_fd_works_again(mw_poll *p, mw_waker *w, int wfd,
                                          int saved)
{
    int r;

    /* Put the real object back (dup2 keeps its registration where the
     * kernel keys it by the open file: a pipe's read end is untouched, and
     * an eventfd is read and written through the same file). */
    if (dup2(saved, wfd) < 0)
        bail_out("cannot restore the waker's descriptor: %s", strerror(errno));
    close(saved);
    r = mw_waker_wake(w);
    is_errno(r, 0, "once the descriptor works again the wake succeeds");
    r = util_wait_token(p, TOKEN, 5000, NULL, NULL);
    ok(r >= 1, "and its event is delivered");
}

int
main(void)
{
    int wfd, saved;
    mw_poll *p;
    mw_waker *w;

    tap_watchdog(60);
    if (mw_poll_new(&p) != 0)
        bail_out("cannot create a poll");
    wfd = wakers_writable_fd_or_skip(p, &w);
    saved = failed_wake_returns_error_and_next_signals_again(w, wfd);
    wake_is_delivered_once_the_fd_works_again(p, w, wfd, saved);

    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
