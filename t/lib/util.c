/* SPDX-License-Identifier: MIT */
/* Test fixtures: see util.h. */
#include "config.h"

#include "util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- descriptors ---- */

static void
set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        bail_out("fcntl(O_NONBLOCK): %s", strerror(errno));
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        bail_out("fcntl(FD_CLOEXEC): %s", strerror(errno));
}

void
util_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        bail_out("pipe: %s", strerror(errno));
    set_flags(fds[0]);
    set_flags(fds[1]);
}

void
util_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        bail_out("socketpair: %s", strerror(errno));
    set_flags(sv[0]);
    set_flags(sv[1]);
}

void
util_write_byte(int fd)
{
    char c = 'x';
    ssize_t r;

    do
        r = write(fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        bail_out("write(%d): %s", fd, r < 0 ? strerror(errno) : "short");
}

long
util_drain(int fd)
{
    char buf[4096];
    long total = 0;
    ssize_t r;

    for (;;) {
        r = read(fd, buf, sizeof buf);
        if (r > 0) {
            total += r;
            continue;
        }
        if (r == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return total;
        return -2;
    }
}

void
util_close(int fd)
{
    if (close(fd) != 0 && errno == EBADF)
        bail_out("close(%d): %s", fd, strerror(errno));
}

int
util_is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    return fl < 0 ? -1 : (fl & FD_CLOEXEC) != 0;
}

int
util_is_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

bool
util_fd_is_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

bool
util_fd_is_eventfd(int fd)
{
    char path[64], link[128];
    ssize_t len;

    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    len = readlink(path, link, sizeof link - 1);
    if (len <= 0)
        return false;
    link[len] = '\0';
    return strcmp(link, "anon_inode:[eventfd]") == 0;
}

bool
util_fd_readable(int fd, int timeout_ms)
{
    struct pollfd pfd;
    int r;
    int64_t end = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    for (;;) {
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, timeout_ms);
        if (r >= 0 || errno != EINTR)
            break;
        if (timeout_ms > 0) {
            timeout_ms = (int)(end - util_now_ms());
            if (timeout_ms < 0)
                timeout_ms = 0;
        }
    }
    return r == 1 && (pfd.revents & POLLIN) != 0;
}

enum util_fd_kind
util_fd_kind(int fd)
{
    struct stat st;
    int fl;

    if (fstat(fd, &st) != 0)
        return UTIL_FD_OTHER;
    if (S_ISFIFO(st.st_mode)) {
        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return UTIL_FD_OTHER;
        if ((fl & O_ACCMODE) == O_WRONLY)
            return UTIL_FD_PIPE_WRITE;
        if ((fl & O_ACCMODE) == O_RDONLY)
            return UTIL_FD_PIPE_READ;
        return UTIL_FD_OTHER;
    }
    if (util_fd_is_eventfd(fd))
        return UTIL_FD_EVENTFD;
    return UTIL_FD_OTHER;
}

/* ---- snapshot of the open descriptors ---- */

void
util_fds_take(struct util_fds *s)
{
    int saved = errno;
    int n = getdtablesize();

    if (n <= 0 || n > UTIL_FDS_MAX)
        n = UTIL_FDS_MAX;
    s->n = n;
    for (int i = 0; i < UTIL_FDS_MAX; i++)
        s->open[i] = i < n && fcntl(i, F_GETFD) >= 0;
    errno = saved;
}

void
util_fds_free(struct util_fds *s)
{
    memset(s->open, 0, sizeof s->open);
    s->n = 0;
}

int
util_fds_new(const struct util_fds *before, const struct util_fds *after,
             int *out, int max)
{
    int count = 0;

    for (int i = 0; i < UTIL_FDS_MAX; i++) {
        if (!after->open[i] || before->open[i])
            continue;
        if (count < max)
            out[count] = i;
        count++;
    }
    return count;
}

