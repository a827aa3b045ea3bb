/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_wait(3)): a positive timeout "returns 0 once it
 * passes with nothing ready" -- so never before it has passed.  When the
 * backend's system call comes back early with nothing the library keeps
 * (events of descriptors deregistered meanwhile, or the poll(2)
 * backend's own interrupt), the wait goes on for "what is left of the
 * timeout", and that rest, turned into the whole milliseconds the
 * system calls take, must be rounded up: rounded down, the last sleep
 * ends up to a millisecond before the deadline and the wait returns 0
 * early.
 *
 * The test makes every wait loop: it wraps the system call the backend
 * waits in (forwarded with dlsym(RTLD_NEXT)) and, after each of the
 * first few calls that reports something, deregisters what was reported
 * and registers another descriptor that is already readable, so the
 * next call, if the deadline has not passed by then, returns at once
 * with only that one, which is dropped in turn.  Each wait is timed against CLOCK_MONOTONIC from before the call
 * to after it: a 0 must come at or after the timeout.  That is a lower
 * bound the library promises, not a speed; nothing here bounds how late
 * a wait may end.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define WAITS 50
/* Built as t/ts/wait-never-early (MW_TEST_WAIT_TS), the waits go through
 * mw_poll_wait_ts() with a timeout that is no whole number of
 * milliseconds, so that each rest goes to the backend's finer call too
 * (epoll_pwait2, ppoll, kevent) and must be exact, not rounded. */
#ifdef MW_TEST_WAIT_TS
# define TIMEOUT_NS 2500001
#else
# define TIMEOUT_NS 3000000
#endif
/* Early returns the hook makes per wait. */
#define HOPS 4
#define T_HOP ((mw_token)0x40)

static enum wrap_call hook_call;
static mw_poll *the_poll;
static int rd[HOPS], wr[HOPS];
static int hops_left, hook_runs, hook_bad;
static int backend_calls;

/* After the backend's call: the descriptor it reported leaves the poll,
 * and the next one, already readable, comes in, until HOPS of them have
 * gone through.  Each hop is a wake-up of the backend with nothing the
 * library keeps. */
static void
after_kernel_wait(enum wrap_call call, int n)
{
    int i;

    if (call == hook_call)
        backend_calls++;
    if (call != hook_call || n <= 0 || hops_left == 0)
        return;
    i = HOPS - hops_left;
    hook_runs++;
    if (mw_poll_deregister(the_poll, rd[i]) != 0)
        hook_bad++;
    hops_left--;
    if (hops_left > 0
        && mw_poll_register(the_poll, rd[i + 1], T_HOP + (mw_token)i + 1,
                            MW_READABLE) != 0)
        hook_bad++;
}

static int64_t
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int
main(void)
{
    const char *backend = mw_backend();
    struct mw_event ev[8];
    int early = 0, nonzero = 0, unlooped = 0, hops = 0;
    int64_t least = INT64_MAX;

    tap_watchdog(60);
    wrap_init();
    hook_call = wrap_wait_call();
    if (!wrap_forwards(hook_call))
        plan_skip_all("cannot wrap the system call %s waits in (no "
                      "dlsym(RTLD_NEXT) here)", backend);
    wrap_after_wait_hook = after_kernel_wait;
    plan(4);
    diag("backend %s", backend);

    if (mw_poll_new(&the_poll) != 0)
        bail_out("mw_poll_new failed");
    for (int i = 0; i < HOPS; i++) {
        int fds[2];

        util_pipe(fds);
        rd[i] = fds[0];
        wr[i] = fds[1];
        util_write_byte(wr[i]);
    }

    for (int w = 0; w < WAITS; w++) {
        int64_t t0, dt;
        int n;

        hops_left = HOPS;
        hook_runs = 0;
        if (mw_poll_register(the_poll, rd[0], T_HOP, MW_READABLE) != 0)
            bail_out("mw_poll_register failed");
        t0 = now_ns();
#ifdef MW_TEST_WAIT_TS
        n = mw_poll_wait_ts(the_poll, ev, 8,
                            &(struct timespec){ 0, TIMEOUT_NS });
#else
        n = mw_poll_wait(the_poll, ev, 8, TIMEOUT_NS / 1000000);
#endif
        dt = now_ns() - t0;
        /* Whatever the hook left registered goes, so that the next
         * wait starts with rd[0] alone. */
        for (int i = 0; i < HOPS; i++)
            (void)mw_poll_deregister(the_poll, rd[i]);
        if (n == -EINTR) {
            w--;
            continue;
        }
        if (n != 0) {
            nonzero++;
            diag("wait %d returned %s", w, tap_errno_name(n));
        } else if (dt < TIMEOUT_NS) {
            if (early++ < 5)
                diag("wait %d returned 0 after %.6f ms, %.6f ms asked, "
                     "after %d early wake-up(s) of the backend", w,
                     (double)dt / 1e6, TIMEOUT_NS / 1e6, hook_runs);
        }
        if (n == 0 && dt < least)
            least = dt;
        /* The first call returns at once with rd[0]; how many more
         * follow before the deadline depends on the machine's speed. */
        if (hook_runs == 0)
            unlooped++;
        hops += hook_runs;
    }

    diag("the shortest wait that returned 0 took %.3f ms",
         least == INT64_MAX ? -1.0 : (double)least / 1e6);
    diag("%d early wake-ups of the backend in all, at most %d a wait",
         hops, HOPS);
    ok(unlooped == 0 && hook_bad == 0, "every wait was woken early with "
       "only a dropped event at least once (%d were not; %d registration "
       "call(s) failed)", unlooped, hook_bad);
    is_int(nonzero, 0, "every wait, having nothing to report, returned 0");
    is_int(early, 0, "no %.6f ms wait returned 0 before that time had "
           "passed since it was called, of %d waits", TIMEOUT_NS / 1e6,
           WAITS);
    /* Which call each wait and each rest went to (mw_poll_wait(3),
     * Timeout as a timespec). */
#ifdef MW_TEST_WAIT_TS
    if (!wrap_fine_wait_wrapped())
        skip(1, "%s: no finer call this test can see", backend);
    else if (wrap_fine_wait_refused_by_system > 0)
        skip(1, "the system refused the finer call (%d times): the waits "
             "went on in milliseconds", wrap_fine_wait_refused_by_system);
    else
        is_int(wrap_fine_wait_calls, backend_calls, "every wait and every "
               "rest of one went to the finer call, none rounded to "
               "milliseconds (%d calls)", backend_calls);
#else
    is_int(wrap_fine_wait_calls, 0, "mw_poll_wait made only the "
           "millisecond call, for its timeout and each rest (%d calls)",
           backend_calls);
#endif

    for (int i = 0; i < HOPS; i++) {
        util_close(rd[i]);
        util_close(wr[i]);
    }
    mw_poll_free(the_poll);
    return done_testing();
}
