/* SPDX-License-Identifier: MIT */
/*
 * Bad input: every public function given what it must refuse, or an edge
 * value it must take as is.  For each case:
 *
 *   - the result is the negative errno that the man page names
 *     (or, where the kernel decides, what that backend's kernel says: see
 *     the table in doc/ROBUSTNESS.md, which lists every case here);
 *   - errno is what it was before the call;
 *   - nothing changed: the poll's two registrations are still there (a
 *     second registration is -EEXIST) and report readiness with their
 *     tokens, its waker delivers, and nothing else shows up.
 *
 * t/register-errors.c checks the order of the argument checks; this goes
 * wider (INT_MIN, INT_MAX, every unknown interest bit, ~0u, SIZE_MAX,
 * closed and foreign descriptors, the library's own descriptors) and
 * checks the state after each case.  Descriptors far above the table
 * (INT_MAX, 2^30, 2^20) are tried in a child process whose address space
 * is limited (RLIMIT_AS), so that a library that sizes a table by the
 * descriptor number fails there instead of exhausting the machine.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define ERRNO_MARK 4711
#define TA ((mw_token)0xA)
#define TB ((mw_token)0xB)
#define TW ((mw_token)0xC)
#define T_EDGE_COOKIE (((mw_token)1 << 31) | 7)

static mw_poll *the_poll;
static mw_waker *the_waker;
static int pipe_a[2];           /* pipe: pipe_a[0] registered as TA */
static int pair_b[2];           /* socketpair: pair_b[0] registered as TB */
static long cases;
/* A registration the test left on a closed descriptor: poll(2) reports
 * it (POLLNVAL) until it is deregistered, which is documented. */
static mw_token closed_token_lo, closed_token_hi;

static bool
tolerated(mw_token tk)
{
    return tk >= closed_token_lo && tk <= closed_token_hi
           && closed_token_hi != 0;
}

/* The poll is as it was: pipe_a and pair_b registered with their
 * tokens, the_waker delivering, nothing else. */
static bool
unchanged(void)
{
    struct mw_event ev[16];
    bool a = false, b = false, w = false, good = true;
    int64_t end = util_now_ms() + UTIL_LONG_MS;
    int n;

    if (mw_poll_register(the_poll, pipe_a[0], TA, MW_READABLE) != -EEXIST
        || mw_poll_register(the_poll, pair_b[0], TB, MW_READABLE) != -EEXIST)
        return false;
    util_write_byte(pipe_a[1]);
    util_write_byte(pair_b[1]);
    if (mw_waker_wake(the_waker) != 0)
        return false;
    while (!(a && b && w) && util_now_ms() < end) {
        n = util_wait(the_poll, ev, 16, 100);
        if (n < 0)
            return false;
        for (int i = 0; i < n; i++) {
            if (ev[i].token == TA && (ev[i].flags & MW_EV_READABLE)) {
                a = true;
                util_drain(pipe_a[0]);
            } else if (ev[i].token == TB && (ev[i].flags & MW_EV_READABLE)) {
                b = true;
                util_drain(pair_b[0]);
            } else if (ev[i].token == TW && ev[i].flags == MW_EV_READABLE) {
                w = true;
            } else if (!tolerated(ev[i].token)) {
                good = false;
            }
        }
    }
    /* poll(2) may report a drained descriptor once more (and a closed one
     * every time: hence the bound). */
    for (int round = 0; round < 8 && (n = util_wait(the_poll, ev, 16, 0)) > 0;
         round++)
        for (int i = 0; i < n; i++)
            if (ev[i].token != TA && ev[i].token != TB
                && !tolerated(ev[i].token))
                good = false;
    return good && a && b && w;
}

