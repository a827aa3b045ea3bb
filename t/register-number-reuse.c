/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3), mw_waker_new(3)): the poll keeps a
 * registration by descriptor number until it is deregistered, and
 * "mw_poll_deregister() on a registered descriptor that has since been
 * closed still removes the poll's entry and returns 0"; a waker's event
 * has the waker's token, and "a wake is never lost: after mw_waker_wake()
 * returns 0, the current or the next mw_poll_wait(3) on the poll returns
 * the waker's event".  Those must hold together when a waker's own
 * descriptor is given the number of a descriptor that was closed while
 * still registered:
 *
 *   - mw_waker_new succeeds;
 *   - the number now names the waker's descriptor, not the caller's: the
 *     stale entry was released when the waker took the number, so
 *     mw_poll_deregister and mw_poll_reregister on it are -ENOENT, and
 *     mw_poll_register on it is -EEXIST ("a new descriptor that is given
 *     the same number cannot be registered");
 *   - whatever of those calls is made (none included), every wake of the
 *     waker is delivered, with the waker's token, not the stale one's;
 *   - the same with the closed descriptor's file kept open by a dup()
 *     (the kernel may then keep it in its set);
 *   - and with two threads, one closing and deregistering descriptors
 *     while the other creates wakers: every call returns what the pages
 *     allow, and every waker created delivers every wake.
 *
 * The test makes the number certain: the stale descriptor is the lowest
 * free number when mw_waker_new runs, and a snapshot of the open
 * descriptors before and after shows which numbers the waker took.  On
 * kqueue+user the waker has no descriptor; under libkqueue an eventfd the
 * emulation opens for it may take the number: then the number is not the
 * waker's in the library's eyes, the calls may return 0, and only the
 * delivery of every wake is asserted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#if defined(__SANITIZE_THREAD__)
# define UNDER_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define UNDER_TSAN 1
# endif
#endif

#define T_STALE ((mw_token)0x57A1E)
#define T_OTHER ((mw_token)0x07E2)
#define T_WAKER ((mw_token)0x3A3E)
#define T_RACE_FD ((mw_token)0xFD)

/* Wakes checked in each case after the call under test. */
#define WAKES 4

/* A bound that only turns a lost wake into a failure: every wake is made
 * before the wait that looks for it begins. */
static int
loss_ms(void)
{
    return util_under_valgrind() ? UTIL_LONG_MS : UTIL_LONG_MS / 2;
}

enum action { ACT_NONE, ACT_DEREGISTER, ACT_REREGISTER, ACT_REGISTER };

static const char *const action_name[] = {
    "no call on the number", "mw_poll_deregister", "mw_poll_reregister",
    "mw_poll_register",
};

/* Who holds the stale number once the waker has been created. */
enum owner {
    OWNER_NOBODY,       /* the waker opened nothing that got it */
    OWNER_WAKER,        /* the waker's own registered descriptor */
    OWNER_EMULATION,    /* a descriptor libkqueue opened for the waker */
};

struct fixture {
    mw_poll *p;
    mw_waker *w;
    int n;              /* the stale number */
    int writer;         /* the other end of the stale pipe */
    int keep;           /* dup() of the stale descriptor, or -1 */
    int wrc;            /* what mw_waker_new returned */
    enum owner owner;
};

/* Are all descriptors below fd open in the snapshot (fd is then the
 * lowest free number if it is free itself)? */
static bool
lowest_free(const struct util_fds *s, int fd)
{
    if (fd >= s->n || s->open[fd])
        return false;
    for (int i = 0; i < fd; i++)
        if (!s->open[i])
            return false;
    return true;
}

/* Register a pipe's read end N, close N without deregistering (keeping
 * its file open through a dup() when asked), and create a waker while N
 * is the lowest free number.  False if N could not be made the lowest
 * free number (something else freed a lower one), or, when retry is set,
 * if the waker opened nothing that took N (under libkqueue, a thread of
 * the emulation may open or close a descriptor at any time). */
static bool
arrange_once(struct fixture *f, bool keep_file, bool retry)
{
    struct util_fds before, after;
    int fds[2], nnew, opened[16];
    bool took = false, lowest;

    memset(f, 0, sizeof *f);
    f->keep = -1;
    if (mw_poll_new(&f->p) != 0)
        bail_out("mw_poll_new failed");
    util_pipe(fds);
    f->n = fds[0];
    f->writer = fds[1];
    if (mw_poll_register(f->p, f->n, T_STALE, MW_READABLE) != 0)
        bail_out("cannot register the descriptor that goes stale");
    if (keep_file) {
        f->keep = fcntl(f->n, F_DUPFD_CLOEXEC, f->n + 1);
        if (f->keep < 0)
            bail_out("dup: %s", strerror(errno));
    }
    util_close(f->n);

    util_fds_take(&before);
    lowest = lowest_free(&before, f->n);
    f->wrc = mw_waker_new(&f->w, f->p, T_WAKER);
    util_fds_take(&after);
    nnew = util_fds_new(&before, &after, opened, 16);
    for (int i = 0; i < nnew && i < 16; i++)
        if (opened[i] == f->n)
            took = true;
    util_fds_free(&before);
    util_fds_free(&after);

    if (!lowest || (f->wrc == 0 && !took && retry)) {
        mw_waker_free(f->w);
        mw_poll_free(f->p);
        util_close(f->writer);
        if (f->keep >= 0)
            util_close(f->keep);
        return false;
    }
    if (f->wrc != 0 || !took)
        f->owner = OWNER_NOBODY;
    else if (util_poller_is("kqueue") && util_waker_is("user"))
        f->owner = OWNER_EMULATION;
    else
        f->owner = OWNER_WAKER;
    return true;
}

static void
arrange(struct fixture *f, bool keep_file)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        if (arrange_once(f, keep_file, attempt < 19))
            return;
        util_sleep_ms(10);
    }
    bail_out("could not make the stale number the lowest free one");
}

