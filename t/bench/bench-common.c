/* SPDX-License-Identifier: MIT */
/* Shared parts of the benchmarks: see bench-common.h. */
#include "config.h"

#include "bench-common.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#ifdef HAVE_SYS_EPOLL_H
# include <sys/epoll.h>
#endif
#ifdef HAVE_SYS_EVENTFD_H
# include <sys/eventfd.h>
#endif
/* <sys/event.h> is the system's, or libkqueue's on a kqueue build that
 * uses the emulation (bench.mk then adds its -I and MW_BENCH_LIBKQUEUE). */
#if defined(HAVE_SYS_EVENT_H) || defined(MW_BENCH_LIBKQUEUE)
# include <sys/types.h>
# include <sys/event.h>
# include <sys/time.h>
# ifdef EVFILT_USER
#  define BENCH_HAVE_KQUEUE_USER 1
# endif
#endif

/* Pinning needs the cpu_set_t interface (Linux, and glibc or musl). */
#if defined(CPU_SET) && defined(CPU_ZERO) && defined(CPU_COUNT)
# define BENCH_HAVE_AFFINITY 1
#endif

/* Events fetched per wait, the same for the library and the baselines. */
#define BATCH 16

static const char *bench_name = "?";

/* ---- options ---- */

static void
usage_exit(int status, const char *usage)
{
    fprintf(status ? stderr : stdout,
            "usage: bench-%s [-n N] [-r ROUNDS] [-p same|split|none|all]\n"
            "  -n, --iterations N  %s\n"
            "  -r, --rounds R      rounds of the library and of each "
            "baseline, interleaved\n"
            "  -p, --pin MODE      thread placement (pinned with "
            "sched_setaffinity)\n"
            "environment: MW_BENCH_ITERATIONS, MW_BENCH_ROUNDS, "
            "MW_BENCH_PIN, MW_BENCH_TIMEOUT (s)\n",
            bench_name, usage);
    exit(status);
}

static long
parse_long(const char *s, const char *what, long min)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min) {
        fprintf(stderr, "bench-%s: bad %s '%s'\n", bench_name, what, s);
        exit(2);
    }
    return v;
}

static enum bench_pin
parse_pin(const char *s)
{
    if (strcmp(s, "same") == 0)
        return PIN_SAME;
    if (strcmp(s, "split") == 0)
        return PIN_SPLIT;
    if (strcmp(s, "none") == 0)
        return PIN_NONE;
    if (strcmp(s, "all") == 0)
        return PIN_ALL;
    fprintf(stderr, "bench-%s: bad pin mode '%s' (same, split, none, all)\n",
            bench_name, s);
    exit(2);
}

static void
on_alarm(int sig)
{
    static const char msg[] =
        " error=watchdog (a wake was lost or the machine stalled)\n";

    (void)sig;
    (void)!write(2, "bench=", 6);
    (void)!write(2, bench_name, strlen(bench_name));
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(3);
}

#ifdef BENCH_HAVE_AFFINITY
static cpu_set_t start_affinity;
static bool have_start_affinity;
#endif

void
bench_init(const char *name, int argc, char **argv, struct bench_opts *o,
           long def_iterations, enum bench_pin def_pin, const char *usage)
{
    const char *e;
    long timeout = 600;

    bench_name = name;
    o->iterations = def_iterations;
    o->rounds = 7;
    o->pin = def_pin;
    if ((e = getenv("MW_BENCH_ITERATIONS")) && *e)
        o->iterations = parse_long(e, "MW_BENCH_ITERATIONS", 1);
    if ((e = getenv("MW_BENCH_ROUNDS")) && *e)
        o->rounds = (int)parse_long(e, "MW_BENCH_ROUNDS", 1);
    if ((e = getenv("MW_BENCH_PIN")) && *e)
        o->pin = parse_pin(e);
    if ((e = getenv("MW_BENCH_TIMEOUT")) && *e)
        timeout = parse_long(e, "MW_BENCH_TIMEOUT", 0);
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage_exit(0, usage);
        if (!v)
            usage_exit(2, usage);
        if (strcmp(a, "-n") == 0 || strcmp(a, "--iterations") == 0)
            o->iterations = parse_long(v, "iteration count", 1);
        else if (strcmp(a, "-r") == 0 || strcmp(a, "--rounds") == 0)
            o->rounds = (int)parse_long(v, "round count", 1);
        else if (strcmp(a, "-p") == 0 || strcmp(a, "--pin") == 0)
            o->pin = parse_pin(v);
        else
            usage_exit(2, usage);
    }
    if (o->rounds > 1000)
        o->rounds = 1000;