void
util_hub_fds(const struct util_fds *before, const struct util_fds *after,
             int *rfd, int *wfd)
{
    int r = -1, w = -1, efd = -1;

    for (int i = 0; i < UTIL_FDS_MAX; i++) {
        if (!after->open[i] || before->open[i])
            continue;
        switch (util_fd_kind(i)) {
        case UTIL_FD_EVENTFD:
            efd = i;
            break;
        case UTIL_FD_PIPE_READ:
            r = i;
            break;
        case UTIL_FD_PIPE_WRITE:
            w = i;
            break;
        default:
            break;
        }
    }
    if (util_caps()->waker_eventfd) {
        *rfd = *wfd = efd;
    } else if (util_caps()->waker_pipe
               || (util_caps()->waker_knote && !util_caps()->emulated)) {
        /* A user knote the kernel refuses falls back to a pipe. */
        *rfd = r >= 0 && w >= 0 ? r : -1;
        *wfd = r >= 0 && w >= 0 ? w : -1;
    } else {
        *rfd = *wfd = -1;
    }
}

bool
util_fds_equal(const struct util_fds *a, const struct util_fds *b,
               int *first)
{
    for (int i = 0; i < UTIL_FDS_MAX; i++) {
        if ((a->open[i] != 0) != (b->open[i] != 0)) {
            if (first != NULL)
                *first = i;
            return false;
        }
    }
    return true;
}

/* Only libkqueue's Linux backend has it; a weak reference is NULL
 * elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
void libkqueue_drain_pending_close(void) __attribute__((weak));
#endif

void
util_settle(void)
{
    if (!util_caps()->emulated)
        return;
#if defined(__GNUC__) || defined(__clang__)
    if (libkqueue_drain_pending_close)
        libkqueue_drain_pending_close();
#endif
}

bool
util_fds_settled(const struct util_fds *want, struct util_fds *got,
                 int *first)
{
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    for (;;) {
        util_fds_take(got);
        if (util_fds_equal(want, got, first))
            return true;
        if (!util_caps()->emulated || util_now_ms() > end)
            return false;
        util_settle();
        util_sleep_ms(10);
    }
}

/* ---- processes, threads and time ---- */

pid_t
util_fork(void)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail_out("fork: %s", strerror(errno));
    return pid;
}

_Noreturn void
util_child_exit(int status)
{
#ifdef MW_COVERAGE
    /* Each object (the program, the shared library) has its own copy of
     * the coverage runtime, which the library's version script keeps
     * apart from the program's: __gcov_dump() here would write the
     * program's counts alone.  exit() runs every object's destructor,
     * and each writes its own.  The tests register no atexit handler,
     * and util_fork() left no output buffered. */
    exit(status);
#else
    _exit(status);
#endif
}

void
util_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int r = pthread_create(t, NULL, fn, arg);

    if (r != 0)
        bail_out("pthread_create: %s", strerror(r));
}

void
util_thread_join(pthread_t t)
{
    int r = pthread_join(t, NULL);

    if (r != 0)
        bail_out("pthread_join: %s", strerror(r));
}

void
util_sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int64_t
util_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        bail_out("clock_gettime: %s", strerror(errno));
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- waiting ---- */

int
util_count_token(const struct mw_event *ev, int n, mw_token token,
                 uint32_t *flags)
{
    int count = 0;

    if (flags != NULL)
        *flags = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].token == token) {
            count++;
            if (flags != NULL)
                *flags |= ev[i].flags;
        }
    return count;
}

