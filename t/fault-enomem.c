/* SPDX-License-Identifier: MIT */
/*
 * Fault: allocation failure.  This program interposes malloc, calloc,
 * realloc, posix_memalign, aligned_alloc, memalign and free: each call is
 * counted and forwarded to the next definition (dlsym(RTLD_NEXT), with a
 * static bootstrap buffer for what dlsym itself allocates), and one of
 * them can be made to fail.  For each API call below and for every N, the
 * call is made with its Nth allocation failing, until a call no longer
 * reaches an Nth allocation:
 *
 *   - mw_poll_new;
 *   - mw_waker_new, on a poll with no waker (its table is allocated) and
 *     on one with 16 (the table grows);
 *   - mw_poll_register of 160 descriptors in a row, so that every table
 *     grows several times;
 *   - mw_poll_wait after those registrations: on poll(2) its snapshot of
 *     the set grows (elsewhere it allocates nothing, which is checked);
 *   - mw_poll_reregister and mw_poll_deregister (which allocate nothing).
 *
 * The interposer is the allocation hook, t/lib/alloc-hook.c.  Each call
 * must return -ENOMEM (or succeed when the failing allocation was not
 * reached), leave errno alone, set *out to NULL, leak nothing (the
 * count of live allocations and the set of open descriptors are as before)
 * and leave the objects working: registrations in place, wakers
 * delivering, a pending wake still pending.  Only allocations on the main
 * thread are failed; no other thread of the test exists meanwhile.
 *
 * Under libkqueue (util_caps()->emulated) only the allocations made by
 * libmiowake's own code are failed and counted: libkqueue 2.7 swallows a
 * failed allocation in kqueue() and then crashes in kevent(), and frees
 * a closed kqueue's memory on its monitoring thread whenever it gets to
 * it (see doc/ROBUSTNESS.md).
 *
 * Where the interposition does not take (valgrind replaces the allocator
 * in the executable too), or dlsym is missing, the test is skipped.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <miowake.h>

#include "alloc-hook.h"
#include "tap.h"
#include "util.h"

#define ERRNO_MARK 7001
#define MAX_N 200               /* no API call makes this many allocations */
#define NREG 160
#define TOKEN_W0 ((mw_token)0xA0)
#define TOKEN_NEW ((mw_token)0xA1)
#define TOKEN_FD(i) ((mw_token)0x7000 + (mw_token)(i))
#define MAX_WAKERS 40
#define TOKEN_WK(i) ((mw_token)0xB00 + (mw_token)(i))

/* ---- scenarios ---- */

/* The objects one attempt works on, built afresh for each attempt so
 * that "leaks nothing" means: after freeing them, the count of live
 * allocations and the open descriptors are what they were before they
 * were built (a table that grew in a failed call belongs to the poll and
 * goes with it). */
struct ctx {
    int k;                      /* wakers or registrations built in */
    mw_poll *p;
    mw_waker *w0;               /* TOKEN_W0, made first */
    mw_waker *wk[MAX_WAKERS];   /* TOKEN_WK(i) */
    int nwk;
    int nreg;                   /* pipes[0 .. nreg-1] registered */
    bool waited;                /* build waited once, halfway */
    mw_poll *out_p;
    mw_waker *out_w;
    int out_kind;               /* the op's out-parameter: OUT_* */
    int rc;
};

enum { OUT_NONE, OUT_POLL, OUT_WAKER };

static int pipes[NREG + 1][2];

static void
make_poll(struct ctx *c, bool with_w0)
{
    if (mw_poll_new(&c->p) != 0)
        bail_out("mw_poll_new failed");
    if (with_w0 && mw_waker_new(&c->w0, c->p, TOKEN_W0) != 0)
        bail_out("mw_waker_new failed");
}

static void
add_registrations(struct ctx *c, int upto)
{
    for (; c->nreg < upto; c->nreg++)
        if (mw_poll_register(c->p, pipes[c->nreg][0], TOKEN_FD(c->nreg),
                             MW_READABLE) != 0)
            bail_out("mw_poll_register failed");
}

