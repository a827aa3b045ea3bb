/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), "Fork and exec"): a fork() child may free the
 * wakers it inherited, and freeing them closes the descriptors the child
 * inherited for them: none of the descriptors that creating the wakers
 * opened in the parent stays open in the child.
 *
 * The exception, documented there: under libkqueue an EVFILT_USER
 * knote is an eventfd the emulation opens and only it can close, and
 * its fork handler closes its kqueues' descriptors in the child but not
 * the knotes' eventfds; the library cannot reach them (a kevent() in the
 * child may wait on a lock a parent's thread held at the fork).  There
 * the test checks what the page says instead: one eventfd per waker
 * stays open, and it is close-on-exec, so nothing reaches an exec'd
 * program.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define NWAKERS 4
#define MAX_FDS (NWAKERS * 4)

/* What the child found among the wakers' descriptors after freeing. */
struct leftovers {
    int open;           /* still open */
    int eventfds;       /* ... of which eventfds */
    int cloexec;        /* ... of which close-on-exec */
};

static int waker_fds[MAX_FDS];
static int nwaker_fds;

static void
child(int result_fd, mw_poll *p, mw_waker **w)
{
    struct leftovers l = { 0, 0, 0 };

    /* The watchdog's handler writes TAP: not from here. */
    signal(SIGALRM, SIG_DFL);
    alarm(60);
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[i]);
    for (int i = 0; i < nwaker_fds; i++) {
        if (!util_fd_is_open(waker_fds[i]))
            continue;
        l.open++;
        l.eventfds += util_fd_kind(waker_fds[i]) == UTIL_FD_EVENTFD;
        l.cloexec += util_is_cloexec(waker_fds[i]) == 1;
    }
    mw_poll_free(p);
    if (write(result_fd, &l, sizeof l) != (ssize_t)sizeof l)
        util_child_exit(3);
    util_child_exit(0);
}

int
main(void)
{
    static struct util_fds before, after;
    struct leftovers l = { -1, -1, -1 };
    mw_waker *w[NWAKERS];
    mw_poll *p;
    int result[2], status, n;
    pid_t pid;
    ssize_t got;

    tap_watchdog(60);
    plan(4);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    for (int i = 0; i < NWAKERS; i++) {
        util_fds_take(&before);
        if (mw_waker_new(&w[i], p, (mw_token)i + 1) != 0)
            bail_out("mw_waker_new failed");
        util_fds_take(&after);
        n = util_fds_new(&before, &after, waker_fds + nwaker_fds,
                         MAX_FDS - nwaker_fds);
        if (n > MAX_FDS - nwaker_fds)
            bail_out("a waker opened %d descriptors", n);
        nwaker_fds += n;
    }
    diag("%s: the %d wakers opened %d descriptor(s)", mw_backend(), NWAKERS,
         nwaker_fds);

    if (pipe(result) != 0)
        bail_out("pipe: %s", strerror(errno));
    pid = util_fork();
    if (pid == 0) {
        close(result[0]);
        child(result[1], p, w);
    }
    close(result[1]);
    do
        got = read(result[0], &l, sizeof l);
    while (got < 0 && errno == EINTR);
    close(result[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(got == (ssize_t)sizeof l && WIFEXITED(status)
           && WEXITSTATUS(status) == 0,
       "the child frees its inherited wakers and exits (status %#x)",
       status);

    if (util_libkqueue() && util_waker_is("user")) {
        is_int(l.open, NWAKERS, "under libkqueue one descriptor per waker "
               "stays open in the child, as miowake(3) says");
        is_int(l.eventfds, l.open, "... each of them the knote's eventfd");
        is_int(l.cloexec, l.open, "... and close-on-exec, so an exec'd "
               "program gets none");
    } else {
        is_int(l.open, 0, "none of the freed wakers' descriptors stays open "
               "in the child");
        skip(2, "only libkqueue's EVFILT_USER knotes stay open in a child");
    }

    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[i]);
    mw_poll_free(p);
    return done_testing();
}
