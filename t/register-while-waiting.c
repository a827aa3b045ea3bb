/* SPDX-License-Identifier: MIT */
/*
 * Promise: registration calls and mw_waker_new/mw_waker_free may be made
 * from any thread while another thread is blocked in mw_poll_wait on the
 * same poll; they take effect for that wait or the next one.
 *
 * The main thread waits with no time limit; a helper thread changes the
 * poll under it.  Since the contract allows a change to take effect only
 * at the next wait, the helper gives the blocked wait two seconds to
 * notice and then "kicks" it with a separate waker; the change must then
 * show in the wait that returned the kick or the one after it.  (A kick
 * is never a failure; the diagnostics say whether one was needed.)
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_KICK 1
#define T_PIPE 2
#define T_WAKER 3
#define T_FREED 4
#define T_STRESS 1000   /* stress items: T_STRESS + i, wakers and pipes */
#define STRESS_N 100
#define GRACE_MS 2000
#define SETTLE_MS 50    /* let the main thread block before changing */

static mw_poll *p;
static mw_waker *kick;

/* Helper thread <-> main thread. */
static atomic_uintptr_t seen_token;     /* latest wanted token main saw */
static atomic_int kicks;
static atomic_int helper_rc;            /* first failing rc in the helper */

static void
helper_check(int r)
{
    int zero = 0;

    if (r != 0)
        atomic_compare_exchange_strong(&helper_rc, &zero, r);
}

/* Helper: give the main thread's wait GRACE_MS to report `token`, then
 * kick it; then wait for it without limit (the watchdog ends a hang). */
static void
await_or_kick(mw_token token)
{
    int64_t end = util_now_ms() + GRACE_MS;

    while (atomic_load(&seen_token) != token) {
        if (end != 0 && util_now_ms() >= end) {
            atomic_fetch_add(&kicks, 1);
            helper_check(mw_waker_wake(kick));
            end = 0;
        }
        util_sleep_ms(1);
    }
}

/* Main: wait without limit until the kick's event comes; returns how many
 * events with `token` came with it and before it. */
static int
count_until_kick(mw_token token)
{
    struct mw_event ev[16];
    int count = 0;

    for (bool kicked = false; !kicked;) {
        int n = mw_poll_wait(p, ev, 16, -1);

        if (n == -EINTR)
            continue;
        if (n <= 0)
            bail_out("mw_poll_wait(-1) returned %d", n);
        kicked = util_count_token(ev, n, T_KICK, NULL) > 0;
        count += util_count_token(ev, n, token, NULL);
    }
    return count;
}

/* Main: what happened while waiting for `want`. */
struct outcome {
    int waits;          /* waits that returned events */
    int seen_at;        /* index of the wait that reported want, or -1 */
    int kick_at;        /* index of the wait that reported the kick, -1 */
    uint32_t flags;     /* flags of want's event */
    int unexpected;     /* events of other tokens than want and the kick */
};

/* Main: wait with timeout -1 until `want` is reported; publish it. */
static void
wait_for(mw_token want, struct outcome *o)
{
    struct mw_event ev[16];
    int n;

    memset(o, 0, sizeof *o);
    o->seen_at = o->kick_at = -1;
    while (o->seen_at < 0) {
        n = mw_poll_wait(p, ev, 16, -1);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            bail_out("mw_poll_wait(-1) returned %d (%s)", n,
                     tap_errno_name(n));
        for (int i = 0; i < n; i++) {
            if (ev[i].token == want) {
                o->seen_at = o->waits;
                o->flags |= ev[i].flags;
            } else if (ev[i].token == T_KICK) {
                if (o->kick_at < 0)
                    o->kick_at = o->waits;
            } else {
                o->unexpected++;
            }
        }
        o->waits++;
        /* A kick was collected and the next wait did not report it
         * either: stop, it is a failure. */
        if (o->seen_at < 0 && o->kick_at >= 0 && o->waits > o->kick_at + 1)
            break;
    }
    if (o->seen_at >= 0)
        atomic_store(&seen_token, want);
}

static bool
in_time(const struct outcome *o)
{
    return o->seen_at >= 0 && (o->kick_at < 0 || o->seen_at <= o->kick_at + 1);
}

static void
report(const struct outcome *o, const char *what)
{
    if (o->seen_at < 0)
        diag("%s: never reported (%d waits, kick at %d)", what, o->waits,
             o->kick_at);
    else if (o->kick_at < 0 || o->seen_at < o->kick_at)
        diag("%s: reported by the wait in progress", what);
    else
        diag("%s: reported after a kick (wait %d, kick at %d)", what,
             o->seen_at, o->kick_at);
}

