/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3), mw_poll_wait(3)): MW_EV_ERROR may be
 * reported whatever the interest, and a socket error is reported with it.
 * A non-blocking TCP connect to a port on 127.0.0.1 where nothing
 * listens is refused: the socket registered for reading and writing is
 * reported with MW_EV_ERROR, and getsockopt(SO_ERROR) then gives
 * ECONNREFUSED.
 *
 * kqueue reports reading and writing as separate events, each with part
 * of the flags, so the test ORs the flags of every event for the token.
 * A second refused connect, registered for writing alone, is reported
 * with MW_EV_ERROR and MW_EV_WRITE_CLOSED.
 *
 * Without a loopback interface (a build in a network namespace with no
 * interface up, as pbuilder's or `unshare -n`), the connect fails at
 * once and no error is left for an event to report: the socket is still
 * registered, and the cases that need the refusal skip with the reason.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_CONN 0x5E

/* Why this machine cannot connect over loopback, from the errno of a
 * bind or connect to 127.0.0.1; NULL when the errno means something else
 * (a test bug or a broken system, to bail out on). */
static const char *
no_loopback(int err)
{
    switch (err) {
    case ENETUNREACH:       /* Linux, the interface down */
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:     /* no interface holds 127.0.0.1 */
    case ENETDOWN:
        return strerror(err);
    default:
        return NULL;
    }
}

/* A TCP socket bound to 127.0.0.1 on a port of the system's choosing and
 * left not listening: a connect to that port is refused, and the bound
 * socket keeps any other program from taking the port meanwhile.  -1,
 * with the reason in *why, when 127.0.0.1 cannot be bound. */
static int
bound_port(struct sockaddr_in *addr, const char **why)
{
    socklen_t len = sizeof(*addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0)
        bail_out("socket: %s", strerror(errno));
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)addr, sizeof(*addr)) < 0
        || getsockname(s, (struct sockaddr *)addr, &len) < 0) {
        *why = no_loopback(errno);
        if (*why == NULL)
            bail_out("bind to 127.0.0.1: %s", strerror(errno));
        util_close(s);
        return -1;
    }
    return s;
}

static int
nonblocking_tcp_socket(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int fl;

    if (s < 0)
        bail_out("socket: %s", strerror(errno));
    fl = fcntl(s, F_GETFL);
    if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0
        || fcntl(s, F_SETFD, FD_CLOEXEC) < 0)
        bail_out("fcntl: %s", strerror(errno));
    return s;
}

/* Collect the events for T_CONN until one carries MW_EV_ERROR or the long
 * bound passes, then whatever else is ready now: the OR of their flags. */
static uint32_t
collect_flags(mw_poll *p)
{
    int64_t end = util_now_ms() + UTIL_LONG_MS;
    uint32_t all = 0, f;
    int rc;

    while (!(all & MW_EV_ERROR)) {
        int64_t left = end - util_now_ms();

        if (left <= 0)
            break;
        f = 0;
        rc = util_wait_token(p, T_CONN, (int)left, &f, NULL);
        if (rc < 0)
            bail_out("mw_poll_wait: %s", strerror(-rc));
        if (rc == 0)
            break;
        all |= f;
    }
    f = 0;
    rc = util_poll_drain(p, T_CONN, 8, &f);
    if (rc < 0)
        bail_out("mw_poll_wait: %s", strerror(-rc));
    return all | f;
}

/* A socket whose connect is under way to a port where nothing listens;
 * skips the whole test when the refusal came at once.  Without loopback
 * the socket's connect has failed instead, and *why says why. */
static int
connect_in_progress_or_skip(int *listener_less, const char **why)
{
    struct sockaddr_in addr;
    int s;

    *why = NULL;
    *listener_less = bound_port(&addr, why);
    s = nonblocking_tcp_socket();
    if (*listener_less < 0)
        return s;
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        bail_out("connect to a port nobody listens on succeeded");
    if (errno == ECONNREFUSED)
        plan_skip_all("connect() on 127.0.0.1 was refused at once, so "
                      "there is no error left for an event to report");
    if (errno != EINPROGRESS) {
        *why = no_loopback(errno);
        if (*why == NULL)
            bail_out("connect: %s", strerror(errno));
    }
    return s;
}