#ifdef BENCH_HAVE_AFFINITY
    have_start_affinity =
        sched_getaffinity(0, sizeof(start_affinity), &start_affinity) == 0;
#endif
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(timeout > INT_MAX ? INT_MAX : timeout));
    /* A peer gone wrong must not kill us with SIGPIPE before we report. */
    signal(SIGPIPE, SIG_IGN);
}

/* ---- clocks and statistics ---- */

int64_t
bench_now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t
bench_thread_cpu_ns(void)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        bench_fail("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %s",
                   strerror(errno));
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double
bench_median(double *v, int n)
{
    if (n <= 0)
        return -1;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double
bench_paired_ratio(const double *lib, const double *base, int n)
{
    double r[1000];

    if (n <= 0 || n > 1000)
        return -1;
    for (int i = 0; i < n; i++) {
        if (lib[i] < 0 || base[i] <= 0)
            return -1;
        r[i] = lib[i] / base[i];
    }
    return bench_median(r, n);
}

/* ---- output ---- */

void
bench_line(const char *fmt, ...)
{
    va_list ap;

    printf("bench=%s backend=%s ", bench_name, mw_backend());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

const char *
bench_fmt_ns(char *buf, size_t len, double x)
{
    if (x < 0)
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.1f", x);
    return buf;
}

const char *
bench_fmt_ratio(char *buf, size_t len, double a, double b)
{
    if (a < 0 || b <= 0)
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.3f", a / b);
    return buf;
}

void
bench_fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "bench=%s backend=%s error=", bench_name, mw_backend());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

const char *
bench_pin_name(enum bench_pin pin)
{
    switch (pin) {
    case PIN_SAME:
        return "same";
    case PIN_SPLIT:
        return "split";
    case PIN_NONE:
        return "none";
    default:
        return "all";
    }
}

/* ---- CPU pinning ---- */

bool
bench_pin_cpus(enum bench_pin pin, int *cpu_a, int *cpu_b, const char **why)
{
    *cpu_a = *cpu_b = -1;
    *why = NULL;
    if (pin == PIN_NONE)
        return true;
#ifdef BENCH_HAVE_AFFINITY
    {
        int found = 0;

        if (!have_start_affinity) {
            *why = "sched_getaffinity-failed";
            return false;
        }
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
            if (!CPU_ISSET(c, &start_affinity))
                continue;
            if (found++ == 0)
                *cpu_a = c;
            else
                *cpu_b = c;
        }
        if (found == 0) {
            *why = "no-allowed-cpu";
            return false;
        }
        if (pin == PIN_SAME) {
            *cpu_b = *cpu_a;
            return true;
        }
        if (found < 2) {
            *why = "only-one-cpu";
            return false;
        }
        return true;
    }
#else
    *why = "no-sched_setaffinity";
    return false;
#endif
}

void
bench_pin_self(int cpu)
{
#ifdef BENCH_HAVE_AFFINITY
    cpu_set_t set;

    if (cpu < 0) {
        if (have_start_affinity)
            (void)sched_setaffinity(0, sizeof(start_affinity),
                                    &start_affinity);
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        bench_fail("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
#else
    (void)cpu;
#endif
}

/* ---- threads ---- */

void
bench_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);

    if (rc != 0)
        bench_fail("pthread_create: %s", strerror(rc));
}

void
bench_thread_join(pthread_t t)
{
    int rc = pthread_join(t, NULL);

    if (rc != 0)
        bench_fail("pthread_join: %s", strerror(rc));
}

long
bench_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY || (long long)rl.rlim_cur >= want)
        return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY
                   || (long long)rl.rlim_max >= want)
                  ? (rlim_t)want : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

/* ---- raw baselines ---- */