static void
teardown(struct fixture *f)
{
    mw_waker_free(f->w);
    mw_poll_free(f->p);
    util_close(f->writer);
    if (f->keep >= 0)
        util_close(f->keep);
}

/* Wait until the waker's event comes (1) or the bound passes (0), or a
 * wait fails (its rc); count events carrying the stale tokens. */
static int
wait_waker(mw_poll *p, int *stale)
{
    struct mw_event ev[16];
    int64_t end = util_now_ms() + loss_ms();
    int left = loss_ms();
    int r, found = 0;

    for (;;) {
        r = mw_poll_wait(p, ev, 16, left);
        if (r < 0 && r != -EINTR)
            return r;
        for (int i = 0; i < r; i++) {
            if (ev[i].token == T_WAKER)
                found = 1;
            else if (ev[i].token == T_STALE || ev[i].token == T_OTHER)
                (*stale)++;
        }
        if (found)
            return 1;
        left = (int)(end - util_now_ms());
        if (left <= 0)
            return 0;
    }
}

static void
waker_on_a_stale_number_delivers_every_wake(enum action act, bool keep_file)
{
    struct fixture f;
    const char *how = keep_file ? "file kept open by a dup()"
                                : "file closed";
    const char *what = action_name[act];
    int rc, got, stale = 0, delivered = 0, wrc = 0;

    arrange(&f, keep_file);
    diag("%s, %s: stale number %d, mw_waker_new -> %s, %s", what, how, f.n,
         tap_errno_name(f.wrc),
         f.owner == OWNER_WAKER ? "the waker's descriptor took it"
         : f.owner == OWNER_EMULATION ? "libkqueue's eventfd for the waker "
                                        "took it"
         : "nothing took it");
    is_errno(f.wrc, 0, "%s, %s: mw_waker_new succeeds when its descriptor "
             "gets the number of a closed, still registered descriptor",
             what, how);
    if (f.wrc != 0) {
        skip(act == ACT_NONE ? 2 : 3, "%s, %s: no waker was created", what,
             how);
        teardown(&f);
        return;
    }
    if (f.owner == OWNER_NOBODY) {
        skip(act == ACT_NONE ? 2 : 3, "%s: the waker opened no descriptor "
             "that took number %d", mw_backend(), f.n);
        teardown(&f);
        return;
    }

    switch (act) {
    case ACT_NONE:
        break;
    case ACT_DEREGISTER:
        rc = mw_poll_deregister(f.p, f.n);
        if (f.owner == OWNER_WAKER)
            is_errno(rc, -ENOENT, "%s, %s: mw_poll_deregister on the number "
                     "is -ENOENT (the stale entry went when the waker took "
                     "the number)", what, how);
        else
            ok(rc == 0 || rc == -ENOENT, "%s, %s: mw_poll_deregister on "
               "the number is 0 or -ENOENT (got %s)", what, how,
               tap_errno_name(rc));
        break;
    case ACT_REREGISTER:
        rc = mw_poll_reregister(f.p, f.n, T_OTHER, MW_READABLE);
        if (f.owner == OWNER_WAKER)
            is_errno(rc, -ENOENT, "%s, %s: mw_poll_reregister on the "
                     "number is -ENOENT (the stale entry went when the "
                     "waker took the number)", what, how);
        else
            ok(rc == 0 || rc == -ENOENT || rc == -EBADF, "%s, %s: "
               "mw_poll_reregister on the number is 0, -ENOENT or -EBADF "
               "(got %s)", what, how, tap_errno_name(rc));
        break;
    case ACT_REGISTER:
        rc = mw_poll_register(f.p, f.n, T_OTHER, MW_READABLE);
        is_errno(rc, -EEXIST, "%s, %s: mw_poll_register on the number is "
                 "-EEXIST", what, how);
        break;
    }

    /* Every wake is delivered, under the waker's token. */
    for (int i = 0; i < WAKES; i++) {
        wrc = mw_waker_wake(f.w);
        if (wrc != 0)
            break;
        got = wait_waker(f.p, &stale);
        if (got != 1)
            break;
        delivered++;
    }
    if (wrc != 0)
        diag("wake %d returned %s", delivered + 1, tap_errno_name(wrc));
    if (stale > 0)
        diag("%d event(s) came with the stale or the other token", stale);
    ok(delivered >= 1, "%s, %s: the first wake is delivered with the "
       "waker's token", what, how);
    ok(delivered == WAKES && (f.owner != OWNER_WAKER || stale == 0),
       "%s, %s: each of %d wakes in a row is delivered (%d were), and no "
       "event carries the stale or the other token (%d did)", what, how,
       WAKES, delivered, stale);
    teardown(&f);
}

