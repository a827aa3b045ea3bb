/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3)): a waker costs no descriptor.  With the
 * process's descriptor table full, mw_waker_new still succeeds, opens
 * nothing, leaves errno alone, and its wake is delivered; so are many
 * more wakers made with the table still full.  (Every waker of a poll
 * shares the kernel object mw_poll_new opened.)
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define ERRNO_MARK 4417
#define T_OLD ((mw_token)0x01D)
#define T_NEW ((mw_token)0x0E3)

static int fills[UTIL_FDS_MAX];
static int nfills;

/* RLIMIT_NOFILE a little above the highest open descriptor (so that the
 * table fills quickly), then dup() until it is full.  Returns the limit
 * before. */
static struct rlimit
fill_table(void)
{
    static struct util_fds now;
    struct rlimit saved, low;
    int highest = -1, fd;

    util_fds_take(&now);
    for (int i = 0; i < now.n; i++)
        if (now.open[i])
            highest = i;
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0)
        bail_out("getrlimit: %s", strerror(errno));
    low = saved;
    if (saved.rlim_cur == RLIM_INFINITY
        || saved.rlim_cur > (rlim_t)(highest + 16))
        low.rlim_cur = (rlim_t)(highest + 16);
    if (low.rlim_cur > UTIL_FDS_MAX || setrlimit(RLIMIT_NOFILE, &low) != 0)
        plan_skip_all("cannot lower RLIMIT_NOFILE below %d", UTIL_FDS_MAX);
    if (highest < 0)
        bail_out("no descriptor open to fill the table with");
    while ((fd = dup(highest)) >= 0) {
        if (nfills >= UTIL_FDS_MAX)
            bail_out("the descriptor table does not fill up");
        fills[nfills++] = fd;
    }
    if (errno != EMFILE)
        bail_out("dup: %s (expected EMFILE)", strerror(errno));
    return saved;
}

static void
empty_table(const struct rlimit *saved)
{
    while (nfills > 0)
        util_close(fills[--nfills]);
    if (setrlimit(RLIMIT_NOFILE, saved) != 0)
        bail_out("cannot restore RLIMIT_NOFILE: %s", strerror(errno));
}

/* Does `w` deliver its own event, and nothing else show up? */
static bool
delivers_alone(mw_poll *p, mw_waker *w, mw_token token)
{
    struct mw_event ev[8];
    int n;

    if (mw_waker_wake(w) != 0)
        return false;
    n = util_wait(p, ev, 8, UTIL_LONG_MS);
    return n == 1 && ev[0].token == token && ev[0].flags == MW_EV_READABLE;
}

int
main(void)
{
    static struct util_fds before, after;
    struct rlimit saved;
    mw_poll *p;
    mw_waker *old, *w, *more[200];
    int rc, e, first = -1, made = 0, delivered = 0;

    tap_watchdog(60);
    plan(6);
    /* Made before the table fills: libkqueue cannot start its thread
     * without a free descriptor, and what is checked is the waker. */
    if (mw_poll_new(&p) != 0 || mw_waker_new(&old, p, T_OLD) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");
    saved = fill_table();

    util_fds_take(&before);
    w = NULL;
    errno = ERRNO_MARK;
    rc = mw_waker_new(&w, p, T_NEW);
    e = errno;
    is_errno(rc, 0, "with the table full, mw_waker_new on %s succeeds",
             mw_backend());
    is_int(e, ERRNO_MARK, "... and leaves errno alone");
    ok(util_fds_settled(&before, &after, &first), "... and opens no "
       "descriptor (first difference %d)", first);
    ok(rc == 0 && delivers_alone(p, w, T_NEW), "... and its wake is "
       "delivered, alone");
    for (int i = 0; i < 200; i++) {
        if (mw_waker_new(&more[i], p, (mw_token)(0x1000 + i)) != 0)
            break;
        made++;
        (void)mw_waker_wake(more[i]);
    }
    while (delivered < made) {
        struct mw_event ev[64];
        int n = util_wait(p, ev, 64, UTIL_LONG_MS);

        if (n <= 0)
            break;
        delivered += n;
    }
    ok(made == 200 && delivered == 200, "200 more wakers made and woken "
       "with the table full: %d made, %d events", made, delivered);

    empty_table(&saved);
    ok(delivers_alone(p, old, T_OLD), "the waker made before still "
       "delivers");
    for (int i = 0; i < made; i++)
        mw_waker_free(more[i]);
    if (rc == 0)
        mw_waker_free(w);
    mw_waker_free(old);
    mw_poll_free(p);
    return done_testing();
}