/* ---- register a descriptor that is already readable ---- */

static int pipe_fds[2];

static void *
register_ready(void *arg)
{
    (void)arg;
    util_sleep_ms(SETTLE_MS);
    helper_check(mw_poll_register(p, pipe_fds[0], T_PIPE, MW_READABLE));
    await_or_kick(T_PIPE);
    return NULL;
}

/* ---- register, then make it readable ---- */

static void *
register_then_write(void *arg)
{
    (void)arg;
    util_sleep_ms(SETTLE_MS);
    helper_check(mw_poll_register(p, pipe_fds[0], T_PIPE, MW_READABLE));
    util_sleep_ms(SETTLE_MS);
    util_write_byte(pipe_fds[1]);
    await_or_kick(T_PIPE);
    return NULL;
}

/* ---- deregister while the main thread waits ---- */

static void *
deregister_then_write(void *arg)
{
    (void)arg;
    util_sleep_ms(SETTLE_MS);
    helper_check(mw_poll_deregister(p, pipe_fds[0]));
    util_write_byte(pipe_fds[1]);
    helper_check(mw_waker_wake(kick));
    return NULL;
}

/* ---- a new waker, made and woken while the main thread waits ---- */

static mw_waker *late_waker;

static void *
new_waker_then_wake(void *arg)
{
    (void)arg;
    util_sleep_ms(SETTLE_MS);
    helper_check(mw_waker_new(&late_waker, p, T_WAKER));
    if (late_waker != NULL)
        helper_check(mw_waker_wake(late_waker));
    await_or_kick(T_WAKER);
    return NULL;
}

/* ---- a waker freed while the main thread waits ---- */

static mw_waker *doomed_waker;

static void *
free_waker(void *arg)
{
    (void)arg;
    util_sleep_ms(SETTLE_MS);
    mw_waker_free(doomed_waker);
    doomed_waker = NULL;
    helper_check(mw_waker_wake(kick));
    return NULL;
}

/* ---- many changes in a row ---- */

static atomic_int stress_done;

static void *
stress(void *arg)
{
    (void)arg;
    for (int i = 0; i < STRESS_N; i++) {
        mw_token tok = T_STRESS + (mw_token)i;
        int fds[2];

        if (i % 2 == 0) {
            mw_waker *w = NULL;

            helper_check(mw_waker_new(&w, p, tok));
            if (w == NULL)
                break;
            helper_check(mw_waker_wake(w));
            await_or_kick(tok);
            mw_waker_free(w);
        } else {
            util_pipe(fds);
            helper_check(mw_poll_register(p, fds[0], tok, MW_READABLE));
            util_write_byte(fds[1]);
            await_or_kick(tok);
            helper_check(mw_poll_deregister(p, fds[0]));
            util_close(fds[0]);
            util_close(fds[1]);
        }
    }
    atomic_store(&stress_done, 1);
    helper_check(mw_waker_wake(kick));
    return NULL;
}

static void
run(void *(*fn)(void *), mw_token want, const char *what)
{
    struct outcome o;
    pthread_t t;

    atomic_store(&kicks, 0);
    atomic_store(&helper_rc, 0);
    atomic_store(&seen_token, 0);
    util_thread_start(&t, fn, NULL);
    wait_for(want, &o);
    if (o.seen_at < 0)
        atomic_store(&seen_token, want);    /* release the helper */
    util_thread_join(t);
    report(&o, what);
    is_errno(atomic_load(&helper_rc), 0, "%s: the calls on the other "
             "thread succeed", what);
    ok(in_time(&o), "%s: it is reported by the wait in progress or the "
       "next one", what);
    is_int(o.unexpected, 0, "%s: no other event is reported", what);
}

static void
ready_pipe_registered_while_waiting_is_reported(void)
{
    util_pipe(pipe_fds);
    util_write_byte(pipe_fds[1]);
    run(register_ready, T_PIPE, "a pipe that is already readable, "
        "registered while another thread waits");
    util_drain(pipe_fds[0]);
    mw_poll_deregister(p, pipe_fds[0]);
    util_close(pipe_fds[0]);
    util_close(pipe_fds[1]);
}

/* Leaves pipe_fds registered and empty for the next promise. */
static void
pipe_registered_while_waiting_then_written_is_reported(void)
{
    util_pipe(pipe_fds);
    run(register_then_write, T_PIPE, "a pipe registered while another "
        "thread waits, then written");
    util_drain(pipe_fds[0]);
}

