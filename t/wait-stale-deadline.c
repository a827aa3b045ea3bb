/* SPDX-License-Identifier: MIT */
/*
 * Promises (mw_poll_wait(3)): a positive timeout returns 0 only "if
 * nothing happened", so a wake made before the call must come out even
 * when the backend's first batch turns out to be stale and the deadline
 * has passed by the time the library has dropped it; and a wait that
 * fails "writes no events", also when it failed after looping over such
 * a batch.
 *
 * The stale batch is made as in t/wait-zero-stale.c: K readable pipes
 * registered before the waker, so the backend's first answer holds only
 * them, and a wrapper of the system call the backend waits in (t/lib/wrap.h)
 * deregisters them between the kernel's answer and the library's
 * translation, as another thread could at that instant.
 *
 *   - timeout 20 ms: the wrapper then sleeps past the deadline.  The
 *     waker's event was ready all along, so the wait must return it and
 *     not 0: the library must look again (at no cost in time) after a
 *     full batch of stale events, whatever the deadline says.
 *   - no timeout, no waker woken: the wrapper also starts a thread whose
 *     signal (a handler without SA_RESTART) interrupts the backend's next
 *     call, so the wait fails with -EINTR after the stale batch.  The
 *     caller's array, filled with a pattern before the call, must be
 *     untouched.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define K 4
#define T_FD ((mw_token)0xF0)
#define T_WAKER ((mw_token)0x5D1E)
#define PATTERN 0xA5

/* ---- the hook ---- */

static enum wrap_call hook_call;
static mw_poll *the_poll;
static int hook_fds[K];
static bool armed;
static long sleep_ms;           /* after deregistering */
static bool arm_timer;          /* then interrupt the next call */
static int hook_runs, hook_n, hook_bad_rc;
static volatile sig_atomic_t signals;
static pthread_t waiter, interrupter;
static bool interrupter_started;

static void
on_signal(int sig)
{
    (void)sig;
    signals++;
}

/* Interrupt the waiting thread once it is back in the backend's call (a
 * thread, not a timer: the TAP watchdog owns SIGALRM). */
static void *
interrupt_later(void *arg)
{
    (void)arg;
    util_sleep_ms(50);
    pthread_kill(waiter, SIGUSR1);
    return NULL;
}

static void
after_kernel_wait(enum wrap_call call, int n)
{
    if (!armed || call != hook_call || n <= 0)
        return;
    armed = false;
    hook_runs++;
    hook_n = n;
    for (int i = 0; i < K; i++) {
        int rc = mw_poll_deregister(the_poll, hook_fds[i]);

        if (rc != 0)
            hook_bad_rc = rc;
    }
    if (sleep_ms > 0)
        util_sleep_ms(sleep_ms);
    if (arm_timer) {
        util_thread_start(&interrupter, interrupt_later, NULL);
        interrupter_started = true;
    }
}

/* ---- fixture ---- */

struct fixture {
    mw_poll *p;
    mw_waker *w;
    int rd[K], wr[K];
};

static void
setup(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    if (mw_poll_new(&f->p) != 0)
        bail_out("mw_poll_new failed");
    for (int i = 0; i < K; i++) {
        int fds[2];

        util_pipe(fds);
        f->rd[i] = fds[0];
        f->wr[i] = fds[1];
        if (mw_poll_register(f->p, f->rd[i], T_FD + (mw_token)i,
                             MW_READABLE) != 0)
            bail_out("mw_poll_register failed");
        util_write_byte(f->wr[i]);
    }
    if (mw_waker_new(&f->w, f->p, T_WAKER) != 0)
        bail_out("mw_waker_new failed");
    the_poll = f->p;
    memcpy(hook_fds, f->rd, sizeof hook_fds);
    hook_runs = hook_n = hook_bad_rc = 0;
}

static void
teardown(struct fixture *f)
{
    mw_waker_free(f->w);
    mw_poll_free(f->p);
    for (int i = 0; i < K; i++) {
        util_close(f->rd[i]);
        util_close(f->wr[i]);
    }
}

/* ---- the cases ---- */

static void
positive_timeout_outlasts_a_stale_batch(size_t cap)
{
    struct fixture f;
    struct mw_event ev[K];
    int n;

    setup(&f);
    if (mw_waker_wake(f.w) != 0)
        bail_out("mw_waker_wake failed");
    sleep_ms = 40;
    arm_timer = false;
    armed = true;
    n = mw_poll_wait(f.p, ev, cap, 20);
    armed = false;
    diag("capacity %zu, timeout 20 ms: the backend's first call returned "
         "%d; the wait returned %d", cap, hook_n, n);
    ok(hook_runs == 1 && hook_bad_rc == 0, "capacity %zu: the stale "
       "descriptors were deregistered after the kernel answered and the "
       "deadline passed before the library translated it", cap);
    ok(n >= 1 && util_count_token(ev, n, T_WAKER, NULL) == 1,
       "capacity %zu, timeout 20 ms: a wake made before the call comes "
       "out of the wait although its deadline passed during a full batch "
       "of stale events (not 0)", cap);
    if (n == 0)
        diag("a later wait %s the waker's event",
             util_wait_token(f.p, T_WAKER, 1000, NULL, NULL) == 1
             ? "does return" : "does not return either");
    teardown(&f);
}

static void
failed_wait_writes_no_events(size_t cap)
{
    struct fixture f;
    struct mw_event ev[K];
    unsigned char want[sizeof ev];
    int n;

    setup(&f);
    memset(ev, PATTERN, sizeof ev);
    memset(want, PATTERN, sizeof want);
    sleep_ms = 0;
    arm_timer = true;
    signals = 0;
    armed = true;
    n = mw_poll_wait(f.p, ev, cap, -1);
    armed = false;
    if (interrupter_started)
        util_thread_join(interrupter);
    interrupter_started = false;
    diag("capacity %zu, no timeout: the backend's first call returned %d; "
         "the wait returned %d after %d signal(s)", cap, hook_n, n,
         (int)signals);
    ok(hook_runs == 1 && hook_bad_rc == 0 && signals == 1,
       "capacity %zu: the stale descriptors were deregistered after the "
       "kernel answered, and a signal interrupted the next call", cap);
    is_int(n, -EINTR, "capacity %zu: the wait fails with -EINTR", cap);
    ok(memcmp(ev, want, sizeof ev) == 0, "capacity %zu: the failed wait "
       "wrote nothing into the caller's array, not even after looping "
       "over a stale batch", cap);
    teardown(&f);
}

int
main(void)
{
    const char *backend = mw_backend();
    struct sigaction sa;

    tap_watchdog(60);
    wrap_init();
    diag("backend %s", backend);
    hook_call = wrap_wait_call();
    if (!wrap_forwards(hook_call)) {
        skip(10, "cannot wrap the system call %s waits in (no "
             "dlsym(RTLD_NEXT) here)", backend);
        return done_testing();
    }
    wrap_after_wait_hook = after_kernel_wait;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;            /* no SA_RESTART: the wait sees EINTR */
    waiter = pthread_self();
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bail_out("sigaction failed");

    positive_timeout_outlasts_a_stale_batch(K);
    positive_timeout_outlasts_a_stale_batch(1);
    failed_wait_writes_no_events(K);
    failed_wait_writes_no_events(1);
    return done_testing();
}
