/* SPDX-License-Identifier: MIT */
/*
 * Promise: a registered descriptor is reported with its token and the
 * readiness its interest asks for: READABLE on pipes and sockets with
 * data, WRITABLE on a pipe's write end and on sockets, PRIORITY on a TCP
 * socket with out-of-band data, READ_CLOSED when the peer closes or
 * shuts down writing, also with data left unread.
 * mw_poll_reregister changes the token and the interest; after
 * mw_poll_deregister the descriptor is not reported.
 *
 * Readiness may be edge- or level-triggered: every test drains until
 * EAGAIN and never counts on a second event, nor on its absence.  "Never
 * reported" is checked with a fence: a waker woken after the descriptor
 * changed state; once its event is in, everything the descriptor could
 * have produced is too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_FENCE 1
#define T_PIPE_R 10
#define T_PIPE_W 11
#define T_SOCK 12
#define T_NEW 13
#define T_CLOSE_PIPE 14
#define T_CLOSE_SOCK 15
#define T_TCP 16
#define T_DEREG 17
#define T_ONLYREAD 18
#define T_SHUT_SOCK 19

static mw_poll *p;
static mw_waker *fence_waker;

/* Wake the fence and collect until its event is in, then once more with
 * timeout 0.  Returns how many events carried `watch` (their flags ORed
 * into *flags, if not NULL), or -1 if the fence never came back; events
 * that carried `other` are counted into *n_other (if not NULL). */
static int
fence2(mw_token watch, uint32_t *flags, mw_token other, int *n_other)
{
    struct mw_event ev[64];
    int count = 0, n;
    uint32_t f;
    bool fenced = false, last = false;
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    if (flags != NULL)
        *flags = 0;
    if (n_other != NULL)
        *n_other = 0;
    if (mw_waker_wake(fence_waker) != 0)
        return -1;
    /* Until the fence is in; then one more wait with timeout 0. */
    while (!last) {
        last = fenced;
        if (!fenced && util_now_ms() >= end)
            return -1;
        n = mw_poll_wait(p, ev, 64, fenced ? 0 : UTIL_LONG_MS);
        if (n == -EINTR) {
            last = false;
            continue;
        }
        if (n < 0)
            return -1;
        fenced |= util_count_token(ev, n, T_FENCE, NULL) > 0;
        count += util_count_token(ev, n, watch, &f);
        if (flags != NULL)
            *flags |= f;
        if (n_other != NULL)
            *n_other += util_count_token(ev, n, other, NULL);
    }
    return count;
}

static int
fence(mw_token watch, uint32_t *flags)
{
    return fence2(watch, flags, T_FENCE, NULL);
}

/* Wait for `token`; ok() it and its flag; returns the flags seen. */
static uint32_t
expect(mw_token token, uint32_t flag, const char *what)
{
    uint32_t flags = 0;
    int r = util_wait_token(p, token, UTIL_LONG_MS, &flags, NULL);

    ok(r == 1 && (flags & flag), "%s", what);
    if (r != 1)
        diag("token %ju not reported (rc %s)", (uintmax_t)token,
             tap_errno_name(r));
    else if (!(flags & flag))
        diag("token %ju reported with flags %s", (uintmax_t)token,
             util_flags_str(flags));
    return r == 1 ? flags : 0;
}

