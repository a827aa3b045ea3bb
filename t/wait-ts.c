/* SPDX-License-Identifier: MIT */
/*
 * Promises of mw_poll_wait_ts(3) that mw_poll_wait() has no way to ask
 * (the rest of its promises are mw_poll_wait()'s, checked again by
 * the t/ts programs):
 *   - a timeout finer than a millisecond never returns 0 before it is up,
 *     measured with CLOCK_MONOTONIC from before the call to after it;
 *   - NULL waits with no limit, {0, 0} does not block;
 *   - a negative tv_sec, or a tv_nsec outside 0 to 999,999,999, is
 *     -EINVAL, errno and the array untouched; so is a huge tv_sec not an
 *     overflow into a short wait;
 *   - mw_poll_wait_ts64 takes a 64-bit tv_sec whatever this program's
 *     time_t (t/wait-ts-time64 is this file with a 64-bit time_t where
 *     glibc lets a program choose, reaching it through the header);
 *   - a refused finer call (ENOSYS from an old kernel, EPERM from a
 *     seccomp filter, made here by t/lib/wrap.c's wrapper) falls back, once
 *     for the process, to whole milliseconds rounded up;
 *   - a signal handler ends the wait with -EINTR (errno as it was), and
 *     a cancel acted on inside it leaves the poll usable.
 * Lower bounds only: how late a wait ends is the machine's business
 * (make bench measures it).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_WAKER ((mw_token)0x7500)

/* The symbol a program with a 64-bit time_t reaches: declared here with
 * the layout the man page gives, whatever this program's time_t. */
struct timespec_64 {
    int64_t tv_sec;
#if LONG_MAX == INT32_MAX && defined(__BYTE_ORDER__) \
    && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    int32_t pad;
    long tv_nsec;
#elif LONG_MAX == INT32_MAX
    long tv_nsec;
    int32_t pad;
#else
    long tv_nsec;
#endif
};
int mw_poll_wait_ts64(mw_poll *poll, struct mw_event *events,
                      size_t capacity, const struct timespec_64 *timeout);