static void
teardown(struct ctx *c)
{
    if (c->rc == 0 && c->out_p != NULL)
        mw_poll_free(c->out_p);
    if (c->rc == 0 && c->out_w != NULL && c->out_w != (mw_waker *)&c->out_w)
        mw_waker_free(c->out_w);
    for (int i = 0; i < c->nreg; i++) {
        mw_poll_deregister(c->p, pipes[i][0]);
        util_drain(pipes[i][0]);
    }
    for (int i = 0; i < c->nwk; i++)
        mw_waker_free(c->wk[i]);
    mw_waker_free(c->w0);
    mw_poll_free(c->p);
}

/* Everything the poll holds is reported: each registered pipe made
 * readable (and drained when reported, as the contract asks), w0 and
 * every other waker woken, `extra` too (or NULL).  No other token. */
static bool
everything_works(struct ctx *c, mw_waker *extra, mw_token extra_token)
{
    static bool seen[NREG + MAX_WAKERS + 2];
    struct mw_event ev[64];
    int want = 0, got = 0, strays = 0;
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    memset(seen, 0, sizeof seen);
    for (int i = 0; i < c->nreg; i++, want++)
        util_write_byte(pipes[i][1]);
    for (int i = 0; i < c->nwk; i++, want++)
        if (mw_waker_wake(c->wk[i]) != 0)
            return false;
    if (c->w0 != NULL) {
        want++;
        if (mw_waker_wake(c->w0) != 0)
            return false;
    }
    if (extra != NULL) {
        want++;
        if (mw_waker_wake(extra) != 0)
            return false;
    }
    while (got < want && util_now_ms() < end) {
        int n = util_wait(c->p, ev, 64, 100);

        if (n < 0)
            return false;
        for (int i = 0; i < n; i++) {
            mw_token tk = ev[i].token;
            size_t slot;

            if (tk >= TOKEN_FD(0) && tk < TOKEN_FD(c->nreg)) {
                slot = (size_t)(tk - TOKEN_FD(0));
                util_drain(pipes[slot][0]);
            } else if (tk >= TOKEN_WK(0) && tk < TOKEN_WK(c->nwk)) {
                slot = NREG + (size_t)(tk - TOKEN_WK(0));
            } else if (tk == TOKEN_W0 && c->w0 != NULL) {
                slot = NREG + MAX_WAKERS;
            } else if (tk == extra_token && extra != NULL) {
                slot = NREG + MAX_WAKERS + 1;
            } else {
                strays++;
                continue;
            }
            if (!seen[slot]) {
                seen[slot] = true;
                got++;
            }
        }
    }
    /* poll(2) may report a drained pipe once more: collect that. */
    while (util_wait(c->p, ev, 64, 0) > 0)
        for (int i = 0; i < 64; i++)
            ;
    return got == want && strays == 0;
}

/* ---- what every enumeration checks ---- */

struct tally {
    const char *what;
    long attempts;          /* objects built and torn down */
    long faults;            /* calls made with an allocation failing */
    long max_allocations;   /* most allocations of one successful call */
    long wrong_rc;          /* not -ENOMEM after a failed allocation */
    long leaks;             /* live allocations not back after teardown */
    long fd_leaks;
    long errno_changed;
    long out_not_null;
    long broken;            /* the objects did not work afterwards */
    long success_rc;        /* the call without a failure did not work */
    int first_bad_rc;
    int first_bad_n;
    int first_bad_k;
};

static long total_faults;

static void
tally_init(struct tally *t, const char *what)
{
    memset(t, 0, sizeof *t);
    t->what = what;
}

