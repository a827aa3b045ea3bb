/* SPDX-License-Identifier: MIT */
/*
 * Fault: fork() with a poll and wakers alive.  t/free-after-fork.c shows
 * that a child freeing its copies leaves the parent's poll working; this
 * adds what a child does next and the cases around it:
 *
 *   - the child frees the inherited poll and wakers (wakers first, or the
 *     poll first), after which no descriptor the library opened in the
 *     parent is open in the child;
 *   - the child then creates its own poll, waker and registration, and
 *     they work; its poll reports nothing of the parent's (a wake made
 *     in the parent before the fork, still pending, does not show);
 *   - freeing those leaves the child's table as it was;
 *   - meanwhile the parent keeps everything: the wake pending across the
 *     fork is delivered once, both wakers and a second poll's waker
 *     deliver, the registration is in place, new wakers can be made;
 *   - a child that exits without freeing anything changes nothing;
 *   - a child that frees its copies while the parent is blocked in a
 *     wait, and then writes to a pipe the parent watches, wakes that wait
 *     with the pipe's token.
 *
 * On the BSDs the kqueue descriptor is not inherited at all; libkqueue
 * emulates that by freeing its kqueues in the child.  Freeing only closes
 * descriptors, so none of this touches a set the parent still uses.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_W1 ((mw_token)1)
#define T_W2 ((mw_token)2)
#define T_W3 ((mw_token)3)
#define T_PIPE ((mw_token)4)
#define T_SIGNAL ((mw_token)5)
#define T_CHILD ((mw_token)0xC1)
#define T_CHILD_PIPE ((mw_token)0xC2)

/* What a child checked, one bit each. */
enum {
    C_INHERITED_CLOSED = 1 << 0,
    C_NEW_POLL = 1 << 1,
    C_NEW_WAKER = 1 << 2,
    C_OWN_WAKE = 1 << 3,
    C_OWN_REGISTRATION = 1 << 4,
    C_NOTHING_OF_PARENT = 1 << 5,
    C_OWN_FREED = 1 << 6,
    C_ALL = (1 << 7) - 1
};

static const char *const bit_names[] = {
    "after freeing its copies, no descriptor the library opened in the "
    "parent is open in the child",
    "the child creates its own poll",
    "the child creates its own waker",
    "the child's waker delivers, alone",
    "the child's own registration is reported",
    "the child's poll reports nothing of the parent's (not the wake "
    "pending across the fork)",
    "freeing the child's own objects leaves its table as it was",
};

struct parent_objects {
    mw_poll *p, *p2;
    mw_waker *w1, *w2, *w3;
    int pipefd[2];              /* registered in p as T_PIPE */
    int sigfd[2];               /* registered in p as T_SIGNAL */
    int lib_fds[64];            /* opened by the library for the above */
    int nlib;
};

static struct parent_objects o;

enum order { WAKERS_FIRST, POLL_FIRST, NO_FREE };

static void
free_inherited(enum order order)
{
    if (order == WAKERS_FIRST) {
        mw_waker_free(o.w1);
        mw_waker_free(o.w2);
        mw_waker_free(o.w3);
        mw_poll_free(o.p);
        mw_poll_free(o.p2);
    } else {
        mw_poll_free(o.p);
        mw_poll_free(o.p2);
        mw_waker_free(o.w2);
        mw_waker_free(o.w1);
        mw_waker_free(o.w3);
    }
}