static int64_t
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec
ts_of(int64_t ns)
{
    struct timespec ts;

    memset(&ts, 0, sizeof(ts));
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* A wait of timeout_ns with nothing ready, again after -EINTR: 0 and how
 * long it took, or what else it returned. */
static int
timed_empty_wait(mw_poll *p, int64_t timeout_ns, int64_t *took)
{
    struct mw_event ev[4];
    struct timespec ts = ts_of(timeout_ns);
    int n;

    do {
        int64_t t0 = now_ns();

        n = mw_poll_wait_ts(p, ev, 4, &ts);
        *took = now_ns() - t0;
    } while (n == -EINTR);
    return n;
}

/* ---- never early ---- */

static enum wrap_call backend_call;
static int backend_calls;

static void
count_backend_call(enum wrap_call call)
{
    if (call == backend_call)
        backend_calls++;
}

static void
never_early(mw_poll *p, int64_t timeout_ns)
{
    long rounds = util_count(20, 200, 4);
    int early = 0, other = 0, refused_before;
    int64_t least = INT64_MAX;

    backend_calls = 0;
    refused_before = wrap_fine_wait_refused_by_system;
    wrap_before_wait_hook = count_backend_call;
    for (long r = 0; r < rounds; r++) {
        int64_t took;
        int n = timed_empty_wait(p, timeout_ns, &took);

        if (n != 0)
            other++;
        else if (took < timeout_ns)
            early++;
        if (n == 0 && took < least)
            least = took;
    }
    wrap_before_wait_hook = NULL;
    diag("%.3f us asked: the shortest took %.3f us", timeout_ns / 1e3,
         least == INT64_MAX ? -1.0 : least / 1e3);
    ok(early == 0 && other == 0, "a %.3f us wait never returns 0 before "
       "%.3f us (%ld waits: %d early, %d returned something else)",
       timeout_ns / 1e3, timeout_ns / 1e3, rounds, early, other);
    /* Nothing ready and no signal: the system's one call waits it all
     * (and one more where the system refused the finer call just now,
     * which the wait then makes again in milliseconds). */
    if (!wrap_forwards(backend_call))
        skip(1, "cannot see the backend's call here");
    else
        is_int(backend_calls, rounds + (wrap_fine_wait_refused_by_system
                                        - refused_before),
               "each %.3f us wait was one call of the system, timed to "
               "the timeout", timeout_ns / 1e3);
}

/* ---- no limit, no wait ---- */

static void
null_and_zero(mw_poll *p, mw_waker *w)
{
    struct util_later later = { w, 30 };
    struct mw_event ev[4];
    struct timespec zero = { 0, 0 };
    pthread_t t;
    int64_t t0;
    int n;

    util_thread_start(&t, util_wake_later, &later);
    do
        n = mw_poll_wait_ts(p, ev, 4, NULL);
    while (n == -EINTR);
    util_thread_join(t);
    ok(n == 1 && ev[0].token == T_WAKER && ev[0].flags == MW_EV_READABLE,
       "NULL waits until a wake 30 ms later, and returns it (got %s)",
       tap_errno_name(n));

    t0 = now_ns();
    n = mw_poll_wait_ts(p, ev, 4, &zero);
    ok(n == 0 && now_ns() - t0 < (int64_t)UTIL_LONG_MS * 1000000,
       "{0, 0} with nothing ready returns 0 without waiting (got %s)",
       tap_errno_name(n));
    if (mw_waker_wake(w) != 0)
        bail_out("mw_waker_wake failed");
    n = mw_poll_wait_ts(p, ev, 4, &zero);
    ok(n == 1 && ev[0].token == T_WAKER, "{0, 0} returns a pending wake "
       "(got %s)", tap_errno_name(n));
}

/* ---- refused arguments ---- */

static void
bad_timespecs(mw_poll *p)
{
    static const struct {
        int64_t sec;
        long nsec;
        const char *what;
    } bad[] = {
        { -1, 0, "a negative tv_sec" },
        { -1, 999999999, "a negative tv_sec with a valid tv_nsec" },
        { 0, -1, "a negative tv_nsec" },
        { 0, 1000000000, "a tv_nsec of a whole second" },
        { 1, 1000000001, "a tv_nsec past a second" },
    };
    struct mw_event ev[2], before[2];
    struct timespec fine = { 0, 1000 };
    struct timespec_64 t64;
    bool kept_errno = true, kept_array = true;

    memset(ev, 0xA5, sizeof(ev));
    memcpy(before, ev, sizeof(ev));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct timespec ts;
        int n;

        memset(&ts, 0, sizeof(ts));
        ts.tv_sec = (time_t)bad[i].sec;
        ts.tv_nsec = bad[i].nsec;
        errno = EDOM;
        n = mw_poll_wait_ts(p, ev, 2, &ts);
        kept_errno = kept_errno && errno == EDOM;
        kept_array = kept_array && memcmp(ev, before, sizeof(ev)) == 0;
        is_errno(n, -EINVAL, "%s is refused", bad[i].what);

        memset(&t64, 0, sizeof(t64));
        t64.tv_sec = bad[i].sec;
        t64.tv_nsec = bad[i].nsec;
        n = mw_poll_wait_ts64(p, ev, 2, &t64);
        kept_array = kept_array && memcmp(ev, before, sizeof(ev)) == 0;
        is_errno(n, -EINVAL, "%s is refused by mw_poll_wait_ts64",
                 bad[i].what);
    }
    ok(kept_errno, "errno is left as it was by every refusal");
    ok(kept_array, "the events array is left as it was by every refusal");
    is_errno(mw_poll_wait_ts(NULL, ev, 2, &fine), -EINVAL, "a NULL poll");
    is_errno(mw_poll_wait_ts(p, NULL, 2, &fine), -EINVAL, "a NULL array");
    is_errno(mw_poll_wait_ts(p, ev, 0, &fine), -EINVAL, "capacity 0");
    is_int(mw_poll_wait_ts(p, ev, 2, &fine), 0, "and the poll still waits "
           "afterwards");
}

/* ---- timeouts too long for a short wait ---- */

