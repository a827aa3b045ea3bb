/* SPDX-License-Identifier: MIT */
/*
 * Promise: a waker has at most one event pending; wakes made while it is
 * pending merge into it (a thousand wakes before a wait give one event),
 * and a wake on a waker whose event is already pending makes no system
 * call.  After the event is collected the next wake gives a new event.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__) && defined(__has_include)
# if __has_include(<linux/seccomp.h>) && __has_include(<linux/filter.h>) \
     && __has_include(<sys/prctl.h>) && __has_include(<sys/syscall.h>)
#  include <linux/filter.h>
#  include <linux/seccomp.h>
#  include <stddef.h>
#  include <sys/mman.h>
#  include <sys/prctl.h>
#  include <sys/syscall.h>
#  if defined(SECCOMP_RET_TRAP) && defined(SYS_exit_group)
#   define HAVE_SECCOMP_FILTER 1
#  endif
# endif
#endif

/* Sanitizer runtimes make system calls of their own (ASan calls
 * sigaltstack on the way into an instrumented function). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define UNDER_SANITIZER 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer)
#  define UNDER_SANITIZER 1
# endif
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN 1000
#define THREADS 4

/* Wake w n times; the number of calls that returned 0. */
static int
wake_n(mw_waker *w, int n)
{
    int good = 0;

    for (int i = 0; i < n; i++)
        good += mw_waker_wake(w) == 0;
    return good;
}

/* One wait(timeout) then one wait(0): how many events carried TOKEN and
 * how many events came at all (through *total). */
static int
collect(mw_poll *p, int timeout_ms, int *total, uint32_t *flags)
{
    struct mw_event ev[16];
    int n, count = 0;
    uint32_t f;

    *total = 0;
    *flags = 0;
    do
        n = mw_poll_wait(p, ev, 16, timeout_ms);
    while (n == -EINTR);
    if (n > 0) {
        *total += n;
        count += util_count_token(ev, n, TOKEN, &f);
        *flags |= f;
    }
    do
        n = mw_poll_wait(p, ev, 16, 0);
    while (n == -EINTR);
    if (n > 0) {
        *total += n;
        count += util_count_token(ev, n, TOKEN, &f);
        *flags |= f;
    }
    return count;
}

struct thread_job {
    mw_waker *w;
    atomic_int *go;
    atomic_int good;
};

static void *
wake_many(void *arg)
{
    struct thread_job *job = arg;

    while (!atomic_load(job->go))
        ;
    atomic_store(&job->good, wake_n(job->w, 1000));
    return NULL;
}

#ifdef HAVE_SECCOMP_FILTER
/* Shared with the child: the number of the system call it tried. */
static volatile long *trapped_syscall;

static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    *trapped_syscall = si->si_syscall;
    _exit(3);   /* exit_group is allowed by the filter */
}

/* In a child: make the waker's event pending, then forbid every system
 * call but exit and exit_group (a trap records which one was tried) and
 * wake the pending waker 1,000 times.  Exit status 0: none was made;
 * 3: one was (its number in *trapped_syscall); 77: no seccomp here. */
static int
pending_wakes_make_no_syscall(long *nr)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof filter / sizeof filter[0]),
        .filter = filter,
    };
    struct sigaction sa;
    pid_t pid;
    int status;

    trapped_syscall = mmap(NULL, sizeof *trapped_syscall,
                           PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (trapped_syscall == MAP_FAILED)
        bail_out("mmap: %s", strerror(errno));
    *trapped_syscall = -1;
    pid = util_fork();
    if (pid == 0) {
        mw_poll *p;
        mw_waker *w;
        int good;

        alarm(0);
        if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, TOKEN) != 0
            || mw_waker_wake(w) != 0)
            util_child_exit(4);
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) != 0
            || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            util_child_exit(77);
        good = wake_n(w, 1000);
        /* Not util_child_exit(): writing the coverage counts opens a
         * file, which the filter traps, so this child's counts are lost
         * in `make coverage`; the pending wake it makes is counted in
         * the parent's own cases. */
        _exit(good == 1000 ? 0 : 5);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    *nr = *trapped_syscall;
    munmap((void *)trapped_syscall, sizeof *trapped_syscall);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