static void
tally_report(const struct tally *t)
{
    total_faults += t->faults;
    diag("%s: %ld attempts, %ld fault(s) injected, up to %ld allocation(s) "
         "per successful call", t->what, t->attempts, t->faults,
         t->max_allocations);
    if (t->wrong_rc)
        diag("%s: with %d built in, allocation %d failing gave %s", t->what,
             t->first_bad_k, t->first_bad_n, tap_errno_name(t->first_bad_rc));
    is_int(t->success_rc, 0, "%s works when no allocation fails", t->what);
    is_int(t->wrong_rc, 0, "%s returns -ENOMEM whichever allocation fails",
           t->what);
    is_int(t->leaks, 0, "%s leaks no memory, failed or not", t->what);
    is_int(t->fd_leaks, 0, "%s leaks no descriptor, failed or not", t->what);
    is_int(t->errno_changed, 0, "%s leaves errno alone", t->what);
    is_int(t->out_not_null, 0, "%s sets *out to NULL when it fails (where "
           "it has one)", t->what);
    is_int(t->broken, 0, "%s leaves the objects working after a failure",
           t->what);
}

typedef void (*build_fn)(struct ctx *);
typedef int (*op_fn)(struct ctx *);
/* After the call: the objects work (and, on success, the call's
 * result). */
typedef bool (*check_fn)(struct ctx *, bool failed);

/* For N = 1, 2, ...: build, call with allocation N failing, check,
 * tear down, until a call no longer reaches allocation N. */
static void
enumerate(struct tally *t, int k, build_fn build, op_fn op, check_fn check)
{
    static struct util_fds fds0, fds1;

    for (long n = 1; n <= MAX_N; n++) {
        struct ctx c;
        long base;
        bool hit;
        int e;

        memset(&c, 0, sizeof c);
        c.k = k;
        base = alloc_hook_live();
        util_fds_take(&fds0);
        build(&c);
        c.out_p = (mw_poll *)&c.out_p;      /* anything but NULL */
        c.out_w = (mw_waker *)&c.out_w;
        errno = ERRNO_MARK;
        alloc_hook_fail_at(n);
        c.rc = op(&c);
        hit = alloc_hook_disarm();
        e = errno;
        t->attempts++;
        if (e != ERRNO_MARK && t->errno_changed++ == 0)
            diag("%s: with %d built in and allocation %ld failing%s, errno "
                 "became %d (%s)", t->what, k, n, hit ? "" : " (not reached)",
                 e, strerror(e));
        if (hit) {
            t->faults++;
            if (c.rc != -ENOMEM && t->wrong_rc++ == 0) {
                t->first_bad_rc = c.rc;
                t->first_bad_n = (int)n;
                t->first_bad_k = k;
            }
            if (c.rc != 0)
                t->out_not_null += (c.out_kind == OUT_POLL && c.out_p != NULL)
                                   || (c.out_kind == OUT_WAKER
                                       && c.out_w != NULL);
            t->broken += !check(&c, c.rc != 0);
        } else {
            if (alloc_hook_armed_calls() > t->max_allocations)
                t->max_allocations = alloc_hook_armed_calls();
            t->success_rc += c.rc < 0 || !check(&c, false);
        }
        if (c.out_p == (mw_poll *)&c.out_p)
            c.out_p = NULL;
        if (c.out_w == (mw_waker *)&c.out_w)
            c.out_w = NULL;
        teardown(&c);
        t->leaks += !alloc_hook_back_to(base);
        t->fd_leaks += !util_fds_settled(&fds0, &fds1, NULL);
        if (!hit)
            break;
    }
}

/* mw_poll_new */

static void
build_nothing(struct ctx *c)
{
    make_poll(c, false);        /* only so that teardown has a poll */
}

static int
op_poll_new(struct ctx *c)
{
    c->out_kind = OUT_POLL;
    return mw_poll_new(&c->out_p);
}

static bool
check_poll_new(struct ctx *c, bool failed)
{
    struct mw_event ev[4];
    mw_poll *q = NULL;
    bool fine;

    if (failed) {
        /* out_p was set to NULL (counted by enumerate); the process can
         * still make a poll. */
        if (mw_poll_new(&q) != 0)
            return false;
        mw_poll_free(q);
        return true;
    }
    fine = c->out_p != NULL && util_wait(c->out_p, ev, 4, 0) == 0;
    return fine;
}

/* mw_waker_new with k wakers already there */

