/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3)): on failure mw_poll_register and
 * mw_poll_reregister return a negative error number and change nothing.
 * A failed register leaves no kernel registration behind; after a failed
 * reregister the descriptor is still reported with its old token for
 * every kind of readiness its old interest asked for, and not for the
 * new one.
 *
 * The test makes the kernel refuse a change, as it may when it runs out
 * of memory: it wraps the call the backend changes its set with
 * (epoll_ctl or kevent, forwarded to the real one through
 * dlsym(RTLD_NEXT)) and, while armed, fails with ENOMEM every change that
 * asks for write readiness.  A kqueue backend changes one filter per
 * kernel call and the read filter comes first, so on kqueue the failure
 * comes after a change that did succeed.  The poll(2) backend keeps its
 * set in user space and makes no such call: the test is skipped there.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"
/* t/local.mk puts libkqueue's headers on the path of this program when
 * kqueue is emulated; a BSD has the header anyway. */
#if defined(__has_include)
# if __has_include(<sys/event.h>)
#  include <sys/types.h>
#  include <sys/event.h>
#  include <sys/time.h>
#  define HAVE_KEVENT_HOOK 1
# endif
#endif

/* Small tokens: they index seen[] below. */
#define T_FENCE 1
#define T_FIRST 2
#define T_LATER 3
#define T_OLD 4
#define T_NEW 5
#define NTOKENS 6

/* Which backend's calls fail while armed. */
enum refusing { REFUSE_NONE, REFUSE_EPOLL, REFUSE_KEVENT };
static enum refusing refusing;
static bool armed;
static int refused;             /* changes failed while armed */

/* ---- the hooks of t/lib/wrap.c's wrappers ---- */

#ifdef WRAP_HAVE_EPOLL
/* libkqueue calls epoll_ctl() too: only an epoll backend's calls fail. */
static int
refuse_epoll_ctl(int op, const struct epoll_event *event)
{
    if (armed && refusing == REFUSE_EPOLL
        && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD)
        && event != NULL && (event->events & EPOLLOUT)) {
        refused++;
        return ENOMEM;
    }
    return 0;
}
#endif

#ifdef HAVE_KEVENT_HOOK
static int
refuse_kevent(const struct kevent *changes, int nchanges, int nevents)
{
    (void)nevents;
    for (int i = 0; armed && i < nchanges; i++) {
        if (changes[i].filter == EVFILT_WRITE
            && (changes[i].flags & EV_ADD)) {
            refused++;
            return ENOMEM;
        }
    }
    return 0;
}
#endif

/* Which backend's calls to fail; REFUSE_NONE if none can be. */
static enum refusing
resolve_wrapped(void)
{
    wrap_init();
#ifdef WRAP_HAVE_EPOLL
    wrap_before_epoll_ctl_hook = refuse_epoll_ctl;
#endif
#ifdef HAVE_KEVENT_HOOK
    wrap_before_kevent_hook = refuse_kevent;
#endif
    if (util_caps()->set_call == UTIL_SET_EPOLL_CTL)
        return wrap_forwards(WRAP_EPOLL_CTL) ? REFUSE_EPOLL : REFUSE_NONE;
#ifdef HAVE_KEVENT_HOOK
    if (util_caps()->set_call == UTIL_SET_KEVENT
        && wrap_forwards(WRAP_KEVENT))
        return REFUSE_KEVENT;
#endif
    return REFUSE_NONE;
}

/* ---- fixtures ---- */

static mw_poll *p;
static mw_waker *fence;
static uint32_t seen[NTOKENS];      /* OR of the flags seen per token */
static int seen_events[NTOKENS];

/* Wake the fence and collect until its event is in, then with timeout 0
 * until nothing is left: everything the descriptors had to report by the
 * time of the wake is then in seen[].  Edge-triggered registrations run
 * dry at once; the bound only keeps a broken one from looping forever. */
static void
collect(void)
{
    struct mw_event ev[16];
    int64_t end = util_now_ms() + UTIL_LONG_MS;
    bool fenced = false;
    int after_fence = 0;

    memset(seen, 0, sizeof(seen));
    memset(seen_events, 0, sizeof(seen_events));
    if (mw_waker_wake(fence) != 0)
        bail_out("mw_waker_wake failed");
    for (;;) {
        int64_t left = end - util_now_ms();
        int n;

        if (!fenced && left <= 0)
            bail_out("the fence waker's event never came");
        n = mw_poll_wait(p, ev, 16, fenced ? 0 : (int)left);
        if (n == -EINTR)
            continue;
        if (n < 0)
            bail_out("mw_poll_wait: %s", strerror(-n));
        for (int i = 0; i < n; i++) {
            if (ev[i].token >= NTOKENS)
                bail_out("unknown token %#lx", (unsigned long)ev[i].token);
            seen[ev[i].token] |= ev[i].flags;
            seen_events[ev[i].token]++;
        }
        if (fenced && n == 0)
            return;
        if (fenced && ++after_fence > 100) {
            diag("events keep coming: token %lu, %s",
                 (unsigned long)ev[0].token, util_flags_str(ev[0].flags));
            return;
        }
        if (seen_events[T_FENCE] > 0)
            fenced = true;
    }
}

/* Make fd's write readiness new: fill its buffer, then empty it from the
 * peer, so that an edge-triggered registration is reported again. */