static void
refused_connect_is_reported_with_ev_error(mw_poll *p, int s,
                                          const char *no_net)
{
    uint32_t flags;

    is_errno(mw_poll_register(p, s, T_CONN, MW_READABLE | MW_WRITABLE), 0,
             no_net == NULL
                 ? "the connecting socket is registered for reading and "
                   "writing"
                 : "the socket (no connect under way) is registered for "
                   "reading and writing");
    if (no_net != NULL) {
        skip(2, "no loopback to connect over (127.0.0.1: %s)", no_net);
        return;
    }

    flags = collect_flags(p);
    diag("flags of the socket's events: %s (%#x)", util_flags_str(flags),
         (unsigned)flags);
    ok(flags & MW_EV_ERROR, "the refused connect is reported with "
                            "MW_EV_ERROR");
    ok(flags & (MW_EV_WRITABLE | MW_EV_WRITE_CLOSED),
       "and with the end of the connect for the write interest");
}

static void
socket_error_is_left_for_the_program(int s, bool error_consumed,
                                     const char *no_net)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (no_net != NULL) {
        skip(1, "no loopback to connect over (127.0.0.1: %s)", no_net);
        return;
    }
    if (error_consumed) {
        skip(1, "libkqueue reads SO_ERROR itself to fill in the event, "
                "which clears it before the program can");
        return;
    }
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        bail_out("getsockopt(SO_ERROR): %s", strerror(errno));
    /* Where ECONNREFUSED is not x86's 111 (MIPS: 146), qemu-user hands
     * the host kernel's value through untranslated. */
    if (ECONNREFUSED != 111 && soerr == 111) {
        skip(1, "SO_ERROR is 111, the x86 kernel's ECONNREFUSED: qemu-user "
                "does not translate it for this architecture");
        return;
    }
    is_errno(-soerr, -ECONNREFUSED,
             "getsockopt(SO_ERROR) then gives ECONNREFUSED");
}

/* A second connect to the port, registered for writing alone: kqueue
 * reports the write filter's end of stream with the socket's error of its
 * own, where the first case may have had it on the read filter.  Skipped
 * when this connect was refused at once. */
static void
write_interest_alone(mw_poll *p, int listener_less, const char *no_net)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    uint32_t flags;
    int s;

    if (no_net != NULL) {
        skip(3, "no loopback to connect over (127.0.0.1: %s)", no_net);
        return;
    }
    if (getsockname(listener_less, (struct sockaddr *)&addr, &len) < 0)
        bail_out("getsockname: %s", strerror(errno));
    s = nonblocking_tcp_socket();
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        bail_out("connect to a port nobody listens on succeeded");
    if (errno != EINPROGRESS) {
        skip(3, "the second connect ended at once (%s)", strerror(errno));
        util_close(s);
        return;
    }
    is_errno(mw_poll_register(p, s, T_CONN, MW_WRITABLE), 0,
             "a second connecting socket is registered for writing alone");
    flags = collect_flags(p);
    diag("flags of its events: %s (%#x)", util_flags_str(flags),
         (unsigned)flags);
    ok(flags & MW_EV_ERROR, "its refused connect is reported with "
                            "MW_EV_ERROR");
    ok(flags & MW_EV_WRITE_CLOSED, "and with MW_EV_WRITE_CLOSED");
    if (mw_poll_deregister(p, s) != 0)
        bail_out("mw_poll_deregister failed");
    util_close(s);
}

int
main(void)
{
    mw_poll *p;
    int listener_less, s, rc;
    const char *no_net;
    /* libkqueue turns EPOLLERR into EV_EOF with the error in fflags by
     * calling getsockopt(SO_ERROR) itself, which clears the error. */
    bool error_consumed = util_caps()->emulated;

    tap_watchdog(60);
    s = connect_in_progress_or_skip(&listener_less, &no_net);
    plan(7);

    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    refused_connect_is_reported_with_ev_error(p, s, no_net);
    socket_error_is_left_for_the_program(s, error_consumed, no_net);

    rc = mw_poll_deregister(p, s);
    if (rc != 0)
        bail_out("mw_poll_deregister: %s", strerror(-rc));
    write_interest_alone(p, listener_less, no_net);
    mw_poll_free(p);
    util_close(s);
    if (listener_less >= 0)
        util_close(listener_less);
    return done_testing();
}
