/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3), mw_poll_new(3), mw_waker_new(3),
 * RETURN VALUE; miowake(3), Common errors): errors that come from the
 * kernel reach the caller as they are, and the failed call changes
 * nothing and keeps errno.
 *
 *   - "Too many open files in the system": -ENFILE from mw_poll_new
 *     when a call that makes its kernel objects (epoll, kqueue, eventfd,
 *     pipe) fails with ENFILE, *out set to NULL; mw_waker_new makes no
 *     kernel object, and succeeds while they all fail.  The
 *     system's limit cannot be reached in a test, so this program
 *     defines those calls and makes them fail on demand, forwarding to
 *     the C library's otherwise (as t/lib/wrap.c does for the waits);
 *   - "Too many watched descriptors" (epoll): -ENOSPC from
 *     mw_poll_register, and from mw_poll_new (whose wakers' object it
 *     watches), when epoll_ctl refuses the watch,
 *     made to fail through t/lib/wrap.h's hook for the same reason;
 *   - "The poll's own descriptor" (epoll): mw_poll_register of what
 *     mw_poll_fd returns for that poll is -EINVAL;
 *   - "Polls watching each other" (epoll): registering two polls in each
 *     other is -ELOOP the second time;
 *   - "The kernel refused the signal" (pipe wakers): a wake on a waker
 *     whose pipe lost its read end behind its back is -EPIPE (SIGPIPE
 *     ignored here).
 *
 * Cases that do not apply to the backend skip with the reason.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define ERRNO_MARK 4242
#define T_FD ((mw_token)0x10)
#define T_WAKER ((mw_token)0x20)

/* ---- the calls that make kernel objects, failing on demand ---- */

/* 0: forward; an errno value: fail with it. */
static int fail_with;
/* Calls made to fail (so that a case can tell whether its call went
 * through these definitions at all). */
static int failed_calls;

typedef int (*int_fn)(int);
typedef int (*void_fn)(void);
typedef int (*eventfd_fn)(unsigned int, int);
typedef int (*pipe_fn)(int *);
typedef int (*pipe2_fn)(int *, int);

static void *
next(const char *name)
{
    return wrap_next_symbol(name);
}

#define FORWARD(type, name, ...)                                        \
    do {                                                                \
        void *sym_ = next(name);                                        \
        type fn_;                                                       \
        if (fail_with) {                                                \
            failed_calls++;                                             \
            errno = fail_with;                                          \
            return -1;                                                  \
        }                                                               \
        if (!sym_) {                                                    \
            errno = ENOSYS;                                             \
            return -1;                                                  \
        }                                                               \
        memcpy(&fn_, &sym_, sizeof(fn_));                               \
        return fn_(__VA_ARGS__);                                        \
    } while (0)

int epoll_create1(int flags);
int eventfd(unsigned int initval, int flags);
int pipe2(int fds[2], int flags);
int kqueue(void);

int
epoll_create1(int flags)
{
    FORWARD(int_fn, "epoll_create1", flags);
}

int
eventfd(unsigned int initval, int flags)
{
    FORWARD(eventfd_fn, "eventfd", initval, flags);
}

int
pipe2(int fds[2], int flags)
{
    FORWARD(pipe2_fn, "pipe2", fds, flags);
}

int
pipe(int fds[2])
{
    FORWARD(pipe_fn, "pipe", fds);
}

int
kqueue(void)
{
    FORWARD(void_fn, "kqueue");
}

/* Can these definitions stand in for the system's here?  Not in a
 * static build, nor where dlsym(RTLD_NEXT) is missing. */
static bool
calls_wrapped(void)
{
    return next("pipe") != NULL;
}

/* ---- ENFILE ---- */

static void
enfile_from_poll_new(void)
{
    mw_poll *p = (mw_poll *)(uintptr_t)1;
    int rc, err;

    if (!calls_wrapped()) {
        skip(3, "the calls that make kernel objects cannot be wrapped "
                "here (static build?)");
        return;
    }
    fail_with = ENFILE;
    failed_calls = 0;
    errno = ERRNO_MARK;
    rc = mw_poll_new(&p);
    err = errno;
    fail_with = 0;
    if (failed_calls == 0) {
        skip(3, "%s makes its poll without a call this test wraps",
             mw_backend());
        mw_poll_free(p);
        return;
    }
    is_errno(rc, -ENFILE, "too many open files in the system: mw_poll_new "
             "is -ENFILE");
    ok(p == NULL, "and sets *out to NULL");
    is_int(err, ERRNO_MARK, "and leaves errno alone");
}

static void
enfile_from_waker_new(mw_poll *p)
{
    mw_waker *w = (mw_waker *)(uintptr_t)1;
    int rc, err;

    if (!calls_wrapped()) {
        skip(4, "the calls that make kernel objects cannot be wrapped "
                "here (static build?)");
        return;
    }
    fail_with = ENFILE;
    failed_calls = 0;
    errno = ERRNO_MARK;
    rc = mw_waker_new(&w, p, T_WAKER);
    err = errno;
    is_errno(rc, 0, "with every call that makes a kernel object failing "
             "with ENFILE, mw_waker_new succeeds");
    is_int(failed_calls, 0, "and made none of those calls");
    is_int(err, ERRNO_MARK, "and leaves errno alone");
    if (rc != 0)
        bail_out("mw_waker_new: %s", strerror(-rc));
    rc = mw_waker_wake(w);
    fail_with = 0;
    if (rc != 0)
        bail_out("mw_waker_wake failed");
    is_int(util_wait_token(p, T_WAKER, UTIL_LONG_MS, NULL, NULL), 1,
           "and its wake is delivered");
    mw_waker_free(w);
}

