/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_wait(3)): mw_poll_wait runs on one thread at a time
 * for a given poll.  A second thread that calls it while another is
 * inside gets -EBUSY at once, whatever its timeout (a negative one too),
 * and errno is left alone; the first wait is not disturbed and still gets
 * the event; once it has returned, another thread may wait.  Registration
 * and waker calls from the second thread stay allowed meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_WAKER 7
#define T_PIPE 8

static mw_poll *the_poll;
static atomic_int first_rc = -1;
static struct mw_event first_ev;

static void *
first_waiter(void *arg)
{
    struct mw_event ev[4];
    int n;

    (void)arg;
    /* The main thread's own timeout-0 waits, which look for this one,
     * may turn it away at first. */
    do
        n = mw_poll_wait(the_poll, ev, 4, -1);
    while (n == -EBUSY);
    if (n > 0)
        first_ev = ev[0];
    atomic_store(&first_rc, n);
    return NULL;
}

static void
second_waiter_gets_ebusy(void)
{
    static const int timeouts[] = { 0, 50, -1, -1000 };
    struct mw_event ev[4];
    int rc = 0;
    int64_t end;

    /* The first thread is inside once a wait here says so: until then a
     * timeout-0 wait finds nothing and returns 0.  The pause between
     * tries leaves the first thread the time to get in (valgrind runs
     * one thread at a time, and a loop without it could keep the first
     * one turned away). */
    end = util_now_ms() + UTIL_LONG_MS;
    for (;;) {
        rc = mw_poll_wait(the_poll, ev, 4, 0);
        if (rc != 0 || util_now_ms() >= end)
            break;
        util_sleep_ms(2);
    }
    is_errno(rc, -EBUSY, "a timeout-0 wait while another thread waits is "
             "-EBUSY");

    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        errno = EDOM;
        is_errno(mw_poll_wait(the_poll, ev, 4, timeouts[i]), -EBUSY,
                 "a second waiter with timeout %d gets -EBUSY at once",
                 timeouts[i]);
        is_int(errno, EDOM, "and errno is left alone");
    }
}

/* Leaves fds[0] registered. */
static void
second_thread_may_register_and_wake_meanwhile(mw_waker *w, pthread_t t,
                                              int fds[2])
{
    util_pipe(fds);
    is_errno(mw_poll_register(the_poll, fds[0], T_PIPE, MW_READABLE), 0,
             "registering from the second thread works meanwhile");
    is_errno(mw_waker_wake(w), 0, "so does waking");
    util_thread_join(t);
    is_int(atomic_load(&first_rc), 1, "the first wait was not disturbed: "
           "it returns one event");
    is_int(first_ev.token, T_WAKER, "the waker's");
}

static void
second_thread_may_wait_once_the_first_returned(int fds[2])
{
    util_write_byte(fds[1]);
    is_int(util_wait_token(the_poll, T_PIPE, UTIL_LONG_MS, NULL, NULL), 1,
           "once it has returned, this thread may wait, and gets the pipe");
}

int
main(void)
{
    mw_waker *w;
    pthread_t t;
    int fds[2];

    tap_watchdog(60);
    if (mw_poll_new(&the_poll) != 0 || mw_waker_new(&w, the_poll, T_WAKER))
        bail_out("cannot create a poll and a waker");

    util_thread_start(&t, first_waiter, NULL);
    second_waiter_gets_ebusy();
    second_thread_may_register_and_wake_meanwhile(w, t, fds);
    second_thread_may_wait_once_the_first_returned(fds);

    mw_poll_deregister(the_poll, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_waker_free(w);
    mw_poll_free(the_poll);
    return done_testing();
}
