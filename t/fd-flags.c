/* SPDX-License-Identifier: MIT */
/*
 * Promise: every descriptor the library opens is close-on-exec, and every
 * eventfd and pipe end it opens is also non-blocking.  Destructors release
 * every descriptor the object owns; one shared with a living waker goes
 * with the last user.
 *
 * "Opened by the library" is what a snapshot of the descriptor table
 * shows as new.  With libkqueue (a kqueue build on Linux) the emulation
 * opens descriptors of its own, some for the life of the process, and
 * closes a kqueue's from a thread of its own a little after close():
 * there the first poll is made before the snapshot, and the leak checks
 * give that thread a few seconds.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define NWAKERS 4
#define MAXNEW 256

/* "pipe", "eventfd" or "other". */
static const char *
fd_kind(int fd)
{
    struct stat st;

    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        return "pipe";
    if (util_fd_is_eventfd(fd))
        return "eventfd";
    return "other";
}

/* Check the flags of every descriptor in `after` but not in `before`. */
static void
check_new_fds(const struct util_fds *before, const struct util_fds *after,
              int poll_fd, const char *when)
{
    int fds[MAXNEW];
    int n = util_fds_new(before, after, fds, MAXNEW);
    int not_cloexec = 0, blocking = 0, pipes = 0, eventfds = 0;

    if (n > MAXNEW)
        n = MAXNEW;
    for (int i = 0; i < n; i++) {
        const char *kind = fd_kind(fds[i]);
        int cloexec = util_is_cloexec(fds[i]);
        int nonblock = util_is_nonblock(fds[i]);

        if (cloexec < 0 || nonblock < 0)
            continue;   /* closed since the snapshot (libkqueue) */
        if (cloexec == 0) {
            not_cloexec++;
            diag("descriptor %d (%s) is not close-on-exec", fds[i], kind);
        }
        if (strcmp(kind, "other") != 0) {
            if (strcmp(kind, "pipe") == 0)
                pipes++;
            else
                eventfds++;
            if (nonblock == 0) {
                blocking++;
                diag("descriptor %d (%s) is not non-blocking", fds[i],
                     kind);
            }
        }
    }
    diag("%s: %d new descriptor(s): %d pipe end(s), %d eventfd(s); "
         "mw_poll_fd %s", when, n, pipes, eventfds, tap_errno_name(poll_fd));
    is_int(not_cloexec, 0, "%s: every descriptor the library opened is "
           "close-on-exec", when);
    is_int(blocking, 0, "%s: every pipe end and eventfd the library "
           "opened is non-blocking", when);
}

/* Descriptors still open that were not before.  libkqueue closes its
 * descriptors of a kqueue from its own thread: give it time there. */
static int
leaked(const struct util_fds *before)
{
    struct util_fds now;
    int fds[MAXNEW];
    int n;
    int64_t end = util_now_ms() + (util_caps()->emulated ? UTIL_LONG_MS : 0);

    for (;;) {
        util_fds_take(&now);
        n = util_fds_new(before, &now, fds, MAXNEW);
        util_fds_free(&now);
        if (n == 0 || util_now_ms() >= end)
            break;
        util_sleep_ms(10);
    }
    for (int i = 0; i < n && i < MAXNEW; i++)
        diag("descriptor %d (%s) is still open", fds[i], fd_kind(fds[i]));
    return n;
}

/* libkqueue: make its process-wide descriptors exist, and let it close
 * the first kqueue's, before the snapshot. */
static void
warm_up_libkqueue(void)
{
    struct util_fds start;
    mw_poll *p;
    mw_waker *w;

    util_fds_take(&start);
    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0)
        bail_out("cannot create a poll and a waker");
    mw_waker_free(w);
    mw_poll_free(p);
    /* What stays is libkqueue's for good; wait for the rest to go (the
     * count stops falling), at most a few seconds. */
    {
        int64_t end = util_now_ms() + 5000;
        int last = -1, stable = 0, n;
        int fds[MAXNEW];
        struct util_fds now;

        while (stable < 5 && util_now_ms() < end) {
            util_fds_take(&now);
            n = util_fds_new(&start, &now, fds, MAXNEW);
            util_fds_free(&now);
            stable = n == last ? stable + 1 : 0;
            last = n;
            util_sleep_ms(20);
        }
        diag("libkqueue keeps %d descriptor(s) of its own", last);
    }
    util_fds_free(&start);
}

/* The snapshot taken once the test's own descriptors exist, and what the
 * promises below hand on to each other. */
struct fixture {
    struct util_fds before;
    int pipe_fds[2], sv[2];
    mw_poll *p;
    mw_waker *w[NWAKERS];
    int pfd;
};