struct raw_queue {
    enum raw_kind kind;
    int qfd;                    /* epoll or kqueue descriptor, else -1 */
    int wfd;                    /* the eventfd, or the pipe's write end */
    int rfd;                    /* the eventfd, or the pipe's read end */
    struct pollfd *pfds;        /* poll(2): [0] is rfd, then idle ones */
    size_t npfds, cap;
};

enum raw_kind
raw_kind_for_backend(void)
{
    switch (util_caps()->wait_call) {
    case UTIL_WAIT_EPOLL_WAIT:
#if defined(HAVE_SYS_EPOLL_H) && defined(HAVE_SYS_EVENTFD_H)
        return RAW_EPOLL_EVENTFD;
#elif defined(HAVE_SYS_EPOLL_H)
        return RAW_EPOLL_PIPE;
#else
        return RAW_NONE;
#endif
    case UTIL_WAIT_KEVENT:
#ifdef BENCH_HAVE_KQUEUE_USER
        return RAW_KQUEUE_USER;
#else
        return RAW_NONE;
#endif
    case UTIL_WAIT_POLL:
        return RAW_POLL_PIPE;
    }
    return RAW_NONE;
}

const char *
raw_kind_name(enum raw_kind k)
{
    switch (k) {
    case RAW_EPOLL_EVENTFD:
        return "epoll_wait+eventfd";
    case RAW_EPOLL_PIPE:
        return "epoll_wait+pipe";
    case RAW_KQUEUE_USER:
        return "kevent+EVFILT_USER";
    case RAW_POLL_PIPE:
        return "poll+pipe";
    default:
        return "n/a";
    }
}

static int
raw_pipe(int fds[2])
{
    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) < 0
            || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            int rc = -errno;

            close(fds[0]);
            close(fds[1]);
            return rc;
        }
    }
    return 0;
}

static void
raw_drain(int fd)
{
    char buf[256];
    ssize_t n;

    do
        n = read(fd, buf, sizeof(buf));
    while (n > 0 || (n < 0 && errno == EINTR));
}

