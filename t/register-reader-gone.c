/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), Event flags): on the write end of a pipe,
 * MW_EV_WRITE_CLOSED means that the reading side has gone and writing
 * fails with EPIPE (t/event-flags has what each poller reports); and
 * (mw_poll_register(3)) MW_EV_ERROR may be reported whatever the
 * interest.  The write end of a pipe whose read end is closed:
 *
 *   - registered for writing, it is reported with MW_EV_WRITE_CLOSED,
 *     and a write then fails with EPIPE.  A BSD kqueue refuses the
 *     write filter on such a pipe, and the library says so at once:
 *     mw_poll_register returns -EPIPE (mw_poll_register(3));
 *   - registered for reading only, whatever it reports carries
 *     MW_EV_ERROR or MW_EV_WRITE_CLOSED.  Linux reports the error alone
 *     (EPOLLERR, POLLERR: MW_EV_ERROR|MW_EV_WRITE_CLOSED); a kqueue's
 *     read filter ends the stream with EV_EOF and the error, which is
 *     MW_EV_READABLE|MW_EV_READ_CLOSED|MW_EV_ERROR.
 *
 * Each case makes a new pipe and closes its read end before
 * registering, so the state is there from the start.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_WRITER ((mw_token)0x3E)
#define T_FENCE ((mw_token)0xFE)

/* A pipe's write end, its read end closed. */
static int
orphan_writer(void)
{
    int fds[2];

    util_pipe(fds);
    util_close(fds[0]);
    return fds[1];
}

static void
writable_interest(mw_poll *p)
{
    int w = orphan_writer();
    uint32_t flags = 0;
    int rc = mw_poll_register(p, w, T_WRITER, MW_WRITABLE);

    if (rc == -EPIPE) {
        /* The kqueue refused the filter: the caller knows already. */
        is_errno(rc, -EPIPE, "registering it for writing is -EPIPE: the "
                 "reader is gone");
        skip(2, "no registration, so no event to look at");
    } else {
        is_errno(rc, 0, "the write end of a pipe whose reader is gone is "
                 "registered for writing");
        is_int(util_wait_token(p, T_WRITER, UTIL_LONG_MS, &flags, NULL), 1,
               "it is reported");
        diag("flags: %s", util_flags_str(flags));
        ok(flags & MW_EV_WRITE_CLOSED, "with MW_EV_WRITE_CLOSED (got %s)",
           util_flags_str(flags));
        (void)mw_poll_deregister(p, w);
    }
    errno = 0;
    rc = write(w, "x", 1) < 0 ? errno : 0;
    is_int(rc, EPIPE, "and a write fails with EPIPE");
    util_close(w);
}

static void
readable_interest(mw_poll *p, mw_waker *fence)
{
    int w = orphan_writer();
    uint32_t flags = 0;
    int rc = mw_poll_register(p, w, T_WRITER, MW_READABLE);
    int hits = 0;

    is_errno(rc, 0, "the same, registered for reading only");
    /* What comes before the fence's event, at most once per wait. */
    for (int round = 0; round < 3; round++) {
        struct mw_event ev[8];
        int n = util_wait(p, ev, 8, round == 0 ? 100 : 0);
        uint32_t f = 0;

        if (n < 0)
            bail_out("mw_poll_wait: %s", strerror(-n));
        hits += util_count_token(ev, n, T_WRITER, &f);
        flags |= f;
    }
    if (!util_fence(p, fence, T_FENCE, T_WRITER, &hits, NULL))
        bail_out("the fence's wake never came");
    diag("%d event(s), flags: %s", hits, util_flags_str(flags));
    ok(hits == 0 || (flags & (MW_EV_ERROR | MW_EV_WRITE_CLOSED)),
       "what it reports carries MW_EV_ERROR or MW_EV_WRITE_CLOSED (got %s)",
       util_flags_str(flags));
    (void)mw_poll_deregister(p, w);
    util_close(w);
}

int
main(void)
{
    mw_poll *p;
    mw_waker *fence;

    tap_watchdog(60);
    signal(SIGPIPE, SIG_IGN);
    plan(6);
    if (mw_poll_new(&p) != 0 || mw_waker_new(&fence, p, T_FENCE) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");
    writable_interest(p);
    readable_interest(p, fence);
    mw_waker_free(fence);
    mw_poll_free(p);
    return done_testing();
}
