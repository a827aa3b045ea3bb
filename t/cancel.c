/* SPDX-License-Identifier: MIT */
/*
 * Promises (miowake(3), THREADS AND CANCELLATION): mw_poll_wait() is the
 * library's one cancellation point, and a thread cancelled there leaves
 * the poll as a wait that returned -EINTR would: no lock held, the next
 * wait not refused with -EBUSY, no event lost.  No other call is a
 * cancellation point: mw_waker_wake() above all, which a cancel must not
 * leave with its pending flag set and no signal sent (every later wake
 * would merge into nothing).
 *
 * Each case runs on a thread of its own with a deferred cancel made
 * pending at a chosen moment (pthread_cancel(pthread_self()) before a
 * call, or from a wrapper of the system call the backend waits in, once
 * the kernel has answered: t/lib/wrap.h), and notes how far it got: a call
 * that acted on the cancel never returns to note it.  Each thread ends
 * with pthread_testcancel(), so a cancel that nothing acted on is acted
 * on there, and the join sees PTHREAD_CANCELED either way.  Then the main
 * thread checks what the cancel left behind.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_WAKER ((mw_token)0xCA11)
#define T_OTHER ((mw_token)0xCA12)
#define T_FD ((mw_token)0xCA13)

/* How far a cancelled thread got, and what its calls returned. */
struct run {
    mw_poll *p;
    mw_waker *w;
    int fd;
    atomic_int steps;
    int rc[16];
    struct mw_event ev[8];
};

/* AddressSanitizer poisons a frame's redzones on entry and unpoisons them
 * on return; the frames a cancellation unwinds never return, and the
 * thread's exit then trips over their poison (a false report).  Each
 * case's thread therefore runs under a cleanup handler that unpoisons
 * the stack the unwound frames used, below the frame that set it up
 * (128 KiB: far more than the cases' calls go deep, far less than a
 * thread's stack).  The handler calls only the runtime, whose own frames
 * are not instrumented. */
#if defined(__SANITIZE_ADDRESS__)
# define CANCEL_UNDER_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define CANCEL_UNDER_ASAN 1
# endif
#endif
#define UNWOUND_BYTES ((size_t)128 * 1024)
#ifdef CANCEL_UNDER_ASAN
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

static void
unpoison_unwound_frames(void *arg)
{
#ifdef CANCEL_UNDER_ASAN
    __asan_unpoison_memory_region((char *)arg - UNWOUND_BYTES,
                                  UNWOUND_BYTES);
#else
    (void)arg;
#endif
}

struct body {
    void *(*fn)(void *);
    void *arg;
};

static void *
cancellable(void *arg)
{
    struct body *b = arg;
    void *ret;

    pthread_cleanup_push(unpoison_unwound_frames,
                         __builtin_frame_address(0));
    ret = b->fn(b->arg);
    pthread_cleanup_pop(0);
    return ret;
}

/* Start fn(arg) on a thread of its own, which is to be cancelled. */
static void
start(pthread_t *t, struct body *b, void *(*fn)(void *), void *arg)
{
    b->fn = fn;
    b->arg = arg;
    util_thread_start(t, cancellable, b);
}

/* Join t; was it cancelled (as every case's thread ends)? */
static bool
join_cancelled(pthread_t t)
{
    void *ret = NULL;

    if (pthread_join(t, &ret) != 0)
        bail_out("pthread_join failed");
    return ret == PTHREAD_CANCELED;
}

static void
step(struct run *r, int rc)
{
    int i = atomic_load(&r->steps);

    if (i < (int)(sizeof r->rc / sizeof r->rc[0]))
        r->rc[i] = rc;
    atomic_store(&r->steps, i + 1);
}

/* ---- mw_waker_wake() is not a cancellation point ---- */

static void *
wake_with_cancel_pending(void *arg)
{
    struct run *r = arg;

    pthread_cancel(pthread_self());
    step(r, mw_waker_wake(r->w));
    pthread_testcancel();
    return NULL;
}