#ifndef UNDER_TSAN
/* ---- two threads ----
 *
 * Each round, one thread opens a pipe, registers its read end N, closes
 * it and deregisters it (after the close, as the pages allow), while the
 * other creates a waker as soon as N has been closed, wakes it twice and
 * waits for each wake.  The rounds start together at a barrier, and the
 * deregistration starts when the other thread enters mw_waker_new, so
 * that the two calls run at the same time, with N the lowest free number:
 * either may come first.
 */

static mw_poll *race_poll;
static pthread_barrier_t race_barrier;
static atomic_int race_stop;
static atomic_int race_closed_round, race_creating_round, race_number;
static atomic_int race_enoent, race_bad_dereg, race_bad_reg;
static atomic_int race_last_bad;

static void *
closer(void *arg)
{
    int fds[2], rc;

    (void)arg;
    for (int round = 1; ; round++) {
        pthread_barrier_wait(&race_barrier);
        if (atomic_load(&race_stop))
            break;
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            atomic_fetch_add(&race_bad_reg, 1);
            atomic_store(&race_last_bad, -errno);
            atomic_store(&race_number, -1);
            atomic_store(&race_closed_round, round);
            continue;
        }
        rc = mw_poll_register(race_poll, fds[0], T_RACE_FD, MW_READABLE);
        if (rc != 0) {
            atomic_fetch_add(&race_bad_reg, 1);
            atomic_store(&race_last_bad, rc);
        }
        close(fds[0]);
        atomic_store(&race_number, fds[0]);
        atomic_store(&race_closed_round, round);
        /* Deregister as the other thread enters mw_waker_new, or a
         * little later: a delay that varies from round to round, so that
         * the deregistration comes before, during or after the waker's
         * taking the number (nothing asserted depends on which). */
        while (atomic_load(&race_creating_round) < round)
            sched_yield();
        for (volatile int spin = (round * 37) % 128 * 100; spin > 0; spin--)
            ;
        rc = mw_poll_deregister(race_poll, fds[0]);
        if (rc == -ENOENT) {
            atomic_fetch_add(&race_enoent, 1);
        } else if (rc != 0) {
            atomic_fetch_add(&race_bad_dereg, 1);
            atomic_store(&race_last_bad, rc);
        }
        close(fds[1]);
    }
    return NULL;
}

