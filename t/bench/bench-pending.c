/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: mw_waker_wake on a waker whose event is already pending, the
 * path every wake of a burst takes after the first.  The contract says it
 * makes no system call; the design makes it a seq_cst fence and a relaxed
 * load.  Baselines run in the same process, interleaved with it in short
 * slices within every round:
 *
 *   limit       the same fence and load written inline (the load is of an
 *               _Atomic int and its result is summed and checked, so the
 *               compiler can neither hoist nor drop it): what no library
 *               call can beat;
 *   limit_call  the same in an out-of-line function called through a
 *               pointer: the limit plus the cost of any call (a reference
 *               for reading the figures, not a target);
 *   sys         one raw write to the wake-up object of this build's
 *               baseline (an eventfd write on epoll builds): what a wake
 *               that always signalled would cost.
 *
 * Then it proves the "no system call" promise three ways: the waker's
 * kernel object (eventfd counter, or bytes in the pipe) did not change
 * over every timed wake; a forked child that may make no system call but
 * exit (a seccomp filter kills it otherwise; a control child shows the
 * filter works) makes N pending wakes and exits cleanly; and all those
 * wakes together left exactly one event to collect.  MW_BENCH_SECCOMP=0
 * skips the seccomp children (under valgrind or strace).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-common.h"

/* A sanitizer's runtime makes system calls of its own in the child (on
 * _exit, say): no seccomp check in such builds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define BENCH_SANITIZED 1
#endif
#if defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer)
#  define BENCH_SANITIZED 1
# endif
#endif

#if defined(__linux__) && defined(__has_include) && !defined(BENCH_SANITIZED)
# if __has_include(<linux/seccomp.h>) && __has_include(<linux/filter.h>) \
     && __has_include(<sys/prctl.h>) && __has_include(<sys/syscall.h>)
#  include <linux/filter.h>
#  include <linux/seccomp.h>
#  include <signal.h>
#  include <stddef.h>
#  include <sys/prctl.h>
#  include <sys/syscall.h>
#  define HAVE_SECCOMP_CHECK 1
# endif
#endif

#define DEFAULT_ITERATIONS 5000000L  /* pending wakes and limit steps */
#define SYS_DIVISOR 50               /* raw system calls: N / 50 */
#define SLICES 50                    /* interleaved slices per round */
#define TOKEN ((mw_token)0x9E4D)
#define MAX_FDS 1024

/* The limit's flag: set, like the pending flag under test. */
static alignas(64) _Atomic int limit_flag = 1;

static double
time_lib(mw_waker *w, long n)
{
    int64_t t0, t1;
    int rc = 0;

    t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        rc |= mw_waker_wake(w);
    t1 = bench_now_ns();
    if (rc != 0)
        bench_fail("mw_waker_wake on a pending waker returned %d", rc);
    return (double)(t1 - t0) / (double)n;
}

/* The limit as an out-of-line function called through a pointer: what
 * the limit costs once it pays for a call, as any library function does
 * (an indirect call, as a call through the PLT is).  A reference for the
 * reader; the target is judged against the inline limit. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static int
limit_fn(_Atomic int *flag)
{
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(flag, memory_order_relaxed);
}

static int (*volatile limit_ptr)(_Atomic int *) = limit_fn;

static double
time_limit_call(long n)
{
    int (*fn)(_Atomic int *) = limit_ptr;
    int64_t t0, t1;
    long sum = 0;

    t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        sum += fn(&limit_flag);
    t1 = bench_now_ns();
    if (sum != n)
        bench_fail("the limit_call loop read %ld set flags out of %ld",
                   sum, n);
    return (double)(t1 - t0) / (double)n;
}

static double
time_limit(long n)
{
    int64_t t0, t1;
    long sum = 0;

    t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        atomic_thread_fence(memory_order_seq_cst);
        sum += atomic_load_explicit(&limit_flag, memory_order_relaxed);
    }
    t1 = bench_now_ns();
    if (sum != n)
        bench_fail("the limit loop read %ld set flags out of %ld", sum, n);
    return (double)(t1 - t0) / (double)n;
}

/* One raw wake per iteration; a pipe is emptied every 1024 writes (inside
 * the timing, amortised) so that the writes keep succeeding. */
