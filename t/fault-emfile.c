/* SPDX-License-Identifier: MIT */
/*
 * Fault: the descriptor table is full.  RLIMIT_NOFILE is lowered and the
 * table filled with dup(), then k slots are freed, for k = 0, 1, 2, ...:
 *
 *   - mw_poll_new either succeeds (enough slots) or returns -EMFILE,
 *     sets *out to NULL, leaves errno alone, and leaves the table exactly
 *     as it was: a constructor that needs several descriptors (a poller
 *     and a pipe) and got some must give them back; and the memory too
 *     (the count of live allocations, from the hook in t/lib/alloc-hook.c,
 *     is back where it was; under valgrind, which replaces the
 *     allocator, its leak check does this instead);
 *   - mw_waker_new opens no descriptor: it succeeds with no free slot at
 *     all, its waker delivers, and freeing it gives nothing back;
 *   - with the table full, wakes, waits and registrations still work,
 *     since none of them opens a descriptor;
 *   - once the descriptors are closed and the limit restored, both
 *     constructors work again, and after everything is freed the set of
 *     open descriptors is the one before the test.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <miowake.h>

#include "alloc-hook.h"
#include "tap.h"
#include "util.h"

#define ERRNO_MARK 5150
#define MAX_HOLES 12
#define TOKEN_OLD ((mw_token)0x01D)
#define TOKEN_NEW ((mw_token)0x0E3)
#define TOKEN_PIPE ((mw_token)0x919E)

static int fills[UTIL_FDS_MAX];
static int nfills;
static int filler_src;

/* dup() until the table is full; returns how many were added. */
static int
fill_table(void)
{
    int added = 0, fd;

    while ((fd = dup(filler_src)) >= 0) {
        if (nfills >= UTIL_FDS_MAX)
            bail_out("the descriptor table does not fill up");
        fills[nfills++] = fd;
        added++;
    }
    if (errno != EMFILE)
        bail_out("dup: %s (expected EMFILE)", strerror(errno));
    return added;
}

/* Close the most recent filler: one more free slot. */
static void
make_hole(void)
{
    if (nfills == 0)
        bail_out("no filler left to close");
    util_close(fills[--nfills]);
}

static void
empty_table(void)
{
    while (nfills > 0)
        make_hole();
}

/* Live allocations, or -1 where the interposer does not see them. */
static long counting = -1;

static long
live_blocks(void)
{
    return counting < 0 ? 0 : alloc_hook_live();
}

/* Live allocations minus `base`, once libkqueue has caught up. */
static long
blocks_since(long base)
{
    if (counting < 0 || alloc_hook_back_to(base))
        return 0;
    return alloc_hook_live() - base;
}

/* The poll still delivers TOKEN_OLD's wake, and nothing else. */
static bool
old_waker_works(mw_poll *p, mw_waker *old)
{
    struct mw_event ev[8];
    int n;

    if (mw_waker_wake(old) != 0)
        return false;
    n = util_wait(p, ev, 8, UTIL_LONG_MS);
    return n == 1 && ev[0].token == TOKEN_OLD
           && ev[0].flags == MW_EV_READABLE;
}

/* Allocations are counted where the hook sees them (not under
 * valgrind). */
static void
start_counting(void)
{
    void *volatile x;
    long c0 = alloc_hook_calls();

    x = malloc(1);
    free(x);
    counting = alloc_hook_ready() && alloc_hook_calls() != c0 ? 1 : -1;
    if (counting < 0)
        diag("allocations are not counted here (valgrind?): memory is "
             "left to the leak checker");
}

/* A small table, so that filling it is quick: RLIMIT_NOFILE a little
 * above the highest open descriptor.  Returns the limit before. */
static struct rlimit
lower_limit(void)
{
    static struct util_fds now;
    struct rlimit saved, low;
    int highest = -1;

    util_fds_take(&now);
    for (int i = 0; i < now.n; i++)
        if (now.open[i])
            highest = i;
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0)
        bail_out("getrlimit: %s", strerror(errno));
    low = saved;
    if (saved.rlim_cur == RLIM_INFINITY
        || saved.rlim_cur > (rlim_t)(highest + 64))
        low.rlim_cur = (rlim_t)(highest + 64);
    if (low.rlim_cur > UTIL_FDS_MAX || setrlimit(RLIMIT_NOFILE, &low) != 0)
        plan_skip_all("cannot lower RLIMIT_NOFILE below %d", UTIL_FDS_MAX);
    diag("RLIMIT_NOFILE lowered to %lu; %d filler descriptors",
         (unsigned long)low.rlim_cur, fill_table());
    return saved;
}