int
util_wait_token(mw_poll *p, mw_token token, int timeout_ms,
                uint32_t *flags, struct util_seen *seen)
{
    struct mw_event ev[64];
    int64_t end = util_now_ms() + timeout_ms;
    int left = timeout_ms;
    int r;

    for (;;) {
        r = mw_poll_wait(p, ev, 64, left);
        if (r == -EINTR) {
            if (seen != NULL)
                seen->eintr++;
        } else if (r < 0 || r > 64) {
            if (seen != NULL) {
                seen->bad++;
                seen->last_rc = r;
            }
            return r < 0 ? r : -ERANGE;
        } else if (r > 0) {
            if (seen != NULL) {
                seen->waits++;
                seen->events += r;
            }
            if (util_count_token(ev, r, token, flags) > 0)
                return 1;
        }
        left = (int)(end - util_now_ms());
        if (left <= 0)
            return 0;
    }
}

int
util_poll_drain(mw_poll *p, mw_token token, int rounds, uint32_t *flags)
{
    struct mw_event ev[64];
    uint32_t f;
    int count = 0;
    int r;

    if (flags != NULL)
        *flags = 0;
    while (rounds-- > 0) {
        r = mw_poll_wait(p, ev, 64, 0);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        if (r == 0)
            break;
        count += util_count_token(ev, r, token, &f);
        if (flags != NULL)
            *flags |= f;
    }
    return count;
}

int
util_wait(mw_poll *p, struct mw_event *ev, size_t cap, int timeout_ms)
{
    int n;

    do
        n = mw_poll_wait(p, ev, cap, timeout_ms);
    while (n == -EINTR);
    return n;
}

bool
util_fence(mw_poll *p, mw_waker *fence, mw_token fence_token, mw_token token,
           int *hits, int *others)
{
    struct mw_event ev[64];
    int64_t end;
    bool came = false;

    if (mw_waker_wake(fence) != 0)
        return false;
    end = util_now_ms() + UTIL_LONG_MS;
    while (!came && util_now_ms() < end) {
        int n = util_wait(p, ev, 64, 100);

        if (n < 0)
            return false;
        for (int i = 0; i < n; i++) {
            if (ev[i].token == fence_token)
                came = true;
            else if (ev[i].token == token) {
                if (hits != NULL)
                    (*hits)++;
            } else if (others != NULL) {
                (*others)++;
            }
        }
    }
    return came;
}

/* ---- the environment ---- */

/* Set to something other than "" or "0". */
static bool
env_true(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

bool
util_under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");

    if (env_true("MW_UNDER_VALGRIND"))
        return true;
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

bool
util_stress(void)
{
    return env_true("MW_STRESS");
}

long
util_count(long short_n, long long_n, long valgrind_div)
{
    long n = util_stress() ? long_n : short_n;

    if (util_under_valgrind() && valgrind_div > 1)
        n /= valgrind_div;
    return n > 0 ? n : 1;
}

const char *
util_flags_str(uint32_t flags)
{
    static char buf[128];
    static const struct { uint32_t bit; const char *name; } names[] = {
        { MW_EV_READABLE, "READABLE" }, { MW_EV_WRITABLE, "WRITABLE" },
        { MW_EV_PRIORITY, "PRIORITY" }, { MW_EV_ERROR, "ERROR" },
        { MW_EV_READ_CLOSED, "READ_CLOSED" },
        { MW_EV_WRITE_CLOSED, "WRITE_CLOSED" },
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit) {
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
                                    len ? "|" : "", names[i].name);
            flags &= ~names[i].bit;
        }
    if (flags != 0)
        snprintf(buf + len, sizeof buf - len, "%s0x%x", len ? "|" : "",
                 (unsigned)flags);
    else if (len == 0)
        snprintf(buf, sizeof buf, "0");
    return buf;
}

void *
util_wake_later(void *arg)
{
    struct util_later *l = arg;

    util_sleep_ms(l->delay_ms);
    mw_waker_wake(l->w);
    return NULL;
}

int
util_wait_via_ts(mw_poll *poll, struct mw_event *events, size_t capacity,
                 int timeout_ms)
{
    struct timespec ts;

    if (timeout_ms < 0)
        return mw_poll_wait_ts(poll, events, capacity, NULL);
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    return mw_poll_wait_ts(poll, events, capacity, &ts);
}