/* A wait that has to outlast a wake made later: the wake, not 0. */
static int
wait_for_later_wake(mw_poll *p, mw_waker *w, const struct timespec *ts,
                    const struct timespec_64 *ts64)
{
    struct util_later later = { w, 30 };
    struct mw_event ev[4];
    pthread_t t;
    int n;

    util_thread_start(&t, util_wake_later, &later);
    do
        n = ts64 ? mw_poll_wait_ts64(p, ev, 4, ts64)
                 : mw_poll_wait_ts(p, ev, 4, ts);
    while (n == -EINTR);
    util_thread_join(t);
    return n == 1 && ev[0].token == T_WAKER ? 1 : n;
}

static void
long_timeouts(mw_poll *p, mw_waker *w)
{
    struct timespec ts;
    struct timespec_64 t64;

    memset(&ts, 0, sizeof(ts));
    ts.tv_sec = sizeof(time_t) == 8 ? (time_t)INT64_MAX : (time_t)INT32_MAX;
    ts.tv_nsec = 999999999;
    is_int(wait_for_later_wake(p, w, &ts, NULL), 1, "the largest tv_sec "
           "waits for a wake 30 ms later, not an overflowed short time");

    memset(&t64, 0, sizeof(t64));
    t64.tv_sec = INT64_MAX;
    t64.tv_nsec = 999999999;
    is_int(wait_for_later_wake(p, w, NULL, &t64), 1, "mw_poll_wait_ts64: "
           "so does INT64_MAX seconds");

    /* Just short of what a count of nanoseconds can hold: a deadline
     * that the clock cannot reach from now, also no limit. */
    memset(&t64, 0, sizeof(t64));
    t64.tv_sec = INT64_MAX / 1000000000 - 1;
    t64.tv_nsec = 999999999;
    is_int(wait_for_later_wake(p, w, NULL, &t64), 1, "mw_poll_wait_ts64: "
           "so does %lld s, whose deadline is past what the clock counts",
           (long long)t64.tv_sec);

    /* 2^32 s: a library that read 32 bits of it would see 0 s. */
    memset(&t64, 0, sizeof(t64));
    t64.tv_sec = (int64_t)1 << 32;
    t64.tv_nsec = 0;
    is_int(wait_for_later_wake(p, w, NULL, &t64), 1, "mw_poll_wait_ts64: "
           "2^32 s is read as 64 bits and waits for the wake");
}

/* ---- the finer call refused ---- */

/* In a child, so that the library's note of the refusal, which is for
 * the whole process, starts unset: the exit status says what failed. */
static int
refused_child(int err)
{
    mw_poll *p;
    int64_t took;
    int n;

    wrap_fine_wait_calls = 0;
    wrap_fine_wait_refuse = err;
    backend_calls = 0;
    wrap_before_wait_hook = count_backend_call;
    if (mw_poll_new(&p) != 0)
        return 10;
    n = timed_empty_wait(p, 250000, &took);
    if (n != 0)
        return 11;
    if (took < 1000000)
        return 12;              /* not rounded up to a millisecond */
    if (wrap_fine_wait_calls != 1)
        return 13;              /* the finer call was not tried once */
    /* The refused call never reached the system (nor the hook): one
     * call in milliseconds, rounded up, waited for all of it. */
    if (backend_calls != 1)
        return 16;
    n = timed_empty_wait(p, 250000, &took);
    if (n != 0 || took < 1000000)
        return 14;
    if (wrap_fine_wait_calls != 1)
        return 15;              /* asked again after the refusal */
    mw_poll_free(p);
    return 0;
}

static void
refused(const char *backend, int err, const char *name)
{
    int status;
    pid_t pid;

    if (!wrap_fine_wait_wrapped()) {
        skip(1, "%s: no finer call this test can refuse (kqueue, built "
             "without one, or reached by syscall())", backend);
        return;
    }
    pid = util_fork();
    if (pid == 0)
        util_child_exit(refused_child(err));
    if (waitpid(pid, &status, 0) != pid)
        bail_out("waitpid failed");
    is_int(WIFEXITED(status) ? WEXITSTATUS(status) : 100, 0,
           "%s from the finer call: a 250 us wait falls back to "
           "epoll_wait/poll, rounded up to 1 ms, and the process never "
           "asks again (exit status: 10 no poll, 11 wait failed, 12 not "
           "rounded up, 13 not tried, 14 second wait wrong, 15 asked "
           "again, 16 the fallback woke early)", name);
}