static void
build_wakers(struct ctx *c)
{
    make_poll(c, false);
    add_registrations(c, 1);
    for (; c->nwk < c->k; c->nwk++)
        if (mw_waker_new(&c->wk[c->nwk], c->p, TOKEN_WK(c->nwk)) != 0)
            bail_out("mw_waker_new failed");
}

static int
op_waker_new(struct ctx *c)
{
    c->out_kind = OUT_WAKER;
    return mw_waker_new(&c->out_w, c->p, TOKEN_NEW);
}

static bool
check_waker_new(struct ctx *c, bool failed)
{
    if (failed)
        return everything_works(c, NULL, 0);
    return c->out_w != NULL && everything_works(c, c->out_w, TOKEN_NEW);
}

/* mw_poll_register of descriptor k with k registered before */

static void
build_registrations(struct ctx *c)
{
    /* No waker: its descriptor, opened after every pipe, has the highest
     * number, and the table grown to cover it would leave no growth for
     * a registration to fail in. */
    make_poll(c, false);
    add_registrations(c, c->k);
}

static int
op_register(struct ctx *c)
{
    return mw_poll_register(c->p, pipes[c->k][0], TOKEN_FD(c->k),
                            MW_READABLE);
}

static bool
check_register(struct ctx *c, bool failed)
{
    if (failed) {
        /* Nothing registered: deregistering finds nothing, and registering
         * again (nothing failing) works. */
        if (mw_poll_deregister(c->p, pipes[c->k][0]) != -ENOENT)
            return false;
        if (!everything_works(c, NULL, 0))
            return false;
        return mw_poll_register(c->p, pipes[c->k][0], TOKEN_FD(c->k),
                                MW_READABLE) == 0
               && (c->nreg++, everything_works(c, NULL, 0));
    }
    c->nreg++;
    return everything_works(c, NULL, 0);
}

/* mw_poll_wait with k registrations new since the last wait, and a wake
 * pending */

static void
build_wait(struct ctx *c)
{
    struct mw_event ev[64];

    make_poll(c, true);
    if (c->waited) {
        add_registrations(c, c->k / 2);
        while (util_wait(c->p, ev, 64, 0) > 0)
            ;
    }
    add_registrations(c, c->k);
    if (mw_waker_wake(c->w0) != 0)
        bail_out("mw_waker_wake failed");
}

static void
build_wait_after_first(struct ctx *c)
{
    c->waited = true;
    build_wait(c);
}

static int
op_wait(struct ctx *c)
{
    struct mw_event ev[64];
    int n = mw_poll_wait(c->p, ev, 64, 0);

    /* Only the pending wake is ready. */
    if (n > 0 && (n != 1 || ev[0].token != TOKEN_W0))
        return -ERANGE;
    return n;
}

static bool
check_wait(struct ctx *c, bool failed)
{
    if (failed) {
        /* The wake made before the failed wait is still pending. */
        if (util_wait_token(c->p, TOKEN_W0, UTIL_LONG_MS, NULL, NULL) != 1)
            return false;
    } else if (c->rc != 1) {
        return false;
    }
    return everything_works(c, NULL, 0);
}

/* mw_poll_reregister and mw_poll_deregister, k registered */

static int
op_reregister(struct ctx *c)
{
    return mw_poll_reregister(c->p, pipes[c->k - 1][0], TOKEN_FD(c->k - 1),
                              MW_READABLE);
}

static int
op_deregister(struct ctx *c)
{
    int rc = mw_poll_deregister(c->p, pipes[c->k - 1][0]);

    if (rc == 0)
        c->nreg--;
    return rc;
}

static bool
check_works(struct ctx *c, bool failed)
{
    (void)failed;
    return everything_works(c, NULL, 0);
}

/* ---- setting up ---- */

/* Controls: the interposition is in place and counts (else skip). */
static void
require_hook(void)
{
    void *volatile x;
    long c0 = alloc_hook_calls();

    if (!alloc_hook_ready())
        plan_skip_all("no dlsym(RTLD_NEXT, \"malloc\") to forward to");
    x = malloc(8);
    free(x);
    if (alloc_hook_calls() == c0)
        plan_skip_all("the allocator is not interposed (%s)",
                      util_under_valgrind() ? "valgrind replaces it"
                                            : "the system's choice");
}