static double
time_sys(struct raw_queue *q, enum raw_kind kind, long n)
{
    bool pipe = kind == RAW_EPOLL_PIPE || kind == RAW_POLL_PIPE;
    int64_t t0, t1;
    int rc = 0;

    t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        rc |= raw_wake(q);
        if (pipe && i % 1024 == 1023 && raw_wait(q) < 0)
            rc = -1;
    }
    t1 = bench_now_ns();
    if (rc != 0)
        bench_fail("raw wake failed");
    return (double)(t1 - t0) / (double)n;
}

static const char *
sys_name(enum raw_kind k)
{
    switch (k) {
    case RAW_EPOLL_EVENTFD:
        return "eventfd_write";
    case RAW_EPOLL_PIPE:
    case RAW_POLL_PIPE:
        return "pipe_write";
    case RAW_KQUEUE_USER:
        return "kevent_trigger";
    default:
        return "n/a";
    }
}

/* ---- the waker's kernel object ---- */

/* Which descriptors are open (around mw_poll_new, which opens the object
 * every waker of the poll shares, among its own). */
static int
open_fds(unsigned char *open)
{
    int n = 0;

    for (int fd = 0; fd < MAX_FDS; fd++) {
        open[fd] = fcntl(fd, F_GETFD) >= 0;
        n += open[fd];
    }
    return n;
}

/* What the kernel holds for this descriptor: an eventfd's counter (from
 * /proc/self/fdinfo on Linux), else the bytes in a pipe (FIONREAD); -1 if
 * neither can be read. */
static long long
kernel_count(int fd)
{
    char path[64], line[128];
    long long v = -1;
    FILE *f;
    int bytes;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    if ((f = fopen(path, "r")) != NULL) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "eventfd-count: %llx", &v) == 1)
                break;
        fclose(f);
        if (v >= 0)
            return v;
    }
#ifdef FIONREAD
    if (ioctl(fd, FIONREAD, &bytes) == 0)
        return bytes;
#else
    (void)bytes;
#endif
    return -1;
}

/* The sum of kernel_count over the descriptors mw_poll_new opened (the
 * wakers' object among them), or -1. */
static long long
waker_kernel_count(const int *fds, int nfds)
{
    long long sum = 0;
    bool any = false;

    for (int i = 0; i < nfds; i++) {
        long long c = kernel_count(fds[i]);

        if (c >= 0) {
            sum += c;
            any = true;
        }
    }
    return any ? sum : -1;
}

/* ---- the seccomp child ---- */

#ifdef HAVE_SECCOMP_CHECK
/* Fork a child that installs a filter allowing only exit and exit_group,
 * then makes n wakes (or, as a control, one getppid()).  Returns "ok" if
 * it exited 0, "killed" if the filter killed it, "unavailable" if the
 * filter could not be installed, "failed" otherwise. */
static const char *
seccomp_child(mw_waker *w, long n, bool control)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter,
    };
    pid_t pid, r;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        bench_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int rc = 0;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            _exit(77);
        /* From here on, any system call but exit kills this process. */
        if (control)
            rc = (int)syscall(SYS_getppid) < 0;
        for (long i = 0; i < n; i++)
            rc |= mw_waker_wake(w);
        _exit(rc ? 1 : 0);
    }
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        continue;
    if (r < 0)
        bench_fail("waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        return "unavailable";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return "ok";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        return "killed";
    return "failed";
}
#endif

/* ---- main ---- */

