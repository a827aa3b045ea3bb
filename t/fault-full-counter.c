/* SPDX-License-Identifier: MIT */
/*
 * Fault: the waker's kernel object is full, by writes from outside.
 *
 * eventfd: the descriptor mw_waker_new opened (the one new descriptor)
 * gets 0xfffffffffffffffe, the counter's maximum, so the waker's own
 * write fails with EAGAIN; the waker must drain it and write again.
 * Pipe: the write end (the new descriptor opened O_WRONLY) is filled
 * until EAGAIN; a wake then finds a full pipe, which already reads as
 * ready.  Either way, over several rounds:
 *
 *   - a wake on the full object returns 0 and one event is delivered
 *     (the outside write's edge and the wake's merge), with flags
 *     exactly MW_EV_READABLE;
 *   - the same while the waker is pending (filled after a first wake);
 *   - after the event the pipe is drained (FIONREAD 0), and the waker
 *     keeps working, alone, from another thread too.
 *
 * kqueue+user has no descriptor to fill: skipped there.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define ROUNDS 50
#define TOKEN ((mw_token)0xFC)
#define TOKEN_OTHER ((mw_token)0x07)

static int kernel_fd = -1;      /* eventfd, or the pipe's write end */
static int read_fd = -1;        /* the pipe's read end */
static bool is_eventfd;