static void
wakers_made_while_another_thread_closes_deliver(void)
{
    pthread_t t;
    int rounds = util_under_valgrind() ? 300 : 3000;
    int made = 0, bad_new = 0, last_new = 0, bad_wake = 0, lost = 0;
    int took = 0, stale = 0, round;

    if (mw_poll_new(&race_poll) != 0)
        bail_out("mw_poll_new failed");
    if (pthread_barrier_init(&race_barrier, NULL, 2) != 0)
        bail_out("pthread_barrier_init failed");
    util_thread_start(&t, closer, NULL);
    for (round = 1; ; round++) {
        mw_waker *w;
        int rc, n;

        if (round > rounds || lost > 0)
            atomic_store(&race_stop, true);
        pthread_barrier_wait(&race_barrier);
        if (atomic_load(&race_stop))
            break;
        while (atomic_load(&race_closed_round) < round)
            sched_yield();
        atomic_store(&race_creating_round, round);
        rc = mw_waker_new(&w, race_poll, T_WAKER);
        n = atomic_load(&race_number);
        /* Open now: the waker (or, under libkqueue, the emulation for
         * it) took the number just closed. */
        if (n >= 0 && util_fd_is_open(n))
            took++;
        if (rc != 0) {
            bad_new++;
            last_new = rc;
            continue;
        }
        made++;
        for (int j = 0; j < 2; j++) {
            if (mw_waker_wake(w) != 0) {
                bad_wake++;
                break;
            }
            if (wait_waker(race_poll, &stale) != 1) {
                lost++;
                break;
            }
        }
        mw_waker_free(w);
    }
    util_thread_join(t);
    pthread_barrier_destroy(&race_barrier);
    diag("%d rounds; in %d the waker was given the number just closed "
         "(before or after its deregistration); %d deregistrations found "
         "the entry gone (-ENOENT)",
         round - 1, took, atomic_load(&race_enoent));
    is_int(atomic_load(&race_bad_dereg), 0, "two threads: every "
           "mw_poll_deregister after close returns 0 or -ENOENT (last "
           "other: %s)", tap_errno_name(atomic_load(&race_last_bad)));
    is_int(atomic_load(&race_bad_reg), 0, "two threads: every "
           "mw_poll_register of a fresh descriptor returns 0");
    is_int(bad_new, 0, "two threads: every mw_waker_new succeeds (last "
           "failure: %s)", tap_errno_name(last_new));
    ok(lost == 0 && bad_wake == 0, "two threads: every wake of every "
       "waker created is delivered (%d lost, %d wakes failed, in %d "
       "wakers)", lost, bad_wake, made);
    mw_poll_free(race_poll);
}

#endif /* !UNDER_TSAN */

int
main(void)
{
    tap_watchdog(300);
    diag("backend %s", mw_backend());

    for (int keep = 0; keep < 2; keep++) {
        waker_on_a_stale_number_delivers_every_wake(ACT_NONE, keep);
        waker_on_a_stale_number_delivers_every_wake(ACT_DEREGISTER, keep);
        waker_on_a_stale_number_delivers_every_wake(ACT_REREGISTER, keep);
        waker_on_a_stale_number_delivers_every_wake(ACT_REGISTER, keep);
    }
#ifdef UNDER_TSAN
    /* The case closes a descriptor on one thread while another opens one
     * that gets its number, and then uses the number on the first: what
     * ThreadSanitizer reports as a race on the descriptor, whatever the
     * library does. */
    skip(4, "two threads: ThreadSanitizer reports a descriptor number "
         "closed on one thread and reused on another as a data race");
#else
    wakers_made_while_another_thread_closes_deliver();
#endif
    return done_testing();
}