/* Fill a non-blocking descriptor until EAGAIN: bytes written. */
static long
fill(int fd)
{
    static char buf[65536];
    long total = 0;
    ssize_t r;

    for (;;) {
        r = write(fd, buf, sizeof buf);
        if (r > 0)
            total += r;
        else if (r < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    return total;
}

static void
pipe_readable_writable(void)
{
    int fds[2];
    uint32_t flags;

    util_pipe(fds);
    is_errno(mw_poll_register(p, fds[0], T_PIPE_R, MW_READABLE), 0,
             "registering a pipe's read end for READABLE succeeds");
    is_int(fence(T_PIPE_R, NULL), 0,
           "an empty pipe's read end is not reported");
    util_write_byte(fds[1]);
    flags = expect(T_PIPE_R, MW_EV_READABLE, "a write makes the pipe's "
                   "read end reported MW_EV_READABLE with its token");
    ok(!(flags & (MW_EV_READ_CLOSED | MW_EV_ERROR)), "a pipe whose writer "
       "is open is not reported closed or in error (%s)",
       util_flags_str(flags));
    is_int(util_drain(fds[0]), 1, "the byte can be read");
    util_write_byte(fds[1]);
    util_write_byte(fds[1]);
    expect(T_PIPE_R, MW_EV_READABLE, "after a drain until EAGAIN, a new "
           "write is reported MW_EV_READABLE again");
    is_int(util_drain(fds[0]), 2, "both bytes can be read");

    is_errno(mw_poll_register(p, fds[1], T_PIPE_W, MW_WRITABLE), 0,
             "registering a pipe's write end for WRITABLE succeeds");
    expect(T_PIPE_W, MW_EV_WRITABLE, "an empty pipe's write end is "
           "reported MW_EV_WRITABLE with its token");
    ok(fill(fds[1]) > 0, "the pipe can be filled until EAGAIN");
    fence(T_PIPE_W, NULL);      /* whatever was pending before it filled */
    {
        int n = fence(T_PIPE_W, &flags);

        ok(n == 0 || !(flags & MW_EV_WRITABLE), "a full pipe's write end "
           "is not reported MW_EV_WRITABLE");
    }
    fence(T_PIPE_R, NULL);
    ok(util_drain(fds[0]) > 0, "the reader drains the full pipe");
    expect(T_PIPE_W, MW_EV_WRITABLE, "once drained, the write end is "
           "reported MW_EV_WRITABLE again");

    mw_poll_deregister(p, fds[0]);
    mw_poll_deregister(p, fds[1]);
    util_close(fds[0]);
    util_close(fds[1]);
}

static void
socketpair_both(void)
{
    int sv[2];
    uint32_t flags;
    char buf[16];

    util_socketpair(sv);
    is_errno(mw_poll_register(p, sv[0], T_SOCK, MW_READABLE | MW_WRITABLE),
             0, "registering a socket for READABLE|WRITABLE succeeds");
    flags = expect(T_SOCK, MW_EV_WRITABLE, "a fresh socket registered for "
                   "READABLE|WRITABLE is reported MW_EV_WRITABLE");
    ok(!(flags & MW_EV_READABLE), "with no data it is not reported "
       "MW_EV_READABLE (%s)", util_flags_str(flags));
    fence(T_SOCK, NULL);
    if (write(sv[1], "hello", 5) != 5)
        bail_out("write to socketpair failed");
    expect(T_SOCK, MW_EV_READABLE, "data from the peer makes the socket "
           "reported MW_EV_READABLE");
    is_int(util_drain(sv[0]), 5, "the data can be read");

    /* Interest changes: READABLE only, then WRITABLE only. */
    fence(T_SOCK, NULL);
    is_errno(mw_poll_reregister(p, sv[0], T_ONLYREAD, MW_READABLE), 0,
             "reregistering the socket for READABLE only succeeds");
    {
        int n_old;
        int n_new = fence2(T_ONLYREAD, &flags, T_SOCK, &n_old);

        ok(n_old == 0 && (n_new == 0 || !(flags & MW_EV_WRITABLE)),
           "a writable socket reregistered for READABLE only is not "
           "reported writable, nor with its old token");
    }
    if (write(sv[1], "x", 1) != 1)
        bail_out("write to socketpair failed");
    flags = expect(T_ONLYREAD, MW_EV_READABLE, "then data makes it "
                   "reported MW_EV_READABLE with the new token");
    ok(!(flags & MW_EV_WRITABLE), "without WRITABLE interest the event "
       "has no MW_EV_WRITABLE (%s)", util_flags_str(flags));
    is_errno(mw_poll_reregister(p, sv[0], T_SOCK, MW_WRITABLE), 0,
             "reregistering it for WRITABLE only succeeds");
    flags = expect(T_SOCK, MW_EV_WRITABLE, "after reregistering for "
                   "WRITABLE, the socket is reported MW_EV_WRITABLE");
    ok(!(flags & MW_EV_READABLE), "without READABLE interest the event "
       "has no MW_EV_READABLE even though data waits (%s)",
       util_flags_str(flags));
    if (read(sv[0], buf, sizeof buf) != 1)
        bail_out("read from socketpair failed");

    mw_poll_deregister(p, sv[0]);
    util_close(sv[0]);
    util_close(sv[1]);
}

static void
reregister_token(void)
{
    int fds[2];
    int n_old, n_new;
    uint32_t flags;

    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_PIPE_R, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    is_errno(mw_poll_reregister(p, fds[0], T_NEW, MW_READABLE), 0,
             "reregistering with a new token succeeds");
    util_write_byte(fds[1]);
    n_new = fence2(T_NEW, &flags, T_PIPE_R, &n_old);
    ok(n_new >= 1 && (flags & MW_EV_READABLE), "after reregistering, "
       "readiness is reported with the new token");
    is_int(n_old, 0, "the old token is not reported after "
           "mw_poll_reregister");
    util_drain(fds[0]);
    util_write_byte(fds[1]);
    n_new = fence2(T_NEW, &flags, T_PIPE_R, &n_old);
    ok(n_new >= 1 && n_old == 0, "a second write is reported with the new "
       "token again, never the old one");
    util_drain(fds[0]);

    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
}

static void
deregister_stops(void)
{
    int fds[2];

    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_DEREG, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    util_write_byte(fds[1]);
    expect(T_DEREG, MW_EV_READABLE, "a registered pipe is reported "
           "before mw_poll_deregister");
    fence(T_DEREG, NULL);
    is_errno(mw_poll_deregister(p, fds[0]), 0, "mw_poll_deregister "
             "succeeds");
    util_write_byte(fds[1]);
    is_int(fence(T_DEREG, NULL), 0, "after mw_poll_deregister, a pipe "
           "with data (and more written) is never reported");
    util_close(fds[1]);
    is_int(fence(T_DEREG, NULL), 0, "nor when its writer closes");
    util_close(fds[0]);
}

static void
peer_closes(void)
{
    int fds[2], sv[2];
    uint32_t flags;

    /* Pipe, no data: the writer goes away. */
    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_CLOSE_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    fence(T_CLOSE_PIPE, NULL);
    util_close(fds[1]);
    flags = expect(T_CLOSE_PIPE, MW_EV_READ_CLOSED, "closing a pipe's "
                   "writer reports MW_EV_READ_CLOSED on the read end");
    diag("pipe, writer closed: %s", util_flags_str(flags));
    is_int(util_drain(fds[0]), -1, "the read end then reads end-of-file");
    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);

    /* Pipe with data, then the writer goes away before the wait. */
    util_pipe(fds);
    if (mw_poll_register(p, fds[0], T_CLOSE_PIPE, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    util_write_byte(fds[1]);
    util_close(fds[1]);
    {
        int n = fence(T_CLOSE_PIPE, &flags);

        ok(n >= 1 && (flags & MW_EV_READ_CLOSED), "data then close before "
           "a wait: MW_EV_READ_CLOSED is reported (%s)",
           util_flags_str(flags));
    }
    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);

    /* Socketpair: the peer closes. */
    util_socketpair(sv);
    if (mw_poll_register(p, sv[0], T_CLOSE_SOCK, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    fence(T_CLOSE_SOCK, NULL);
    util_close(sv[1]);
    flags = expect(T_CLOSE_SOCK, MW_EV_READ_CLOSED, "closing a socket's "
                   "peer reports MW_EV_READ_CLOSED");
    diag("socketpair, peer closed: %s", util_flags_str(flags));
    is_int(util_drain(sv[0]), -1, "the socket then reads end-of-file");
    mw_poll_deregister(p, sv[0]);
    util_close(sv[0]);
}

/* mw_poll_wait(3), End of file: a peer that "shuts down writing" gives
 * MW_EV_READ_CLOSED, and mw_poll_register(3) says so "even while unread
 * data remains" -- the case where a reader that waits for READABLE alone
 * would drain the data and then never learn the stream has ended until
 * it reads again.  The data and the shutdown both come before the wait,
 * so that whatever the backend coalesces, one wait sees both. */
static void
peer_shuts_down_with_data_unread(void)
{
    int sv[2];
    uint32_t flags;
    int n;

    util_socketpair(sv);
    if (mw_poll_register(p, sv[0], T_SHUT_SOCK, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    fence(T_SHUT_SOCK, NULL);
    if (write(sv[1], "tail", 4) != 4)
        bail_out("write to socketpair failed");
    if (shutdown(sv[1], SHUT_WR) != 0)
        bail_out("shutdown: %s", strerror(errno));
    n = fence(T_SHUT_SOCK, &flags);
    ok(n >= 1 && (flags & MW_EV_READ_CLOSED) && (flags & MW_EV_READABLE),
       "a socket whose peer wrote data and then shut down writing, the "
       "data unread, is reported MW_EV_READABLE|MW_EV_READ_CLOSED (got %s "
       "in %d event(s))", util_flags_str(flags), n);
    is_int(util_drain(sv[0]), -1, "the data, then end-of-file, can be "
           "read");
    mw_poll_deregister(p, sv[0]);
    util_close(sv[0]);
    util_close(sv[1]);
}

/* A connected TCP pair on 127.0.0.1; false if the system will not. */
static bool
tcp_pair(int *client, int *server)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int lfd, c = -1, s = -1;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        return false;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0
        || listen(lfd, 1) != 0
        || getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        goto fail;
    c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto fail;
    s = accept(lfd, NULL, NULL);
    if (s < 0)
        goto fail;
    close(lfd);
    if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) != 0
        || fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) != 0) {
        close(c);
        close(s);
        return false;
    }
    *client = c;
    *server = s;
    return true;
fail:
    diag("TCP loopback setup failed: %s", strerror(errno));
    if (c >= 0)
        close(c);
    close(lfd);
    return false;
}

static void
priority_oob(void)
{
    int c, s, r;
    char b;
    uint32_t flags;

    if (!tcp_pair(&c, &s)) {
        skip(3, "no TCP loopback socket pair on 127.0.0.1");
        return;
    }
    r = mw_poll_register(p, s, T_TCP, MW_PRIORITY);
    if (r == -ENOTSUP && util_caps()->priority_may_be_unsupported) {
        /* mw_poll_register(3): a kqueue without EVFILT_EXCEPT has no
         * urgent-data filter. */
        skip(3, "MW_PRIORITY is -ENOTSUP on this kqueue (no "
             "EVFILT_EXCEPT)");
        close(c);
        close(s);
        return;
    }
    is_errno(r, 0, "registering a TCP socket for PRIORITY succeeds");
    fence(T_TCP, NULL);
    if (send(c, "!", 1, MSG_OOB) != 1)
        bail_out("send(MSG_OOB): %s", strerror(errno));
    flags = expect(T_TCP, MW_EV_PRIORITY, "out-of-band data on a TCP "
                   "socket is reported MW_EV_PRIORITY");
    diag("TCP out-of-band data: %s", util_flags_str(flags));
    ok(recv(s, &b, 1, MSG_OOB) == 1 && b == '!', "the urgent byte can be "
       "read with MSG_OOB");
    mw_poll_deregister(p, s);
    close(c);
    close(s);
}

int
main(void)
{
    tap_watchdog(60);

    if (mw_poll_new(&p) != 0 || mw_waker_new(&fence_waker, p, T_FENCE) != 0)
        bail_out("cannot create a poll and a waker");
    diag("backend %s", mw_backend());

    pipe_readable_writable();
    socketpair_both();
    reregister_token();
    deregister_stops();
    peer_closes();
    peer_shuts_down_with_data_unread();
    priority_oob();

    mw_waker_free(fence_waker);
    mw_poll_free(p);
    return done_testing();
}