/* mw_poll_new with k free slots, k = 0, 1, ... until it succeeds. */
static void
check_poll_new_emfile(void)
{
    static struct util_fds before, after;
    int first = -1, rc, e, min_poll = -1;
    mw_poll *q;
    bool same;
    long blocks;

    for (int k = 0; k <= MAX_HOLES; k++) {
        if (k > 0)
            make_hole();
        util_fds_take(&before);
        blocks = live_blocks();
        q = (mw_poll *)&q;          /* anything but NULL */
        errno = ERRNO_MARK;
        rc = mw_poll_new(&q);
        e = errno;
        is_int(e, ERRNO_MARK, "mw_poll_new with %d free slot(s) leaves errno "
               "alone", k);
        if (rc == 0) {
            ok(q != NULL, "mw_poll_new with %d free slot(s) succeeds with a "
               "poll", k);
            if (k == 0)
                ok(false, "mw_poll_new opens no descriptor? (backend %s)",
                   mw_backend());
            mw_poll_free(q);
            same = util_fds_settled(&before, &after, &first);
            ok(same, "... and mw_poll_free gives its descriptors back "
               "(first difference %d)", first);
            is_int(blocks_since(blocks), 0, "... and its memory");
            min_poll = k;
            break;
        }
        is_errno(rc, -EMFILE, "mw_poll_new with %d free slot(s) fails with "
                 "-EMFILE", k);
        ok(q == NULL, "... and sets *out to NULL");
        first = -1;
        same = util_fds_settled(&before, &after, &first);
        ok(same, "... and leaves no descriptor open (first difference %d)",
           first);
        is_int(blocks_since(blocks), 0, "... and no memory allocated");
    }
    ok(min_poll > 0, "mw_poll_new succeeds once %d slot(s) are free",
       min_poll);
}

/* mw_waker_new on p (with `old` made before) with k free slots, k = 0,
 * 1, ... until it succeeds. */
static void
check_waker_new_emfile(mw_poll *p, mw_waker *old)
{
    static struct util_fds before, after;
    /* Every waker shares its poll's kernel object. */
    bool waker_needs_fd = false;
    int first = -1, rc, e, min_waker = -1;
    mw_waker *w;
    bool same;
    long blocks;

    for (int k = 0; k <= MAX_HOLES; k++) {
        if (k > 0)
            make_hole();
        util_fds_take(&before);
        blocks = live_blocks();
        w = (mw_waker *)&w;
        errno = ERRNO_MARK;
        rc = mw_waker_new(&w, p, TOKEN_NEW);
        e = errno;
        is_int(e, ERRNO_MARK, "mw_waker_new with %d free slot(s) leaves "
               "errno alone", k);
        if (rc == 0) {
            struct mw_event ev[8];
            int n;

            ok(w != NULL, "mw_waker_new with %d free slot(s) succeeds with a "
               "waker", k);
            if (k == 0 && waker_needs_fd)
                ok(false, "a %s waker opened no descriptor?", mw_backend());
            n = mw_waker_wake(w) == 0 ? util_wait(p, ev, 8, UTIL_LONG_MS)
                                      : -1;
            ok(n == 1 && ev[0].token == TOKEN_NEW, "... and it delivers");
            mw_waker_free(w);
            same = util_fds_settled(&before, &after, &first);
            ok(same, "... and neither it nor mw_waker_free opened or "
               "closed a descriptor (first difference %d)", first);
            min_waker = k;
            break;
        }
        is_errno(rc, -EMFILE, "mw_waker_new with %d free slot(s) fails with "
                 "-EMFILE", k);
        ok(w == NULL, "... and sets *out to NULL");
        first = -1;
        same = util_fds_settled(&before, &after, &first);
        ok(same, "... and leaves no descriptor open (first difference %d)",
           first);
        /* The poll has a waker already: its table needs no growing. */
        is_int(blocks_since(blocks), 0, "... and no memory allocated");
        ok(old_waker_works(p, old), "... and the poll still delivers its "
           "other waker, alone");
    }
    if (waker_needs_fd)
        ok(min_waker > 0, "mw_waker_new succeeds once %d slot(s) are free",
           min_waker);
    else
        ok(min_waker == 0, "mw_waker_new on %s succeeds with no free "
           "slot (first success with %d)", mw_backend(), min_waker);
}

