/* SPDX-License-Identifier: MIT */
/*
 * Promise: mw_poll_fd gives the poller's own descriptor (epoll or kqueue)
 * for nesting the poll in another event loop, or -ENOTSUP on the poll(2)
 * fallback.  The descriptor becomes readable when the poll has an event:
 * a waker woken, a registered descriptor ready.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_WAKER 1
#define T_PIPE 2
#define T_INNER 3
#define T_OUTER_WAKER 4

/* -ENOTSUP, or the descriptor once it is known to be open and the same
 * every time. */
static int
poll_fd_is_given_except_on_fallbacks(mw_poll *p, bool works)
{
    const char *backend = mw_backend();
    int fd, fd2;

    fd = mw_poll_fd(p);
    if (fd == -ENOTSUP) {
        ok(!works, "mw_poll_fd is -ENOTSUP only on the poll(2) "
           "fallback or under libkqueue (backend %s)", backend);
        return fd;
    }
    ok(fd >= 0, "mw_poll_fd returns a descriptor on %s (%s)", backend,
       tap_errno_name(fd));
    if (fd < 0)
        bail_out("no descriptor to test");
    ok(works, "a backend that gives a descriptor is not "
       "the poll(2) fallback nor libkqueue");
    ok(util_fd_is_open(fd), "the descriptor is open");
    fd2 = mw_poll_fd(p);
    is_int(fd2, fd, "mw_poll_fd gives the same descriptor every time");
    return fd;
}

static void
wake_makes_poll_fd_readable(mw_poll *p, mw_waker *w, int fd)
{
    struct mw_event ev[8];
    int r;

    ok(!util_fd_readable(fd, 0), "with nothing pending the descriptor is "
       "not readable");
    mw_waker_wake(w);
    ok(util_fd_readable(fd, UTIL_LONG_MS), "after a wake the descriptor "
       "is readable");
    r = mw_poll_wait(p, ev, 8, 0);
    ok(r == 1 && ev[0].token == T_WAKER, "and mw_poll_wait(0) then returns "
       "the waker's event");
}

static void
cross_thread_wake_wakes_poll_on_poll_fd(mw_poll *p, mw_waker *w, int fd)
{
    struct util_later l = { w, 50 };
    pthread_t t;
    int r;

    util_thread_start(&t, util_wake_later, &l);
    ok(util_fd_readable(fd, UTIL_LONG_MS), "a wake from another thread "
       "makes a poll(2) blocked on the descriptor return readable");
    util_thread_join(t);
    r = util_wait_token(p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(r, 1, "and the waker's event is there");
}

/* Leaves fds[0] registered. */
static void
ready_registered_fd_makes_poll_fd_readable(mw_poll *p, int fd, int fds[2])
{
    int r;

    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    util_write_byte(fds[1]);
    ok(util_fd_readable(fd, UTIL_LONG_MS), "a registered pipe becoming "
       "readable makes the descriptor readable");
    r = util_wait_token(p, T_PIPE, UTIL_LONG_MS, NULL, NULL);
    is_int(r, 1, "and the pipe's event is there");
    util_drain(fds[0]);
}

static void
poll_nests_in_another_poll(mw_poll *p, mw_waker *w, int fd)
{
    struct util_later l = { w, 50 };
    mw_poll *outer;
    pthread_t t;
    uint32_t flags;
    int r;

    if (mw_poll_new(&outer) != 0)
        bail_out("mw_poll_new failed");
    r = mw_poll_register(outer, fd, T_INNER, MW_READABLE);
    is_errno(r, 0, "the descriptor can be registered in another poll");
    util_thread_start(&t, util_wake_later, &l);
    r = util_wait_token(outer, T_INNER, UTIL_LONG_MS, &flags, NULL);
    util_thread_join(t);
    ok(r == 1 && (flags & MW_EV_READABLE), "a wake on the inner poll "
       "makes the outer poll report the inner one readable");
    r = util_wait_token(p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(r, 1, "and the inner poll then has the waker's event");
    mw_poll_deregister(outer, fd);
    mw_poll_free(outer);
}

int
main(void)
{
    /* The poll(2) fallback has no descriptor, and libkqueue's never
     * becomes readable: both answer -ENOTSUP (mw_poll_fd(3)). */
    bool works = util_caps()->poll_fd_works;
    mw_poll *p;
    mw_waker *w;
    int fd, fds[2];

    tap_watchdog(60);

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, T_WAKER) != 0)
        bail_out("cannot create a poll and a waker");
    fd = poll_fd_is_given_except_on_fallbacks(p, works);
    if (fd == -ENOTSUP) {
        mw_waker_free(w);
        mw_poll_free(p);
        return done_testing();
    }
    wake_makes_poll_fd_readable(p, w, fd);
    cross_thread_wake_wakes_poll_on_poll_fd(p, w, fd);
    ready_registered_fd_makes_poll_fd_readable(p, fd, fds);
    poll_nests_in_another_poll(p, w, fd);

    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