/* One case: its result, errno, and the state after it. */
static void TAP_PRINTF(4, 5)
check_case(long rc, int saved_errno, long want, const char *fmt, ...)
{
    char desc[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    cases++;
    is_errno(rc, want, "%s", desc);
    is_int(saved_errno, ERRNO_MARK, "... leaves errno alone");
    ok(unchanged(), "... and changes nothing");
}

#define CASE(want, call, ...) \
    do { \
        long case_rc_; \
        int case_errno_; \
        errno = ERRNO_MARK; \
        case_rc_ = (long)(call); \
        case_errno_ = errno; \
        check_case(case_rc_, case_errno_, (want), __VA_ARGS__); \
    } while (0)

/* A call the kernel may accept or refuse (a result in `accept`); on
 * success `undo` takes it back before the state is checked. */
static void
check_either(long rc, int saved_errno, const long *accept, int naccept,
             int fd, const char *desc)
{
    bool fine = false;

    cases++;
    for (int i = 0; i < naccept; i++)
        fine |= rc == accept[i];
    ok(fine, "%s: %s", desc, tap_errno_name(rc));
    is_int(saved_errno, ERRNO_MARK, "... leaves errno alone");
    if (rc == 0)
        is_int(mw_poll_deregister(the_poll, fd), 0, "... and deregisters");
    else
        is_errno(mw_poll_deregister(the_poll, fd), -ENOENT,
                 "... and registered nothing");
    ok(unchanged(), "... and changes nothing");
}

/* A descriptor number that is free now (and stays free: nothing else
 * opens descriptors meanwhile). */
static int
closed_fd(void)
{
    int fds[2];

    util_pipe(fds);
    util_close(fds[0]);
    util_close(fds[1]);
    return fds[0];
}

/* ---- descriptors far above the table, in a child ---- */

struct huge_result {
    int rc;
    int works;
};

static void
limit_address_space(void)
{
    struct rlimit rl;
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    rlim_t limit = (rlim_t)4 << 30;

    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) == 1 && pages > 0)
            limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE)
                    + ((rlim_t)1 << 30);
        fclose(f);
    }
    if (getrlimit(RLIMIT_AS, &rl) == 0
        && (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > limit)) {
        rl.rlim_cur = limit;
        setrlimit(RLIMIT_AS, &rl);
    }
}

static void
huge_child(int fd, int out)
{
    struct huge_result r;
    struct mw_event ev[4];
    mw_poll *cp;
    mw_waker *cw;

    memset(&r, 0, sizeof r);
    signal(SIGALRM, SIG_DFL);
    alarm(60);
    limit_address_space();
    if (mw_poll_new(&cp) != 0 || mw_waker_new(&cw, cp, 1) != 0)
        util_child_exit(4);
    r.rc = mw_poll_register(cp, fd, 2, MW_READABLE);
    r.works = mw_waker_wake(cw) == 0 && util_wait(cp, ev, 4, UTIL_LONG_MS) == 1
              && ev[0].token == 1;
    if (write(out, &r, sizeof r) != (ssize_t)sizeof r)
        util_child_exit(3);
    util_child_exit(0);
}

/* In a child with 1 GiB of address space to spare: a library that sized
 * a table by the descriptor number before checking it would fail there
 * (or be stopped by a sanitizer) instead of taking the machine's memory. */
static void
huge_descriptor(int fd)
{
    struct huge_result r;
    int pfd[2], status;
    pid_t pid;
    ssize_t n;

    if (pipe(pfd) != 0)
        bail_out("pipe: %s", strerror(errno));
    pid = util_fork();
    if (pid == 0) {
        close(pfd[0]);
        huge_child(fd, pfd[1]);
    }
    close(pfd[1]);
    do
        n = read(pfd[0], &r, sizeof r);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    cases++;
    if (n != (ssize_t)sizeof r || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0) {
        ok(false, "mw_poll_register(fd %d): the child did not finish "
           "(status %#x; a sanitizer's report is on stderr)", fd, status);
        skip(1, "no result");
        return;
    }
    is_errno(r.rc, -EBADF, "mw_poll_register(fd %d), not an open descriptor, "
             "is -EBADF (with 1 GiB of address space to spare)", fd);
    ok(r.works, "... and the poll still delivers its waker");
}