/* ---- epoll's refusals ---- */

#ifdef WRAP_HAVE_EPOLL
static int
refuse_add_with_enospc(int op, const struct epoll_event *event)
{
    (void)event;
    return op == EPOLL_CTL_ADD ? ENOSPC : 0;
}
#endif

static void
enospc(mw_poll *p)
{
#ifdef WRAP_HAVE_EPOLL
    mw_poll *q = (mw_poll *)(uintptr_t)1;
    int fds[2], rc, err;

    if (util_caps()->set_call != UTIL_SET_EPOLL_CTL
        || !wrap_forwards(WRAP_EPOLL_CTL)) {
        skip(5, "%s: not an epoll backend, or epoll_ctl cannot be wrapped",
             mw_backend());
        return;
    }
    util_pipe(fds);
    wrap_before_epoll_ctl_hook = refuse_add_with_enospc;
    errno = ERRNO_MARK;
    rc = mw_poll_register(p, fds[0], T_FD, MW_READABLE);
    err = errno;
    wrap_before_epoll_ctl_hook = NULL;
    is_errno(rc, -ENOSPC, "too many watched descriptors: mw_poll_register "
             "is -ENOSPC");
    is_int(err, ERRNO_MARK, "and leaves errno alone");
    is_errno(mw_poll_deregister(p, fds[0]), -ENOENT,
             "and registers nothing");

    wrap_before_epoll_ctl_hook = refuse_add_with_enospc;
    rc = mw_poll_new(&q);
    wrap_before_epoll_ctl_hook = NULL;
    is_errno(rc, -ENOSPC, "mw_poll_new, which watches its wakers' object, "
             "is -ENOSPC too");
    ok(q == NULL, "and sets *out to NULL");
    if (rc == 0)
        mw_poll_free(q);
    util_close(fds[0]);
    util_close(fds[1]);
#else
    (void)p;
    skip(5, "no epoll here");
#endif
}

static void
own_descriptor_and_loop(mw_poll *p)
{
    mw_poll *q;
    int pfd = mw_poll_fd(p), qfd, rc;

    if (util_caps()->set_call != UTIL_SET_EPOLL_CTL) {
        skip(3, "%s: epoll's refusals only", mw_backend());
        return;
    }
    if (pfd < 0)
        bail_out("mw_poll_fd: %s", strerror(-pfd));
    is_errno(mw_poll_register(p, pfd, T_FD, MW_READABLE), -EINVAL,
             "the poll's own descriptor registered in it is -EINVAL");

    if (mw_poll_new(&q) != 0)
        bail_out("mw_poll_new failed");
    qfd = mw_poll_fd(q);
    if (qfd < 0)
        bail_out("mw_poll_fd: %s", strerror(-qfd));
    rc = mw_poll_register(p, qfd, T_FD, MW_READABLE);
    is_errno(rc, 0, "another poll registered in this one");
    is_errno(mw_poll_register(q, pfd, T_FD, MW_READABLE), -ELOOP,
             "and this one in that one, a loop, is -ELOOP");
    if (mw_poll_deregister(p, qfd) != 0)
        bail_out("mw_poll_deregister failed");
    mw_poll_free(q);
}

/* ---- a waker's pipe without a reader ---- */

/* The wakers' pipe is the last one mw_poll_new opens (the poll(2)
 * poller's private pipe comes first). */
static void
wake_without_reader(void)
{
    struct util_fds before, after;
    mw_poll *p;
    mw_waker *w;
    int fds[8], n, rfd = -1, devnull, rc, err;

    if (!util_caps()->waker_pipe) {
        skip(2, "%s: not a pipe waker", mw_backend());
        return;
    }
    util_fds_take(&before);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    util_fds_take(&after);
    if (mw_waker_new(&w, p, T_WAKER) != 0)
        bail_out("mw_waker_new failed");
    n = util_fds_new(&before, &after, fds, 8);
    util_fds_free(&before);
    util_fds_free(&after);
    for (int i = 0; i < n && i < 8; i++)
        if (util_fd_kind(fds[i]) == UTIL_FD_PIPE_READ)
            rfd = fds[i];
    if (rfd < 0)
        bail_out("mw_poll_new opened no pipe for the wakers");
    /* The read end replaced behind the waker's back: the pipe has no
     * reader left, and the number stays taken until mw_waker_free. */
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, rfd) < 0)
        bail_out("cannot replace the waker's read end: %s", strerror(errno));
    util_close(devnull);
    errno = ERRNO_MARK;
    rc = mw_waker_wake(w);
    err = errno;
    is_errno(rc, -EPIPE, "a wake on a waker whose pipe lost its reader is "
             "-EPIPE");
    is_int(err, ERRNO_MARK, "and leaves errno alone");
    mw_waker_free(w);
    mw_poll_free(p);
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(60);
    wrap_init();
    signal(SIGPIPE, SIG_IGN);
    plan(17);
    enfile_from_poll_new();
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    enfile_from_waker_new(p);
    enospc(p);
    own_descriptor_and_loop(p);
    wake_without_reader();
    mw_poll_free(p);
    return done_testing();
}
