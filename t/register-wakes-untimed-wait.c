/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3)): a registration made while another thread
 * is blocked in mw_poll_wait(3) "takes effect for that wait or the next
 * one".  For a wait with no time limit and nothing else to end it there
 * is no next one: a descriptor that is ready when it is registered must
 * end that wait, with no wake and no timeout to help.  The epoll and
 * kqueue kernels do it by themselves; the poll(2) backend has to
 * interrupt its own poll() so that it takes a fresh copy of the set.
 *
 * The test wraps the system call the backend waits in (forwarded with
 * dlsym(RTLD_NEXT)) only to know that the waiting thread has entered it;
 * where that cannot be wrapped it lets the thread settle for a while.  A
 * bound that only turns a hang into a failure (it is never reached when
 * the promise holds) then ends the wait with a waker.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_KICK ((mw_token)1)
#define T_PIPE ((mw_token)2)
#define SETTLE_MS 100

static enum wrap_call waited_call;
static atomic_int entered;

static void
before_kernel_wait(enum wrap_call call)
{
    if (call == waited_call)
        atomic_store(&entered, true);
}

static mw_poll *the_poll;
static atomic_int done;
static atomic_int result;
static atomic_uint result_flags;
static atomic_int waits;

static void *
waiter(void *arg)
{
    struct mw_event ev[8];
    int n;

    (void)arg;
    do {
        atomic_fetch_add(&waits, 1);
        n = mw_poll_wait(the_poll, ev, 8, -1);
    } while (n == -EINTR);
    if (n > 0) {
        uint32_t flags = 0;

        if (util_count_token(ev, n, T_PIPE, &flags) > 0) {
            atomic_store(&result_flags, flags);
            n = 1;
        } else {
            n = 0;          /* only the kick: the registration was missed */
        }
    }
    atomic_store(&result, n);
    atomic_store(&done, true);
    return NULL;
}

int
main(void)
{
    const char *backend = mw_backend();
    mw_waker *kick;
    pthread_t t;
    int fds[2], rc;
    int64_t end;
    bool wrapped, returned;

    tap_watchdog(120);
    wrap_init();
    waited_call = wrap_wait_call();
    wrap_before_wait_hook = before_kernel_wait;
    wrapped = wrap_forwards(waited_call);
    plan(3);
    diag("backend %s", backend);

    if (mw_poll_new(&the_poll) != 0
        || mw_waker_new(&kick, the_poll, T_KICK) != 0)
        bail_out("cannot create a poll and a waker");
    util_pipe(fds);
    util_write_byte(fds[1]);

    util_thread_start(&t, waiter, NULL);
    if (wrapped) {
        end = util_now_ms() + UTIL_LONG_MS;
        while (!atomic_load(&entered) && util_now_ms() < end)
            util_sleep_ms(1);
        if (!atomic_load(&entered))
            bail_out("the waiting thread never reached %s",
                     wrap_call_name(waited_call));
        /* The hook runs just before the call: give it time to block. */
        util_sleep_ms(20);
    } else {
        diag("cannot wrap %s here: letting the waiting thread settle "
             "%d ms instead", backend, SETTLE_MS);
        util_sleep_ms(SETTLE_MS);
    }

    rc = mw_poll_register(the_poll, fds[0], T_PIPE, MW_READABLE);
    is_errno(rc, 0, "registering a readable pipe while another thread is "
             "blocked in an untimed wait succeeds");

    end = util_now_ms()
          + (util_under_valgrind() ? 10 : 1) * (int64_t)UTIL_LONG_MS;
    while (!atomic_load(&done) && util_now_ms() < end)
        util_sleep_ms(1);
    returned = atomic_load(&done);
    if (!returned)
        (void)mw_waker_wake(kick);
    util_thread_join(t);
    ok(returned, "the untimed wait returned by itself, with no wake, once "
       "the ready descriptor was registered%s",
       returned ? "" : " (it had to be woken)");
    ok(atomic_load(&result) == 1
       && (atomic_load(&result_flags) & MW_EV_READABLE),
       "and reported the pipe MW_EV_READABLE with its token (rc %d, "
       "%d wait call(s), %s)", atomic_load(&result), atomic_load(&waits),
       util_flags_str(atomic_load(&result_flags)));

    mw_poll_deregister(the_poll, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(kick);
    mw_poll_free(the_poll);
    return done_testing();
}
