/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3)): a wake is never lost, with one exception,
 * a waker whose kernel object was tampered with: "a wake that merges into
 * a pending event returns 0 at once, without a system call, trusting the
 * wake that made the event pending; if that wake's own system call then
 * fails, it returns the error, and the wakes that merged into it while it
 * ran are lost with it"; and "the waker is then not left pending: the
 * next wake tries the kernel object again".  Here a wake's signal fails
 * because the wakers' object's descriptor was replaced behind the
 * library's back (dup2() of a read-only /dev/null over it), and another
 * thread wakes the same waker while that failing signal is in progress.
 *
 * What this asserts:
 *   1. the wake that made the failing signal returns a negative errno;
 *   2. (the interleaving happened: the other thread's wake ran inside
 *      the failing signal);
 *   3. the other thread's wake merged: it returned 0 before the failure
 *      was known (whether an event came for it is printed, not asserted:
 *      the page says it is lost, and a wake cannot wait for another,
 *      which may be running under it in a signal handler);
 *   4-6. wakes made after the failing one returned, with the descriptor
 *      restored, succeed and are each delivered (the failed waker was
 *      left "unsignalled": its next wake signals instead of merging);
 *   7-10. the wakers of a poll share its one kernel object (mw_poll_new
 *      opens it), so a failed signal is owed by the poll: after another
 *      failed wake, the next wake of another waker signals although the
 *      ready list it joins is not empty, and both wakers are delivered,
 *      once each;
 *   11-17. another thread's wake of another waker during a failing
 *      signal merges into it (returns 0 before the failure); that
 *      waker stays pending with nothing signalled, and its next wake
 *      merges too (printed, not asserted); the next wake of a waker that
 *      is not pending signals what the poll owes and the wait hands out
 *      all three; and, the same failure again, so does the next wake of
 *      the waker whose signal failed.
 *
 * The interleaving is forced, not hoped for: the test wraps write(), and
 * syscall() where the library writes through it (forwarded with
 * dlsym(RTLD_NEXT)) and, when the failing signal's write
 * has failed, runs the other thread's wake before returning the failure.
 * The descriptor is the wakers' object's, found among those mw_poll_new
 * opened.  On kqueue+user the object has no descriptor (its signal is a
 * kevent() on the poll's kqueue, which libkqueue finds by number): there
 * the wrapper of kevent() makes the signal fail with EBADF instead, and
 * "restoring" is letting kevent() through again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#ifdef MW_HAVE_SYSCALL_RW
# include <sys/syscall.h>
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_W ((mw_token)0x3A3E)
#define T_O ((mw_token)0x07E2)
#define T_3 ((mw_token)0x0333)

/* ---- the wrappers ---- */

static mw_waker *the_waker;
static mw_waker *other_waker;           /* another waker of the poll */
static mw_waker *third_waker;           /* and a third */
static mw_waker *b_target;              /* what the other thread wakes */
static atomic_int kevent_fails;         /* kqueue+user: every trigger */
static int target_fd = -1;              /* the waker's writable descriptor */
static bool fake_kevent_failure;        /* kqueue+user */
static _Thread_local bool is_first_waker;
static atomic_int armed;
static atomic_int b_started, b_done;
static atomic_int b_rc;
static bool b_returned_inside;
static pthread_t b_thread;

static void *
second_waker(void *arg)
{
    (void)arg;
    atomic_store(&b_rc, mw_waker_wake(b_target));
    atomic_store(&b_done, true);
    return NULL;
}

/* Inside the failing signal: start the other thread's wake and give it
 * the chance to return before the failure does.  If it does not return
 * (it waits for this signal to end, say), go on: it is joined later. */
static void
during_failing_signal(void)
{
    int saved = errno;
    int64_t end;

    atomic_store(&b_started, true);
    util_thread_start(&b_thread, second_waker, NULL);
    end = util_now_ms() + UTIL_LONG_MS / 5;
    while (!atomic_load(&b_done) && util_now_ms() < end)
        util_sleep_ms(1);
    b_returned_inside = atomic_load(&b_done);
    errno = saved;
}

/* Only this test wraps write, so the wrapper is here. */
typedef ssize_t (*write_fn)(int, const void *, size_t);
static write_fn real_write;

ssize_t
write(int fd, const void *buf, size_t len)
{
    ssize_t r;

    if (!real_write) {
        errno = ENOSYS;
        return -1;
    }
    r = real_write(fd, buf, len);
    if (r < 0 && fd == target_fd && is_first_waker
        && atomic_exchange(&armed, false))
        during_failing_signal();
    return r;
}

/* The library writes through syscall(SYS_write, ...) where it can, which
 * is no cancellation point (lib/fd.c): the same, after t/lib/wrap.c's
 * syscall() has made the call. */
static void
after_syscall(long number, const long *args, long result)
{
#ifdef SYS_write
    if (number == SYS_write && result < 0 && (int)args[0] == target_fd
        && is_first_waker && atomic_exchange(&armed, false))
        during_failing_signal();
#else
    (void)number, (void)args, (void)result;
#endif
}

/* The hook of t/lib/wrap.c's kevent: the trigger of the wakers' EVFILT_USER
 * knote (one change, no results) fails while the signal is broken, the
 * armed one after running the other thread's wake. */
static int
fail_user_signal(const struct kevent *changes, int nchanges, int nevents)
{
    (void)changes;
    if (!fake_kevent_failure || nchanges != 1 || nevents != 0)
        return 0;
    if (is_first_waker && atomic_exchange(&armed, false)) {
        during_failing_signal();
        return EBADF;
    }
    return atomic_load(&kevent_fails) ? EBADF : 0;
}

static bool
resolve_wrapped(void)
{
    void *sym;

    wrap_init();
    wrap_before_kevent_hook = fail_user_signal;
    sym = wrap_next_symbol("write");
    if (sym)
        memcpy(&real_write, &sym, sizeof(real_write));
#ifdef MW_HAVE_SYSCALL_RW
    if (!wrap_forwards(WRAP_SYSCALL))
        return false;
#endif
    wrap_after_syscall_hook = after_syscall;
    return real_write != NULL
           && (!fake_kevent_failure || wrap_forwards(WRAP_KEVENT));
}

/* Make the_waker, and find the descriptor its wake writes to among
 * those mw_poll_new opened, where the wakers' one kernel object is (none
 * on kqueue+user, whose failure is faked in kevent); skips the whole
 * test when there is none to find. */
static mw_poll *
make_poll_and_waker(void)
{
    struct util_fds before, after;
    mw_poll *p;
    int rfd;

    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("cannot create a poll");
    util_fds_take(&after);
    util_hub_fds(&before, &after, &rfd, &target_fd);
    util_fds_free(&before);
    util_fds_free(&after);
    if (mw_waker_new(&the_waker, p, T_W) != 0
        || mw_waker_new(&other_waker, p, T_O) != 0
        || mw_waker_new(&third_waker, p, T_3) != 0)
        bail_out("cannot create the wakers");
    if (!fake_kevent_failure && target_fd < 0) {
        mw_waker_free(the_waker);
        mw_waker_free(other_waker);
        mw_waker_free(third_waker);
        mw_poll_free(p);
        plan_skip_all("%s: found no descriptor that the wakers' object "
                      "writes to", mw_backend());
    }
    return p;
}

/* Make the wakers' signal fail: a read-only /dev/null over the object's
 * writable descriptor (returns a duplicate of it, to put back), or the
 * kevent() hook. */
static int
break_signal(void)
{
    int saved, devnull;

    if (fake_kevent_failure) {
        atomic_store(&kevent_fails, true);
        return -1;
    }
    saved = fcntl(target_fd, F_DUPFD_CLOEXEC, 0);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (saved < 0 || devnull < 0 || dup2(devnull, target_fd) < 0)
        bail_out("cannot replace the wakers' descriptor: %s",
                 strerror(errno));
    util_close(devnull);
    return saved;
}

static void
restore_signal(int saved)
{
    if (fake_kevent_failure) {
        atomic_store(&kevent_fails, false);
        return;
    }
    if (dup2(saved, target_fd) < 0)
        bail_out("cannot restore the wakers' descriptor: %s",
                 strerror(errno));
    util_close(saved);
}

static void
wake_during_failing_signal_merges_into_it(mw_poll *p)
{
    int saved, a_rc, got;

    /* Replace the wakers' descriptor: its write now fails with EBADF. */
    saved = break_signal();

    atomic_store(&armed, true);
    a_rc = mw_waker_wake(the_waker);
    atomic_store(&armed, false);
    is_errno(a_rc, -EBADF, "the wake whose signal fails returns the error");
    ok(atomic_load(&b_started), "another thread's wake ran while that "
       "signal was failing");

    /* Put the descriptor back, then see what became of the other
     * thread's wake. */
    restore_signal(saved);
    if (atomic_load(&b_started))
        util_thread_join(b_thread);
    got = util_wait_token(p, T_W, UTIL_LONG_MS / 2, NULL, NULL);
    diag("the other thread's wake, made during the failing signal, "
         "returned %s (%s the failure returned); with the descriptor "
         "restored and no other wake, %s event for the waker came",
         tap_errno_name(atomic_load(&b_rc)),
         b_returned_inside ? "before" : "after", got == 1 ? "an" : "no");
    ok(atomic_load(&b_rc) == 0 && b_returned_inside, "the other thread's "
       "wake, made during the failing signal, merged into it: it returned "
       "0 before the failure was known (returned %s, %s)",
       tap_errno_name(atomic_load(&b_rc)),
       b_returned_inside ? "before" : "after");
}

static void
wakes_after_the_failure_are_delivered(mw_poll *p)
{
    int rc;

    rc = mw_waker_wake(the_waker);
    is_errno(rc, 0, "a wake made after the failing one returned, with the "
             "descriptor restored, succeeds");
    is_int(util_wait_token(p, T_W, UTIL_LONG_MS / 2, NULL, NULL), 1,
           "and is delivered");
    rc = mw_waker_wake(the_waker);
    ok(rc == 0 && util_wait_token(p, T_W, UTIL_LONG_MS / 2, NULL, NULL) == 1,
       "and so is the wake after it");
}

/* The poll owes the failed signal: with the object working again, the
 * next wake of another waker signals although the list it joins is not
 * empty (the failed waker is on it), and both are delivered. */
static void
another_wakers_wake_after_a_failure_is_delivered(mw_poll *p)
{
    struct mw_event ev[8];
    int64_t end = util_now_ms() + UTIL_LONG_MS / 2;
    int saved, rc, got_w = 0, got_o = 0;

    saved = break_signal();
    rc = mw_waker_wake(the_waker);
    is_errno(rc, -EBADF, "a wake whose signal fails, without a concurrent "
             "wake, returns the error");
    restore_signal(saved);
    rc = mw_waker_wake(other_waker);
    is_errno(rc, 0, "with the descriptor restored, another waker's wake "
             "succeeds");
    while ((!got_w || !got_o) && util_now_ms() < end) {
        int n = util_wait(p, ev, 8, (int)(end - util_now_ms()));

        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        got_w += util_count_token(ev, n, T_W, NULL);
        got_o += util_count_token(ev, n, T_O, NULL);
    }
    ok(got_o == 1, "and is delivered, once (%d)", got_o);
    ok(got_w == 1, "and so is the waker whose signal failed, still listed, "
       "once (%d)", got_w);
}

/* Count the two wakers' events until each has come or bound_ms
 * passes. */
static void
count_both(mw_poll *p, int bound_ms, int *got_w, int *got_o)
{
    struct mw_event ev[8];
    int64_t end = util_now_ms() + bound_ms;

    *got_w = *got_o = 0;
    while ((!*got_w || !*got_o) && util_now_ms() < end) {
        int n = util_wait(p, ev, 8, (int)(end - util_now_ms()));

        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        *got_w += util_count_token(ev, n, T_W, NULL);
        *got_o += util_count_token(ev, n, T_O, NULL);
    }
}

/* Make the_waker's signal fail while the other thread wakes
 * other_waker, which joins the non-empty ready list and returns 0,
 * trusting that signal; restore the descriptor.  Two results. */
static void
fail_while_another_waker_merges(const char *again)
{
    int saved, rc;

    atomic_store(&b_started, false);
    atomic_store(&b_done, false);
    atomic_store(&b_rc, -1);
    b_returned_inside = false;
    b_target = other_waker;
    saved = break_signal();
    atomic_store(&armed, true);
    rc = mw_waker_wake(the_waker);
    atomic_store(&armed, false);
    restore_signal(saved);
    if (atomic_load(&b_started))
        util_thread_join(b_thread);
    is_errno(rc, -EBADF, "%sa wake whose signal fails returns the error",
             again);
    ok(atomic_load(&b_rc) == 0 && b_returned_inside, "%sanother thread's "
       "wake of another waker, made during the failing signal, returned "
       "0 before the failure was known (returned %s, %s)", again,
       tap_errno_name(atomic_load(&b_rc)),
       b_returned_inside ? "before" : "after");
}

/* The wakers that trusted a failed signal (mw_waker_new(3)): they "stay
 * pending with nothing signalled for them, so their own later wakes
 * merge into that lost event too, until the poll's kernel object is
 * signalled again: by the next wake of the waker whose signal failed, or
 * of any waker of the poll that is not pending [...]; the wait then hands
 * all of them out". */
static void
wakers_that_trusted_a_failed_signal(mw_poll *p)
{
    struct mw_event ev[8];
    int rc, n, got_w, got_o, got_t;
    int64_t end;

    /* A waker that is not pending brings them all. */
    fail_while_another_waker_merges("");
    rc = mw_waker_wake(other_waker);
    is_errno(rc, 0, "that other waker's next wake, after the failure "
             "returned and with the descriptor restored, returns 0");
    n = util_wait(p, ev, 8, 0);
    diag("then a timeout-0 wait returned %d event(s) (the page says that "
         "wake merged into the lost event)", n);
    got_w = n > 0 ? util_count_token(ev, n, T_W, NULL) : 0;
    got_o = n > 0 ? util_count_token(ev, n, T_O, NULL) : 0;
    got_t = 0;
    rc = mw_waker_wake(third_waker);
    end = util_now_ms() + UTIL_LONG_MS / 2;
    while ((!got_w || !got_o || !got_t) && util_now_ms() < end) {
        n = util_wait(p, ev, 8, (int)(end - util_now_ms()));
        if (n < 0)
            bail_out("mw_poll_wait: %s", tap_errno_name(n));
        got_w += util_count_token(ev, n, T_W, NULL);
        got_o += util_count_token(ev, n, T_O, NULL);
        got_t += util_count_token(ev, n, T_3, NULL);
    }
    ok(rc == 0 && got_w == 1 && got_o == 1 && got_t == 1, "a wake of a "
       "third waker, not pending, signals the object the poll owes: the "
       "wait hands out the three, once each (%d, %d and %d)", got_w,
       got_o, got_t);

    /* The failed waker's own next wake brings them all too. */
    fail_while_another_waker_merges("again: ");
    rc = mw_waker_wake(the_waker);
    count_both(p, UTIL_LONG_MS / 2, &got_w, &got_o);
    ok(rc == 0 && got_w == 1 && got_o == 1, "a wake of the waker whose "
       "signal failed brings both, once each (%d and %d)", got_w, got_o);
}

int
main(void)
{
    mw_poll *p;

    is_first_waker = true;
    fake_kevent_failure = util_caps()->waker_knote;
    if (!resolve_wrapped())
        plan_skip_all("cannot wrap write() or kevent() (no "
                      "dlsym(RTLD_NEXT) here)");
    tap_watchdog(60);
    signal(SIGPIPE, SIG_IGN);

    p = make_poll_and_waker();
    b_target = the_waker;
    plan(17);

    wake_during_failing_signal_merges_into_it(p);
    wakes_after_the_failure_are_delivered(p);
    another_wakers_wake_after_a_failure_is_delivered(p);
    wakers_that_trusted_a_failed_signal(p);

    mw_waker_free(the_waker);
    mw_waker_free(other_waker);
    mw_waker_free(third_waker);
    mw_poll_free(p);
    return done_testing();
}
