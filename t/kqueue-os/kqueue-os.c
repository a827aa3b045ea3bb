/* SPDX-License-Identifier: MIT */
/*
 * The cases of the kqueue-os simulation (t/kqueue-os/kqueue-os.mk).  This
 * program is the library's own kqueue sources compiled against one system's
 * stub <sys/event.h> and config.h (t/kqueue-os/<profile>/) and linked with the
 * fake kqueue (t/kqueue-os/fake.c), which behaves as that system does.
 * The cases drive the public API and assert what the library must do on
 * that system; they look into the fake only to see which knotes exist
 * and what the library asked of kevent().  Every result names its case:
 *
 *    0 setup           the program is the library on the simulated system
 *    1 translation     readiness, end-of-file and socket errors to MW_EV_*
 *    2 interest        a change of interest adds and deletes knotes
 *    3 priority/tcp    MW_PRIORITY on a TCP connection
 *    4 priority/pipe   MW_PRIORITY on a pipe
 *    5 widowed pipe    MW_WRITABLE on a pipe whose reader is closed
 *    6 waker fallback  a waker when EVFILT_USER cannot be had
 *    7 udata           tokens through the kernel's cookie
 *    8 long timeout    waits of INT_MAX ms and without limit
 *    9 files           regular files and directories
 *   10 poll fd         mw_poll_fd()
 *   11 wakers          the wake contract
 *   12 enoent          knotes already gone do not fail a change
 *   13 fork            a child frees a poll whose kqueue it did not inherit
 *   14 stale+flagless  a full batch partly left out hides no waker
 */
#include "config.h"

#include "tap.h"

#if !defined(__linux__)
/* The fake kqueue stands on Linux's epoll, poll and socket options. */
int
main(void)
{
    plan_skip_all("the kqueue simulation runs on Linux only");
}
#else /* __linux__ */

#include "util.h"
#include "fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/event.h>
#include <unistd.h>

#include <miowake.h>

#define F_READ  ((long)EVFILT_READ)
#define F_WRITE ((long)EVFILT_WRITE)
#if HAVE_DECL_EVFILT_EXCEPT
# define F_EXCEPT ((long)EVFILT_EXCEPT)
#endif

static const struct fake_profile *prof;

/* ---- fixtures ---------------------------------------------------------- */

static mw_poll *
poll_new(void)
{
    mw_poll *p;
    int rc = mw_poll_new(&p);

    if (rc < 0)
        bail_out("mw_poll_new: %s", tap_errno_name(rc));
    return p;
}

/* The kqueue behind p: its descriptor as mw_poll_fd() gives it, else
 * the one the fake created last (each case makes its poll last). */
static int
kq_of(const mw_poll *p)
{
    int fd = mw_poll_fd(p);

    return fd >= 0 ? fd : fake_last_kqueue();
}

static void
nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0
        || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        bail_out("fcntl(%d): %s", fd, strerror(errno));
}

/* A listening TCP socket on a free loopback port; -1 if this machine
 * has none to give (no loopback in a sandbox, say). */
static int
tcp_listener(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0)
        return -1;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)addr, sizeof(*addr)) < 0
        || getsockname(s, (struct sockaddr *)addr, &len) < 0
        || listen(s, 4) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* A connected loopback TCP pair, both ends non-blocking. */
static bool
tcp_pair(int *server, int *client)
{
    struct sockaddr_in addr;
    int l = tcp_listener(&addr);
    int c, a;

    if (l < 0)
        return false;
    c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0
        || (a = accept(l, NULL, NULL)) < 0) {
        if (c >= 0)
            close(c);
        close(l);
        return false;
    }
    close(l);
    nonblock_cloexec(a);
    nonblock_cloexec(c);
    *server = a;
    *client = c;
    return true;
}

/* A non-blocking TCP socket whose connect to a closed loopback port is
 * under way (and will be refused); -1 if that cannot be set up. */
static int
refused_connect(void)
{
    struct sockaddr_in addr;
    int l = tcp_listener(&addr);
    int s;

    if (l < 0)
        return -1;
    close(l);               /* nothing listens on the port any more */
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    nonblock_cloexec(s);
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0
        || errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
}

/* Wait up to ms for events with token until their flags, ORed, hold all
 * of want; then take what else is ready at once.  The OR of them all. */
static uint32_t
wait_flags(mw_poll *p, mw_token token, uint32_t want, int ms)
{
    int64_t end = util_now_ms() + ms;
    uint32_t all = 0, f;

    for (;;) {
        int left = (int)(end - util_now_ms());

        if (left <= 0 || util_wait_token(p, token, left, &f, NULL) != 1)
            break;
        all |= f;
        if ((all & want) == want)
            break;
    }
    if (util_poll_drain(p, token, 8, &f) > 0)
        all |= f;
    return all;
}

#if HAVE_DECL_EVFILT_EXCEPT
/* Take every event ready now, after a moment for the network to settle;
 * the OR of the flags of those with token. */
static uint32_t
settle(mw_poll *p, mw_token token)
{
    uint32_t f = 0;

    util_sleep_ms(30);
    (void)util_poll_drain(p, token, 8, &f);
    return f;
}
#endif

/* Was a change (fd, filter) with flags and error given to kevent() since
 * fake_changes_clear()? */
static bool
change_seen(int fd, long filter, unsigned long flags, int error)
{
    struct fake_change c;

    for (size_t i = 0; fake_change_get(i, &c); i++)
        if (c.ident == (uintptr_t)fd && c.filter == filter
            && (c.flags & flags) == flags && c.error == error)
            return true;
    return false;
}

/* ---- 0 setup ----------------------------------------------------------- */

static void
case_setup(void)
{
    mw_poll *p = poll_new();

    ok(strcmp(mw_backend(), MW_BACKEND_NAME) == 0,
       "0 setup: mw_backend() is %s on %s", MW_BACKEND_NAME, prof->name);
    is_int(mw_poll_fd(p) >= 0 ? mw_poll_fd(p) : fake_last_kqueue(),
           fake_last_kqueue(),
           "0 setup: the poll's kqueue is the fake's");
    mw_poll_free(p);
}