/* mw_poll_new, mw_waker_new, mw_poll_free, mw_waker_free. */
static void
check_constructors(void)
{
    mw_waker *w2;

    CASE(-EINVAL, mw_poll_new(NULL), "mw_poll_new(NULL) is -EINVAL");
    CASE(-EINVAL, mw_waker_new(NULL, the_poll, 1),
         "mw_waker_new(NULL, poll, 1) is -EINVAL");
    w2 = (mw_waker *)&w2;
    CASE(-EINVAL, mw_waker_new(&w2, NULL, 1), "mw_waker_new(&w, NULL, 1) is "
         "-EINVAL");
    ok(w2 == NULL, "... and sets *out to NULL");
    CASE(-EINVAL, mw_waker_new(NULL, NULL, 0), "mw_waker_new(NULL, NULL, 0) "
         "is -EINVAL");
    errno = ERRNO_MARK;
    mw_poll_free(NULL);
    mw_waker_free(NULL);
    cases += 2;
    is_int(errno, ERRNO_MARK, "mw_poll_free(NULL) and mw_waker_free(NULL) "
           "do nothing and leave errno alone");
    ok(unchanged(), "... and change nothing");
}

/* mw_waker_wake, mw_poll_fd. */
static void
check_wake_and_fd(void)
{
    CASE(-EINVAL, mw_waker_wake(NULL), "mw_waker_wake(NULL) is -EINVAL");
    CASE(-EINVAL, mw_poll_fd(NULL), "mw_poll_fd(NULL) is -EINVAL");
}

/* mw_poll_wait: bad arguments, and edge values it takes as is. */
static void
check_wait(void)
{
    struct mw_event ev[8];

    CASE(-EINVAL, mw_poll_wait(NULL, ev, 8, 0), "mw_poll_wait(NULL, ev, 8, 0) "
         "is -EINVAL");
    CASE(-EINVAL, mw_poll_wait(NULL, ev, 8, -1), "mw_poll_wait(NULL, ev, 8, "
         "-1) is -EINVAL at once");
    CASE(-EINVAL, mw_poll_wait(NULL, NULL, 0, INT_MIN), "mw_poll_wait(NULL, "
         "NULL, 0, INT_MIN) is -EINVAL at once");
    CASE(-EINVAL, mw_poll_wait(the_poll, NULL, 1, 0),
         "mw_poll_wait(poll, NULL, 1, 0) is -EINVAL");
    CASE(-EINVAL, mw_poll_wait(the_poll, NULL, 1, -1),
         "mw_poll_wait(poll, NULL, 1, -1) is -EINVAL at once");
    CASE(-EINVAL, mw_poll_wait(the_poll, NULL, SIZE_MAX, 0),
         "mw_poll_wait(poll, NULL, SIZE_MAX, 0) is -EINVAL");
    CASE(-EINVAL, mw_poll_wait(the_poll, ev, 0, 0),
         "mw_poll_wait(poll, ev, 0, 0) is -EINVAL");
    CASE(-EINVAL, mw_poll_wait(the_poll, ev, 0, -1),
         "mw_poll_wait(poll, ev, 0, -1) is -EINVAL at once");
    CASE(-EINVAL, mw_poll_wait(the_poll, ev, 0, INT_MAX),
         "mw_poll_wait(poll, ev, 0, INT_MAX) is -EINVAL at once");
    /* Valid edges: one event ready, an 8-entry array. */
    if (mw_waker_wake(the_waker) != 0)
        bail_out("mw_waker_wake failed");
    CASE(1, mw_poll_wait(the_poll, ev, SIZE_MAX, 0),
         "mw_poll_wait with capacity SIZE_MAX and one event ready returns "
         "it (capacity is a bound)");
    if (mw_waker_wake(the_waker) != 0)
        bail_out("mw_waker_wake failed");
    CASE(1, mw_poll_wait(the_poll, ev, (size_t)INT_MAX + 1, 0),
         "mw_poll_wait with capacity INT_MAX + 1 and one event ready "
         "returns it");
    if (mw_waker_wake(the_waker) != 0)
        bail_out("mw_waker_wake failed");
    CASE(1, mw_poll_wait(the_poll, ev, 8, INT_MIN),
         "mw_poll_wait with timeout INT_MIN (no limit) and one event ready "
         "returns it");
    if (mw_waker_wake(the_waker) != 0)
        bail_out("mw_waker_wake failed");
    CASE(1, mw_poll_wait(the_poll, ev, 8, INT_MAX),
         "mw_poll_wait with timeout INT_MAX and one event ready returns it "
         "at once");
    CASE(0, mw_poll_wait(the_poll, ev, 1, 0),
         "mw_poll_wait with nothing ready and timeout 0 returns 0");
}