/* ---- signals and cancellation ---- */

static void
on_usr1(int sig)
{
    (void)sig;
}

struct blocked {
    mw_poll *p;
    pthread_t self;
    atomic_int inside;
    int rc;
    int errno_after;            /* errno was EDOM before the wait */
    /* Here, not on the waiting thread's stack: a frame a cancel unwinds
     * must hold no array and no local whose address is taken, or
     * AddressSanitizer finds its redzones still poisoned when the thread
     * exits. */
    struct mw_event ev[4];
    struct timespec ts;
};

static atomic_int *inside_flag;

static void
note_inside(enum wrap_call call)
{
    (void)call;
    if (inside_flag)
        atomic_store(inside_flag, 1);
}

static void *
wait_long(void *arg)
{
    struct blocked *b = arg;

    errno = EDOM;
    b->rc = mw_poll_wait_ts(b->p, b->ev, 4, &b->ts);
    b->errno_after = errno;
    return NULL;
}

/* Start a thread that waits 30 s and 1 ns, and return once it is in the
 * backend's waiting call (or just about to make it). */
static void
start_blocked(struct blocked *b, mw_poll *p)
{
    b->p = p;
    b->rc = 1;
    b->ts.tv_sec = 30;
    b->ts.tv_nsec = 1;
    atomic_store(&b->inside, 0);
    inside_flag = &b->inside;
    util_thread_start(&b->self, wait_long, b);
    for (int i = 0; i < UTIL_LONG_MS && !atomic_load(&b->inside); i++)
        util_sleep_ms(1);
    util_sleep_ms(20);
    inside_flag = NULL;
}

static void
interrupted_and_cancelled(mw_poll *p)
{
    struct sigaction sa;
    struct blocked b;
    struct mw_event ev[4];
    struct timespec zero = { 0, 0 };
    void *res;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bail_out("sigaction failed");
    wrap_before_wait_hook = note_inside;

    start_blocked(&b, p);
    pthread_kill(b.self, SIGUSR1);
    util_thread_join(b.self);
    is_errno(b.rc, -EINTR, "a signal handler ends a 30 s + 1 ns wait with "
             "-EINTR");
    /* The backend's call failed with EINTR; the caller's errno stays. */
    ok(b.errno_after == EDOM, "errno is left as it was by a wait that "
       "ends with -EINTR (got %s)", strerror(b.errno_after));

    start_blocked(&b, p);
    pthread_cancel(b.self);
    if (pthread_join(b.self, &res) != 0)
        bail_out("pthread_join failed");
    ok(res == PTHREAD_CANCELED, "a 30 s + 1 ns wait is a cancellation "
       "point");
    is_int(mw_poll_wait_ts(p, ev, 4, &zero), 0, "after the cancel the "
           "next wait is not refused with -EBUSY");
    wrap_before_wait_hook = NULL;
}

int
main(void)
{
    const char *backend = mw_backend();
    mw_poll *p;
    mw_waker *w;

    tap_watchdog(120);
    wrap_init();
    backend_call = wrap_wait_call();
    diag("backend %s, time_t of %zu bits", backend, sizeof(time_t) * 8);

    /* First, while nothing in this process has waited finer yet. */
    refused(backend, ENOSYS, "ENOSYS");
    refused(backend, EPERM, "EPERM");

    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, T_WAKER) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");

    never_early(p, 50000);
    never_early(p, 250000);
    never_early(p, 1000000);
    never_early(p, 1234567);
    {
        struct timespec_64 t64;
        struct mw_event ev[2];
        int early = 0;

        memset(&t64, 0, sizeof(t64));
        t64.tv_nsec = 250000;
        for (int r = 0; r < 10; r++) {
            int64_t t0 = now_ns();
            int n = mw_poll_wait_ts64(p, ev, 2, &t64);

            if (n != -EINTR && (n != 0 || now_ns() - t0 < 250000))
                early++;
        }
        is_int(early, 0, "mw_poll_wait_ts64: a 250 us wait never returns 0 "
               "before 250 us");
    }
    null_and_zero(p, w);
    bad_timespecs(p);
    long_timeouts(p, w);
    interrupted_and_cancelled(p);

    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
