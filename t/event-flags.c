/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), Event flags; mw_poll_register(3) and
 * mw_poll_wait(3), NOTES): the exact flags each poller reports when one
 * side of a pipe or a socket goes away.  Each case registers a fresh
 * descriptor, collects what is ready at first (the write end's room),
 * then makes the situation and ORs the flags of every event for the
 * descriptor that comes before a fence waker's event: kqueue reports
 * reading and writing in separate events, each with part of the flags.
 * 0 in the table means no event at all.
 *
 * The table is keyed by the call that reports the events (t/lib/caps.h; and,
 * for kevent, by whether libkqueue emulates it), and is exact: a change
 * of the mapping in lib/poller-*.c fails here, so the pages and this
 * table are to be changed together.
 *
 *   - epoll and poll(2) agree everywhere.  A hang-up (EPOLLHUP, POLLHUP:
 *     both directions gone) sets MW_EV_READ_CLOSED and
 *     MW_EV_WRITE_CLOSED whatever the interest, as in mio; so a pipe's
 *     read end at end-of-file has both, and MW_EV_READABLE only while
 *     data is left.  A pipe's write end without a reader is POLLERR:
 *     MW_EV_ERROR with MW_EV_WRITE_CLOSED.  A peer's shutdown of its
 *     writing side is MW_EV_READ_CLOSED alone (EPOLLRDHUP, POLLRDHUP, with
 *     read interest only), and the caller's own shutdown(SHUT_WR) is no
 *     hang-up: Linux reports it writable, with no _CLOSED flag.
 *   - kqueue has a filter per direction, so a flag comes only from the
 *     filter asked for: EV_EOF on the read filter is
 *     MW_EV_READABLE|MW_EV_READ_CLOSED, on the write filter
 *     MW_EV_WRITABLE|MW_EV_WRITE_CLOSED, and a non-zero fflags (the
 *     socket's error) adds MW_EV_ERROR.  The "kqueue" column is what a
 *     BSD kernel gives, read from lib/poller-kqueue.c and the kernels'
 *     filters (filt_piperead, filt_pipewrite, filt_soread,
 *     filt_sowrite); it is not run here.  The "libkqueue" column is what
 *     the emulation on Linux gives, run here; it differs from a kernel in
 *     three places, each marked LKQ below:
 *       . a pipe's write end without a reader: libkqueue turns EPOLLERR
 *         into EV_EOF with fflags EIO, so MW_EV_ERROR comes too, where a
 *         kernel's filt_pipewrite sets EV_EOF with fflags 0;
 *       . the caller's own shutdown(SHUT_WR): libkqueue sees only what
 *         epoll sees (writable), where a kernel's socantsendmore() ends
 *         the write filter with EV_EOF;
 *       . a peer's shutdown(SHUT_WR), with write interest: epoll reports
 *         the socket writable again and libkqueue passes it on, where a
 *         kernel's write filter, not woken, reports nothing new.
 *
 * Without a loopback interface the TCP cases skip.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_FD ((mw_token)0xF1)
#define T_FENCE ((mw_token)0xFE)

#define R  MW_EV_READABLE
#define W  MW_EV_WRITABLE
#define E  MW_EV_ERROR
#define RC MW_EV_READ_CLOSED
#define WC MW_EV_WRITE_CLOSED

enum column { EPOLL, POLL, KQUEUE, LIBKQUEUE, NCOLUMNS };

static const char *const column_name[NCOLUMNS] = {
    "epoll", "poll", "kqueue", "libkqueue"
};

enum situation {
    PIPE_READER_EOF,            /* read end; the writer closes */
    PIPE_READER_EOF_DATA,       /* the same, a byte left unread */
    PIPE_WRITER_NO_READER,      /* write end; the reader closes */
    SOCK_PEER_SHUT_WR,
    SOCK_PEER_CLOSE,
    SOCK_OWN_SHUT_WR,
    SOCK_OWN_SHUT_RDWR,
    TCP_PEER_CLOSE,             /* the peer closes: a FIN */
    TCP_PEER_RESET,             /* the peer closes with SO_LINGER 0 */
};

static const char *const situation_name[] = {
    [PIPE_READER_EOF] = "pipe read end, writer closed, nothing unread",
    [PIPE_READER_EOF_DATA] = "pipe read end, writer closed, data unread",
    [PIPE_WRITER_NO_READER] = "pipe write end, reader closed",
    [SOCK_PEER_SHUT_WR] = "socketpair, peer shutdown(SHUT_WR)",
    [SOCK_PEER_CLOSE] = "socketpair, peer closed",
    [SOCK_OWN_SHUT_WR] = "socketpair, own shutdown(SHUT_WR)",
    [SOCK_OWN_SHUT_RDWR] = "socketpair, own shutdown(SHUT_RDWR)",
    [TCP_PEER_CLOSE] = "TCP, peer closed (FIN)",
    [TCP_PEER_RESET] = "TCP, reset by the peer",
};

static const struct expectation {
    enum situation what;
    unsigned interest;
    uint32_t flags[NCOLUMNS];
} table[] = {
    /*                                       epoll        poll
     *                                       kqueue       libkqueue */
    { PIPE_READER_EOF, MW_READABLE,
      { RC | WC, RC | WC,
        R | RC, R | RC } },
    { PIPE_READER_EOF_DATA, MW_READABLE,
      { R | RC | WC, R | RC | WC,
        R | RC, R | RC } },
    { PIPE_WRITER_NO_READER, MW_WRITABLE,
      { W | E | WC, W | E | WC,
        W | WC, W | E | WC /* LKQ: fflags EIO */ } },

    { SOCK_PEER_SHUT_WR, MW_READABLE,
      { R | RC, R | RC,
        R | RC, R | RC } },
    { SOCK_PEER_SHUT_WR, MW_WRITABLE,
      { W, W,
        0, W /* LKQ: epoll's new edge */ } },
    { SOCK_PEER_SHUT_WR, MW_READABLE | MW_WRITABLE,
      { R | W | RC, R | W | RC,
        R | RC, R | W | RC /* LKQ: epoll's new edge */ } },

    { SOCK_PEER_CLOSE, MW_READABLE,
      { R | RC | WC, R | RC | WC,
        R | RC, R | RC } },
    { SOCK_PEER_CLOSE, MW_WRITABLE,
      { W | RC | WC, W | RC | WC,
        W | WC, W | WC } },
    { SOCK_PEER_CLOSE, MW_READABLE | MW_WRITABLE,
      { R | W | RC | WC, R | W | RC | WC,
        R | W | RC | WC, R | W | RC | WC } },

    { SOCK_OWN_SHUT_WR, MW_READABLE,
      { 0, 0,
        0, 0 } },
    { SOCK_OWN_SHUT_WR, MW_WRITABLE,
      { W, W,
        W | WC, W /* LKQ: no EV_EOF */ } },
    { SOCK_OWN_SHUT_WR, MW_READABLE | MW_WRITABLE,
      { W, W,
        W | WC, W /* LKQ: no EV_EOF */ } },

    { SOCK_OWN_SHUT_RDWR, MW_READABLE,
      { R | RC | WC, R | RC | WC,
        R | RC, R | RC } },
    { SOCK_OWN_SHUT_RDWR, MW_WRITABLE,
      { W | RC | WC, W | RC | WC,
        W | WC, W | WC } },
    { SOCK_OWN_SHUT_RDWR, MW_READABLE | MW_WRITABLE,
      { R | W | RC | WC, R | W | RC | WC,
        R | W | RC | WC, R | W | RC | WC } },

    /* A TCP peer's close is a shutdown of its writing side, not a
     * hang-up as a socket pair's is: no MW_EV_WRITE_CLOSED. */
    { TCP_PEER_CLOSE, MW_READABLE,
      { R | RC, R | RC,
        R | RC, R | RC } },
    { TCP_PEER_CLOSE, MW_WRITABLE,
      { W, W,
        0, W /* LKQ: epoll's new edge */ } },
    { TCP_PEER_CLOSE, MW_READABLE | MW_WRITABLE,
      { R | W | RC, R | W | RC,
        R | RC, R | W | RC /* LKQ: epoll's new edge */ } },

    { TCP_PEER_RESET, MW_READABLE,
      { R | E | RC | WC, R | E | RC | WC,
        R | E | RC, R | E | RC } },
    { TCP_PEER_RESET, MW_WRITABLE,
      { W | E | RC | WC, W | E | RC | WC,
        W | E | WC, W | E | WC } },
    { TCP_PEER_RESET, MW_READABLE | MW_WRITABLE,
      { R | W | E | RC | WC, R | W | E | RC | WC,
        R | W | E | RC | WC, R | W | E | RC | WC } },
};
#define NCASES ((int)(sizeof(table) / sizeof(table[0])))

static mw_poll *the_poll;
static mw_waker *the_fence;

static enum column
this_column(void)
{
    /* The column is the call that reports the events. */
    switch (util_caps()->wait_call) {
    case UTIL_WAIT_EPOLL_WAIT:
        return EPOLL;
    case UTIL_WAIT_POLL:
        return POLL;
    case UTIL_WAIT_KEVENT:
        return util_caps()->emulated ? LIBKQUEUE : KQUEUE;
    }
    bail_out("no column for the poller of %s", mw_backend());
}

static const char *
interest_name(unsigned interest)
{
    switch (interest) {
    case MW_READABLE:
        return "MW_READABLE";
    case MW_WRITABLE:
        return "MW_WRITABLE";
    default:
        return "MW_READABLE|MW_WRITABLE";
    }
}

/* Wake the fence and collect events until its event comes: the OR of the
 * flags of every event for T_FD on the way. */
static uint32_t
collect_to_fence(void)
{
    struct mw_event ev[8];
    uint32_t flags = 0;
    int64_t end = util_now_ms() + UTIL_LONG_MS;
    bool fenced = false;
    int rc = mw_waker_wake(the_fence);

    if (rc < 0)
        bail_out("mw_waker_wake: %s", strerror(-rc));
    while (!fenced) {
        int64_t left = end - util_now_ms();
        int n;

        if (left <= 0)
            bail_out("the fence's wake never came");
        n = util_wait(the_poll, ev, 8, (int)left);
        if (n < 0)
            bail_out("mw_poll_wait: %s", strerror(-n));
        for (int i = 0; i < n; i++) {
            if (ev[i].token == T_FD)
                flags |= ev[i].flags;
            else if (ev[i].token == T_FENCE)
                fenced = true;
        }
    }
    return flags;
}

/* What fd reports after act() has made the situation: first what was
 * ready before (collected and dropped), then, when an event is expected,
 * the first one, for as long as it takes, then the rest up to the
 * fence. */
static uint32_t
flags_after(int fd, unsigned interest, bool expect_event,
            void (*act)(void *), void *arg)
{
    uint32_t flags = 0;
    int rc = mw_poll_register(the_poll, fd, T_FD, interest);

    if (rc != 0)
        bail_out("mw_poll_register: %s", strerror(-rc));
    (void)collect_to_fence();
    act(arg);
    if (expect_event) {
        rc = util_wait_token(the_poll, T_FD, UTIL_LONG_MS, &flags, NULL);
        if (rc < 0)
            bail_out("mw_poll_wait: %s", strerror(-rc));
    }
    flags |= collect_to_fence();
    rc = mw_poll_deregister(the_poll, fd);
    if (rc != 0)
        bail_out("mw_poll_deregister: %s", strerror(-rc));
    return flags;
}

static void
check(const struct expectation *x, uint32_t got)
{
    enum column c = this_column();
    uint32_t want = x->flags[c];
    char gots[128], wants[128];

    snprintf(gots, sizeof(gots), "%s", got ? util_flags_str(got)
                                           : "no event");
    snprintf(wants, sizeof(wants), "%s", want ? util_flags_str(want)
                                              : "no event");
    if (!ok(got == want, "%s: %s, %s: %s", column_name[c],
            situation_name[x->what], interest_name(x->interest), wants))
        diag("got %s (%#x), expected %s (%#x)", gots, (unsigned)got,
             wants, (unsigned)want);
}

/* ---- the situations ---- */

struct pair {
    int fds[2];
    bool data;
};

static void
close_writer(void *arg)
{
    struct pair *p = arg;

    if (p->data)
        util_write_byte(p->fds[1]);
    util_close(p->fds[1]);
    p->fds[1] = -1;
}

static void
close_reader(void *arg)
{
    struct pair *p = arg;

    util_close(p->fds[0]);
    p->fds[0] = -1;
}

static void
close_pair(struct pair *p)
{
    for (int i = 0; i < 2; i++)
        if (p->fds[i] >= 0)
            util_close(p->fds[i]);
}

static void
pipe_case(const struct expectation *x)
{
    struct pair p = { .data = x->what == PIPE_READER_EOF_DATA };
    bool expect = x->flags[this_column()] != 0;
    uint32_t got;

    util_pipe(p.fds);
    if (x->what == PIPE_WRITER_NO_READER)
        /* Registered before the reader closes: a kqueue on FreeBSD,
         * NetBSD and DragonFly refuses to add the write filter once it
         * has (-EPIPE, mw_poll_register(3)). */
        got = flags_after(p.fds[1], x->interest, expect, close_reader, &p);
    else
        got = flags_after(p.fds[0], x->interest, expect, close_writer, &p);
    check(x, got);
    close_pair(&p);
}

struct sock_case {
    struct pair pair;
    enum situation what;
};

static void
sock_do(void *arg)
{
    struct sock_case *s = arg;
    int rc = 0;

    switch (s->what) {
    case SOCK_PEER_SHUT_WR:
        rc = shutdown(s->pair.fds[1], SHUT_WR);
        break;
    case SOCK_PEER_CLOSE:
        util_close(s->pair.fds[1]);
        s->pair.fds[1] = -1;
        break;
    case SOCK_OWN_SHUT_WR:
        rc = shutdown(s->pair.fds[0], SHUT_WR);
        break;
    case SOCK_OWN_SHUT_RDWR:
        rc = shutdown(s->pair.fds[0], SHUT_RDWR);
        break;
    default:
        bail_out("not a socketpair situation");
    }
    if (rc < 0)
        bail_out("shutdown: %s", strerror(errno));
}

static void
sock_case(const struct expectation *x)
{
    struct sock_case s = { .what = x->what };
    uint32_t got;

    util_socketpair(s.pair.fds);
    got = flags_after(s.pair.fds[0], x->interest,
                      x->flags[this_column()] != 0, sock_do, &s);
    check(x, got);
    close_pair(&s.pair);
}

/* ---- TCP over loopback ---- */

/* Why 127.0.0.1 cannot be used, from the errno of a bind or connect;
 * NULL for an errno that means something else. */
static const char *
no_loopback(int err)
{
    switch (err) {
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ENETDOWN:
        return strerror(err);
    default:
        return NULL;
    }
}

/* A connected pair of TCP sockets over 127.0.0.1: fds[0] non-blocking,
 * fds[1] the accepted peer.  NULL on success, else why not. */
static const char *
tcp_pair(int fds[2])
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    const char *why;
    int l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0)
        bail_out("socket: %s", strerror(errno));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0)
        bail_out("socket: %s", strerror(errno));
    if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0
        || listen(l, 1) < 0
        || getsockname(l, (struct sockaddr *)&addr, &len) < 0
        || connect(fds[0], (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        why = no_loopback(errno);
        if (why == NULL)
            bail_out("127.0.0.1: %s", strerror(errno));
        util_close(l);
        util_close(fds[0]);
        return why;
    }
    fds[1] = accept(l, NULL, NULL);
    if (fds[1] < 0)
        bail_out("accept: %s", strerror(errno));
    util_close(l);
    if (fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) < 0)
        bail_out("fcntl: %s", strerror(errno));
    return NULL;
}

