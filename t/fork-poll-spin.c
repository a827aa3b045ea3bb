/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), Fork and exec): after fork(2) "the child may free
 * inherited objects, because freeing only closes descriptors and never
 * touches the kernel set the parent may share".  So a child that frees
 * an inherited waker while a parent thread is blocked in mw_poll_wait
 * leaves the parent's poll as it was: that wait goes on waiting, and a
 * later wait with nothing to report waits out its timeout, each with a
 * handful of system calls rather than spinning.
 *
 * The same holds when a child goes against "should not otherwise use
 * inherited objects" and registers a descriptor in its copy of the poll
 * while the parent's thread is blocked in it.  On the poll(2) backend
 * that copy still says a wait is blocked, so the child writes the
 * interrupt pipe it shares with the parent: the parent's wait must empty
 * it although the byte is not one it wrote, or every later poll() would
 * return at once.  (A kqueue is not inherited, so there the case does
 * not arise and is skipped.)
 *
 * The test wraps the system call the backend waits in (poll, epoll_wait
 * or kevent, forwarded with dlsym(RTLD_NEXT)) to know when the parent's
 * wait has entered it, and to count those calls.  A blocked wait makes
 * one; being interrupted and going back to sleep a few more; a wait that
 * returns at once over and over makes hundreds in the 300 ms that the
 * parent leaves it.  Only the count is asserted, never a duration.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_CHILD_FREES ((mw_token)0xC1)
#define T_END ((mw_token)0xE0D)
#define T_CHILD_REGISTERS ((mw_token)0xC2)

/* More calls than this in one quiet wait is spinning. */
#define HANDFUL 10

/* ---- counting the backend's wait calls ---- */

static enum wrap_call counted_call;
static atomic_int wait_calls;
static atomic_int entered;

static void
before_kernel_wait(enum wrap_call call)
{
    if (call == counted_call) {
        atomic_fetch_add(&wait_calls, 1);
        atomic_store(&entered, true);
    }
}

/* Count the calls the backend waits in (t/lib/wrap.h); false if that call
 * cannot be wrapped (a static build has no dlsym(RTLD_NEXT)). */
static bool
resolve_wrapped(void)
{
    wrap_init();
    counted_call = wrap_wait_call();
    wrap_before_wait_hook = before_kernel_wait;
    return wrap_forwards(counted_call);
}

/* ---- the parent's waiting thread ---- */

static mw_poll *the_poll;
static atomic_int waiter_result;

static void *
waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiter_result,
                 util_wait_token(the_poll, T_END, 6 * UTIL_LONG_MS, NULL,
                                 NULL));
    return NULL;
}

/* Returns once the waiting thread is inside the backend's wait. */
static void
start_a_blocked_waiter(pthread_t *t)
{
    int64_t give_up;

    atomic_store(&wait_calls, 0);
    atomic_store(&entered, false);
    util_thread_start(t, waiter, NULL);
    give_up = util_now_ms() + UTIL_LONG_MS;
    while (!atomic_load(&entered) && util_now_ms() < give_up)
        util_sleep_ms(1);
    if (!atomic_load(&entered))
        bail_out("the waiting thread never reached the backend's wait");
}

/* Forked from another thread than the waiter's. */
static void
child_frees_the_inherited_waker(mw_waker *w_child)
{
    pid_t pid;
    int status;

    pid = util_fork();
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(60);
        mw_waker_free(w_child);
        util_child_exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the child freed the inherited waker and exited");
}

/* Forked from another thread than the waiter's, as above. */
static void
child_registers_in_its_copy(void)
{
    pid_t pid;
    int status;

    pid = util_fork();
    if (pid == 0) {
        int fds[2];

        signal(SIGALRM, SIG_DFL);
        alarm(60);
        if (pipe(fds) != 0)
            util_child_exit(2);
        util_child_exit(mw_poll_register(the_poll, fds[0],
                                         T_CHILD_REGISTERS, MW_READABLE) == 0
                            ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the child registered a descriptor in its copy of the poll and "
       "exited");
}

static void
blocked_wait_does_not_spin(mw_waker *w_end, pthread_t t, const char *after)
{
    int calls;

    /* Leave the parent's wait alone for a while, then end it. */
    util_sleep_ms(300);
    if (mw_waker_wake(w_end) != 0)
        bail_out("mw_waker_wake failed");
    util_thread_join(t);
    calls = atomic_load(&wait_calls);
    is_int(atomic_load(&waiter_result), 1,
           "the parent's blocked wait returns the wake that ends it");
    ok(calls <= HANDFUL, "the parent's wait, blocked across the fork and "
       "the child's %s and then left 300 ms with nothing to report, made "
       "a handful of %s calls, not one after another (made %d)", after,
       wrap_call_name(counted_call), calls);
}

static void
later_wait_does_not_spin(void)
{
    struct mw_event ev[8];
    int calls, n;

    atomic_store(&wait_calls, 0);
    n = mw_poll_wait(the_poll, ev, 8, 300);
    calls = atomic_load(&wait_calls);
    is_int(n, 0, "a later 300 ms wait with nothing to report returns 0");
    ok(calls <= HANDFUL, "and makes a handful of calls, not one after "
       "another (made %d)", calls);
}

int
main(void)
{
    mw_waker *w_child, *w_end;
    const char *backend = mw_backend();
    pthread_t t;

    tap_watchdog(120);
    if (!resolve_wrapped())
        plan_skip_all("cannot wrap the system call %s waits in "
                      "(no dlsym(RTLD_NEXT) here)", backend);
    plan(10);

    if (mw_poll_new(&the_poll) != 0
        || mw_waker_new(&w_child, the_poll, T_CHILD_FREES) != 0
        || mw_waker_new(&w_end, the_poll, T_END) != 0)
        bail_out("cannot create a poll and two wakers");

    start_a_blocked_waiter(&t);
    child_frees_the_inherited_waker(w_child);
    blocked_wait_does_not_spin(w_end, t, "free");
    later_wait_does_not_spin();

    if (!util_caps()->set_inherited_by_fork) {
        skip(5, "a kqueue is not inherited: a child has no copy to "
             "register in");
    } else {
        start_a_blocked_waiter(&t);
        child_registers_in_its_copy();
        blocked_wait_does_not_spin(w_end, t, "registration");
        later_wait_does_not_spin();
    }

    mw_waker_free(w_child);
    mw_waker_free(w_end);
    mw_poll_free(the_poll);
    return done_testing();
}