struct raw_queue *
raw_open(enum raw_kind k)
{
    struct raw_queue *q = calloc(1, sizeof(*q));
    int fds[2];

    if (!q)
        bench_fail("out of memory");
    q->kind = k;
    q->qfd = q->wfd = q->rfd = -1;
    switch (k) {
#ifdef HAVE_SYS_EPOLL_H
    case RAW_EPOLL_EVENTFD:
    case RAW_EPOLL_PIPE: {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

        q->qfd = epoll_create1(EPOLL_CLOEXEC);
        if (q->qfd < 0)
            bench_fail("epoll_create1: %s", strerror(errno));
# ifdef HAVE_SYS_EVENTFD_H
        if (k == RAW_EPOLL_EVENTFD) {
            q->wfd = q->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (q->wfd < 0)
                bench_fail("eventfd: %s", strerror(errno));
        }
# endif
        if (k == RAW_EPOLL_PIPE) {
            if (raw_pipe(fds) < 0)
                bench_fail("pipe: %s", strerror(errno));
            q->rfd = fds[0];
            q->wfd = fds[1];
        }
        if (q->rfd < 0)
            bench_fail("no eventfd in this build");
        ev.data.fd = q->rfd;
        if (epoll_ctl(q->qfd, EPOLL_CTL_ADD, q->rfd, &ev) < 0)
            bench_fail("epoll_ctl: %s", strerror(errno));
        break;
    }
#endif
#ifdef BENCH_HAVE_KQUEUE_USER
    case RAW_KQUEUE_USER: {
        struct kevent kev;

        q->qfd = kqueue();
        if (q->qfd < 0)
            bench_fail("kqueue: %s", strerror(errno));
        EV_SET(&kev, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
        if (kevent(q->qfd, &kev, 1, NULL, 0, NULL) < 0)
            bench_fail("kevent(EVFILT_USER, EV_ADD): %s", strerror(errno));
        break;
    }
#endif
    case RAW_POLL_PIPE:
        if (raw_pipe(fds) < 0)
            bench_fail("pipe: %s", strerror(errno));
        q->rfd = fds[0];
        q->wfd = fds[1];
        q->cap = 16;
        q->pfds = calloc(q->cap, sizeof(*q->pfds));
        if (!q->pfds)
            bench_fail("out of memory");
        q->pfds[0] = (struct pollfd){ .fd = q->rfd, .events = POLLIN };
        q->npfds = 1;
        break;
    default:
        bench_fail("no raw baseline of kind %d in this build", (int)k);
    }
    return q;
}

void
raw_close(struct raw_queue *q)
{
    if (!q)
        return;
    if (q->qfd >= 0)
        close(q->qfd);
    if (q->rfd >= 0)
        close(q->rfd);
    if (q->wfd >= 0 && q->wfd != q->rfd)
        close(q->wfd);
    free(q->pfds);
    free(q);
}

int
raw_wake(struct raw_queue *q)
{
    switch (q->kind) {
#ifdef HAVE_SYS_EVENTFD_H
    case RAW_EPOLL_EVENTFD: {
        const uint64_t one = 1;

        while (write(q->wfd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            if (errno != EINTR)
                return -errno;
        return 0;
    }
#endif
#ifdef BENCH_HAVE_KQUEUE_USER
    case RAW_KQUEUE_USER: {
        struct kevent kev;

        EV_SET(&kev, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
        while (kevent(q->qfd, &kev, 1, NULL, 0, NULL) < 0)
            if (errno != EINTR)
                return -errno;
        return 0;
    }
#endif
    case RAW_EPOLL_PIPE:
    case RAW_POLL_PIPE:
        while (write(q->wfd, "", 1) != 1) {
            if (errno == EAGAIN)
                return 0;       /* full: already readable */
            if (errno != EINTR)
                return -errno;
        }
        return 0;
    default:
        return -ENOSYS;
    }
}

int
raw_wait(struct raw_queue *q)
{
    for (;;) {
        int got = 0;

        switch (q->kind) {
#ifdef HAVE_SYS_EPOLL_H
        case RAW_EPOLL_EVENTFD:
        case RAW_EPOLL_PIPE: {
            struct epoll_event ev[BATCH];
            int n = epoll_wait(q->qfd, ev, BATCH, -1);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            for (int i = 0; i < n; i++) {
                if (ev[i].data.fd != q->rfd)
                    return -EPROTO;
                got++;
            }
            /* Edge-triggered eventfd: the write was the edge, nothing to
             * read (as in the library).  A pipe must be emptied so that
             * the next write is a new edge. */
            if (got && q->kind == RAW_EPOLL_PIPE)
                raw_drain(q->rfd);
            break;
        }
#endif
#ifdef BENCH_HAVE_KQUEUE_USER
        case RAW_KQUEUE_USER: {
            struct kevent ev[BATCH];
            int n = kevent(q->qfd, NULL, 0, ev, BATCH, NULL);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            for (int i = 0; i < n; i++) {
                if (ev[i].filter != EVFILT_USER)
                    return -EPROTO;
                got++;
            }
            break;
        }
#endif
        case RAW_POLL_PIPE: {
            int n = poll(q->pfds, (nfds_t)q->npfds, -1);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            for (size_t i = 1; i < q->npfds; i++)
                if (q->pfds[i].revents)
                    return -EPROTO;
            if (q->pfds[0].revents & ~POLLIN)
                return -EPROTO;
            if (q->pfds[0].revents & POLLIN) {
                raw_drain(q->rfd);
                got = 1;
            }
            break;
        }
        default:
            return -ENOSYS;
        }
        if (got)
            return got;
    }
}

const char *
raw_timed_call_name(enum raw_kind k)
{
    switch (k) {
    case RAW_EPOLL_EVENTFD:
    case RAW_EPOLL_PIPE:
#ifdef HAVE_EPOLL_PWAIT2
        return "epoll_pwait2";
#else
        return "epoll_wait";
#endif
    case RAW_KQUEUE_USER:
        return "kevent";
    case RAW_POLL_PIPE:
#ifdef HAVE_PPOLL
        return "ppoll";
#else
        return "poll";
#endif
    case RAW_NONE:
        break;
    }
    return "none";
}

int
raw_wait_timed(struct raw_queue *q, int64_t timeout_ns)
{
    struct timespec ts;
    int ms = (int)((timeout_ns + 999999) / 1000000);
    int n = -1;

    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    (void)ts;
    (void)ms;
    switch (q->kind) {
#ifdef HAVE_SYS_EPOLL_H
    case RAW_EPOLL_EVENTFD:
    case RAW_EPOLL_PIPE: {
        struct epoll_event ev[BATCH];

# ifdef HAVE_EPOLL_PWAIT2
        n = epoll_pwait2(q->qfd, ev, BATCH, &ts, NULL);
# else
        n = epoll_wait(q->qfd, ev, BATCH, ms);
# endif
        break;
    }
#endif
#ifdef BENCH_HAVE_KQUEUE_USER
    case RAW_KQUEUE_USER: {
        struct kevent ev[BATCH];

        n = kevent(q->qfd, NULL, 0, ev, BATCH, &ts);
        break;
    }
#endif
    case RAW_POLL_PIPE:
#ifdef HAVE_PPOLL
        n = ppoll(q->pfds, (nfds_t)q->npfds, &ts, NULL);
#else
        n = poll(q->pfds, (nfds_t)q->npfds, ms);
#endif
        break;
    default:
        errno = ENOSYS;
        break;
    }
    return n < 0 ? -errno : n;
}

int
raw_add_idle(struct raw_queue *q, int fd)
{
    switch (q->kind) {
#ifdef HAVE_SYS_EPOLL_H
    case RAW_EPOLL_EVENTFD:
    case RAW_EPOLL_PIPE: {
        /* The flags the library's epoll poller uses for MW_READABLE. */
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                  .data.fd = fd };

        return epoll_ctl(q->qfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
    }
#endif
#ifdef BENCH_HAVE_KQUEUE_USER
    case RAW_KQUEUE_USER: {
        struct kevent kev;

        EV_SET(&kev, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, 0);
        return kevent(q->qfd, &kev, 1, NULL, 0, NULL) < 0 ? -errno : 0;
    }
#endif
    case RAW_POLL_PIPE:
        if (q->npfds == q->cap) {
            struct pollfd *p = realloc(q->pfds, 2 * q->cap * sizeof(*p));

            if (!p)
                return -ENOMEM;
            q->pfds = p;
            q->cap *= 2;
        }
        q->pfds[q->npfds++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        return 0;
    default:
        return -ENOSYS;
    }
}

/* ---- the ping-pong engine ---- */

/* Side i waits on poll[i] / raw[i]; waker[i] wakes side i. */
enum { SIDE_A, SIDE_B };
#define TOKEN_A ((mw_token)0xA)
#define TOKEN_B ((mw_token)0xB)
#define IDLE_TOKEN ((mw_token)0x1D1E)
#define WARMUP 200

struct pingpong {
    enum raw_kind kind;
    mw_poll *poll[2];
    mw_waker *waker[2];
    struct raw_queue *raw[2];
};

struct pp_side {
    struct pingpong *pp;
    int side;
    bool raw;
    long total;                 /* warm-up plus timed round trips */
    int cpu;
    long events;                /* own wake-up events seen */
    long foreign;               /* anything else */
    int err;                    /* first failing return code */
};

struct pingpong *
pingpong_new(enum raw_kind k)
{
    struct pingpong *pp = calloc(1, sizeof(*pp));
    int rc;

    if (!pp)
        bench_fail("out of memory");
    pp->kind = k;
    for (int s = 0; s < 2; s++) {
        rc = mw_poll_new(&pp->poll[s]);
        if (rc == 0)
            rc = mw_waker_new(&pp->waker[s], pp->poll[s],
                              s == SIDE_A ? TOKEN_A : TOKEN_B);
        if (rc != 0)
            bench_fail("mw_poll_new/mw_waker_new: %s", strerror(-rc));
        if (k != RAW_NONE)
            pp->raw[s] = raw_open(k);
    }
    return pp;
}

void
pingpong_free(struct pingpong *pp)
{
    if (!pp)
        return;
    for (int s = 0; s < 2; s++) {
        mw_waker_free(pp->waker[s]);
        mw_poll_free(pp->poll[s]);
        raw_close(pp->raw[s]);
    }
    free(pp);
}

void
pingpong_add_idle(struct pingpong *pp, int fd)
{
    int rc = mw_poll_register(pp->poll[SIDE_A], fd, IDLE_TOKEN, MW_READABLE);

    if (rc != 0)
        bench_fail("mw_poll_register(idle fd %d): %s", fd, strerror(-rc));
    if (pp->raw[SIDE_A]) {
        rc = raw_add_idle(pp->raw[SIDE_A], fd);
        if (rc != 0)
            bench_fail("raw_add_idle(fd %d): %s", fd, strerror(-rc));
    }
}

/* Wait for one's own wake-up event; returns how many came (1: each wake
 * of a ping-pong finds the peer's waker collected, so none merge). */
static int
side_wait(struct pp_side *s)
{
    struct pingpong *pp = s->pp;

    if (s->raw)
        return raw_wait(pp->raw[s->side]);
    for (;;) {
        struct mw_event ev[BATCH];
        mw_token want = s->side == SIDE_A ? TOKEN_A : TOKEN_B;
        int got = 0;
        int n = mw_poll_wait(pp->poll[s->side], ev, BATCH, -1);

        if (n == -EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? n : -EPROTO;  /* 0 with no time limit */
        for (int i = 0; i < n; i++) {
            if (ev[i].token == want && ev[i].flags == MW_EV_READABLE)
                got++;
            else
                s->foreign++;
        }
        if (got)
            return got;
    }
}

static int
side_wake_peer(struct pp_side *s)
{
    int peer = s->side == SIDE_A ? SIDE_B : SIDE_A;

    return s->raw ? raw_wake(s->pp->raw[peer])
                  : mw_waker_wake(s->pp->waker[peer]);
}

static void *
side_b(void *arg)
{
    struct pp_side *s = arg;

    if (s->cpu >= 0)
        bench_pin_self(s->cpu);
    for (long i = 0; i < s->total && !s->err; i++) {
        int got = side_wait(s);
        int rc;

        if (got < 0) {
            s->err = got;
            break;
        }
        s->events += got;
        rc = side_wake_peer(s);
        if (rc != 0)
            s->err = rc;
    }
    return NULL;
}

/* One round trip from side A; 0 or the failing return code. */
static int
round_trip(struct pp_side *a)
{
    int rc = side_wake_peer(a);
    int got;

    if (rc != 0)
        return rc;
    got = side_wait(a);
    if (got < 0)
        return got;
    a->events += got;
    return 0;
}

double
pingpong_run(struct pingpong *pp, bool raw, long n, int cpu_a, int cpu_b)
{
    struct pp_side a = { .pp = pp, .side = SIDE_A, .raw = raw,
                         .total = WARMUP + n, .cpu = cpu_a };
    struct pp_side b = { .pp = pp, .side = SIDE_B, .raw = raw,
                         .total = WARMUP + n, .cpu = cpu_b };
    const char *what = raw ? raw_kind_name(pp->kind) : "library";
    pthread_t t;
    int64_t t0, t1;
    int rc = 0;

    if (raw && !pp->raw[SIDE_A])
        return -1;
    if (cpu_a >= 0)
        bench_pin_self(cpu_a);
    bench_thread_start(&t, side_b, &b);
    for (long i = 0; i < WARMUP && rc == 0; i++)
        rc = round_trip(&a);
    t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = round_trip(&a);
    t1 = bench_now_ns();
    if (rc != 0) {
        /* B may be blocked for a wake that will never come: report now. */
        bench_fail("%s ping-pong side A failed: %s", what, strerror(-rc));
    }
    bench_thread_join(t);
    if (cpu_a >= 0)
        bench_pin_self(-1);
    if (b.err)
        bench_fail("%s ping-pong side B failed: %s", what, strerror(-b.err));
    if (a.events != a.total || b.events != b.total)
        bench_fail("%s ping-pong lost or merged wakes: side A saw %ld events "
                   "and side B %ld for %ld round trips", what, a.events,
                   b.events, a.total);
    if (a.foreign || b.foreign)
        bench_fail("%s ping-pong saw %ld unexpected events", what,
                   a.foreign + b.foreign);
    return (double)(t1 - t0) / (double)n;
}
