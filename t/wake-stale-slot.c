/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_wait(3)): the event of a waker freed on another thread
 * during a wait is dropped -- also when a new waker, created during that
 * same wait, takes the freed waker's place in the poll.  The new waker was
 * not woken, so it must not receive the old one's event; and when it is
 * woken, its one event must come out once, not once more later.
 *
 * The test makes that interleaving certain instead of hoping for it.  It
 * wraps the system call the backend waits in (epoll_wait, poll or kevent,
 * forwarded to the real one through dlsym(RTLD_NEXT)) and, when armed,
 * runs a hook just after the kernel has handed over the old waker's event
 * and before the library has translated it: the hook frees the old waker
 * and creates the new one, as another thread could at that instant.
 */
#include "config.h"

#include <stdbool.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_OLD 0x01D
#define T_NEW 0x2E7

/* ---- the hook ---- */

/* The wrapper that runs the hook: the one of the call the backend waits
 * in, not one the call makes (libkqueue's kevent() waits in epoll_wait(),
 * and a hook there would run inside the emulation). */
static enum wrap_call hook_call;

static mw_poll *the_poll;
static mw_waker *old_waker, *new_waker;
static bool armed;
static bool wake_new_in_hook;
static int hook_runs;
static int hook_rc;

static void
after_kernel_wait(enum wrap_call call, int n)
{
    if (armed && call == hook_call && n > 0) {
        armed = false;
        hook_runs++;
        mw_waker_free(old_waker);
        old_waker = NULL;
        hook_rc = mw_waker_new(&new_waker, the_poll, T_NEW);
        if (hook_rc == 0 && wake_new_in_hook)
            hook_rc = mw_waker_wake(new_waker);
    }
}

/* Run the hook after the call the backend waits in (t/lib/wrap.h); false if
 * that call cannot be wrapped (a static build has no dlsym(RTLD_NEXT)). */
static bool
resolve_wrapped(void)
{
    wrap_init();
    hook_call = wrap_wait_call();
    wrap_after_wait_hook = after_kernel_wait;
    return wrap_forwards(hook_call);
}

/* ---- the test ---- */

/* The start of a case: a woken old waker (the new one of the case before
 * is freed) and the hook armed for the next wait. */
static void
arm_case(bool wake_new)
{
    if (new_waker) {
        mw_waker_free(new_waker);
        new_waker = NULL;
    }
    if (mw_waker_new(&old_waker, the_poll, T_OLD) != 0
        || mw_waker_wake(old_waker) != 0)
        bail_out("cannot create and wake the old waker");
    hook_runs = 0;
    hook_rc = -1;
    wake_new_in_hook = wake_new;
    armed = true;
}

/* Exactly one event, and it is the new waker's. */
static bool
is_new_wakers_event(int n, const struct mw_event *ev)
{
    return n == 1 && ev[0].token == T_NEW && ev[0].flags == MW_EV_READABLE;
}

static int
wake_new_and_wait(struct mw_event *ev, size_t cap)
{
    if (mw_waker_wake(new_waker) != 0)
        bail_out("mw_waker_wake failed");
    return mw_poll_wait(the_poll, ev, cap, 1000);
}

/* The old waker's event is collected by the kernel wait; the old waker
 * is freed and a new one created before the library looks.  The new one
 * was not woken: the wait must time out with nothing. */
static void
freed_wakers_collected_event_is_dropped(void)
{
    struct mw_event ev[8];
    int n;

    arm_case(false);
    n = mw_poll_wait(the_poll, ev, 8, 200);
    ok(hook_runs == 1 && hook_rc == 0,
       "the hook freed the old waker and created the new one during the wait");
    is_int(n, 0, "the freed waker's event is dropped, and the new waker gets "
                 "none: the wait times out with 0 events");
    if (n > 0)
        diag("got token %#lx flags %#x", (unsigned long)ev[0].token,
             (unsigned)ev[0].flags);
    is_int(mw_poll_wait(the_poll, ev, 8, 0), 0,
           "nothing is left for the next wait");
}

static void
new_waker_in_the_slot_gives_its_own_event(void)
{
    struct mw_event ev[8];
    int n;

    n = wake_new_and_wait(ev, 8);
    ok(is_new_wakers_event(n, ev),
       "a wake of the new waker then gives its own event");
    is_int(mw_poll_wait(the_poll, ev, 8, 0), 0,
           "and only one");
}

/* As above, and the new waker is woken during the wait too. */
static void
new_waker_woken_in_the_wait_gives_exactly_one_event(void)
{
    struct mw_event ev[8];
    int n;

    arm_case(true);
    n = mw_poll_wait(the_poll, ev, 8, 1000);
    ok(hook_runs == 1 && hook_rc == 0,
       "the hook freed, created and woke during the wait");
    ok(is_new_wakers_event(n, ev),
       "the wait returns the new waker's one event");
    is_int(mw_poll_wait(the_poll, ev, 8, 0), 0,
           "no second event of the new waker follows (the old one's event "
           "was not handed out in its name)");
}

/* Without the hook, nothing was disturbed. */
static void
new_waker_keeps_working(void)
{
    struct mw_event ev[8];
    int n;

    n = wake_new_and_wait(ev, 8);
    ok(is_new_wakers_event(n, ev), "the new waker keeps working");
}

int
main(void)
{
    const char *backend = mw_backend();

    tap_watchdog(60);
    if (!resolve_wrapped())
        plan_skip_all("cannot wrap the system call %s waits in "
                      "(no dlsym(RTLD_NEXT) here)", backend);
    plan(9);

    if (mw_poll_new(&the_poll) != 0)
        bail_out("mw_poll_new failed");

    freed_wakers_collected_event_is_dropped();
    new_waker_in_the_slot_gives_its_own_event();
    new_waker_woken_in_the_wait_gives_exactly_one_event();
    new_waker_keeps_working();

    mw_waker_free(new_waker);
    mw_poll_free(the_poll);
    return done_testing();
}