/* The child's side: returns the C_* bits that held. */
static int
child_checks(enum order order)
{
    static struct util_fds mid, end;
    struct mw_event ev[8];
    mw_poll *cp = NULL;
    mw_waker *cw = NULL;
    int bits = 0, fds[2], n, first, libkqueue_leftovers = 0;
    bool closed = true;

    free_inherited(order);
    for (int i = 0; i < o.nlib; i++) {
        if (!util_fd_is_open(o.lib_fds[i]))
            continue;
        /* libkqueue's fork cleanup leaves one eventfd of each kqueue, and
         * of each EVFILT_USER knote, open in the child; the library never
         * saw them (see ROBUSTNESS.md and t/fork-free-wakers.c). */
        if (util_caps()->emulated
            && util_fd_kind(o.lib_fds[i]) == UTIL_FD_EVENTFD)
            libkqueue_leftovers++;
        else
            closed = false;
    }
    if (closed)
        bits |= C_INHERITED_CLOSED;
    /* A first poll in the child may make an emulation open descriptors
     * of its own for good (libkqueue's monitoring thread): one cycle
     * before the baseline. */
    if (mw_poll_new(&cp) == 0) {
        mw_poll_free(cp);
        util_settle();
    }
    util_fds_take(&mid);

    bits |= libkqueue_leftovers << 16;
    cp = NULL;
    if (mw_poll_new(&cp) == 0 && cp != NULL)
        bits |= C_NEW_POLL;
    else
        return bits;
    if (mw_waker_new(&cw, cp, T_CHILD) == 0 && cw != NULL)
        bits |= C_NEW_WAKER;
    else
        return bits;
    n = mw_waker_wake(cw) == 0 ? util_wait(cp, ev, 8, UTIL_LONG_MS) : -1;
    if (n == 1 && ev[0].token == T_CHILD && ev[0].flags == MW_EV_READABLE)
        bits |= C_OWN_WAKE;
    util_pipe(fds);
    if (mw_poll_register(cp, fds[0], T_CHILD_PIPE, MW_READABLE) == 0) {
        util_write_byte(fds[1]);
        n = util_wait(cp, ev, 8, UTIL_LONG_MS);
        if (n == 1 && ev[0].token == T_CHILD_PIPE
            && (ev[0].flags & MW_EV_READABLE))
            bits |= C_OWN_REGISTRATION;
        util_drain(fds[0]);
        mw_poll_deregister(cp, fds[0]);
    }
    util_close(fds[0]);
    util_close(fds[1]);
    /* Nothing else is ready in the child's poll: not the parent's wake. */
    if (util_wait(cp, ev, 8, 100) == 0)
        bits |= C_NOTHING_OF_PARENT;
    mw_waker_free(cw);
    mw_poll_free(cp);
    if (util_fds_settled(&mid, &end, &first))
        bits |= C_OWN_FREED;
    return bits;
}

static pid_t
spawn(enum order order, int result_fd[2], bool signal_after)
{
    pid_t pid;

    if (pipe(result_fd) != 0)
        bail_out("pipe: %s", strerror(errno));
    pid = util_fork();
    if (pid == 0) {
        int bits = 0;

        /* The watchdog's handler writes TAP: not from here. */
        signal(SIGALRM, SIG_DFL);
        alarm(60);
        close(result_fd[0]);
        if (order != NO_FREE)
            bits = child_checks(order);
        if (signal_after)
            util_write_byte(o.sigfd[1]);
        if (write(result_fd[1], &bits, sizeof bits) != (ssize_t)sizeof bits)
            util_child_exit(3);
        util_child_exit(0);
    }
    close(result_fd[1]);
    return pid;
}

static int
reap(pid_t pid, int result_fd[2], int *bits)
{
    int status;
    ssize_t n;

    do
        n = read(result_fd[0], bits, sizeof *bits);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *bits)
        *bits = -1;
    close(result_fd[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    return status;
}

static void
report_child(const char *what, int status, int bits, enum order order)
{
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the child exits "
       "normally (status %#x)", what, status);
    if (order == NO_FREE)
        return;
    if (bits > 0 && (bits >> 16) != 0)
        diag("%s: libkqueue left %d eventfd(s) of the inherited kqueues "
             "open in the child", what, bits >> 16);
    for (int b = 0; (1 << b) & C_ALL; b++)
        ok(bits >= 0 && (bits & (1 << b)), "%s: %s", what, bit_names[b]);
}

/* The parent's objects all still work; `pending_w1`: w1 was woken before
 * the fork and its event not collected yet. */
static void
parent_checks(const char *what, bool pending_w1)
{
    uint32_t flags = 0;
    mw_waker *extra = NULL;

    if (pending_w1)
        is_int(util_wait_token(o.p, T_W1, UTIL_LONG_MS, &flags, NULL), 1,
               "%s: the parent gets the wake that was pending across the "
               "fork", what);
    is_int(mw_waker_wake(o.w1), 0, "%s: the parent's first waker wakes",
           what);
    is_int(util_wait_token(o.p, T_W1, UTIL_LONG_MS, &flags, NULL), 1,
           "%s: ... and is delivered", what);
    is_int(mw_waker_wake(o.w2), 0, "%s: the parent's second waker wakes",
           what);
    is_int(util_wait_token(o.p, T_W2, UTIL_LONG_MS, &flags, NULL), 1,
           "%s: ... and is delivered", what);
    is_int(mw_waker_wake(o.w3), 0, "%s: the waker of the parent's second "
           "poll wakes", what);
    is_int(util_wait_token(o.p2, T_W3, UTIL_LONG_MS, &flags, NULL), 1,
           "%s: ... and is delivered", what);
    util_write_byte(o.pipefd[1]);
    is_int(util_wait_token(o.p, T_PIPE, UTIL_LONG_MS, &flags, NULL), 1,
           "%s: the parent's registration is still in place", what);
    util_drain(o.pipefd[0]);
    is_errno(mw_poll_register(o.p, o.pipefd[0], T_PIPE, MW_READABLE),
             -EEXIST, "%s: ... and still known to the poll", what);
    is_int(mw_waker_new(&extra, o.p, 99), 0, "%s: the parent can make a new "
           "waker", what);
    mw_waker_free(extra);
    is_int(util_poll_drain(o.p, 0, 16, NULL), 0, "%s: nothing else is "
           "left", what);
}