static void
wake_is_not_a_cancellation_point(void)
{
    struct run r = { 0 };
    struct body body;
    pthread_t t;
    bool cancelled;
    int got, again;

    if (mw_poll_new(&r.p) != 0 || mw_waker_new(&r.w, r.p, T_WAKER) != 0)
        bail_out("setup failed");
    start(&t, &body, wake_with_cancel_pending, &r);
    cancelled = join_cancelled(t);
    ok(cancelled && atomic_load(&r.steps) == 1 && r.rc[0] == 0,
       "a wake with a cancel pending returns 0 and the cancel is acted on "
       "only after it (steps %d)", atomic_load(&r.steps));
    got = util_wait_token(r.p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(got, 1, "that wake's event is delivered");
    if (mw_waker_wake(r.w) != 0)
        bail_out("mw_waker_wake failed");
    again = util_wait_token(r.p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(again, 1, "and the waker still works: a later wake's event is "
           "delivered too");
    mw_waker_free(r.w);
    mw_poll_free(r.p);
}

/* The eventfd waker's other system call: a wake that finds the counter
 * full (written to its maximum from outside) reads it empty and writes
 * again, and that read must not act on the cancel either. */
static void
wake_on_a_full_counter_is_not_a_cancellation_point(void)
{
    struct util_fds before, after;
    struct run r = { 0 };
    struct body body;
    uint64_t max = 0xfffffffffffffffeULL;
    pthread_t t;
    bool cancelled;
    int fresh[4], n, efd = -1;

    /* The eventfd every waker of the poll shares: mw_poll_new opens it. */
    util_fds_take(&before);
    if (mw_poll_new(&r.p) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    if (mw_waker_new(&r.w, r.p, T_WAKER) != 0)
        bail_out("mw_waker_new failed");
    n = util_fds_new(&before, &after, fresh, 4);
    for (int i = 0; i < n && i < 4; i++)
        if (util_fd_kind(fresh[i]) == UTIL_FD_EVENTFD
            && util_caps()->waker_eventfd)
            efd = fresh[i];
    if (efd < 0) {
        skip(2, "%s: the waker has no eventfd to fill", mw_backend());
    } else {
        if (write(efd, &max, sizeof max) != (ssize_t)sizeof max)
            bail_out("filling the eventfd failed");
        start(&t, &body, wake_with_cancel_pending, &r);
        cancelled = join_cancelled(t);
        ok(cancelled && atomic_load(&r.steps) == 1 && r.rc[0] == 0,
           "a wake on a full eventfd counter, with a cancel pending, "
           "returns 0: neither its read nor its write acts on the cancel "
           "(steps %d)", atomic_load(&r.steps));
        is_int(util_wait_token(r.p, T_WAKER, UTIL_LONG_MS, NULL, NULL), 1,
               "and its event is delivered");
    }
    mw_waker_free(r.w);
    mw_poll_free(r.p);
}

/* ---- no other call but mw_poll_wait() is one ---- */

static void *
every_call_with_cancel_pending(void *arg)
{
    struct run *r = arg;
    mw_poll *p = NULL;
    mw_waker *w = NULL;
    int fds[2];

    util_pipe(fds);
    pthread_cancel(pthread_self());
    step(r, mw_poll_new(&p));
    step(r, mw_poll_register(p, fds[0], T_FD, MW_READABLE));
    step(r, mw_poll_reregister(p, fds[0], T_FD, MW_READABLE | MW_WRITABLE));
    step(r, mw_poll_deregister(p, fds[0]));
    step(r, mw_waker_new(&w, p, T_WAKER));
    step(r, mw_waker_wake(w));
    step(r, mw_waker_wake(w));
    step(r, mw_poll_fd(p) == -ENOTSUP ? 0 : mw_poll_fd(p) >= 0 ? 0 : -1);
    step(r, mw_backend()[0] ? 0 : -1);
    mw_waker_free(w);
    step(r, 0);
    mw_poll_free(p);
    step(r, 0);
    /* The test's own close() would act on the cancel. */
    r->fd = fds[0];
    r->rc[15] = fds[1];
    pthread_testcancel();
    return NULL;
}

static void
other_calls_are_not_cancellation_points(void)
{
    struct run r = { 0 };
    struct body body;
    pthread_t t;
    int bad = 0, steps;
    bool cancelled;

    start(&t, &body, every_call_with_cancel_pending, &r);
    cancelled = join_cancelled(t);
    steps = atomic_load(&r.steps);
    for (int i = 0; i < steps && i < 10; i++) {
        if (r.rc[i] != 0) {
            diag("call %d returned %d", i, r.rc[i]);
            bad++;
        }
    }
    ok(cancelled && steps == 11 && bad == 0,
       "with a cancel pending, mw_poll_new, register, reregister, "
       "deregister, mw_waker_new, two wakes, mw_poll_fd, mw_backend, "
       "mw_waker_free and mw_poll_free each return and succeed: the "
       "cancel is acted on only after them (%d of 11 returned)", steps);
    if (steps == 11) {
        util_close(r.fd);
        util_close(r.rc[15]);
    }
}

/* ---- a cancel acted on inside mw_poll_wait() ---- */

static void *
wait_forever(void *arg)
{
    struct run *r = arg;

    step(r, mw_poll_wait(r->p, r->ev, 8, -1));
    pthread_testcancel();
    return NULL;
}

static void *
wait_with_cancel_pending(void *arg)
{
    struct run *r = arg;

    pthread_cancel(pthread_self());
    step(r, mw_poll_wait(r->p, r->ev, 8, -1));
    pthread_testcancel();
    return NULL;
}

static void
cancelled_wait_leaves_the_poll_usable(bool blocked)
{
    const char *how = blocked ? "blocked in" : "entering";
    struct run r = { 0 };
    struct mw_event ev[8];
    struct body body;
    pthread_t t;
    bool cancelled;
    int n, got, fds[2];

    if (mw_poll_new(&r.p) != 0 || mw_waker_new(&r.w, r.p, T_WAKER) != 0)
        bail_out("setup failed");
    if (blocked) {
        start(&t, &body, wait_forever, &r);
        /* Not a timing assertion: a cancel that arrives before the wait
         * blocks is acted on when it does. */
        util_sleep_ms(50);
        pthread_cancel(t);
    } else {
        /* The wake is ready before the cancelled wait starts: the cancel
         * must not take it away. */
        if (mw_waker_wake(r.w) != 0)
            bail_out("mw_waker_wake failed");
        start(&t, &body, wait_with_cancel_pending, &r);
    }
    cancelled = join_cancelled(t);
    ok(cancelled && atomic_load(&r.steps) == 0, "a thread cancelled %s "
       "mw_poll_wait ends there (steps %d)", how, atomic_load(&r.steps));
    if (blocked) {
        n = mw_poll_wait(r.p, ev, 8, 0);
        is_int(n, 0, "cancelled %s the wait: the next wait is not refused "
               "with -EBUSY (it returns 0: nothing is ready)", how);
        if (mw_waker_wake(r.w) != 0)
            bail_out("mw_waker_wake failed");
    }
    got = util_wait_token(r.p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(got, 1, "cancelled %s the wait: a wake made %s it is delivered "
           "by the next wait", how, blocked ? "after" : "before");
    util_pipe(fds);
    util_write_byte(fds[1]);
    is_int(mw_poll_register(r.p, fds[0], T_FD, MW_READABLE), 0,
           "cancelled %s the wait: registering still works", how);
    got = util_wait_token(r.p, T_FD, UTIL_LONG_MS, NULL, NULL);
    is_int(got, 1, "cancelled %s the wait: a ready descriptor registered "
           "after it is reported", how);
    mw_poll_deregister(r.p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(r.w);
    mw_poll_free(r.p);
}

/* ---- a cancel made pending once the kernel has answered ---- */

static enum wrap_call hook_call;
static pthread_t hook_thread;
static atomic_bool hook_armed;

static void
cancel_after_kernel_wait(enum wrap_call call, int n)
{
    if (call == hook_call && n > 0 && atomic_load(&hook_armed)
        && pthread_equal(pthread_self(), hook_thread)) {
        atomic_store(&hook_armed, false);
        pthread_cancel(pthread_self());
    }
}

static void *
wait_then_cancelled(void *arg)
{
    struct run *r = arg;

    hook_thread = pthread_self();
    atomic_store(&hook_armed, true);
    step(r, mw_poll_wait(r->p, r->ev, 8, -1));
    atomic_store(&hook_armed, false);
    pthread_testcancel();
    return NULL;
}

static void *
register_in_background(void *arg)
{
    struct run *r = arg;

    r->rc[0] = mw_poll_register(r->p, r->fd, T_FD, MW_READABLE);
    atomic_store(&r->steps, 1);
    return NULL;
}

static void
cancel_pending_after_the_kernel_answered(void)
{
    struct run r = { 0 }, reg = { 0 };
    struct body body;
    pthread_t t;
    bool cancelled, registered = false;
    int fds[2], got;

    if (mw_poll_new(&r.p) != 0 || mw_waker_new(&r.w, r.p, T_WAKER) != 0)
        bail_out("setup failed");
    if (mw_waker_wake(r.w) != 0)
        bail_out("mw_waker_wake failed");
    start(&t, &body, wait_then_cancelled, &r);
    cancelled = join_cancelled(t);
    ok(cancelled && atomic_load(&r.steps) == 1 && r.rc[0] == 1
       && r.ev[0].token == T_WAKER, "a cancel made pending after the "
       "kernel answered is not acted on inside the wait: it returns the "
       "waker's event (returned %d)", atomic_load(&r.steps) ? r.rc[0] : -1);
    /* A lock left held would make this block: ask from a thread, and
     * give it a generous bound. */
    util_pipe(fds);
    reg.p = r.p;
    reg.fd = fds[0];
    util_thread_start(&t, register_in_background, &reg);
    for (int i = 0; i < UTIL_LONG_MS / 10; i++) {
        if (atomic_load(&reg.steps)) {
            registered = true;
            break;
        }
        util_sleep_ms(10);
    }
    ok(registered && reg.rc[0] == 0, "after it, registering does not "
       "block: the wait left no lock held");
    if (!registered)
        bail_out("mw_poll_register is blocked on a lock the cancelled "
                 "thread kept");
    util_thread_join(t);
    if (mw_waker_wake(r.w) != 0)
        bail_out("mw_waker_wake failed");
    got = util_wait_token(r.p, T_WAKER, UTIL_LONG_MS, NULL, NULL);
    is_int(got, 1, "and a later wake is delivered");
    mw_poll_deregister(r.p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(r.w);
    mw_poll_free(r.p);
}

int
main(void)
{
    const char *backend = mw_backend();

    tap_watchdog(60);
    diag("backend %s", backend);
    wrap_init();
    hook_call = wrap_wait_call();

    wake_is_not_a_cancellation_point();
    wake_on_a_full_counter_is_not_a_cancellation_point();
    other_calls_are_not_cancellation_points();
    cancelled_wait_leaves_the_poll_usable(true);
    cancelled_wait_leaves_the_poll_usable(false);
    if (wrap_forwards(hook_call)) {
        wrap_after_wait_hook = cancel_after_kernel_wait;
        cancel_pending_after_the_kernel_answered();
    } else {
        skip(3, "cannot wrap the system call %s waits in (no "
             "dlsym(RTLD_NEXT) here)", backend);
    }
    return done_testing();
}