/* mw_poll_register: the poll and the descriptor (cfd: a closed one). */
static void
check_register_descriptor(int cfd)
{
    int fd;

    CASE(-EINVAL, mw_poll_register(NULL, pipe_a[0], 1, MW_READABLE),
         "mw_poll_register(NULL, fd, ...) is -EINVAL");
    CASE(-EINVAL, mw_poll_register(NULL, INT_MIN, 1, ~0u),
         "mw_poll_register(NULL, INT_MIN, 1, ~0u) is -EINVAL (the poll is "
         "checked first)");
    CASE(-EBADF, mw_poll_register(the_poll, -1, 1, MW_READABLE),
         "mw_poll_register(fd -1) is -EBADF");
    CASE(-EBADF, mw_poll_register(the_poll, -2, 1, MW_READABLE),
         "mw_poll_register(fd -2) is -EBADF");
    CASE(-EBADF, mw_poll_register(the_poll, INT_MIN, 1, MW_READABLE),
         "mw_poll_register(fd INT_MIN) is -EBADF");
    CASE(-EBADF, mw_poll_register(the_poll, INT_MIN, 1, 0),
         "mw_poll_register(fd INT_MIN, interest 0) is -EBADF (the descriptor "
         "is checked before the interest)");
    CASE(-EBADF, mw_poll_register(the_poll, cfd, 1, MW_READABLE),
         "mw_poll_register(a closed fd) is -EBADF");
    CASE(-EINVAL, mw_poll_register(the_poll, cfd, 1, 0),
         "mw_poll_register(a closed fd, interest 0) is -EINVAL (interest "
         "before the descriptor's state)");
    fd = getdtablesize();
    if (util_under_valgrind())
        /* valgrind keeps descriptors of its own just above the table. */
        skip(3, "fd %d is valgrind's under valgrind", fd);
    else
        CASE(-EBADF, mw_poll_register(the_poll, fd, 1, MW_READABLE),
             "mw_poll_register(fd %d, the table's size) is -EBADF", fd);
    CASE(-EBADF, mw_poll_register(the_poll, fd + 1000, 1, MW_READABLE),
         "mw_poll_register(fd %d, beyond the table) is -EBADF", fd + 1000);
}

/* mw_poll_register: the interest. */
static void
check_register_interest(void)
{
    unsigned bit;

    CASE(-EINVAL, mw_poll_register(the_poll, pipe_a[1], 1, 0),
         "mw_poll_register(interest 0) is -EINVAL");
    CASE(-EINVAL, mw_poll_register(the_poll, pipe_a[1], 1, ~0u),
         "mw_poll_register(interest ~0u) is -EINVAL");
    CASE(-EINVAL, mw_poll_register(the_poll, pipe_a[1], 1,
                                   MW_READABLE | MW_WRITABLE | MW_PRIORITY
                                   | 0x8u),
         "mw_poll_register(all three bits | 0x8) is -EINVAL");
    for (bit = 0; bit < 32; bit++) {
        if ((1u << bit) & (MW_READABLE | MW_WRITABLE | MW_PRIORITY))
            continue;
        CASE(-EINVAL, mw_poll_register(the_poll, pipe_a[1], 1,
                                       MW_READABLE | (1u << bit)),
             "mw_poll_register(MW_READABLE | 1 << %u) is -EINVAL", bit);
    }
}

