/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_wake(3)): the wakes of a burst share one system
 * call.  The wakers of a poll share its one kernel object and a ready
 * list; a wake that turns an idle waker pending pushes it on the list,
 * and signals the object only if the list was empty.  So:
 *
 *   1-2. 64 distinct idle wakers woken one after another, before the
 *        consumer runs, make exactly one signalling system call, and
 *        waking them all again (they are pending) makes none;
 *   3-4. one wait with capacity 64 returns the 64 tokens, each once;
 *   5-6. a second burst after that wait makes one signal again, and is
 *        handed out whole;
 *   7-10. with capacity 1: 5 wakers woken make one signal, 5 waits
 *        return them in the order they were woken (oldest first)
 *        without any further signal, and a timeout-0 wait then
 *        returns 0;
 *   11-12. two threads that wake the same idle waker at once, round
 *        after round, make one signal a round: the wake that loses the
 *        exchange to LISTED merges, however close the race.
 *
 * The signals are counted by wrapping the calls that make them: write()
 * to the object's descriptor (the eventfd, or the pipe's write end,
 * found among those mw_poll_new opened), and syscall(SYS_write, ...)
 * where the library writes through it (lib/fd.c); on kqueue+user, a
 * kevent() change that triggers an EVFILT_USER knote (t/lib/wrap.h's hook).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef MW_HAVE_SYSCALL_RW
# include <sys/syscall.h>
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"
/* t/local.mk puts libkqueue's headers on the path of this program when
 * kqueue is emulated; a BSD has the header anyway. */
#if defined(__has_include)
# if __has_include(<sys/event.h>)
#  include <sys/types.h>
#  include <sys/event.h>
#  include <sys/time.h>
#  if defined(EVFILT_USER) && defined(NOTE_TRIGGER)
#   define HAVE_TRIGGER_HOOK 1
#  endif
# endif
#endif

#define N 64
#define NCAP1 5

static int hub_wfd = -1;
static atomic_int signals;

typedef ssize_t (*write_fn)(int, const void *, size_t);
static write_fn real_write;

ssize_t
write(int fd, const void *buf, size_t len)
{
    if (!real_write) {
        errno = ENOSYS;
        return -1;
    }
    if (fd >= 0 && fd == hub_wfd)
        atomic_fetch_add(&signals, 1);
    return real_write(fd, buf, len);
}

/* The library writes through syscall(SYS_write, ...) where it can
 * (lib/fd.c): t/lib/wrap.c's syscall() runs this after each call. */
static void
count_syscall_write(long number, const long *args, long result)
{
    (void)result;
#ifdef SYS_write
    if (number == SYS_write && hub_wfd >= 0 && (int)args[0] == hub_wfd)
        atomic_fetch_add(&signals, 1);
#else
    (void)number, (void)args;
#endif
}

#ifdef HAVE_TRIGGER_HOOK
static int
count_trigger(const struct kevent *changes, int nchanges, int nevents)
{
    (void)nevents;
    for (int i = 0; i < nchanges; i++)
        if (changes[i].filter == EVFILT_USER
            && (changes[i].fflags & NOTE_TRIGGER))
            atomic_fetch_add(&signals, 1);
    return 0;
}
#endif

/* Resolve the wrapped calls, make the poll and find what its wakers'
 * signal goes through; skips the test when it cannot be counted. */
static mw_poll *
counted_poll(void)
{
    struct util_fds before, after;
    void *sym;
    mw_poll *p;
    int rfd;
    bool counted;

    wrap_init();
    sym = wrap_next_symbol("write");
    if (sym)
        memcpy(&real_write, &sym, sizeof real_write);
#ifdef MW_HAVE_SYSCALL_RW
    if (!wrap_forwards(WRAP_SYSCALL))
        plan_skip_all("cannot wrap syscall() (no dlsym(RTLD_NEXT) here)");
#endif
    wrap_after_syscall_hook = count_syscall_write;
    if (!real_write)
        plan_skip_all("cannot wrap write() (no dlsym(RTLD_NEXT) here)");
    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("cannot create a poll");
    util_fds_take(&after);
    util_hub_fds(&before, &after, &rfd, &hub_wfd);
    util_fds_free(&before);
    util_fds_free(&after);
    counted = hub_wfd >= 0;
#ifdef HAVE_TRIGGER_HOOK
    if (!counted && util_caps()->waker_knote && wrap_forwards(WRAP_KEVENT)) {
        wrap_before_kevent_hook = count_trigger;
        counted = true;
    }
#endif
    if (!counted) {
        mw_poll_free(p);
        plan_skip_all("%s: cannot count the wakers' signals", mw_backend());
    }
    diag("%s: counting %s", mw_backend(),
         hub_wfd >= 0 ? "writes to the wakers' descriptor"
                      : "EVFILT_USER triggers");
    return p;
}

static void
burst(mw_poll *p, mw_waker **w, const char *what)
{
    struct mw_event ev[N];
    unsigned char seen[N] = { 0 };
    int n, distinct = 0;

    atomic_store(&signals, 0);
    for (int i = 0; i < N; i++)
        if (mw_waker_wake(w[i]) != 0)
            bail_out("mw_waker_wake failed");
    is_int(atomic_load(&signals), 1, "%s: %d idle wakers woken one after "
           "another make one signalling system call", what, N);
    if (what[0] == 'a') {
        for (int i = 0; i < N; i++)
            if (mw_waker_wake(w[i]) != 0)
                bail_out("mw_waker_wake failed");
        is_int(atomic_load(&signals), 1, "%s: waking them all again, "
               "pending, makes none", what);
    }
    n = util_wait(p, ev, N, UTIL_LONG_MS);
    for (int i = 0; i < n; i++)
        if (ev[i].token < N && !seen[ev[i].token]++)
            distinct++;
    is_int(n, N, "%s: one wait with capacity %d returns them all", what,
           N);
    if (what[0] == 'a')
        is_int(distinct, N, "%s: each token once", what);
}

static void
capacity_one_returns_oldest_first(mw_poll *p, mw_waker **w)
{
    /* Woken in an order other than that of their making. */
    static const int order[NCAP1] = { 3, 0, 4, 1, 2 };
    struct mw_event ev[1];
    int in_order = 0, signals_after;

    atomic_store(&signals, 0);
    for (int i = 0; i < NCAP1; i++)
        if (mw_waker_wake(w[order[i]]) != 0)
            bail_out("mw_waker_wake failed");
    is_int(atomic_load(&signals), 1, "capacity 1: %d wakers woken make one "
           "signal", NCAP1);
    for (int i = 0; i < NCAP1; i++) {
        int n = util_wait(p, ev, 1, UTIL_LONG_MS);

        if (n == 1 && ev[0].token == (mw_token)order[i])
            in_order++;
        else
            diag("wait %d returned %d, token %lu (want %d)", i + 1, n,
                 n == 1 ? (unsigned long)ev[0].token : 0UL, order[i]);
    }
    signals_after = atomic_load(&signals);
    is_int(in_order, NCAP1, "%d waits of capacity 1 return them in the "
           "order they were woken, oldest first", NCAP1);
    is_int(signals_after, 1, "without any further signal");
    is_int(util_wait(p, ev, 1, 0), 0, "and a timeout-0 wait then returns 0");
}

/* ---- 11-12: two wakes of one idle waker at once ---- */

/* Enough rounds that the two wakes often both pass the pending check
 * before either exchanges (some in a hundred rounds, on 2 CPUs); a tenth
 * under valgrind, which runs one thread at a time anyway. */
#define RACE_ROUNDS_MAX 30000
static int race_rounds = RACE_ROUNDS_MAX;

static pthread_barrier_t race_start, race_end;
static mw_waker *race_waker;

static void *
race_partner(void *arg)
{
    (void)arg;
    for (int r = 0; r < race_rounds; r++) {
        pthread_barrier_wait(&race_start);
        (void)mw_waker_wake(race_waker);
        pthread_barrier_wait(&race_end);
    }
    return NULL;
}

static void
two_wakes_at_once_signal_once(mw_poll *p, mw_waker *w)
{
    int before, events = 0, bad = 0;
    pthread_t t;

    race_waker = w;
    if (getenv("MW_UNDER_VALGRIND"))
        race_rounds = RACE_ROUNDS_MAX / 10;
    if (pthread_barrier_init(&race_start, NULL, 2) != 0
        || pthread_barrier_init(&race_end, NULL, 2) != 0)
        bail_out("pthread_barrier_init failed");
    before = atomic_load(&signals);
    if (pthread_create(&t, NULL, race_partner, NULL) != 0)
        bail_out("pthread_create failed");
    for (int r = 0; r < race_rounds; r++) {
        struct mw_event ev[4];
        int n;

        pthread_barrier_wait(&race_start);
        (void)mw_waker_wake(w);
        pthread_barrier_wait(&race_end);
        n = util_wait(p, ev, 4, UTIL_LONG_MS);
        if (n == 1 && ev[0].token == 0)
            events++;
        else
            bad++;
    }
    pthread_join(t, NULL);
    pthread_barrier_destroy(&race_start);
    pthread_barrier_destroy(&race_end);
    is_int(atomic_load(&signals) - before, race_rounds, "two threads waking "
           "one idle waker at once, %d rounds: one signal a round",
           race_rounds);
    ok(events == race_rounds && bad == 0, "and one event a round (%d "
       "events, %d rounds otherwise)", events, bad);
}

int
main(void)
{
    mw_waker *w[N];
    mw_poll *p;

    tap_watchdog(60);
    p = counted_poll();
    for (int i = 0; i < N; i++)
        if (mw_waker_new(&w[i], p, (mw_token)i) != 0)
            bail_out("mw_waker_new failed");
    plan(12);
    burst(p, w, "a first burst");
    burst(p, w, "the burst after that wait");
    capacity_one_returns_oldest_first(p, w);
    two_wakes_at_once_signal_once(p, w[0]);

    for (int i = 0; i < N; i++)
        mw_waker_free(w[i]);
    mw_poll_free(p);
    return done_testing();
}
