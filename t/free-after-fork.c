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

int
main(void)
{
    mw_poll *p;
    mw_waker *w1, *w2;
    int fds[2], status;
    pid_t pid;
    uint32_t flags;

    tap_watchdog(60);

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w1, p, T_W1) != 0
        || mw_waker_new(&w2, p, T_W2) != 0)
        bail_out("cannot create a poll and wakers");
    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");

    pid = util_fork();
    if (pid == 0) {
        alarm(0);
        mw_waker_free(w1);
        mw_poll_free(p);
        mw_waker_free(w2);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child "
       "frees its copies of the poll and the wakers and exits normally");

    is_int(mw_waker_wake(w1), 0, "the parent's first waker still wakes");
    is_int(util_wait_token(p, T_W1, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's poll still reports the first waker");
    is_int(mw_waker_wake(w2), 0, "the parent's second waker still wakes");
    is_int(util_wait_token(p, T_W2, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's poll still reports the second waker");
    util_write_byte(fds[1]);
    is_int(util_wait_token(p, T_PIPE, UTIL_LONG_MS, &flags, NULL), 1,
           "the parent's registration is still in place");
    util_drain(fds[0]);

    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(w1);
    mw_waker_free(w2);
    mw_poll_free(p);
    return done_testing();
}