/* mw_poll_register: descriptors that are open but odd. */
static void
check_register_odd(void)
{
    /* epoll_ctl checks each file as it is added; poll(2) and kevent take
     * what they are given. */
    bool epoll_ctl_checks = util_caps()->set_call == UTIL_SET_EPOLL_CTL;
    int fd, rc;

    CASE(-EEXIST, mw_poll_register(the_poll, pipe_a[0], 99, MW_WRITABLE),
         "mw_poll_register of a registered fd, other token and interest, is "
         "-EEXIST");
    {
        int reg = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int dir = open(".", O_RDONLY | O_CLOEXEC);
        FILE *file = tmpfile();
        /* epoll refuses files it cannot watch (-EPERM, man page); poll(2)
         * takes anything; kqueue decides per filter, but refuses regular
         * files and directories as epoll does. */
        static const long reg_epoll[] = { -EPERM };
        static const long reg_other[] = { 0, -EBADF, -EINVAL, -EPERM,
                                          -ENOTSUP };
        static const long disk_refused[] = { -EPERM };
        static const long disk_taken[] = { 0 };
        bool takes_disk = util_caps()->registers_disk_files;

        if (reg < 0 || dir < 0 || !file)
            bail_out("open: %s", strerror(errno));
        errno = ERRNO_MARK;
        rc = mw_poll_register(the_poll, fileno(file), 1, MW_READABLE);
        check_either(rc, errno, takes_disk ? disk_taken : disk_refused, 1,
                     fileno(file), "mw_poll_register(a regular file)");
        fclose(file);
        errno = ERRNO_MARK;
        rc = mw_poll_register(the_poll, reg, 1, MW_READABLE);
        check_either(rc, errno,
                     epoll_ctl_checks ? reg_epoll : reg_other,
                     epoll_ctl_checks ? 1 : 5, reg,
                     "mw_poll_register(/dev/null, a character device)");
        errno = ERRNO_MARK;
        rc = mw_poll_register(the_poll, dir, 1, MW_READABLE);
        check_either(rc, errno, takes_disk ? disk_taken : disk_refused, 1,
                     dir, "mw_poll_register(a directory)");
        util_close(reg);
        util_close(dir);
    }
    fd = mw_poll_fd(the_poll);
    if (fd >= 0) {
        /* epoll refuses itself (-EINVAL); a kqueue in itself is the
         * kernel's call (libkqueue takes it). */
        static const long self_epoll[] = { -EINVAL };
        static const long self_kqueue[] = { 0, -EINVAL };

        errno = ERRNO_MARK;
        rc = mw_poll_register(the_poll, fd, 1, MW_READABLE);
        check_either(rc, errno,
                     epoll_ctl_checks ? self_epoll : self_kqueue,
                     epoll_ctl_checks ? 1 : 2, fd,
                     "mw_poll_register(the poll's own descriptor)");
    } else {
        skip(4, "mw_poll_fd is %s on %s: no descriptor of its own",
             tap_errno_name(fd), mw_backend());
    }
}

/* The descriptor the library opened for the wakers of a poll (among the
 * new descriptors of mw_poll_new, the last eventfd or pipe read end: the
 * poll(2) poller's own pipe comes first): already watched by the poll,
 * so -EEXIST like any registered descriptor, and a kqueue never lets the
 * caller's registration take its knote over. */