int
main(void)
{
    static struct util_fds before, after;
    int result_fd[2], bits, status;
    pid_t pid;

    tap_watchdog(120);
    diag("backend %s", mw_backend());

    /* Warm up, then note which descriptors the library opens. */
    if (mw_poll_new(&o.p) != 0)
        bail_out("mw_poll_new failed");
    mw_poll_free(o.p);
    util_settle();
    util_pipe(o.pipefd);
    util_pipe(o.sigfd);
    util_fds_take(&before);
    if (mw_poll_new(&o.p) != 0 || mw_poll_new(&o.p2) != 0
        || mw_waker_new(&o.w1, o.p, T_W1) != 0
        || mw_waker_new(&o.w2, o.p, T_W2) != 0
        || mw_waker_new(&o.w3, o.p2, T_W3) != 0)
        bail_out("cannot create the polls and wakers");
    util_fds_take(&after);
    o.nlib = util_fds_new(&before, &after, o.lib_fds, 64);
    if (o.nlib > 64)
        bail_out("too many new descriptors");
    diag("the library opened %d descriptors for two polls and three wakers",
         o.nlib);
    if (mw_poll_register(o.p, o.pipefd[0], T_PIPE, MW_READABLE) != 0
        || mw_poll_register(o.p, o.sigfd[0], T_SIGNAL, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");

    /* 1. Wakers first, with a wake pending across the fork. */
    if (mw_waker_wake(o.w1) != 0)
        bail_out("mw_waker_wake failed");
    pid = spawn(WAKERS_FIRST, result_fd, false);
    status = reap(pid, result_fd, &bits);
    report_child("wakers freed first", status, bits, WAKERS_FIRST);
    parent_checks("wakers freed first", true);

    /* 2. The poll first. */
    pid = spawn(POLL_FIRST, result_fd, false);
    status = reap(pid, result_fd, &bits);
    report_child("poll freed first", status, bits, POLL_FIRST);
    parent_checks("poll freed first", false);

    /* 3. A child that frees nothing and exits. */
    if (mw_waker_wake(o.w1) != 0)
        bail_out("mw_waker_wake failed");
    pid = spawn(NO_FREE, result_fd, false);
    status = reap(pid, result_fd, &bits);
    report_child("no free in the child", status, bits, NO_FREE);
    parent_checks("no free in the child", true);

    /* 4. The child frees while the parent waits with no limit, then
     *    writes to a pipe the parent's poll watches. */
    pid = spawn(WAKERS_FIRST, result_fd, true);
    {
        uint32_t flags = 0;
        int got = util_wait_token(o.p, T_SIGNAL, 2 * UTIL_LONG_MS, &flags,
                                  NULL);

        is_int(got, 1, "free during a wait: the parent's blocked wait "
               "returns the pipe the child wrote to after freeing");
        util_drain(o.sigfd[0]);
    }
    status = reap(pid, result_fd, &bits);
    report_child("free during a wait", status, bits, WAKERS_FIRST);
    parent_checks("free during a wait", false);

    mw_poll_deregister(o.p, o.pipefd[0]);
    mw_poll_deregister(o.p, o.sigfd[0]);
    mw_waker_free(o.w1);
    mw_waker_free(o.w2);
    mw_waker_free(o.w3);
    mw_poll_free(o.p);
    mw_poll_free(o.p2);
    {
        int first = -1;
        bool same = util_fds_settled(&before, &after, &first);

        ok(same, "the parent frees everything and no descriptor is left "
           "(first difference %d)", first);
    }
    util_close(o.pipefd[0]);
    util_close(o.pipefd[1]);
    util_close(o.sigfd[0]);
    util_close(o.sigfd[1]);
    return done_testing();
}