/* Room for NREG + 1 pipes and the library's descriptors. */
static void
raise_nofile(void)
{
    struct rlimit rl;
    rlim_t want = 2 * (NREG + 1) + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                      ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Warm up: first uses may allocate for good (libkqueue's globals).
 * Then the control that the hook sees mw_poll_new allocate. */
static void
warm_up(void)
{
    mw_poll *q;
    mw_waker *w;
    long c0;

    if (mw_poll_new(&q) != 0 || mw_waker_new(&w, q, 1) != 0)
        bail_out("cannot create a poll and a waker");
    if (mw_poll_register(q, pipes[0][0], 1, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    mw_poll_deregister(q, pipes[0][0]);
    mw_waker_free(w);
    mw_poll_free(q);
    util_settle();
    if (util_caps()->emulated) {
        alloc_hook_only_library();
        diag("libkqueue: only the allocations libmiowake makes itself are "
             "failed and counted (libkqueue 2.7 does not survive its own "
             "failing, and frees on its own thread)");
    }
    c0 = alloc_hook_calls();
    if (mw_poll_new(&q) != 0)
        bail_out("mw_poll_new failed");
    ok(alloc_hook_calls() > c0, "control: the interposer sees "
       "mw_poll_new allocate");
    mw_poll_free(q);
}

/* ---- one promise each: every allocation of the call may fail ---- */

static void
check_poll_new_fails(void)
{
    struct tally t;

    tally_init(&t, "mw_poll_new");
    enumerate(&t, 0, build_nothing, op_poll_new, check_poll_new);
    tally_report(&t);
}

static void
check_waker_new_fails(void)
{
    static const int waker_counts[] = { 0, 1, 15, 16, 17, 31, 32 };
    struct tally t;

    tally_init(&t, "mw_waker_new");
    for (size_t i = 0; i < sizeof waker_counts / sizeof waker_counts[0]; i++)
        enumerate(&t, waker_counts[i], build_wakers, op_waker_new,
                  check_waker_new);
    tally_report(&t);
}

static void
check_register_fails(void)
{
    struct tally t;

    tally_init(&t, "mw_poll_register (1st to 160th descriptor)");
    for (int k = 0; k < NREG; k++)
        enumerate(&t, k, build_registrations, op_register, check_register);
    tally_report(&t);
}

static void
check_wait_fails(void)
{
    static const int wait_counts[] = { 0, 1, 15, 16, 17, 31, 32, 33, 64, 65,
                                       100, NREG };
    struct tally t;

    tally_init(&t, "mw_poll_wait (set changed since the last wait)");
    for (size_t i = 0; i < sizeof wait_counts / sizeof wait_counts[0]; i++) {
        enumerate(&t, wait_counts[i], build_wait, op_wait, check_wait);
        enumerate(&t, wait_counts[i], build_wait_after_first, op_wait,
                  check_wait);
    }
    tally_report(&t);
}

/* mw_poll_reregister and mw_poll_deregister allocate nothing: the
 * enumeration stops at N = 1, which is never reached. */
static void
check_reregister_deregister(void)
{
    struct tally t;

    tally_init(&t, "mw_poll_reregister");
    enumerate(&t, 40, build_registrations, op_reregister, check_works);
    tally_report(&t);
    tally_init(&t, "mw_poll_deregister");
    enumerate(&t, 40, build_registrations, op_deregister, check_works);
    tally_report(&t);
}

int
main(void)
{
    tap_watchdog(120);
    diag("backend %s", mw_backend());
    require_hook();
    raise_nofile();
    for (int i = 0; i <= NREG; i++)
        util_pipe(pipes[i]);
    warm_up();

    check_poll_new_fails();
    check_waker_new_fails();
    check_register_fails();
    check_wait_fails();
    check_reregister_deregister();

    diag("%ld faults injected in all", total_faults);
    for (int i = 0; i <= NREG; i++) {
        util_close(pipes[i][0]);
        util_close(pipes[i][1]);
    }
    return done_testing();
}