static void
poll_fd_is_opened_by_the_library_and_cloexec(struct fixture *fx)
{
    struct util_fds after;
    int pfd;

    if (mw_poll_new(&fx->p) != 0)
        bail_out("mw_poll_new failed");
    pfd = fx->pfd = mw_poll_fd(fx->p);
    if (pfd >= 0) {
        ok(pfd < fx->before.n && !fx->before.open[pfd]
           && util_fd_is_open(pfd),
           "mw_poll_fd is a descriptor the library opened");
        is_int(util_is_cloexec(pfd), 1, "mw_poll_fd's descriptor is "
               "close-on-exec");
    } else {
        is_errno(pfd, -ENOTSUP, "mw_poll_fd is -ENOTSUP when it gives no "
                 "descriptor");
        skip(1, "no poller descriptor on %s", mw_backend());
    }
    util_fds_take(&after);
    check_new_fds(&fx->before, &after, pfd, "a new poll");
    util_fds_free(&after);
}

static void
wakers_and_registrations_open_only_flagged_fds(struct fixture *fx)
{
    struct util_fds after;
    struct mw_event ev[16];
    mw_poll *p = fx->p;
    int r;

    for (int i = 0; i < NWAKERS; i++)
        if (mw_waker_new(&fx->w[i], p, (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    if (mw_poll_register(p, fx->pipe_fds[0], 100, MW_READABLE) != 0
        || mw_poll_register(p, fx->sv[0], 101, MW_READABLE | MW_WRITABLE)
           != 0)
        bail_out("mw_poll_register failed");
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_wake(fx->w[i]);
    util_write_byte(fx->pipe_fds[1]);
    r = mw_poll_wait(p, ev, 16, 1000);
    ok(r >= 1, "the poll works (%d events)", r);
    util_drain(fx->pipe_fds[0]);
    mw_poll_wait(p, ev, 16, 0);
    mw_waker_wake(fx->w[0]);
    util_fds_take(&after);
    check_new_fds(&fx->before, &after, fx->pfd,
                  "a poll with wakers and registrations");
    util_fds_free(&after);
}

static void
freeing_wakers_then_poll_releases_every_fd(struct fixture *fx)
{
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(fx->w[i]);
    mw_poll_deregister(fx->p, fx->pipe_fds[0]);
    mw_poll_free(fx->p);
    is_int(leaked(&fx->before), 0, "after mw_waker_free and mw_poll_free "
           "no descriptor the library opened is left open");
    ok(util_fd_is_open(fx->pipe_fds[0]) && util_fd_is_open(fx->sv[0]),
       "mw_poll_free leaves the caller's registered descriptors open");
}

static void
shared_fd_goes_with_the_last_waker(struct fixture *fx)
{
    struct util_fds after;
    mw_poll *p;
    mw_waker *w[NWAKERS];
    int pfd;

    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    for (int i = 0; i < NWAKERS; i++)
        if (mw_waker_new(&w[i], p, (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    pfd = mw_poll_fd(p);    /* the poller may live on with the wakers */
    mw_waker_wake(w[1]);
    mw_poll_free(p);
    mw_waker_wake(w[2]);
    util_fds_take(&after);
    check_new_fds(&fx->before, &after, pfd, "wakers outliving their poll");
    util_fds_free(&after);
    for (int i = 0; i < NWAKERS; i++)
        mw_waker_free(w[i]);
    is_int(leaked(&fx->before), 0, "after mw_poll_free then the last "
           "mw_waker_free, no descriptor the library opened is left open");
}

static void
create_free_rounds_accumulate_no_fd(struct fixture *fx)
{
    mw_poll *p;
    mw_waker *w;

    for (int round = 0; round < 50; round++) {
        if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0)
            bail_out("round %d: cannot create a poll and a waker", round);
        mw_waker_wake(w);
        if (round % 2)
            mw_poll_free(p);
        mw_waker_free(w);
        if (!(round % 2))
            mw_poll_free(p);
    }
    is_int(leaked(&fx->before), 0, "50 create/free rounds leave no "
           "descriptor open");
}

int
main(void)
{
    struct fixture fx;

    tap_watchdog(60);

    if (util_caps()->emulated)
        warm_up_libkqueue();

    /* Our own descriptors exist before the snapshot. */
    util_pipe(fx.pipe_fds);
    util_socketpair(fx.sv);
    util_fds_take(&fx.before);

    poll_fd_is_opened_by_the_library_and_cloexec(&fx);
    wakers_and_registrations_open_only_flagged_fds(&fx);
    freeing_wakers_then_poll_releases_every_fd(&fx);
    shared_fd_goes_with_the_last_waker(&fx);
    create_free_rounds_accumulate_no_fd(&fx);

    util_fds_free(&fx.before);
    util_close(fx.pipe_fds[0]);
    util_close(fx.pipe_fds[1]);
    util_close(fx.sv[0]);
    util_close(fx.sv[1]);
    return done_testing();
}
