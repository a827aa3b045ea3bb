/* SPDX-License-Identifier: MIT */
/*
 * Promise (<miowake.h>): mw_poll_free only closes descriptors, so it is
 * safe after fork(): a child that frees its copies of a poll and its
 * wakers leaves the parent's poll working, with every registration and
 * waker in place.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_W1 1
#define T_W2 2
#define T_PIPE 3

/* The parent's objects, which the child frees its copies of. */
struct fixture {
    mw_poll *p;
    mw_waker *w1, *w2;
    int fds[2];
};

static void
child_frees_its_copies_and_exits(const struct fixture *fx)
{
    pid_t pid;
    int status;

    pid = util_fork();
    if (pid == 0) {
        alarm(0);
        mw_waker_free(fx->w1);
        mw_poll_free(fx->p);
        mw_waker_free(fx->w2);
        util_child_exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child "
       "frees its copies of the poll and the wakers and exits normally");
}

static void
parents_wakers_and_registration_still_work(const struct fixture *fx)
{
    uint32_t flags;

    is_int(mw_waker_wake(fx->w1), 0, "the parent's first waker still wakes");
    is_int(util_wait_token(fx->p, T_W1, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's poll still reports the first waker");
    is_int(mw_waker_wake(fx->w2), 0, "the parent's second waker still "
           "wakes");
    is_int(util_wait_token(fx->p, T_W2, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's poll still reports the second waker");
    util_write_byte(fx->fds[1]);
    is_int(util_wait_token(fx->p, T_PIPE, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's registration is still in place");
    util_drain(fx->fds[0]);
}

int
main(void)
{
    struct fixture fx;

    tap_watchdog(60);

    if (mw_poll_new(&fx.p) != 0 || mw_waker_new(&fx.w1, fx.p, T_W1) != 0
        || mw_waker_new(&fx.w2, fx.p, T_W2) != 0)
        bail_out("cannot create a poll and wakers");
    util_pipe(fx.fds);
    if (mw_poll_register(fx.p, fx.fds[0], T_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");

    child_frees_its_copies_and_exits(&fx);
    parents_wakers_and_registration_still_work(&fx);

    mw_poll_deregister(fx.p, fx.fds[0]);
    util_close(fx.fds[0]);
    util_close(fx.fds[1]);
    mw_waker_free(fx.w1);
    mw_waker_free(fx.w2);
    mw_poll_free(fx.p);
    return done_testing();
}