static void
check_register_waker_fd(void)
{
    static struct util_fds before, after;
    int fresh[8], nfresh, target = -1;
    mw_waker *w2;
    mw_poll *q;

    util_fds_take(&before);
    if (mw_poll_new(&q) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    if (mw_waker_new(&w2, q, 0x77) != 0)
        bail_out("mw_waker_new failed");
    nfresh = util_fds_new(&before, &after, fresh, 8);
    for (int i = 0; i < nfresh && i < 8; i++) {
        enum util_fd_kind k = util_fd_kind(fresh[i]);

        if ((k == UTIL_FD_EVENTFD && util_caps()->waker_eventfd)
            || (k == UTIL_FD_PIPE_READ && util_caps()->waker_pipe))
            target = fresh[i];
    }
    if (target >= 0) {
        struct mw_event wev[8];
        int n;

        CASE(-EEXIST, mw_poll_register(q, target, 1, MW_READABLE),
             "mw_poll_register(the descriptor the wakers share) is "
             "-EEXIST");
        n = mw_waker_wake(w2) == 0 ? util_wait(q, wev, 8, UTIL_LONG_MS)
                                   : -1;
        ok(n == 1 && wev[0].token == 0x77, "... and a waker still "
           "delivers its own token (%d event(s), token %#lx)", n,
           n > 0 ? (unsigned long)wev[0].token : 0UL);
        if (mw_poll_deregister(q, target) == 0)
            diag("the wakers' descriptor was registered: the wakers "
                 "may be broken now");
    } else {
        skip(4, "%s: the wakers have no descriptor", mw_backend());
    }
    mw_waker_free(w2);
    mw_poll_free(q);
}

/* mw_poll_reregister (cfd: a closed descriptor). */
static void
check_reregister(int cfd)
{
    CASE(-EINVAL, mw_poll_reregister(NULL, pipe_a[0], 1, MW_READABLE),
         "mw_poll_reregister(NULL, ...) is -EINVAL");
    CASE(-EBADF, mw_poll_reregister(the_poll, -1, 1, MW_READABLE),
         "mw_poll_reregister(fd -1) is -EBADF");
    CASE(-EBADF, mw_poll_reregister(the_poll, INT_MIN, 1, MW_READABLE),
         "mw_poll_reregister(fd INT_MIN) is -EBADF");
    CASE(-ENOENT, mw_poll_reregister(the_poll, INT_MAX, 1, MW_READABLE),
         "mw_poll_reregister(fd INT_MAX), never registered, is -ENOENT");
    CASE(-ENOENT, mw_poll_reregister(the_poll, cfd, 1, MW_READABLE),
         "mw_poll_reregister(a closed fd never registered) is -ENOENT");
    CASE(-ENOENT, mw_poll_reregister(the_poll, pipe_a[1], 1, MW_READABLE),
         "mw_poll_reregister(an open fd not registered) is -ENOENT");
    CASE(-EINVAL, mw_poll_reregister(the_poll, pipe_a[0], TA, 0),
         "mw_poll_reregister(a registered fd, interest 0) is -EINVAL");
    CASE(-EINVAL, mw_poll_reregister(the_poll, pipe_a[0], TA, ~0u),
         "mw_poll_reregister(a registered fd, interest ~0u) is -EINVAL");
    CASE(-EINVAL, mw_poll_reregister(the_poll, pipe_a[0], TA, 1u << 31),
         "mw_poll_reregister(a registered fd, interest 1 << 31) is -EINVAL");
    CASE(-EINVAL, mw_poll_reregister(the_poll, INT_MAX, 1, 0),
         "mw_poll_reregister(fd INT_MAX, interest 0) is -EINVAL (interest "
         "before -ENOENT)");
}

/* mw_poll_deregister (cfd: a closed descriptor). */
static void
check_deregister(int cfd)
{
    CASE(-EINVAL, mw_poll_deregister(NULL, pipe_a[0]),
         "mw_poll_deregister(NULL, fd) is -EINVAL");
    CASE(-EINVAL, mw_poll_deregister(NULL, INT_MIN),
         "mw_poll_deregister(NULL, INT_MIN) is -EINVAL");
    CASE(-EBADF, mw_poll_deregister(the_poll, -1),
         "mw_poll_deregister(fd -1) is -EBADF");
    CASE(-EBADF, mw_poll_deregister(the_poll, INT_MIN),
         "mw_poll_deregister(fd INT_MIN) is -EBADF");
    CASE(-ENOENT, mw_poll_deregister(the_poll, INT_MAX),
         "mw_poll_deregister(fd INT_MAX) is -ENOENT");
    CASE(-ENOENT, mw_poll_deregister(the_poll, cfd),
         "mw_poll_deregister(a closed fd never registered) is -ENOENT");
    CASE(-ENOENT, mw_poll_deregister(the_poll, pipe_a[1]),
         "mw_poll_deregister(an open fd not registered) is -ENOENT");
}

/* A registered descriptor closed before its deregister. */
static void
check_closed_registered(void)
{
    int c[2];
    int num;

    util_pipe(c);
    num = c[0];
    if (mw_poll_register(the_poll, num, 0x55, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    closed_token_lo = 0x55;
    closed_token_hi = 0x57;
    util_close(c[0]);
    CASE(-EBADF, mw_poll_reregister(the_poll, num, 0x56, MW_READABLE),
         "mw_poll_reregister of a registered fd closed since is -EBADF "
         "(man page)");
    CASE(-EEXIST, mw_poll_register(the_poll, num, 0x57, MW_READABLE),
         "mw_poll_register of the number of a registered fd closed "
         "since is -EEXIST (man page)");
    CASE(0, mw_poll_deregister(the_poll, num), "mw_poll_deregister of a "
         "registered fd closed since releases it (0)");
    closed_token_lo = closed_token_hi = 0;
    CASE(-ENOENT, mw_poll_deregister(the_poll, num), "... once: a second "
         "deregister is -ENOENT");
    util_pipe(c);
    if (c[0] == num) {
        uint32_t flags = 0;

        CASE(0, mw_poll_register(the_poll, num, 0x58, MW_READABLE),
             "the number can be registered again");
        util_write_byte(c[1]);
        is_int(util_wait_token(the_poll, 0x58, UTIL_LONG_MS, &flags, NULL), 1,
               "... and reports its new token");
        util_drain(c[0]);
        CASE(0, mw_poll_deregister(the_poll, num), "... and deregisters");
    } else {
        skip(7, "the number %d was not reused (%d)", num, c[0]);
    }
    util_close(c[0]);
    util_close(c[1]);
}

/* Tokens are the caller's, whatever their bits. */
static void
check_edge_tokens(void)
{
    struct mw_event ev[8];
    mw_waker *w2;

    static const mw_token edge[] = { 0, UINTPTR_MAX, T_EDGE_COOKIE };
    int e[2];

    util_pipe(e);
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        uint32_t flags = 0;
        int n;

        CASE(0, mw_waker_new(&w2, the_poll, edge[i]),
             "mw_waker_new with token %#lx succeeds", (unsigned long)edge[i]);
        n = mw_waker_wake(w2) == 0 ? util_wait(the_poll, ev, 8, UTIL_LONG_MS)
                                   : -1;
        ok(n == 1 && ev[0].token == edge[i], "... and delivers that token "
           "unchanged");
        mw_waker_free(w2);
        CASE(0, mw_poll_register(the_poll, e[0], edge[i], MW_READABLE),
             "mw_poll_register with token %#lx succeeds",
             (unsigned long)edge[i]);
        util_write_byte(e[1]);
        n = util_wait_token(the_poll, edge[i], UTIL_LONG_MS, &flags, NULL);
        ok(n == 1 && (flags & MW_EV_READABLE), "... and reports that "
           "token unchanged");
        util_drain(e[0]);
        CASE(0, mw_poll_deregister(the_poll, e[0]), "... and deregisters");
    }
    util_close(e[0]);
    util_close(e[1]);
}

/* A second poll is not disturbed by all of this. */
static void
check_second_poll(void)
{
    mw_poll *p2 = NULL;

    if (mw_poll_new(&p2) != 0)
        bail_out("mw_poll_new failed");
    CASE(-ENOENT, mw_poll_deregister(p2, pipe_a[0]), "a descriptor registered "
         "in one poll is not registered in another (-ENOENT)");
    mw_poll_free(p2);
}

int
main(void)
{
    int cfd;

    tap_watchdog(120);
    diag("backend %s", mw_backend());

    if (mw_poll_new(&the_poll) != 0
        || mw_waker_new(&the_waker, the_poll, TW) != 0)
        bail_out("cannot create a poll and a waker");
    util_pipe(pipe_a);
    util_socketpair(pair_b);
    if (mw_poll_register(the_poll, pipe_a[0], TA, MW_READABLE) != 0
        || mw_poll_register(the_poll, pair_b[0], TB, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    ok(unchanged(), "the fixture works: two registrations and a waker");

    check_constructors();
    check_wake_and_fd();
    check_wait();
    cfd = closed_fd();
    check_register_descriptor(cfd);
    check_register_interest();
    check_register_odd();
    check_register_waker_fd();
    check_reregister(cfd);
    check_deregister(cfd);
    check_closed_registered();
    check_edge_tokens();
    /* Far above the table. */
    huge_descriptor(INT_MAX);
    huge_descriptor(1 << 30);
    huge_descriptor(1 << 20);
    check_second_poll();

    diag("%ld bad or edge inputs tried", cases);
    mw_poll_deregister(the_poll, pipe_a[0]);
    mw_poll_deregister(the_poll, pair_b[0]);
    util_close(pipe_a[0]);
    util_close(pipe_a[1]);
    util_close(pair_b[0]);
    util_close(pair_b[1]);
    mw_waker_free(the_waker);
    mw_poll_free(the_poll);
    return done_testing();
}
