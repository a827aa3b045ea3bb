/* SPDX-License-Identifier: MIT */
/*
 * Descriptor and system-call helpers shared by the backends, and the
 * poller's timed call (mw__timed_wait()).  Besides the choice each of the
 * epoll and poll(2) pollers makes of how to reach its finer timed call,
 * this is the one file in lib/ with HAVE_* conditionals: pipe2() sets
 * both flags atomically where it exists; elsewhere pipe() plus fcntl()
 * leaves a window in which a concurrent fork()+exec() in another thread
 * can inherit the ends, which is the best POSIX.1-2008 allows.
 *
 * read(), write() and close() are cancellation points, and the library
 * must not be one outside mw_poll_wait()'s own wait (miowake(3)): a wake
 * cancelled in its write() would leave the pending flag set with no
 * signal sent, a drain cancelled in its read() would keep the poll's
 * lock.  Where syscall() reaches them it skips the C library's
 * cancellation check and stays async-signal-safe; elsewhere cancellation
 * is turned off around the call, which macOS and OpenBSD implement as a
 * change of a flag of the thread's, safe in a signal handler there too.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* ThreadSanitizer keeps a table of descriptors that only the C library's
 * calls update: a close() it does not see makes it report a race with
 * the next user of the number.  Its builds take the C library's calls,
 * with cancellation off, as the pending flag takes another path there
 * (core.h). */
#if defined(MW_HAVE_SYSCALL_RW) && !defined(MW__TSAN)
# define SYSCALL_RW 1
# include <sys/syscall.h>
#endif

int
mw__cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;

    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

void
mw__cancel_restore(int old)
{
    int ignored;

    (void)pthread_setcancelstate(old, &ignored);
}

ssize_t
mw__read(int fd, void *buf, size_t len)
{
#ifdef SYSCALL_RW
    return (ssize_t)syscall(SYS_read, fd, buf, len);
#else
    int old = mw__cancel_off();
    ssize_t n = read(fd, buf, len);
    int err = errno;

    mw__cancel_restore(old);
    errno = err;
    return n;
#endif
}

ssize_t
mw__write(int fd, const void *buf, size_t len)
{
#ifdef SYSCALL_RW
    return (ssize_t)syscall(SYS_write, fd, buf, len);
#else
    int old = mw__cancel_off();
    ssize_t n = write(fd, buf, len);
    int err = errno;

    mw__cancel_restore(old);
    errno = err;
    return n;
#endif
}

int
mw__fd_set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    if (flags < 0)
        return -errno;
    if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int
mw__fd_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -errno;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int
mw__pipe(int fds[2])
{
#ifdef HAVE_PIPE2
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    return 0;
#else
    int rc;

    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        rc = mw__fd_set_cloexec(fds[i]);
        if (rc == 0)
            rc = mw__fd_set_nonblock(fds[i]);
        if (rc < 0) {
            mw__close(fds[0]);
            mw__close(fds[1]);
            return rc;
        }
    }
    return 0;
#endif
}

int
mw__pipe_signal(int wfd)
{
    for (;;) {
        if (mw__write(wfd, "", 1) == 1)
            return 0;
        if (errno == EINTR)
            continue;
        /* A full pipe holds a byte already, which is all a signal is. */
        return errno == EAGAIN ? 0 : -errno;
    }
}

void
mw__fd_drain(int fd)
{
    char buf[256];
    ssize_t n;

    /* A pipe's read returns all it holds, up to the size asked for, so
     * a short read has emptied it: stop there rather than pay for a
     * read() that only says EAGAIN (the usual case: one byte per wake). */
    do
        n = mw__read(fd, buf, sizeof(buf));
    while (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR));
}

void
mw__close(int fd)
{
    int saved = errno;

    /* POSIX leaves the descriptor's state unspecified after EINTR; Linux
     * and the BSDs have released it, so retrying could close a descriptor
     * another thread just opened. */
#ifdef SYSCALL_RW
    (void)syscall(SYS_close, fd);
#else
    int old = mw__cancel_off();

    (void)close(fd);
    mw__cancel_restore(old);
#endif
    mw__errno_restore(saved);
}

/* The finer timed call was refused: for the whole process, as the kernel
 * and its filters are.  One flag serves: exactly one poller is linked. */
static atomic_bool fine_refused;

int
mw__timed_wait(int64_t timeout_ns, bool fine_built, struct timespec *ts,
               int (*fine)(void *arg, const struct timespec *ts),
               int (*coarse)(void *arg, int timeout_ms), void *arg)
{
    if (fine_built && timeout_ns > 0 && timeout_ns % MW__NS_PER_MS != 0
        && !atomic_load_explicit(&fine_refused, memory_order_relaxed)) {
        int64_t sec = timeout_ns / 1000000000;
        int n;

        ts->tv_sec = (time_t)(sec < MW__FINE_MAX_S ? sec : MW__FINE_MAX_S);
        ts->tv_nsec = (long)(timeout_ns % 1000000000);
        n = fine(arg, ts);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM))
            return n;
        atomic_store_explicit(&fine_refused, true, memory_order_relaxed);
    }
    return coarse(arg, mw__timeout_ms(timeout_ns));
}