static void
new_write_edge(int fd, int peer)
{
    static char chunk[4096];

    for (;;) {
        ssize_t w = write(fd, chunk, sizeof(chunk));

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w < 0)
            bail_out("write: %s", strerror(errno));
    }
    if (util_drain(peer) < 0)
        bail_out("draining the peer failed");
}

static void
check_ok(int rc, const char *what)
{
    if (rc != 0)
        bail_out("%s: %s", what, strerror(-rc));
}

/* The descriptor can be registered again, and only for what the new
 * registration asks: a read filter left behind would report the byte
 * waiting to be read. */
static void
failed_register_leaves_nothing(int sv[2])
{
    armed = true;
    is_errno(mw_poll_register(p, sv[0], T_FIRST, MW_READABLE | MW_WRITABLE),
             -ENOMEM, "a register whose kernel change fails returns "
                      "the kernel's error");
    armed = false;
    ok(refused > 0, "the wrapped call refused the change (%d time(s))",
       refused);
    util_write_byte(sv[1]);
    is_errno(mw_poll_register(p, sv[0], T_LATER, MW_WRITABLE), 0,
             "the descriptor can then be registered again");
    collect();
    ok(seen_events[T_FIRST] == 0, "the failed registration's token is "
                                  "never reported");
    ok((seen[T_LATER] & MW_EV_WRITABLE)
       && !(seen[T_LATER] & MW_EV_READABLE),
       "the new write-only registration reports writing and not the "
       "waiting byte (got %s)", util_flags_str(seen[T_LATER]));
    check_ok(mw_poll_deregister(p, sv[0]), "mw_poll_deregister");
    if (util_drain(sv[0]) < 0)
        bail_out("draining failed");
    collect();
}

/* READ|WRITE -> WRITE, and the write change fails.  A kqueue that dropped
 * the read filter first would be left watching writing only. */
static void
failed_narrowing_reregister_keeps_old_interest(int sv[2])
{
    check_ok(mw_poll_register(p, sv[0], T_OLD, MW_READABLE | MW_WRITABLE),
             "mw_poll_register");
    collect();
    util_write_byte(sv[1]);
    armed = true;
    refused = 0;
    is_errno(mw_poll_reregister(p, sv[0], T_NEW, MW_WRITABLE), -ENOMEM,
             "a reregister whose kernel change fails returns the "
             "kernel's error");
    armed = false;
    ok(refused > 0, "the wrapped call refused the change");
    collect();
    ok(seen[T_OLD] & MW_EV_READABLE, "the byte waiting since before the "
       "failed reregister is reported under the old token (got %s)",
       util_flags_str(seen[T_OLD]));
    if (util_drain(sv[0]) < 0)
        bail_out("draining failed");
    util_write_byte(sv[1]);
    new_write_edge(sv[0], sv[1]);
    collect();
    ok((seen[T_OLD] & (MW_EV_READABLE | MW_EV_WRITABLE))
       == (MW_EV_READABLE | MW_EV_WRITABLE),
       "new readiness for reading and for writing is still reported under "
       "the old token (got %s)", util_flags_str(seen[T_OLD]));
    ok(seen_events[T_NEW] == 0, "the new token is never reported");
    check_ok(mw_poll_deregister(p, sv[0]), "mw_poll_deregister");
    if (util_drain(sv[0]) < 0)
        bail_out("draining failed");
    collect();
}

/* READ -> READ|WRITE, and the write change fails after the read filter
 * was changed: reading stays, writing is not watched. */
static void
failed_widening_reregister_keeps_old_interest(int sv[2])
{
    check_ok(mw_poll_register(p, sv[0], T_OLD, MW_READABLE),
             "mw_poll_register");
    collect();
    armed = true;
    is_errno(mw_poll_reregister(p, sv[0], T_NEW, MW_READABLE | MW_WRITABLE),
             -ENOMEM, "a reregister that adds writing fails with the "
                      "kernel's error");
    armed = false;
    util_write_byte(sv[1]);
    new_write_edge(sv[0], sv[1]);
    collect();
    ok(seen[T_OLD] & MW_EV_READABLE, "reading is still reported under the "
       "old token (got %s)", util_flags_str(seen[T_OLD]));
    ok(!(seen[T_OLD] & MW_EV_WRITABLE), "writing, which only the failed "
       "interest asked for, is not");
    ok(seen_events[T_NEW] == 0, "the new token is never reported");
    check_ok(mw_poll_deregister(p, sv[0]), "mw_poll_deregister");
}

int
main(void)
{
    int sv[2];
    const char *backend = mw_backend();

    tap_watchdog(60);
    refusing = resolve_wrapped();
    if (refusing == REFUSE_NONE)
        plan_skip_all("%s: %s", backend,
                      !util_caps()->kernel_keeps_set
                      ? "the poll(2) backend changes no kernel set, so "
                        "there is no call to make fail"
                      : "cannot wrap the call the backend changes its "
                        "set with (no dlsym(RTLD_NEXT) here)");
    plan(14);

    check_ok(mw_poll_new(&p), "mw_poll_new");
    check_ok(mw_waker_new(&fence, p, T_FENCE), "mw_waker_new");
    util_socketpair(sv);

    failed_register_leaves_nothing(sv);
    failed_narrowing_reregister_keeps_old_interest(sv);
    failed_widening_reregister_keeps_old_interest(sv);

    mw_waker_free(fence);
    mw_poll_free(p);
    util_close(sv[0]);
    util_close(sv[1]);
    return done_testing();
}