/* One result line: the library against one baseline. */
static void
report(const struct bench_opts *o, const char *base, long iterations,
       double lib_med, double base_med, double paired)
{
    char b1[32], b2[32], b3[32], b4[32];

    bench_line("pin=%s base=%s iterations=%ld rounds=%d lib_ns=%s "
               "base_ns=%s ratio=%s paired_ratio=%s", bench_pin_name(o->pin),
               base, iterations, o->rounds,
               bench_fmt_ns(b1, sizeof(b1), lib_med),
               bench_fmt_ns(b2, sizeof(b2), base_med),
               bench_fmt_ratio(b3, sizeof(b3), lib_med, base_med),
               bench_fmt_ratio(b4, sizeof(b4), paired, 1));
}

/* The timed rounds.  Each round is SLICES short slices, and each slice
 * runs every variant in turn (rotating which goes first): a burst of load
 * from elsewhere on the machine then falls on all of them alike, rather
 * than on whichever had that round's 25 ms to itself. */
struct samples {
    double lib[1000], lim[1000], limc[1000], sys[1000];
};

static void
run_rounds(const struct bench_opts *o, mw_waker *w, struct raw_queue *q,
           enum raw_kind kind, long n_sys, struct samples *sm)
{
    long chunk = o->iterations / SLICES > 0 ? o->iterations / SLICES : 1;
    long chunk_sys = n_sys / SLICES > 0 ? n_sys / SLICES : 1;

    for (int r = 0; r < o->rounds; r++) {
        sm->lib[r] = sm->lim[r] = sm->limc[r] = sm->sys[r] = 0;
        for (int sl = 0; sl < SLICES; sl++) {
            for (int k = 0; k < 4; k++) {
                switch ((sl + k) % 4) {
                case 0:
                    sm->lib[r] += time_lib(w, chunk) / SLICES;
                    break;
                case 1:
                    sm->lim[r] += time_limit(chunk) / SLICES;
                    break;
                case 2:
                    sm->limc[r] += time_limit_call(chunk) / SLICES;
                    break;
                default:
                    sm->sys[r] += q ? time_sys(q, kind, chunk_sys) / SLICES
                                    : 0;
                    break;
                }
            }
        }
    }
}

/* Every wake since the first merged into its event, so the poll holds
 * exactly one, the kernel object was signalled once, and (where seccomp
 * can tell) no wake made a system call. */
static void
check_no_syscall(const struct bench_opts *o, mw_poll *p, mw_waker *w,
                 long timed_wakes, long long count0, long long count1)
{
    const char *seccomp = "n/a", *control = "n/a", *e;
    struct mw_event ev[8];
    int first, second;
    char b1[32];
    bool pass;

#ifdef HAVE_SECCOMP_CHECK
    /* Under valgrind or where seccomp is off limits: MW_BENCH_SECCOMP=0. */
    if (!((e = getenv("MW_BENCH_SECCOMP")) && strcmp(e, "0") == 0)) {
        control = seccomp_child(w, 0, true);
        seccomp = seccomp_child(w, o->iterations, false);
    }
#else
    (void)e;
    (void)o;
    (void)w;
#endif

    do
        first = mw_poll_wait(p, ev, 8, 0);
    while (first == -EINTR);
    do
        second = mw_poll_wait(p, ev + 1, 7, 0);
    while (second == -EINTR);

    pass = first == 1 && ev[0].token == TOKEN
           && ev[0].flags == MW_EV_READABLE && second == 0
           && (count0 < 0 || count0 == count1)
           && strcmp(seccomp, "killed") != 0 && strcmp(seccomp, "failed") != 0
           && strcmp(control, "ok") != 0 && strcmp(control, "failed") != 0;
    if (count0 < 0)
        snprintf(b1, sizeof(b1), "n/a");
    else
        snprintf(b1, sizeof(b1), "%lld", count1 - count0);
    bench_line("check=no-syscall wakes=%ld kernel_signals=%s seccomp=%s "
               "seccomp_control=%s events=%d then=%d result=%s",
               timed_wakes, b1, seccomp, control, first, second,
               pass ? "ok" : "FAIL");
    if (!pass)
        bench_fail("a wake on a pending waker made a system call or an "
                   "event was lost or duplicated");
}