/* Fill the waker's object from outside; returns bytes written, or -1. */
static long
fill(void)
{
    if (is_eventfd) {
        uint64_t v = 0xfffffffffffffffeULL, old;

        /* Empty the counter first, so that the maximum fits. */
        if (read(kernel_fd, &old, sizeof old) < 0 && errno != EAGAIN)
            return -1;
        return write(kernel_fd, &v, sizeof v) == (ssize_t)sizeof v ? 8 : -1;
    } else {
        static char chunk[4096];
        long total = 0;
        ssize_t n;

        for (;;) {
            n = write(kernel_fd, chunk, sizeof chunk);
            if (n < 0 && errno == EAGAIN)
                n = write(kernel_fd, chunk, 1);
            if (n > 0) {
                total += n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            return n < 0 && errno == EAGAIN ? total : -1;
        }
    }
}

/* Is the object full now (a write of one more would fail)? */
static bool
is_full(void)
{
    if (is_eventfd) {
        uint64_t v;
        ssize_t n;

        /* Reading would empty it; a write of 1 that fails is the test,
         * and changes nothing. */
        v = 1;
        n = write(kernel_fd, &v, sizeof v);
        return n < 0 && errno == EAGAIN;
    } else {
        int avail = -1;

        if (ioctl(read_fd, FIONREAD, &avail) != 0)
            return false;
        return avail > 0 && write(kernel_fd, "", 1) < 0 && errno == EAGAIN;
    }
}

static int
pipe_bytes(void)
{
    int avail = -1;

    if (ioctl(read_fd, FIONREAD, &avail) != 0)
        return -1;
    return avail;
}

/* Collect every event now ready; count the waker's. */
static int
collect(mw_poll *p, int *others)
{
    struct mw_event ev[8];
    int mine = 0, n;

    while ((n = util_wait(p, ev, 8, 0)) > 0)
        for (int i = 0; i < n; i++) {
            if (ev[i].token == TOKEN && ev[i].flags == MW_EV_READABLE)
                mine++;
            else
                (*others)++;
        }
    return mine;
}

static void *
wake_from_thread(void *arg)
{
    return (void *)(intptr_t)mw_waker_wake(arg);
}

/* The wakers' descriptors, which every waker of the poll shares: the
 * one a wake writes to (kernel_fd) and, for a pipe, the read end
 * (read_fd).  mw_poll_new opens them, among others (the poll(2) poller's
 * own pipe, libkqueue's descriptors); the one the poll watches for its
 * wakers is the new eventfd or pipe read end that mw_poll_register
 * refuses with -EEXIST (before any kernel call), and a pipe's write end
 * is the new one on the same pipe (the same inode). */
static mw_poll *
new_poll_and_find_fds(void)
{
    static struct util_fds before, after;
    int fresh[32], nfresh;
    mw_poll *p;

    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    nfresh = util_fds_new(&before, &after, fresh, 32);
    for (int i = 0; i < nfresh && i < 32; i++) {
        enum util_fd_kind k = util_fd_kind(fresh[i]);

        /* Only the kind of the waker: libkqueue opens eventfds of its
         * own, which must not be registered here by mistake. */
        if (k != (util_caps()->waker_eventfd ? UTIL_FD_EVENTFD
                                           : UTIL_FD_PIPE_READ)
            || mw_poll_register(p, fresh[i], 1, MW_READABLE) != -EEXIST)
            continue;
        if (k == UTIL_FD_EVENTFD) {
            kernel_fd = fresh[i];
            is_eventfd = true;
        } else {
            read_fd = fresh[i];
        }
    }
    for (int i = 0; read_fd >= 0 && i < nfresh && i < 32; i++) {
        struct stat r, w;

        if (util_fd_kind(fresh[i]) == UTIL_FD_PIPE_WRITE
            && fstat(read_fd, &r) == 0 && fstat(fresh[i], &w) == 0
            && r.st_dev == w.st_dev && r.st_ino == w.st_ino)
            kernel_fd = fresh[i];
    }
    if (util_caps()->waker_eventfd)
        ok(is_eventfd, "mw_poll_new opened an eventfd for the wakers (%d "
           "new)", nfresh);
    else
        ok(kernel_fd >= 0 && read_fd >= 0, "mw_poll_new opened a pipe for "
           "the wakers (%d new)", nfresh);
    if (kernel_fd < 0 || (!is_eventfd && read_fd < 0))
        bail_out("cannot find the wakers' descriptor");
    return p;
}

/* A wake on a full counter or pipe is delivered, once, with the waker
 * idle or already pending when the object was filled. */
static void
check_full_rounds(mw_poll *p, mw_waker *w)
{
    long bad_fill = 0, not_full = 0, bad_wake = 0, missed = 0, extra = 0;
    long undrained = 0, pending_missed = 0;
    int others = 0;

    for (int r = 0; r < ROUNDS; r++) {
        bool pending_first = r % 2 == 1;
        int got;

        if (pending_first && mw_waker_wake(w) != 0)
            bad_wake++;
        if (fill() < 0)
            bad_fill++;
        if (!is_full())
            not_full++;
        if (mw_waker_wake(w) != 0)
            bad_wake++;
        got = collect(p, &others);
        if (got == 0) {
            /* Not there at once: wait for it (a lost wake hangs here). */
            uint32_t flags = 0;

            got = util_wait_token(p, TOKEN, UTIL_LONG_MS, &flags, NULL);
            if (got == 1 && flags != MW_EV_READABLE)
                others++;
            got += collect(p, &others);
        }
        if (got == 0)
            *(pending_first ? &pending_missed : &missed) += 1;
        if (got > 1)
            extra += got - 1;
        if (!is_eventfd && pipe_bytes() != 0)
            undrained++;
        /* A plain round after it: the waker is not stuck. */
        if (mw_waker_wake(w) != 0)
            bad_wake++;
        if (util_wait_token(p, TOKEN, UTIL_LONG_MS, NULL, NULL) != 1)
            missed++;
        collect(p, &others);
    }
    diag("%d rounds, %d with the waker pending when filled", ROUNDS,
         ROUNDS / 2);
    is_int(bad_fill, 0, "the waker's %s could be filled from outside",
           is_eventfd ? "eventfd counter" : "pipe");
    is_int(not_full, 0, "and was full then (a further write failed with "
           "EAGAIN)");
    is_int(bad_wake, 0, "every wake on the full object returned 0");
    is_int(missed, 0, "every wake on a full object was delivered");
    is_int(pending_missed, 0, "also when the object was filled while the "
           "waker was pending");
    is_int(extra, 0, "one event per round, not more");
    is_int(others, 0, "no other token and no other flags showed up");
    if (is_eventfd)
        skip(1, "an eventfd has no bytes to drain");
    else
        is_int(undrained, 0, "after each event the pipe was drained");
}

/* A wake from another thread on a full object. */
static void
check_full_from_thread(mw_poll *p, mw_waker *w)
{
    pthread_t t;
    void *rc;
    int others = 0;

    if (fill() < 0)
        bail_out("fill failed");
    util_thread_start(&t, wake_from_thread, w);
    if (pthread_join(t, &rc) != 0)
        bail_out("pthread_join failed");
    is_int((intptr_t)rc, 0, "a wake from another thread on a full "
           "object returns 0");
    is_int(util_wait_token(p, TOKEN, UTIL_LONG_MS, NULL, NULL), 1,
           "and is delivered");
    collect(p, &others);
}

int
main(void)
{
    mw_poll *p;
    mw_waker *w, *other;

    tap_watchdog(60);
    if (util_caps()->waker_knote)
        plan_skip_all("%s: the waker is a knote with no descriptor to fill",
                      mw_backend());
    diag("backend %s", mw_backend());

    p = new_poll_and_find_fds();
    if (mw_waker_new(&other, p, TOKEN_OTHER) != 0
        || mw_waker_new(&w, p, TOKEN) != 0)
        bail_out("cannot create the wakers");
    check_full_rounds(p, w);
    check_full_from_thread(p, w);
    /* The other waker of the poll is not disturbed. */
    is_int(mw_waker_wake(other), 0, "another waker of the poll still wakes");
    is_int(util_wait_token(p, TOKEN_OTHER, UTIL_LONG_MS, NULL, NULL), 1,
           "and is delivered");

    mw_waker_free(w);
    mw_waker_free(other);
    mw_poll_free(p);
    return done_testing();
}