/* ---- 1 translation ----------------------------------------------------- */

static void
case_translation(void)
{
    mw_poll *p = poll_new();
    int pfd[2], sv[2], s;
    uint32_t f;

    util_pipe(pfd);
    is_errno(mw_poll_register(p, pfd[0], 0x1001, MW_READABLE), 0,
             "1 translation: a pipe's read end registers READABLE");
    util_write_byte(pfd[1]);
    f = wait_flags(p, 0x1001, MW_EV_READABLE, UTIL_LONG_MS);
    ok(f & MW_EV_READABLE,
       "1 translation: data in the pipe gives MW_EV_READABLE with its "
       "token (got %s)", util_flags_str(f));
    (void)mw_poll_deregister(p, pfd[0]);
    util_close(pfd[0]);
    util_close(pfd[1]);

    util_socketpair(sv);
    is_errno(mw_poll_register(p, sv[0], 0x1002, MW_READABLE), 0,
             "1 translation: a socket registers READABLE");
    util_close(sv[1]);
    f = wait_flags(p, 0x1002, MW_EV_READ_CLOSED, UTIL_LONG_MS);
    ok(f & MW_EV_READ_CLOSED,
       "1 translation: the peer's close gives MW_EV_READ_CLOSED (got %s)",
       util_flags_str(f));
    (void)mw_poll_deregister(p, sv[0]);
    util_close(sv[0]);

    s = refused_connect();
    if (s < 0) {
        skip(2, "no loopback TCP connect under way to refuse here");
    } else {
        is_errno(mw_poll_register(p, s, 0x1003, MW_WRITABLE), 0,
                 "1 translation: a connecting socket registers WRITABLE");
        f = wait_flags(p, 0x1003, MW_EV_ERROR | MW_EV_WRITE_CLOSED,
                       UTIL_LONG_MS);
        ok((f & (MW_EV_ERROR | MW_EV_WRITE_CLOSED))
               == (MW_EV_ERROR | MW_EV_WRITE_CLOSED),
           "1 translation: a refused connect gives MW_EV_ERROR with "
           "MW_EV_WRITE_CLOSED (got %s)", util_flags_str(f));
        (void)mw_poll_deregister(p, s);
        util_close(s);
    }
    mw_poll_free(p);
}

/* ---- 2 interest -------------------------------------------------------- */

static void
case_interest(void)
{
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    int sv[2];

    util_socketpair(sv);
    is_errno(mw_poll_register(p, sv[0], 0x2001, MW_READABLE | MW_WRITABLE),
             0, "2 interest: a socket registers READABLE|WRITABLE");
    ok(fake_knote_exists(kq, (uintptr_t)sv[0], F_READ)
       && fake_knote_exists(kq, (uintptr_t)sv[0], F_WRITE),
       "2 interest: that makes a read knote and a write knote");
    is_errno(mw_poll_reregister(p, sv[0], 0x2001, MW_WRITABLE), 0,
             "2 interest: reregistered WRITABLE alone");
    ok(!fake_knote_exists(kq, (uintptr_t)sv[0], F_READ),
       "2 interest: the read knote is gone");
    ok(fake_knote_exists(kq, (uintptr_t)sv[0], F_WRITE),
       "2 interest: the write knote is there");
    is_errno(mw_poll_deregister(p, sv[0]), 0,
             "2 interest: deregistered");
    is_int(fake_fd_knotes(kq, sv[0]), 0,
           "2 interest: no knote of the descriptor remains");
    util_close(sv[0]);
    util_close(sv[1]);
    mw_poll_free(p);
}

/* ---- 3 priority/tcp ---------------------------------------------------- */

#if HAVE_DECL_EVFILT_EXCEPT
/* macOS's except filter fires for ordinary data, an event the library
 * leaves out.  A wait of capacity 1 whose one kernel event is such a one
 * must look again, or a timeout of 0 returns 0 with a waker's event
 * ready behind it (mw_poll_wait(3): 0 only when nothing was ready). */
static void
flagless_batch_hides_nothing(mw_poll *p)
{
    struct mw_event ev[1];
    mw_waker *w;
    int a, b, n;

    if (!tcp_pair(&a, &b))
        bail_out("a loopback TCP connection");
    is_errno(mw_poll_register(p, a, 0x3003, MW_PRIORITY), 0,
             "3 priority/tcp: a connection registers PRIORITY alone");
    if (mw_waker_new(&w, p, 0x3004) != 0)
        bail_out("mw_waker_new");
    if (send(b, "data", 4, MSG_NOSIGNAL) != 4)
        bail_out("send: %s", strerror(errno));
    util_sleep_ms(20);
    is_errno(mw_waker_wake(w), 0, "3 priority/tcp: the waker is woken");
    n = mw_poll_wait(p, ev, 1, 0);
    ok(n == 1 && ev[0].token == 0x3004 && ev[0].flags == MW_EV_READABLE,
       "3 priority/tcp: a capacity-1, timeout-0 wait behind an except "
       "event for ordinary data returns the waker's event (returned %d)",
       n);
    (void)settle(p, 0x3004);
    mw_waker_free(w);
    (void)mw_poll_deregister(p, a);
    util_close(a);
    util_close(b);
}
#endif