int
main(int argc, char **argv)
{
    static unsigned char before[MAX_FDS], after[MAX_FDS];
    static struct samples sm;
    struct bench_opts o;
    enum raw_kind kind = raw_kind_for_backend();
    struct raw_queue *q = NULL;
    char b1[32], b2[32], b3[32];
    int wfds[8], nwfds = 0;
    long long count0, count1;
    long timed_wakes, n_sys, chunk;
    double lib_med, lim_med, limc_med, sys_med, p_lim, p_limc, p_sys;
    const char *why;
    int cpu_a, cpu_b, rc;
    mw_poll *p;
    mw_waker *w;

    bench_init("pending", argc, argv, &o, DEFAULT_ITERATIONS, PIN_NONE,
               "pending wakes (and limit steps) per round, default "
               "5000000; raw system calls are N/50");
    n_sys = o.iterations / SYS_DIVISOR > 0 ? o.iterations / SYS_DIVISOR : 1;
    if (o.pin == PIN_ALL)
        o.pin = PIN_NONE;
    if (!bench_pin_cpus(o.pin, &cpu_a, &cpu_b, &why))
        bench_fail("cannot pin (%s)", why);
    if (cpu_a >= 0)
        bench_pin_self(cpu_a);

    open_fds(before);
    if ((rc = mw_poll_new(&p)) != 0)
        bench_fail("mw_poll_new: %s", strerror(-rc));
    open_fds(after);
    if ((rc = mw_waker_new(&w, p, TOKEN)) != 0)
        bench_fail("mw_waker_new: %s", strerror(-rc));
    for (int fd = 0; fd < MAX_FDS && nwfds < 8; fd++)
        if (after[fd] && !before[fd])
            wfds[nwfds++] = fd;
    if (kind != RAW_NONE)
        q = raw_open(kind);

    /* Make the event pending: the only wake here that signals. */
    if ((rc = mw_waker_wake(w)) != 0)
        bench_fail("mw_waker_wake: %s", strerror(-rc));
    count0 = waker_kernel_count(wfds, nwfds);

    time_lib(w, o.iterations / 10 + 1);         /* warm-up, untimed */
    time_limit(o.iterations / 10 + 1);
    time_limit_call(o.iterations / 10 + 1);
    run_rounds(&o, w, q, kind, n_sys, &sm);
    chunk = o.iterations / SLICES > 0 ? o.iterations / SLICES : 1;
    timed_wakes = (long)o.rounds * SLICES * chunk + o.iterations / 10 + 1;
    count1 = waker_kernel_count(wfds, nwfds);

    p_lim = bench_paired_ratio(sm.lib, sm.lim, o.rounds);
    p_limc = bench_paired_ratio(sm.lib, sm.limc, o.rounds);
    p_sys = q ? bench_paired_ratio(sm.lib, sm.sys, o.rounds) : -1;
    lib_med = bench_median(sm.lib, o.rounds);
    lim_med = bench_median(sm.lim, o.rounds);
    limc_med = bench_median(sm.limc, o.rounds);
    sys_med = q ? bench_median(sm.sys, o.rounds) : -1;
    report(&o, "limit", o.iterations, lib_med, lim_med, p_lim);
    report(&o, sys_name(kind), n_sys, lib_med, sys_med, p_sys);
    report(&o, "limit_call", o.iterations, lib_med, limc_med, p_limc);
    bench_line("pin=%s base=limit_vs_%s limit_ns=%s sys_ns=%s ratio=%s",
               bench_pin_name(o.pin), sys_name(kind),
               bench_fmt_ns(b1, sizeof(b1), lim_med),
               bench_fmt_ns(b2, sizeof(b2), sys_med),
               bench_fmt_ratio(b3, sizeof(b3), lim_med, sys_med));

    check_no_syscall(&o, p, w, timed_wakes, count0, count1);
    raw_close(q);
    mw_waker_free(w);
    mw_poll_free(p);
    return 0;
}
