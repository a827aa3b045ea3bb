/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3)): the interest bits share no bit with any
 * POLL* or EPOLL* constant, so that such a constant passed as interest by
 * mistake, alone or ORed with a valid interest, is refused with -EINVAL by
 * mw_poll_register and mw_poll_reregister, and changes nothing; and no
 * readiness flag MW_EV_* shares a bit with one either, so that testing an
 * event's flags against such a constant is always false.
 *
 * Every constant this system's <poll.h> and <sys/epoll.h> define is tried;
 * the list names those of Linux, the BSDs and macOS, and each is compiled
 * in only where the system has it.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>

#ifdef HAVE_SYS_EPOLL_H
# include <sys/epoll.h>
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define INTEREST (MW_READABLE | MW_WRITABLE | MW_PRIORITY)
#define FLAGS (MW_EV_READABLE | MW_EV_WRITABLE | MW_EV_PRIORITY | MW_EV_ERROR \
               | MW_EV_READ_CLOSED | MW_EV_WRITE_CLOSED)

struct constant {
    const char *name;
    unsigned value;
};

#define C(x) { #x, (unsigned)(x) }

static const struct constant constants[] = {
    C(POLLIN), C(POLLPRI), C(POLLOUT), C(POLLERR), C(POLLHUP), C(POLLNVAL),
#ifdef POLLRDNORM
    C(POLLRDNORM),
#endif
#ifdef POLLRDBAND
    C(POLLRDBAND),
#endif
#ifdef POLLWRNORM
    C(POLLWRNORM),
#endif
#ifdef POLLWRBAND
    C(POLLWRBAND),
#endif
#ifdef POLLMSG
    C(POLLMSG),
#endif
#ifdef POLLREMOVE
    C(POLLREMOVE),
#endif
#ifdef POLLRDHUP
    C(POLLRDHUP),
#endif
#ifdef POLLEXTEND
    C(POLLEXTEND),
#endif
#ifdef POLLATTRIB
    C(POLLATTRIB),
#endif
#ifdef POLLNLINK
    C(POLLNLINK),
#endif
#ifdef POLLWRITE
    C(POLLWRITE),
#endif
#ifdef POLLINIGNEOF
    C(POLLINIGNEOF),
#endif
#ifdef POLLFREE
    C(POLLFREE),
#endif
#ifdef POLL_BUSY_LOOP
    C(POLL_BUSY_LOOP),
#endif
#ifdef HAVE_SYS_EPOLL_H
    C(EPOLLIN), C(EPOLLPRI), C(EPOLLOUT), C(EPOLLERR), C(EPOLLHUP),
    C(EPOLLRDNORM), C(EPOLLRDBAND), C(EPOLLWRNORM), C(EPOLLWRBAND),
    C(EPOLLMSG), C(EPOLLRDHUP), C(EPOLLONESHOT), C(EPOLLET),
# ifdef EPOLLEXCLUSIVE
    C(EPOLLEXCLUSIVE),
# endif
# ifdef EPOLLWAKEUP
    C(EPOLLWAKEUP),
# endif
#endif
};

#define NCONST (sizeof(constants) / sizeof(constants[0]))

static void
poll_constants_are_rejected_as_interest(mw_poll *p, const int fds[2])
{
    for (size_t i = 0; i < NCONST; i++) {
        const struct constant *c = &constants[i];

        ok((c->value & INTEREST) == 0 && (c->value & FLAGS) == 0,
           "%s (%#x) shares no bit with an interest or readiness flag",
           c->name, c->value);
        is_errno(mw_poll_register(p, fds[1], 2, c->value), -EINVAL,
                 "mw_poll_register(%s) is -EINVAL", c->name);
        is_errno(mw_poll_register(p, fds[1], 2, MW_WRITABLE | c->value),
                 -EINVAL, "mw_poll_register(MW_WRITABLE | %s) is -EINVAL",
                 c->name);
        is_errno(mw_poll_reregister(p, fds[0], 3, c->value), -EINVAL,
                 "mw_poll_reregister(%s) is -EINVAL", c->name);
    }
}

/* The write end was never registered, and the read end still reports
 * under its first token. */
static void
rejected_constants_change_nothing(mw_poll *p, const int fds[2])
{
    uint32_t flags;

    is_errno(mw_poll_deregister(p, fds[1]), -ENOENT,
             "no constant registered the write end");
    util_write_byte(fds[1]);
    is_int(util_wait_token(p, 1, UTIL_LONG_MS, &flags, NULL), 1,
           "the read end still reports under its first token");
    ok(flags & MW_EV_READABLE, "readable, as registered");
}

int
main(void)
{
    mw_poll *p;
    int fds[2];

    tap_watchdog(60);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_pipe(fds);
    /* One registration that the failed reregistrations must leave alone. */
    if (mw_poll_register(p, fds[0], 1, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    diag("%zu constants defined here", NCONST);

    poll_constants_are_rejected_as_interest(p, fds);
    rejected_constants_change_nothing(p, fds);

    mw_poll_deregister(p, fds[0]);
    util_close(fds[0]);
    util_close(fds[1]);
    mw_poll_free(p);
    return done_testing();
}
