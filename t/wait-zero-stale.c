/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_wait(3), mw_poll_fd(3)): a timeout of 0 returns "what
 * is ready now", and "to collect everything that is ready, wait with a
 * timeout of 0 until the wait returns 0"; after mw_waker_wake() returns 0
 * "the current or the next mw_poll_wait(3) on the poll returns the
 * waker's event".  So a waker woken before a run of timeout-0 waits must
 * come out of that run before a wait returns 0 -- also when what the
 * backend fetches first is only events the library drops, for
 * descriptors that were deregistered:
 *
 *   - deregistered on another thread during the wait, between the
 *     kernel's answer and the library's translation (the test wraps the
 *     system call the backend waits in, forwards it with
 *     dlsym(RTLD_NEXT), and deregisters inside the wrapper, as another
 *     thread could at that instant), with a capacity equal to the number
 *     of those events, and with a capacity of 1;
 *   - closed while a dup() keeps their files open, then deregistered:
 *     "the kernel may keep reporting the file a closed descriptor
 *     referred to" (epoll; libkqueue too), but the library no longer
 *     knows the number and drops those events.
 *
 * In every case the stale descriptors were made readable before the
 * waker was woken, so the backend's first batch holds only them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define K 4
#define T_FD ((mw_token)0xF0)
#define T_WAKER ((mw_token)0x3A3E)

/* ---- the hook: deregister the K descriptors after the kernel's answer */

static enum wrap_call hook_call;

static mw_poll *the_poll;
static int hook_fds[K];
static bool armed;
static int hook_runs, hook_n, hook_bad_rc;

static void
after_kernel_wait(enum wrap_call call, int n)
{
    if (armed && call == hook_call && n > 0) {
        armed = false;
        hook_runs++;
        hook_n = n;
        for (int i = 0; i < K; i++) {
            int rc = mw_poll_deregister(the_poll, hook_fds[i]);

            if (rc != 0)
                hook_bad_rc = rc;
        }
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

/* ---- fixture ---- */

struct fixture {
    mw_poll *p;
    mw_waker *w;
    int rd[K], wr[K], keep[K];
};

/* K readable pipes registered before the waker is created (the poll(2)
 * backend scans its entries in that order), then the waker. */
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
        f->keep[i] = -1;
        if (mw_poll_register(f->p, f->rd[i], T_FD + (mw_token)i,
                             MW_READABLE) != 0)
            bail_out("mw_poll_register failed");
        util_write_byte(f->wr[i]);
    }
    if (mw_waker_new(&f->w, f->p, T_WAKER) != 0)
        bail_out("mw_waker_new failed");
}

static void
teardown(struct fixture *f)
{
    mw_waker_free(f->w);
    mw_poll_free(f->p);
    for (int i = 0; i < K; i++) {
        if (f->rd[i] >= 0)
            util_close(f->rd[i]);
        util_close(f->wr[i]);
        if (f->keep[i] >= 0)
            util_close(f->keep[i]);
    }
}

/* Wait with timeout 0 and capacity cap until a wait returns 0 (at most
 * 100 waits); was the waker's event among what came out?  *first gets
 * what the first wait returned. */
static bool
collect_zero(mw_poll *p, size_t cap, int *first, int *waits)
{
    struct mw_event ev[K];
    bool seen = false;
    int n;

    *first = -1000;
    for (*waits = 0; *waits < 100; ) {
        n = mw_poll_wait(p, ev, cap, 0);
        if (*waits == 0)
            *first = n;
        (*waits)++;
        if (n == -EINTR)
            continue;
        if (n <= 0)
            break;
        if (util_count_token(ev, n, T_WAKER, NULL) > 0)
            seen = true;
    }
    return seen;
}

static void
waker_outlasts_fds_deregistered_during_the_wait(size_t cap)
{
    struct fixture f;
    bool seen;
    int first, waits;

    setup(&f);
    the_poll = f.p;
    memcpy(hook_fds, f.rd, sizeof hook_fds);
    hook_runs = hook_n = hook_bad_rc = 0;
    if (mw_waker_wake(f.w) != 0)
        bail_out("mw_waker_wake failed");
    armed = true;
    seen = collect_zero(f.p, cap, &first, &waits);
    armed = false;
    diag("deregistered during the wait, capacity %zu: the backend's "
         "system call returned %d; the first wait returned %d, %d wait(s)",
         cap, hook_n, first, waits);
    ok(hook_runs == 1 && hook_bad_rc == 0, "capacity %zu: the %d "
       "descriptors were deregistered (0) after the backend's system call "
       "returned and before the library translated its answer", cap, K);
    ok(seen, "capacity %zu, %d readable descriptors deregistered during "
       "the wait: timeout-0 waits until one returns 0 give the waker's "
       "event before the 0", cap, K);
    if (!seen)
        diag("a later wait %s the waker's event",
             util_wait_token(f.p, T_WAKER, 1000, NULL, NULL) == 1
             ? "does return" : "does not return either");
    teardown(&f);
}

static void
waker_outlasts_closed_fds_kept_open_by_dup(size_t cap)
{
    struct fixture f;
    bool seen;
    int first, waits, bad = 0;

    setup(&f);
    for (int i = 0; i < K; i++) {
        f.keep[i] = fcntl(f.rd[i], F_DUPFD_CLOEXEC, 0);
        if (f.keep[i] < 0)
            bail_out("dup: %s", strerror(errno));
        util_close(f.rd[i]);
        if (mw_poll_deregister(f.p, f.rd[i]) != 0)
            bad++;
        f.rd[i] = -1;
    }
    is_int(bad, 0, "capacity %zu: deregistering %d descriptors after "
           "closing them returns 0", cap, K);
    if (mw_waker_wake(f.w) != 0)
        bail_out("mw_waker_wake failed");
    seen = collect_zero(f.p, cap, &first, &waits);
    diag("closed (files kept by dup) and deregistered, capacity %zu: first "
         "wait returned %d, %d wait(s)", cap, first, waits);
    ok(seen, "capacity %zu, %d readable descriptors closed (their files "
       "kept open by dup) and deregistered: timeout-0 waits until one "
       "returns 0 give the waker's event before the 0", cap, K);
    teardown(&f);
}

int
main(void)
{
    const char *backend = mw_backend();
    bool wrapped;

    tap_watchdog(60);
    wrapped = resolve_wrapped();
    diag("backend %s", backend);

    if (wrapped) {
        waker_outlasts_fds_deregistered_during_the_wait(K);
        waker_outlasts_fds_deregistered_during_the_wait(1);
    } else {
        skip(4, "cannot wrap the system call %s waits in (no "
             "dlsym(RTLD_NEXT) here)", backend);
    }
    if (!util_caps()->kernel_keeps_set) {
        skip(4, "poll+pipe: the kernel keeps no set, so a closed "
             "descriptor is not reported after it is deregistered");
    } else if (util_caps()->emulated) {
        /* Its kevent() itself drops the dead files' events and returns
         * 0 for a full batch of them, before the library sees anything:
         * the limit mw_poll_register(3) gives for libkqueue. */
        skip(4, "libkqueue: a file closed while registered and kept open "
             "by dup stays in the emulation's own epoll set, where it "
             "can hide other events from a timeout-0 kevent()");
    } else {
        waker_outlasts_closed_fds_kept_open_by_dup(K);
        waker_outlasts_closed_fds_kept_open_by_dup(1);
    }
    return done_testing();
}
