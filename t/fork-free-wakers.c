/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), "Fork and exec"): a fork() child may free the
 * polls and wakers it inherited, and freeing them closes the descriptors
 * the child inherited for them, without touching the parent's: none of
 * the descriptors that making them opened in the parent stays open in
 * the child, and the parent's wakers go on delivering.  A waker opens no
 * descriptor (the wakers of a poll share one kernel object, which
 * mw_poll_new opened), so the descriptors to look at are the polls'.
 * The child frees the wakers of one poll before the poll, and the other
 * poll before its wakers; some of the wakers were woken before the fork,
 * so the child frees them while they are on the ready list.
 *
 * The exception, documented in NOTES there: under libkqueue the
 * EVFILT_USER knote of a kqueue+user poll's wakers is an eventfd the
 * emulation opens and only it can close, and its fork handler does not
 * close it in the child; the library cannot reach it (a kevent() in the
 * child may wait on a lock a parent's thread held at the fork).  There
 * one such eventfd per poll (no longer one per waker) stays open in the
 * child.  So does one eventfd of each emulated kqueue itself, on
 * kqueue+pipe too (libkqueue releases it from its monitoring thread,
 * which a child does not have), which the page does not mention: two
 * per kqueue+user poll, one per kqueue+pipe poll.  All are
 * close-on-exec, so nothing reaches an exec'd program.
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

#define NPOLLS 2
#define NWAKERS 4
#define MAX_FDS 32

/* What the child found among the polls' descriptors after freeing. */
struct leftovers {
    int open;           /* still open */
    int eventfds;       /* ... of which eventfds */
    int cloexec;        /* ... of which close-on-exec */
};

static int poll_fds[MAX_FDS];
static int npoll_fds;

static void
child(int result_fd, mw_poll **p, mw_waker *w[][NWAKERS])
{
    struct leftovers l = { 0, 0, 0 };

    /* The watchdog's handler writes TAP: not from here. */
    signal(SIGALRM, SIG_DFL);
    alarm(60);
    /* The first poll after its wakers, the second before them. */
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[0][i]);
    mw_poll_free(p[0]);
    mw_poll_free(p[1]);
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[1][i]);
    for (int i = 0; i < npoll_fds; i++) {
        if (!util_fd_is_open(poll_fds[i]))
            continue;
        l.open++;
        l.eventfds += util_fd_kind(poll_fds[i]) == UTIL_FD_EVENTFD;
        l.cloexec += util_is_cloexec(poll_fds[i]) == 1;
    }
    if (write(result_fd, &l, sizeof l) != (ssize_t)sizeof l)
        util_child_exit(3);
    util_child_exit(0);
}

/* Wait on p until the tokens of mask (bit i: token i + 1) have all come;
 * returns those that did. */
static unsigned
collect(mw_poll *p, unsigned mask)
{
    struct mw_event ev[NWAKERS * 2];
    int64_t end = util_now_ms() + UTIL_LONG_MS / 2;
    unsigned seen = 0;

    while ((seen & mask) != mask && util_now_ms() < end) {
        int n = util_wait(p, ev, NWAKERS * 2, (int)(end - util_now_ms()));

        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        for (int i = 0; i < n; i++)
            if (ev[i].token >= 1 && ev[i].token <= NWAKERS)
                seen |= 1u << (ev[i].token - 1);
    }
    return seen;
}

int
main(void)
{
    static struct util_fds before, after;
    struct leftovers l = { -1, -1, -1 };
    mw_waker *w[NPOLLS][NWAKERS];
    mw_poll *p[NPOLLS];
    int result[2], status, n, nwaker_fds = 0;
    unsigned all = (1u << NWAKERS) - 1, listed = 0x5, got[NPOLLS];
    bool kept_listed = true, delivered = true;
    pid_t pid;
    ssize_t got_bytes;

    tap_watchdog(60);
    plan(6);
    for (int k = 0; k < NPOLLS; k++) {
        util_fds_take(&before);
        if (mw_poll_new(&p[k]) != 0)
            bail_out("mw_poll_new failed");
        util_fds_take(&after);
        n = util_fds_new(&before, &after, poll_fds + npoll_fds,
                         MAX_FDS - npoll_fds);
        if (n > MAX_FDS - npoll_fds)
            bail_out("a poll opened %d descriptors", n);
        npoll_fds += n;
        util_fds_take(&before);
        for (int i = 0; i < NWAKERS; i++)
            if (mw_waker_new(&w[k][i], p[k], (mw_token)i + 1) != 0)
                bail_out("mw_waker_new failed");
        util_fds_take(&after);
        nwaker_fds += util_fds_new(&before, &after, NULL, 0);
        /* Wakers 1 and 3 are listed at the fork. */
        for (int i = 0; i < NWAKERS; i++)
            if ((listed >> i & 1) && mw_waker_wake(w[k][i]) != 0)
                bail_out("mw_waker_wake failed");
    }
    diag("%s: the %d polls opened %d descriptor(s), their %d wakers %d",
         mw_backend(), NPOLLS, npoll_fds, NPOLLS * NWAKERS, nwaker_fds);
    is_int(nwaker_fds, 0, "the wakers opened no descriptor");

    if (pipe(result) != 0)
        bail_out("pipe: %s", strerror(errno));
    pid = util_fork();
    if (pid == 0) {
        close(result[0]);
        child(result[1], p, w);
    }
    close(result[1]);
    do
        got_bytes = read(result[0], &l, sizeof l);
    while (got_bytes < 0 && errno == EINTR);
    close(result[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(got_bytes == (ssize_t)sizeof l && WIFEXITED(status)
           && WEXITSTATUS(status) == 0,
       "the child frees its inherited polls and wakers, some of them "
       "listed, and exits (status %#x)", status);

    if (util_caps()->emulated)
        is_int(l.open, NPOLLS * (util_caps()->waker_knote ? 2 : 1), "under "
               "libkqueue each poll leaves its kqueue's eventfd%s open in "
               "the child, per poll, not per waker",
               util_caps()->waker_knote ? " and its wakers' knote's" : "");
    else
        is_int(l.open, 0, "none of the polls' descriptors stays open in "
               "the child");
    ok(l.eventfds == l.open && l.cloexec == l.open, "each one left open "
       "(%d) is libkqueue's eventfd (%d are) and close-on-exec (%d are), "
       "so an exec'd program gets none", l.open, l.eventfds, l.cloexec);

    /* The child's frees did not drain, take or remove the parent's. */
    for (int k = 0; k < NPOLLS; k++) {
        got[k] = collect(p[k], listed);
        kept_listed &= got[k] == listed;
    }
    ok(kept_listed, "the parent's wakers listed at the fork are still "
       "delivered (%#x and %#x of %#x)", got[0], got[1], listed);
    for (int k = 0; k < NPOLLS; k++) {
        for (int i = 0; i < NWAKERS; i++)
            if (mw_waker_wake(w[k][i]) != 0)
                bail_out("mw_waker_wake failed");
        got[k] = collect(p[k], all);
        delivered &= got[k] == all;
    }
    ok(delivered, "and every later wake of the parent's wakers is "
       "delivered (%#x and %#x of %#x)", got[0], got[1], all);

    for (int k = 0; k < NPOLLS; k++) {
        for (int i = 0; i < NWAKERS; i++)
            mw_waker_free(w[k][i]);
        mw_poll_free(p[k]);
    }
    return done_testing();
}