static void
case_priority_tcp(void)
{
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    int a, b;

    if (!tcp_pair(&a, &b)) {
        skip(1, "3 priority/tcp: no loopback TCP connection here");
        mw_poll_free(p);
        return;
    }
#if HAVE_DECL_EVFILT_EXCEPT
    {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        int64_t end;
        uint32_t f;
        char c;

        is_errno(mw_poll_register(p, a, 0x3001, MW_READABLE | MW_PRIORITY),
                 0, "3 priority/tcp: a connection registers "
                 "READABLE|PRIORITY");
        ok(fake_knote_exists(kq, (uintptr_t)a, F_EXCEPT),
           "3 priority/tcp: MW_PRIORITY is an EVFILT_EXCEPT knote");

        if (send(b, "data", 4, MSG_NOSIGNAL) != 4)
            bail_out("send: %s", strerror(errno));
        f = wait_flags(p, 0x3001, MW_EV_READABLE, UTIL_LONG_MS);
        f |= settle(p, 0x3001);
        ok(f & MW_EV_READABLE,
           "3 priority/tcp: ordinary data is MW_EV_READABLE (got %s)",
           util_flags_str(f));
        ok(!(f & MW_EV_PRIORITY),
           "3 priority/tcp: ordinary data is not MW_EV_PRIORITY (got %s)",
           util_flags_str(f));
        (void)util_drain(a);

        if (send(b, "!", 1, MSG_OOB | MSG_NOSIGNAL) != 1)
            bail_out("send(MSG_OOB): %s", strerror(errno));
        f = wait_flags(p, 0x3001, MW_EV_PRIORITY, UTIL_LONG_MS);
        ok(f & MW_EV_PRIORITY,
           "3 priority/tcp: MSG_OOB data is MW_EV_PRIORITY (got %s)",
           util_flags_str(f));
        /* Take the urgent byte, so that it is not what the reset below
         * reports. */
        end = util_now_ms() + UTIL_LONG_MS;
        while (recv(a, &c, 1, MSG_OOB) != 1 && util_now_ms() < end)
            util_sleep_ms(5);
        (void)util_drain(a);
        (void)settle(p, 0x3001);

        if (setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
            bail_out("SO_LINGER: %s", strerror(errno));
        util_close(b);
        f = wait_flags(p, 0x3001, MW_EV_READ_CLOSED | MW_EV_ERROR,
                       UTIL_LONG_MS);
        f |= settle(p, 0x3001);
        ok((f & (MW_EV_READ_CLOSED | MW_EV_ERROR))
               == (MW_EV_READ_CLOSED | MW_EV_ERROR),
           "3 priority/tcp: a reset is MW_EV_READ_CLOSED|MW_EV_ERROR "
           "(got %s)", util_flags_str(f));
        ok(!(f & MW_EV_PRIORITY),
           "3 priority/tcp: a reset is not MW_EV_PRIORITY (got %s)",
           util_flags_str(f));
        (void)mw_poll_deregister(p, a);

        /* Where the except filter fires at the end of the stream (macOS),
         * interest in urgent data alone still learns of a reset, as on
         * epoll, which reports it whatever the interest. */
        if (prof->except_is_read_filter) {
            flagless_batch_hides_nothing(p);
            util_close(a);
            if (!tcp_pair(&a, &b))
                bail_out("a second loopback TCP connection");
            is_errno(mw_poll_register(p, a, 0x3002, MW_PRIORITY), 0,
                     "3 priority/tcp: a connection registers PRIORITY "
                     "alone");
            if (setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
                bail_out("SO_LINGER: %s", strerror(errno));
            util_close(b);
            f = wait_flags(p, 0x3002, MW_EV_READ_CLOSED | MW_EV_ERROR,
                           UTIL_LONG_MS);
            f |= settle(p, 0x3002);
            ok((f & (MW_EV_READ_CLOSED | MW_EV_ERROR))
                   == (MW_EV_READ_CLOSED | MW_EV_ERROR)
                   && !(f & MW_EV_PRIORITY),
               "3 priority/tcp: with PRIORITY alone a reset is "
               "MW_EV_READ_CLOSED|MW_EV_ERROR (got %s)", util_flags_str(f));
            (void)mw_poll_deregister(p, a);
        }
    }
#else
    is_errno(mw_poll_register(p, a, 0x3001, MW_READABLE | MW_PRIORITY),
             -ENOTSUP, "3 priority/tcp: MW_PRIORITY is -ENOTSUP on %s, "
             "which has no EVFILT_EXCEPT", prof->name);
    is_int(fake_fd_knotes(kq, a), 0,
           "3 priority/tcp: and leaves no knote");
    util_close(b);
#endif
    util_close(a);
    mw_poll_free(p);
}

/* ---- 4 priority/pipe --------------------------------------------------- */

static void
case_priority_pipe(void)
{
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    bool refused = !prof->has_except || prof->except_pipe_error != 0;
    int pfd[2];
    uint32_t f;
    int rc;

    util_pipe(pfd);
    rc = mw_poll_register(p, pfd[0], 0x4001, MW_READABLE | MW_PRIORITY);
    if (refused) {
        is_errno(rc, -ENOTSUP, "4 priority/pipe: READABLE|PRIORITY on a "
                 "pipe is -ENOTSUP on %s (%s)", prof->name,
                 prof->has_except ? "EVFILT_EXCEPT refused on pipes"
                                  : "no EVFILT_EXCEPT");
        is_int(fake_fd_knotes(kq, pfd[0]), 0,
               "4 priority/pipe: and nothing is registered");
    } else {
        is_errno(rc, 0, "4 priority/pipe: READABLE|PRIORITY on a pipe "
                 "registers on %s", prof->name);
        (void)mw_poll_deregister(p, pfd[0]);
    }
    is_errno(mw_poll_register(p, pfd[0], 0x4001, MW_READABLE), 0,
             "4 priority/pipe: a plain READABLE registration then "
             "succeeds");
    if (refused) {
        is_errno(mw_poll_reregister(p, pfd[0], 0x4001,
                                    MW_READABLE | MW_PRIORITY),
                 -ENOTSUP, "4 priority/pipe: reregistering READABLE -> "
                 "READABLE|PRIORITY is -ENOTSUP");
        ok(fake_knote_exists(kq, (uintptr_t)pfd[0], F_READ)
           && fake_fd_knotes(kq, pfd[0]) == 1,
           "4 priority/pipe: and keeps the read knote, alone");
    }
    util_write_byte(pfd[1]);
    f = wait_flags(p, 0x4001, MW_EV_READABLE, UTIL_LONG_MS);
    ok(f & MW_EV_READABLE,
       "4 priority/pipe: the registration reports data (got %s)",
       util_flags_str(f));
    (void)mw_poll_deregister(p, pfd[0]);
    util_close(pfd[0]);
    util_close(pfd[1]);
    mw_poll_free(p);
}

/* ---- 5 widowed pipe ---------------------------------------------------- */

static void
case_widowed_pipe(void)
{
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    int pfd[2];
    int rc;

    util_pipe(pfd);
    util_close(pfd[0]);
    rc = mw_poll_register(p, pfd[1], 0x5001, MW_WRITABLE);
    if (prof->widowed_pipe_write_error != 0) {
        is_errno(rc, -EPIPE, "5 widowed pipe: WRITABLE on a pipe whose "
                 "reader is closed is -EPIPE on %s (the kernel: %s)",
                 prof->name,
                 tap_errno_name(-(long long)prof->widowed_pipe_write_error));
        is_int(fake_fd_knotes(kq, pfd[1]), 0,
               "5 widowed pipe: and no knote is attached");
        if (rc == 0)
            (void)mw_poll_deregister(p, pfd[1]);
    } else {
        uint32_t f;

        is_errno(rc, 0, "5 widowed pipe: WRITABLE on a pipe whose reader "
                 "is closed registers on %s", prof->name);
        f = wait_flags(p, 0x5001, MW_EV_WRITE_CLOSED, UTIL_LONG_MS);
        ok(f & MW_EV_WRITE_CLOSED,
           "5 widowed pipe: and the next wait reports MW_EV_WRITE_CLOSED "
           "(got %s)", util_flags_str(f));
        (void)mw_poll_deregister(p, pfd[1]);
    }
    util_close(pfd[1]);
    mw_poll_free(p);
}

/* ---- 6 waker fallback -------------------------------------------------- */

#if defined(KQOS_WAKER_USER)
/* Wake the first and the last of n wakers and see both events come. */
static void
many_wakers(size_t n)
{
    mw_poll *p = poll_new();
    mw_waker **w = calloc(n, sizeof(*w));
    struct mw_event ev[64];
    bool first = false, last = false;
    size_t failed = 0;
    int first_rc = 0;
    int64_t end;

    if (!w)
        bail_out("calloc");
    for (size_t i = 0; i < n; i++) {
        int rc = mw_waker_new(&w[i], p, (mw_token)(0x60000 + i));

        if (rc < 0 && failed++ == 0)
            first_rc = rc;
    }
    is_int(failed, 0, "6 waker fallback: %zu wakers on one poll all "
           "succeed (first failure %s; %zu EVFILT_USER knotes)", n,
           tap_errno_name(first_rc), fake_user_knotes());
    if (w[0] && w[n - 1]) {
        (void)mw_waker_wake(w[0]);
        (void)mw_waker_wake(w[n - 1]);
        end = util_now_ms() + UTIL_LONG_MS;
        while (!(first && last) && util_now_ms() < end) {
            int r = util_wait(p, ev, 64, 100);

            for (int i = 0; i < r; i++) {
                first = first || ev[i].token == 0x60000;
                last = last || ev[i].token == (mw_token)(0x60000 + n - 1);
            }
        }
    }
    ok(first, "6 waker fallback: the wake of waker #1 is delivered");
    ok(last, "6 waker fallback: the wake of waker #%zu is delivered", n);
    for (size_t i = 0; i < n; i++)
        mw_waker_free(w[i]);
    free(w);
    mw_poll_free(p);
}
#endif

static void
case_waker_fallback(void)
{
#if defined(KQOS_WAKER_USER)
    static const int errs[] = { EINVAL, ENOSYS, ENOMEM };

    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        mw_poll *p = poll_new();
        char name[32];
        mw_waker *w;
        uint32_t f;
        int rc;

        snprintf(name, sizeof(name), "%s",
                 tap_errno_name(-(long long)errs[i]));
        fake_fail_user_add(errs[i]);
        rc = mw_waker_new(&w, p, 0x6001);
        fake_fail_user_add(0);
        is_errno(rc, 0, "6 waker fallback: mw_waker_new succeeds when "
                 "EVFILT_USER's EV_ADD fails with %s", name + 1);
        if (rc == 0) {
            is_errno(mw_waker_wake(w), 0,
                     "6 waker fallback: (%s) the wake succeeds", name + 1);
            f = wait_flags(p, 0x6001, MW_EV_READABLE, UTIL_LONG_MS);
            is_int(f, MW_EV_READABLE, "6 waker fallback: (%s) the wake "
                   "is delivered with its token", name + 1);
            mw_waker_free(w);
        } else {
            skip(2, "no waker");
        }
        mw_poll_free(p);
    }
    many_wakers(1100);
#else
    mw_poll *p = poll_new();
    mw_waker *w;
    uint32_t f;

    is_errno(mw_waker_new(&w, p, 0x6001), 0,
             "6 waker fallback: (pipe waker) mw_waker_new succeeds");
    is_errno(mw_waker_wake(w), 0,
             "6 waker fallback: (pipe waker) the wake succeeds");
    f = wait_flags(p, 0x6001, MW_EV_READABLE, UTIL_LONG_MS);
    is_int(f, MW_EV_READABLE,
           "6 waker fallback: (pipe waker) the wake is delivered");
    mw_waker_free(w);
    mw_poll_free(p);
#endif
}

/* ---- 7 udata ----------------------------------------------------------- */

static void
case_udata(void)
{
    const mw_token fd_token = (mw_token)UINTPTR_MAX - 2;
    const mw_token waker_token = (mw_token)UINTPTR_MAX - 9;
    mw_poll *p = poll_new();
    struct mw_event ev[16];
    bool got_fd = false, got_waker = false;
    int others = 0;
    mw_waker *w;
    int pfd[2];
    int64_t end;

    util_pipe(pfd);
    is_errno(mw_poll_register(p, pfd[0], fd_token, MW_READABLE), 0,
             "7 udata: a descriptor registers under a large token");
    is_errno(mw_waker_new(&w, p, waker_token), 0,
             "7 udata: a waker is made under a large token");
    util_write_byte(pfd[1]);
    (void)mw_waker_wake(w);
    end = util_now_ms() + UTIL_LONG_MS;
    while (!(got_fd && got_waker) && util_now_ms() < end) {
        int n = util_wait(p, ev, 16, 100);

        for (int i = 0; i < n; i++) {
            if (ev[i].token == fd_token)
                got_fd = true;
            else if (ev[i].token == waker_token)
                got_waker = true;
            else
                others++;
        }
    }
    ok(got_fd, "7 udata: the descriptor's event carries its token");
    ok(got_waker, "7 udata: the waker's event carries its token");
    is_int(others, 0, "7 udata: no event carries any other token");
    mw_waker_free(w);
    (void)mw_poll_deregister(p, pfd[0]);
    util_close(pfd[0]);
    util_close(pfd[1]);
    mw_poll_free(p);
}

/* ---- 8 long timeout ---------------------------------------------------- */

static void
long_wait_woken(mw_poll *p, mw_waker *w, mw_token token, int timeout_ms,
                const char *what)
{
    struct util_later later = { .w = w, .delay_ms = 50 };
    struct mw_event ev[8];
    pthread_t t;
    int n;

    util_thread_start(&t, util_wake_later, &later);
    do
        n = mw_poll_wait(p, ev, 8, timeout_ms);
    while (n == -EINTR);
    util_thread_join(t);
    ok(n > 0 && util_count_token(ev, n, token, NULL) == 1,
       "8 long timeout: a wait %s is ended by a wake from another thread "
       "(got %s)", what, tap_errno_name(n));
    (void)util_poll_drain(p, token, 4, NULL);
}

static void
case_long_timeout(void)
{
    mw_poll *p = poll_new();
    struct mw_event ev[8];
    mw_waker *w;
    int pfd[2];
    int n;

    util_pipe(pfd);
    util_write_byte(pfd[1]);
    is_errno(mw_poll_register(p, pfd[0], 0x8001, MW_READABLE), 0,
             "8 long timeout: a readable pipe registers");
    n = mw_poll_wait(p, ev, 8, INT_MAX);
    ok(n > 0 && util_count_token(ev, n, 0x8001, NULL) == 1,
       "8 long timeout: a wait of INT_MAX ms returns the ready event "
       "(got %s)", tap_errno_name(n));
    (void)mw_poll_deregister(p, pfd[0]);
    util_close(pfd[0]);
    util_close(pfd[1]);

    if (mw_waker_new(&w, p, 0x8002) < 0)
        bail_out("mw_waker_new");
    long_wait_woken(p, w, 0x8002, -1, "with no limit");
    long_wait_woken(p, w, 0x8002, INT_MAX, "of INT_MAX ms");
    mw_waker_free(w);
    mw_poll_free(p);
}

/* ---- 9 files ----------------------------------------------------------- */

static void
refused_file(mw_poll *p, int kq, int fd, const char *what)
{
    int rc = mw_poll_register(p, fd, 0x9001, MW_READABLE);

    is_errno(rc, -EPERM, "9 files: %s registered READABLE is -EPERM, as "
             "on epoll", what);
    is_int(fake_fd_knotes(kq, fd), 0, "9 files: and no knote of the %s "
           "remains", what);
    if (rc == 0)
        (void)mw_poll_deregister(p, fd);
}

static void
case_files(void)
{
    const char *tmp = getenv("TMPDIR");
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    char path[4096];
    int fd, dir;

    snprintf(path, sizeof(path), "%s/kqueue-os-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        bail_out("mkstemp(%s): %s", path, strerror(errno));
    (void)unlink(path);
    refused_file(p, kq, fd, "regular file");
    util_close(fd);

    dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        bail_out("open(.): %s", strerror(errno));
    refused_file(p, kq, dir, "directory");
    util_close(dir);
    mw_poll_free(p);
}

/* ---- 10 poll fd -------------------------------------------------------- */

static void
case_poll_fd(void)
{
    mw_poll *p = poll_new();
    int fd = mw_poll_fd(p);

    ok(fd >= 0, "10 poll fd: mw_poll_fd() gives a descriptor on %s "
       "(got %s)", prof->name, tap_errno_name(fd));
    if (fd >= 0)
        is_int(util_is_cloexec(fd), 1,
               "10 poll fd: the descriptor is close-on-exec");
    else
        skip(1, "no descriptor");
    mw_poll_free(p);
}

/* ---- 11 wakers --------------------------------------------------------- */

static void
case_wakers(void)
{
    struct util_later later;
    mw_poll *p = poll_new();
    struct mw_event ev[8];
    mw_waker *w, *gone;
    int n, count, fails = 0, hits = 0;
    pthread_t t;
    uint32_t f;

    if (mw_waker_new(&w, p, 0xb001) < 0 || mw_waker_new(&gone, p, 0xb002) < 0)
        bail_out("mw_waker_new");

    (void)mw_waker_wake(w);
    n = util_wait(p, ev, 8, UTIL_LONG_MS);
    count = util_count_token(ev, n > 0 ? n : 0, 0xb001, &f);
    count += util_poll_drain(p, 0xb001, 4, NULL);
    is_int(count, 1, "11 wakers: a wake before the wait gives one event");
    is_int(f, MW_EV_READABLE,
           "11 wakers: its flags are exactly MW_EV_READABLE");

    for (int i = 0; i < 1000; i++)
        if (mw_waker_wake(w) != 0)
            fails++;
    n = util_wait(p, ev, 8, UTIL_LONG_MS);
    count = util_count_token(ev, n > 0 ? n : 0, 0xb001, NULL);
    count += util_poll_drain(p, 0xb001, 4, NULL);
    ok(fails == 0 && count == 1,
       "11 wakers: 1000 wakes merge into one event (%d events, %d failed "
       "wakes)", count, fails);

    later.w = w;
    later.delay_ms = 50;
    util_thread_start(&t, util_wake_later, &later);
    do
        n = mw_poll_wait(p, ev, 8, -1);
    while (n == -EINTR);
    util_thread_join(t);
    ok(n > 0 && util_count_token(ev, n, 0xb001, NULL) == 1,
       "11 wakers: a wake from another thread ends a blocking wait "
       "(got %s)", tap_errno_name(n));

    (void)mw_waker_wake(gone);
    mw_waker_free(gone);
    ok(util_fence(p, w, 0xb001, 0xb002, &hits, NULL) && hits == 0,
       "11 wakers: a waker freed while pending gives no event after "
       "(%d)", hits);
    mw_waker_free(w);
    mw_poll_free(p);
}

/* ---- 12 enoent --------------------------------------------------------- */

static void
case_enoent(void)
{
    mw_poll *p = poll_new();
    int kq = kq_of(p);
    int s1[2], s2[2], s3[2];
    int fd;

    util_socketpair(s1);
    util_socketpair(s2);
    util_socketpair(s3);

    /* Closed while registered, its number then given to another socket:
     * the kernel dropped the knotes at close(), and the library's
     * EV_DELETEs find nothing. */
    fd = s1[0];
    is_errno(mw_poll_register(p, fd, 0xc001, MW_READABLE | MW_WRITABLE), 0,
             "12 enoent: a socket registers READABLE|WRITABLE");
    if (dup2(s2[0], fd) < 0)
        bail_out("dup2: %s", strerror(errno));
    fake_changes_clear();
    is_errno(mw_poll_reregister(p, fd, 0xc001, MW_WRITABLE), 0,
             "12 enoent: after close and reuse of the number, "
             "reregistering WRITABLE succeeds");
    ok(change_seen(fd, F_READ, EV_DELETE, ENOENT),
       "12 enoent: (the EV_DELETE of the read knote found none: ENOENT)");
    ok(fake_knote_exists(kq, (uintptr_t)fd, F_WRITE)
       && !fake_knote_exists(kq, (uintptr_t)fd, F_READ),
       "12 enoent: the new socket is watched for writing alone");
    is_errno(mw_poll_deregister(p, fd), 0,
             "12 enoent: deregistering it succeeds");
    is_int(fake_fd_knotes(kq, fd), 0, "12 enoent: no knote remains");

    is_errno(mw_poll_register(p, fd, 0xc002, MW_READABLE | MW_WRITABLE), 0,
             "12 enoent: the number registers again");
    if (dup2(s3[0], fd) < 0)
        bail_out("dup2: %s", strerror(errno));
    is_errno(mw_poll_deregister(p, fd), 0,
             "12 enoent: deregistering after close and reuse succeeds "
             "though both EV_DELETEs find nothing");

    is_errno(mw_poll_register(p, s2[1], 0xc003, MW_READABLE), 0,
             "12 enoent: another socket registers");
    util_close(s2[1]);
    is_errno(mw_poll_deregister(p, s2[1]), 0,
             "12 enoent: deregistering it once closed succeeds");

    util_close(fd);
    util_close(s1[1]);
    util_close(s2[0]);
    util_close(s3[0]);
    util_close(s3[1]);
    mw_poll_free(p);
}

/* ---- 13 fork ----------------------------------------------------------- */

/* miowake(3): in a child, mw_poll_free() and mw_waker_free() "only close
 * the descriptors the child inherited and free memory".  A kqueue is not
 * inherited, so its number is the child's to reuse: a child that has
 * opened a file under it and then frees its copy of the poll must still
 * have that file.  The child reports with its exit status: 0 when the
 * file survived, 1 when the kqueue's number was still open after the
 * fork, 2 when the free closed the child's file, 3 when the child could
 * not put a file under the number. */
static void
case_fork(void)
{
    mw_poll *p = poll_new();
    mw_waker *w;
    int kq = kq_of(p);
    int status;
    pid_t pid;

    if (mw_waker_new(&w, p, 0xd001) < 0)
        bail_out("mw_waker_new");
    pid = util_fork();
    if (pid == 0) {
        struct stat before, after;
        int fd;

        signal(SIGALRM, SIG_DFL);
        alarm(60);
        if (fcntl(kq, F_GETFD) >= 0)
            util_child_exit(1);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (fd != kq && dup2(fd, kq) < 0))
            util_child_exit(3);
        if (fd != kq)
            close(fd);
        if (fstat(kq, &before) != 0)
            util_child_exit(3);
        mw_waker_free(w);
        mw_poll_free(p);
        if (fstat(kq, &after) != 0 || after.st_dev != before.st_dev
            || after.st_ino != before.st_ino)
            util_child_exit(2);
        util_child_exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
        bail_out("13 fork: the fake kqueue was inherited by fork()");
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "13 fork: a child that reused the number of the kqueue it did not "
       "inherit keeps that file open across mw_waker_free and mw_poll_free "
       "(exit status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    ok(util_fd_is_open(kq), "13 fork: the parent's kqueue is still open");
    (void)mw_waker_wake(w);
    ok(util_wait_token(p, 0xd001, UTIL_LONG_MS, NULL, NULL) == 1,
       "13 fork: and the parent's poll still delivers its waker's event");
    mw_waker_free(w);
    mw_poll_free(p);
}

/* ---- 14 stale+flagless ------------------------------------------------ */

/* The other thread of case 14: what it does once, between the first
 * kevent()'s answer and the library's reading of it -- an instant a
 * thread of the test's own could not hit. */
static struct {
    bool armed;
    mw_poll *p;
    int deregister;         /* this descriptor, when >= 0 */
    int fail;               /* then make the next kevent() fail so */
    bool cancel;            /* then ask to cancel the waiting thread */
    int n;                  /* the count that first kevent() returned */
    int rc;                 /* what mw_poll_deregister() returned */
} other;

static void
other_thread(int kq, int n)
{
    (void)kq;
    if (!other.armed)
        return;
    other.armed = false;
    other.n = n;
    if (other.deregister >= 0)
        other.rc = mw_poll_deregister(other.p, other.deregister);
    if (other.fail != 0)
        fake_fail_next_wait(other.fail);
    if (other.cancel)
        (void)pthread_cancel(pthread_self());
}

static void
other_arm(mw_poll *p, int deregister, int fail)
{
    other.armed = true;
    other.p = p;
    other.deregister = deregister;
    other.fail = fail;
    other.cancel = false;
    other.n = -1;
    other.rc = 1;
}

struct cancelled_wait {
    mw_poll *p;
    int n;                  /* what the wait returned, -1 before */
    mw_token token[2];      /* its events' */
    /* Here, not on the thread's stack: the frame the cancel unwinds must
     * hold no array, or AddressSanitizer finds its redzones still
     * poisoned when the thread exits (t/cancel.c says more). */
    struct mw_event ev[2];
};

/* One timeout-0 wait of capacity 2, then a cancellation point. */
static void *
wait_then_testcancel(void *arg)
{
    struct cancelled_wait *cw = arg;

    cw->n = mw_poll_wait(cw->p, cw->ev, 2, 0);
    for (int i = 0; i < cw->n && i < 2; i++)
        cw->token[i] = cw->ev[i].token;
    pthread_testcancel();
    return NULL;
}

/* A socket with data waiting, registered under token for interest. */
static void
ready_socket(mw_poll *p, int sv[2], mw_token token, unsigned interest)
{
    int rc;

    util_socketpair(sv);
    util_write_byte(sv[1]);
    rc = mw_poll_register(p, sv[0], token, interest);
    if (rc < 0)
        bail_out("14 stale+flagless: register: %s", tap_errno_name(rc));
}

#define RUN_TOKENS 16       /* tokens 0xe000 to 0xe00f */

struct run {
    int last;               /* what the last wait returned */
    int waits;
    int most;               /* the most events one wait returned */
    int seen[RUN_TOKENS];   /* events of each token */
};

/* Wait with a timeout of 0 and a capacity of 2 until a wait returns 0
 * or fails: mw_poll_wait(3)'s way to take everything ready. */
static void
run_zero(mw_poll *p, struct run *r)
{
    /* Room past the capacity, so that a wait that overruns it is seen
     * and harms nothing. */
    struct mw_event ev[8];

    memset(r, 0, sizeof(*r));
    fake_after_wait_hook = other_thread;
    do {
        r->last = mw_poll_wait(p, ev, 2, 0);
        for (int i = 0; i < r->last && i < 8; i++)
            if (ev[i].token >= 0xe000 && ev[i].token < 0xe000 + RUN_TOKENS)
                r->seen[ev[i].token - 0xe000]++;
        if (r->last > r->most)
            r->most = r->last;
    } while (r->last > 0 && ++r->waits < 16);
    fake_after_wait_hook = NULL;
}

/* mw_poll_wait(3): waits with a timeout of 0 until one returns 0 take
 * everything ready, which the nesting of mw_poll_fd(3) depends on.  On
 * macOS the library leaves out what the except filter reports for
 * ordinary data; a kernel batch that is full, with such events and the
 * rest stale, must not end the run while a waker's event waits behind
 * it: to the core, fewer events than it asked for means that nothing
 * else was ready.  Knotes come out of kevent() in the order they became
 * ready, here the order the sockets are registered in, all before the
 * wake. */
static void
case_stale_flagless(void)
{
    int a[2], b[2], d[2];
    struct run r;
    mw_waker *w;
    mw_poll *p;

    if (!prof->except_is_read_filter) {
        skip(8, "14 stale+flagless: %s's EVFILT_EXCEPT %s, so the "
             "library leaves no event out", prof->name,
             prof->has_except ? "fires for urgent data only"
                              : "does not exist");
        return;
    }

    /* The smallest case: one event left out, one stale, then the
     * waker's. */
    p = poll_new();
    ready_socket(p, a, 0xe001, MW_PRIORITY);
    ready_socket(p, b, 0xe002, MW_READABLE);
    if (mw_waker_new(&w, p, 0xe00f) < 0 || mw_waker_wake(w) < 0)
        bail_out("14 stale+flagless: a woken waker");
    other_arm(p, b[0], 0);
    run_zero(p, &r);
    ok(other.n == 2 && other.rc == 0,
       "14 stale+flagless: (the first kevent() returned a full batch, %d "
       "events, and the READABLE socket was deregistered then: %s)",
       other.n, tap_errno_name(other.rc));
    ok(r.seen[0xf] == 1,
       "14 stale+flagless: a run of timeout-0 waits at capacity 2 "
       "delivers the woken waker's token (the run ended with %s after "
       "%d waits that returned events)", tap_errno_name(r.last), r.waits);
    mw_waker_free(w);
    mw_poll_free(p);
    util_close(a[0]);
    util_close(a[1]);
    util_close(b[0]);
    util_close(b[1]);

    /* In kernel order, with capacity 2: the first wait's batch leaves
     * out one event and finds one stale; its room refilled, an event
     * left out again, and refilled again, a live one.  The second
     * wait's batch leaves out one; its room refilled, a live one, with
     * another behind that must wait for the third wait, with the
     * waker's. */
    {
        static const unsigned interest[8] = {
            MW_PRIORITY, MW_READABLE, MW_PRIORITY, MW_READABLE,
            MW_PRIORITY, MW_READABLE, MW_READABLE, MW_READABLE,
        };
        static const bool live[8] = {
            false, false, false, true, false, true, true, true,
        };
        int sv[8][2];
        bool each = true;

        p = poll_new();
        for (int k = 0; k < 8; k++)
            ready_socket(p, sv[k], (mw_token)(0xe001 + k), interest[k]);
        if (mw_waker_new(&w, p, 0xe00f) < 0 || mw_waker_wake(w) < 0)
            bail_out("14 stale+flagless: a woken waker");
        other_arm(p, sv[1][0], 0);
        run_zero(p, &r);
        for (int k = 0; k < 8; k++)
            each = each && r.seen[1 + k] == (live[k] ? 1 : 0);
        ok(r.most <= 2, "14 stale+flagless: no wait of capacity 2 "
           "returns more, though the room of events left out is "
           "refilled (got %d)", r.most);
        ok(each && r.seen[0xf] == 1,
           "14 stale+flagless: with three events left out and one stale "
           "among four live ones and the waker's, the run delivers each "
           "live one and the waker's once (%d %d %d %d, waker %d; the "
           "run ended with %s after %d waits)", r.seen[4], r.seen[6],
           r.seen[7], r.seen[8], r.seen[0xf], tap_errno_name(r.last),
           r.waits);
        mw_waker_free(w);
        mw_poll_free(p);
        for (int k = 0; k < 8; k++) {
            util_close(sv[k][0]);
            util_close(sv[k][1]);
        }
    }

    /* The kernel consumed what it reported (EV_CLEAR): an error while
     * refilling must not lose an event already taken. */
    p = poll_new();
    ready_socket(p, a, 0xe001, MW_PRIORITY);
    ready_socket(p, d, 0xe004, MW_READABLE);
    other_arm(p, -1, ENOMEM);
    run_zero(p, &r);
    fake_fail_next_wait(0);
    ok(r.seen[4] == 1,
       "14 stale+flagless: a kevent() that fails while refilling the "
       "room of an event left out does not lose the event taken before "
       "it (seen %d times; the run ended with %s)", r.seen[4],
       tap_errno_name(r.last));
    (void)mw_poll_deregister(p, a[0]);
    (void)mw_poll_deregister(p, d[0]);
    mw_poll_free(p);
    util_close(a[0]);
    util_close(a[1]);
    util_close(d[0]);
    util_close(d[1]);

    /* Nor may a cancellation there: the thread is cancelled at its next
     * cancellation point instead, with the events in hand.  Two refills,
     * so that the second does not take the first's cancellation state
     * for the caller's. */
    {
        struct cancelled_wait cw = { .n = -1 };
        int c[2], e[2];
        void *res = NULL;
        pthread_t t;

        p = poll_new();
        ready_socket(p, a, 0xe001, MW_PRIORITY);
        ready_socket(p, d, 0xe004, MW_READABLE);
        ready_socket(p, c, 0xe003, MW_PRIORITY);
        ready_socket(p, e, 0xe005, MW_READABLE);
        other_arm(p, -1, 0);
        other.cancel = true;
        cw.p = p;
        fake_after_wait_hook = other_thread;
        util_thread_start(&t, wait_then_testcancel, &cw);
        if (pthread_join(t, &res) != 0)
            bail_out("pthread_join");
        fake_after_wait_hook = NULL;
        ok(res == PTHREAD_CANCELED && cw.n == 2 && cw.token[0] == 0xe004
           && cw.token[1] == 0xe005,
           "14 stale+flagless: a thread whose cancellation is asked for "
           "while the room of events left out is refilled returns the "
           "events taken, and is cancelled after (%s, returned %s)",
           res == PTHREAD_CANCELED ? "cancelled" : "not cancelled",
           tap_errno_name(cw.n));
        mw_poll_free(p);
        util_close(c[0]);
        util_close(c[1]);
        util_close(e[0]);
        util_close(e[1]);
        util_close(a[0]);
        util_close(a[1]);
        util_close(d[0]);
        util_close(d[1]);
    }

    /* A wait with no timeout, or a long one, blocks for its first batch
     * only: a refill takes what is ready by then. */
    for (int k = 0; k < 2; k++) {
        int timeout = k == 0 ? -1 : 2900;
        struct mw_event ev[2];
        int64_t t0, ms;
        int n;

        p = poll_new();
        ready_socket(p, a, 0xe001, MW_PRIORITY);
        ready_socket(p, d, 0xe004, MW_READABLE);
        t0 = util_now_ms();
        n = mw_poll_wait(p, ev, 2, timeout);
        ms = util_now_ms() - t0;
        /* 2900 ms: a refill that waited would wait its seconds or its
         * 900 ms, either well past 800. */
        ok(n == 1 && ev[0].token == 0xe004 && ms < 800,
           "14 stale+flagless: a wait %s whose batch left an event out "
           "returns the other at once, nothing else being ready (returned "
           "%s after %lld ms)", k == 0 ? "with no timeout"
                                       : "of 2900 ms",
           tap_errno_name(n), (long long)ms);
        mw_poll_free(p);
        util_close(a[0]);
        util_close(a[1]);
        util_close(d[0]);
        util_close(d[1]);
    }
}

int
main(void)
{
    tap_watchdog(60);
    signal(SIGPIPE, SIG_IGN);
    prof = fake_profile();
    diag("%s on a simulated %s kqueue", mw_backend(), prof->name);

    case_setup();
    case_translation();
    case_interest();
    case_priority_tcp();
    case_priority_pipe();
    case_widowed_pipe();
    case_waker_fallback();
    case_udata();
    case_long_timeout();
    case_files();
    case_poll_fd();
    case_wakers();
    case_enoent();
    case_fork();
    case_stale_flagless();
    return done_testing();
}

#endif /* __linux__ */