#endif

static void
two_wakes_give_one_event(mw_poll *p, mw_waker *w)
{
    int count, total, good;
    uint32_t flags;

    good = wake_n(w, 2);
    is_int(good, 2, "two wakes in a row both return 0");
    count = collect(p, -1, &total, &flags);
    is_int(count, 1, "two wakes before a wait give one event");
}

static void
thousand_wakes_give_one_readable_event(mw_poll *p, mw_waker *w)
{
    int count, total, good;
    uint32_t flags;

    good = wake_n(w, 1000);
    is_int(good, 1000, "1,000 wakes in a row all return 0");
    count = collect(p, -1, &total, &flags);
    is_int(count, 1, "1,000 wakes before a wait give exactly one event");
    is_int(total, 1, "and no other event at all");
    ok(flags == MW_EV_READABLE, "the merged event's flags are exactly "
       "MW_EV_READABLE (%s)", util_flags_str(flags));

    collect(p, 0, &total, &flags);
    is_int(total, 0, "after the merged event was collected there is "
           "none left");
}

static void
wake_after_collection_gives_new_event(mw_poll *p, mw_waker *w)
{
    int count, total, good;
    uint32_t flags;

    good = wake_n(w, 1);
    count = collect(p, -1, &total, &flags);
    ok(good == 1 && count == 1, "a wake after the collected event gives "
       "one new event");
}

static void
concurrent_wakes_give_one_event(mw_poll *p, mw_waker *w)
{
    struct thread_job jobs[THREADS];
    pthread_t t[THREADS];
    atomic_int go;
    int all = 0, count, total;
    uint32_t flags;

    atomic_init(&go, 0);
    for (int i = 0; i < THREADS; i++) {
        jobs[i].w = w;
        jobs[i].go = &go;
        atomic_init(&jobs[i].good, 0);
        util_thread_start(&t[i], wake_many, &jobs[i]);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < THREADS; i++) {
        util_thread_join(t[i]);
        all += atomic_load(&jobs[i].good);
    }
    is_int(all, THREADS * 1000, "%d threads waking 1,000 times each "
           "all get 0", THREADS);
    count = collect(p, -1, &total, &flags);
    is_int(count, 1, "concurrent wakes from %d threads before a wait "
           "give exactly one event", THREADS);
}

static void
merging_does_not_stick(mw_poll *p, mw_waker *w)
{
    int rounds_ok = 0, count, total, good;
    uint32_t flags;

    for (int i = 0; i < 200; i++) {
        good = wake_n(w, 3);
        count = collect(p, -1, &total, &flags);
        rounds_ok += good == 3 && count == 1 && total == 1;
    }
    is_int(rounds_ok, 200, "200 rounds of three wakes and a wait each "
           "give exactly one event");
}

static void
wake_on_pending_waker_makes_no_syscall(void)
{
#ifdef HAVE_SECCOMP_FILTER
    long nr = -1;
    int st;

    if (util_under_valgrind()) {
        skip(1, "seccomp filters cannot run under valgrind");
#ifdef UNDER_SANITIZER
    } else if (1) {
        skip(1, "a sanitizer runtime makes system calls of its own");
#endif
    } else if ((st = pending_wakes_make_no_syscall(&nr)) == 77) {
        skip(1, "cannot install a seccomp filter here");
    } else {
        ok(st == 0, "wakes on a waker whose event is already pending "
           "make no system call");
        if (st == 3)
            diag("a pending wake made system call number %ld", nr);
        else if (st != 0)
            diag("the child exited with status %d", st);
    }
#else
    skip(1, "no seccomp on this system to watch for system calls");
#endif
}

int
main(void)
{
    mw_poll *p;
    mw_waker *w;

    tap_watchdog(60);

    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    if (mw_waker_new(&w, p, TOKEN) != 0)
        bail_out("mw_waker_new failed");

    two_wakes_give_one_event(p, w);
    thousand_wakes_give_one_readable_event(p, w);
    wake_after_collection_gives_new_event(p, w);
    concurrent_wakes_give_one_event(p, w);
    merging_does_not_stick(p, w);
    wake_on_pending_waker_makes_no_syscall();

    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