/* A full table: nothing else needs a descriptor. */
static void
check_full_table(mw_poll *p, mw_waker *old, const int pipefd[2])
{
    uint32_t flags = 0;

    ok(old_waker_works(p, old), "with the table full a wake is delivered");
    util_write_byte(pipefd[1]);
    is_int(util_wait_token(p, TOKEN_PIPE, UTIL_LONG_MS, &flags, NULL), 1,
           "with the table full a registered pipe is reported");
    util_drain(pipefd[0]);
    is_int(mw_poll_reregister(p, pipefd[0], TOKEN_PIPE, MW_READABLE), 0,
           "with the table full mw_poll_reregister works");
    is_int(mw_poll_deregister(p, pipefd[0]), 0,
           "with the table full mw_poll_deregister works");
    is_int(mw_poll_register(p, pipefd[0], TOKEN_PIPE, MW_READABLE), 0,
           "with the table full mw_poll_register works");
}

/* Descriptors back: everything works again. */
static void
check_table_back(mw_poll *p, mw_waker *old)
{
    mw_poll *q = NULL;
    mw_waker *w;
    int rc;

    rc = mw_poll_new(&q);
    is_errno(rc, 0, "once descriptors are free again mw_poll_new works");
    if (rc == 0) {
        rc = mw_waker_new(&w, q, TOKEN_NEW);
        is_errno(rc, 0, "and mw_waker_new works on it");
        if (rc == 0) {
            struct mw_event ev[8];
            int n = mw_waker_wake(w) == 0 ? util_wait(q, ev, 8, UTIL_LONG_MS)
                                          : -1;

            ok(n == 1 && ev[0].token == TOKEN_NEW, "and its waker delivers");
            mw_waker_free(w);
        }
        mw_poll_free(q);
    }
    rc = mw_waker_new(&w, p, TOKEN_NEW);
    is_errno(rc, 0, "mw_waker_new works again on the poll made before");
    if (rc == 0)
        mw_waker_free(w);
    ok(old_waker_works(p, old), "and the first waker still delivers alone");
}

int
main(void)
{
    static struct util_fds baseline, after;
    struct rlimit saved;
    mw_poll *p;
    mw_waker *old, *w;
    int pipefd[2], first;
    bool same;
    long blocks0;

    tap_watchdog(60);
    diag("backend %s", mw_backend());
    start_counting();

    /* Warm up (an emulation may open descriptors of its own once). */
    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, 1) != 0)
        bail_out("cannot create a poll and a waker");
    mw_waker_free(w);
    mw_poll_free(p);
    util_settle();
    util_fds_take(&baseline);
    if (counting > 0 && util_caps()->emulated)
        alloc_hook_only_library();  /* libkqueue's own memory is its own */
    blocks0 = live_blocks();

    filler_src = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (filler_src < 0)
        bail_out("open(/dev/null): %s", strerror(errno));
    if (mw_poll_new(&p) != 0 || mw_waker_new(&old, p, TOKEN_OLD) != 0)
        bail_out("cannot create a poll and a waker");
    util_pipe(pipefd);
    if (mw_poll_register(p, pipefd[0], TOKEN_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");

    saved = lower_limit();
    check_poll_new_emfile();
    fill_table();
    check_waker_new_emfile(p, old);
    fill_table();
    check_full_table(p, old, pipefd);
    empty_table();
    if (setrlimit(RLIMIT_NOFILE, &saved) != 0)
        bail_out("cannot restore RLIMIT_NOFILE: %s", strerror(errno));
    check_table_back(p, old);

    mw_poll_deregister(p, pipefd[0]);
    util_close(pipefd[0]);
    util_close(pipefd[1]);
    util_close(filler_src);
    mw_waker_free(old);
    mw_poll_free(p);
    first = -1;
    same = util_fds_settled(&baseline, &after, &first);
    ok(same, "after everything is freed the open descriptors are those "
       "before the test (first difference %d)", first);
    is_int(blocks_since(blocks0), 0, "and so is the count of live "
           "allocations");
    return done_testing();
}