static void
fd_deregistered_while_waiting_is_never_reported_after(void)
{
    pthread_t t;
    int stale = 0, in_progress, late;

    atomic_store(&helper_rc, 0);
    util_thread_start(&t, deregister_then_write, NULL);
    in_progress = count_until_kick(T_PIPE);
    util_thread_join(t);
    is_errno(atomic_load(&helper_rc), 0, "mw_poll_deregister on another "
             "thread while this one waits succeeds");
    if (in_progress)
        diag("the wait in progress still reported the deregistered "
             "pipe (allowed)");
    /* Every wait from here started after mw_poll_deregister returned:
     * the pipe stays readable and gets more data, and is never
     * reported. */
    for (int round = 0; round < 5; round++) {
        util_write_byte(pipe_fds[1]);
        mw_waker_wake(kick);
        stale += count_until_kick(T_PIPE);
        late = util_poll_drain(p, T_PIPE, 1, NULL);
        if (late > 0)
            stale += late;
    }
    is_int(stale, 0, "after mw_poll_deregister returned on another "
           "thread, later waits never report the fd, though it stays "
           "readable");
    util_close(pipe_fds[0]);
    util_close(pipe_fds[1]);
}

static void
waker_made_while_waiting_is_reported_and_works(void)
{
    int n;

    run(new_waker_then_wake, T_WAKER, "a waker made and woken on another "
        "thread while this one waits");
    n = util_poll_drain(p, T_WAKER, 4, NULL);
    ok(late_waker != NULL && mw_waker_wake(late_waker) == 0
       && util_wait_token(p, T_WAKER, UTIL_LONG_MS, NULL, NULL) == 1
       && n == 0, "that waker then works like any other");
    mw_waker_free(late_waker);
}

static void
waker_freed_while_waiting_is_never_reported(void)
{
    pthread_t t;
    int stale;

    if (mw_waker_new(&doomed_waker, p, T_FREED) != 0)
        bail_out("mw_waker_new failed");
    atomic_store(&helper_rc, 0);
    util_thread_start(&t, free_waker, NULL);
    ok(util_wait_token(p, T_KICK, UTIL_LONG_MS, NULL, NULL) == 1,
       "a wait survives a waker freed on another thread during it");
    util_thread_join(t);
    is_errno(atomic_load(&helper_rc), 0, "the kick after the free "
             "succeeds");
    /* Fence: wake the kick; once it is in, count the freed token. */
    mw_waker_wake(kick);
    stale = count_until_kick(T_FREED);
    is_int(stale, 0, "the freed waker's token is not reported");
}

static void
many_changes_while_waiting_are_each_reported(void)
{
    pthread_t t;
    struct mw_event ev[16];
    int n, unexpected = 0, stale_pipes = 0;
    mw_token next = T_STRESS;

    atomic_store(&kicks, 0);
    atomic_store(&helper_rc, 0);
    atomic_store(&stress_done, 0);
    atomic_store(&seen_token, 0);
    util_thread_start(&t, stress, NULL);
    while (!atomic_load(&stress_done)) {
        n = mw_poll_wait(p, ev, 16, -1);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            bail_out("mw_poll_wait(-1) returned %d", n);
        for (int i = 0; i < n; i++) {
            mw_token tok = ev[i].token;

            if (tok == T_KICK)
                continue;
            if (tok == next) {
                atomic_store(&seen_token, tok);
                next++;
            } else if (tok < next && tok >= T_STRESS && tok % 2 == 1) {
                stale_pipes++;  /* a level-triggered repeat */
            } else {
                unexpected++;
                diag("unexpected token %ju (next %ju)", (uintmax_t)tok,
                     (uintmax_t)next);
            }
        }
    }
    util_thread_join(t);
    diag("%d wakers and pipes added and removed while waiting; %d "
         "kicks, %d repeated pipe events", STRESS_N,
         atomic_load(&kicks), stale_pipes);
    is_errno(atomic_load(&helper_rc), 0, "%d mw_waker_new/free and "
             "register/deregister calls on another thread while this "
             "one waits all succeed", STRESS_N);
    is_int((long)(next - T_STRESS), STRESS_N, "each of them was "
           "reported");
    is_int(unexpected, 0, "no freed waker's token and no unknown token "
           "is reported");
}

int
main(void)
{
    tap_watchdog(120);

    if (mw_poll_new(&p) != 0 || mw_waker_new(&kick, p, T_KICK) != 0)
        bail_out("cannot create a poll and a waker");

    ready_pipe_registered_while_waiting_is_reported();
    pipe_registered_while_waiting_then_written_is_reported();
    fd_deregistered_while_waiting_is_never_reported_after();
    waker_made_while_waiting_is_reported_and_works();
    waker_freed_while_waiting_is_never_reported();
    many_changes_while_waiting_are_each_reported();

    mw_waker_free(kick);
    mw_poll_free(p);
    return done_testing();
}
