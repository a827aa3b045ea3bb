/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), mw_poll_new(3)): in a fork() child, mw_poll_free
 * and mw_waker_free only close the descriptors the child inherited.  A
 * kqueue is not inherited (the kernel does not pass it on, and libkqueue
 * closes its descriptors in the child to behave the same), so its number
 * is free in the child and the child's next descriptor may get it: freeing
 * the inherited poll afterwards must leave that descriptor open.
 *
 * On the epoll and poll(2) backends every inherited descriptor is still
 * open in the child, so no number can be taken over; the test then checks
 * that freeing leaves the child's own descriptors alone all the same.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define NOWN 16

/* Exit codes of the child. */
enum { CHILD_OK = 0, CHILD_CLOSED = 1, CHILD_SETUP = 2 };

/* In the child: open NOWN descriptors, which take the lowest free numbers
 * (any the kqueue left among them), free what was inherited in the given
 * order, and say whether the child's own descriptors survived.  The exit
 * code also counts how many of them took a number that was open in the
 * parent (bits 2 and up), so the parent can tell whether the case arose. */
static int
child(mw_poll *p, mw_waker *w, bool poll_first,
      const struct util_fds *in_parent)
{
    int own[NOWN];
    int reused = 0;

    for (int i = 0; i < NOWN; i++) {
        own[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (own[i] < 0)
            return CHILD_SETUP;
        if (own[i] < in_parent->n && in_parent->open[own[i]])
            reused++;
    }
    if (poll_first) {
        mw_poll_free(p);
        mw_waker_free(w);
    } else {
        mw_waker_free(w);
        mw_poll_free(p);
    }
    for (int i = 0; i < NOWN; i++)
        if (fcntl(own[i], F_GETFD) < 0)
            return CHILD_CLOSED;
    return CHILD_OK | (reused > 7 ? 7 : reused) << 2;
}

static void
child_free_leaves_the_childs_own_fds_open(bool poll_first)
{
    const char *order = poll_first ? "poll, then waker" : "waker, then poll";
    struct util_fds in_parent;
    mw_poll *p;
    mw_waker *w;
    uint32_t flags;
    int status, code;
    pid_t pid;

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0)
        bail_out("cannot create a poll and a waker");
    util_fds_take(&in_parent);

    pid = util_fork();
    if (pid == 0) {
        alarm(0);
        util_child_exit(child(p, w, poll_first, &in_parent));
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || (WEXITSTATUS(status) & 3) == CHILD_SETUP)
        bail_out("the child could not run (status %#x)", status);
    code = WEXITSTATUS(status);
    ok((code & 3) == CHILD_OK, "child frees %s: the descriptors it opened "
       "after the fork are all still open", order);
    diag("child (%s): %d of its descriptors took numbers open in the "
         "parent", order, code >> 2);

    is_int(mw_waker_wake(w), 0, "parent (%s): its waker still wakes", order);
    is_int(util_wait_token(p, 1, UTIL_LONG_MS, &flags, NULL), 1,
           "parent (%s): its poll still reports the waker", order);
    util_fds_free(&in_parent);
    mw_waker_free(w);
    mw_poll_free(p);
}

int
main(void)
{
    tap_watchdog(60);
    child_free_leaves_the_childs_own_fds_open(true);
    child_free_leaves_the_childs_own_fds_open(false);
    return done_testing();
}