/* Close the peer (with a reset if p->data), then wait until the FIN or
 * the reset has come through the loopback device: poll(2) reports the
 * socket readable then.  So a case that expects no event does not end
 * before the packet arrives. */
static void
close_peer(void *arg)
{
    struct pair *p = arg;
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    if (p->data
        && setsockopt(p->fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        bail_out("setsockopt(SO_LINGER): %s", strerror(errno));
    util_close(p->fds[1]);
    p->fds[1] = -1;
    if (!util_fd_readable(p->fds[0], UTIL_LONG_MS))
        bail_out("the peer's close never arrived");
}

static void
tcp_case(const struct expectation *x)
{
    struct pair p = { .data = x->what == TCP_PEER_RESET };
    const char *why = tcp_pair(p.fds);
    uint32_t got;

    if (why != NULL) {
        skip(1, "no loopback to connect over (127.0.0.1: %s)", why);
        return;
    }
    got = flags_after(p.fds[0], x->interest, x->flags[this_column()] != 0,
                      close_peer, &p);
    check(x, got);
    close_pair(&p);
}

int
main(void)
{
    tap_watchdog(120);
    signal(SIGPIPE, SIG_IGN);
    plan(NCASES);
    diag("backend %s: column %s", mw_backend(), column_name[this_column()]);
    if (mw_poll_new(&the_poll) != 0
        || mw_waker_new(&the_fence, the_poll, T_FENCE) != 0)
        bail_out("mw_poll_new or mw_waker_new failed");
    for (int i = 0; i < NCASES; i++) {
        const struct expectation *x = &table[i];

        switch (x->what) {
        case PIPE_READER_EOF:
        case PIPE_READER_EOF_DATA:
        case PIPE_WRITER_NO_READER:
            pipe_case(x);
            break;
        case TCP_PEER_CLOSE:
        case TCP_PEER_RESET:
            tcp_case(x);
            break;
        default:
            sock_case(x);
            break;
        }
    }
    mw_waker_free(the_fence);
    mw_poll_free(the_poll);
    return done_testing();
}
