/* SPDX-License-Identifier: MIT */
/*
 * Promise: mw_waker_wake is safe to call from a signal handler and keeps
 * errno; a wait interrupted by the handler returns -EINTR or the event,
 * and the waker's event is always delivered (the caller loops on -EINTR).
 * The signal comes from pthread_kill (to the waiting thread, or to another
 * thread) and from setitimer's SIGALRM.  And a wait interrupted by a
 * handler that does not wake returns -EINTR.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* ThreadSanitizer runs a signal handler later, at the thread's next
 * intercepted call; a signal that lands just before the blocking system
 * call inside its epoll_wait/poll/kevent interceptor is then held while
 * the thread sleeps, and the wake never happens. */
#if defined(__SANITIZE_THREAD__)
# define UNDER_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define UNDER_TSAN 1
# endif
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define TOKEN 0x516
#define ROUNDS 20
#define ALARM_ROUNDS 5
#define ALARM_PERIOD_MS 20
/* The interval timer replaces the alarm() watchdog while it runs, so the
 * SIGALRM handler is its own watchdog after this many ticks (60 s). */
#define ALARM_TICK_LIMIT (60000 / ALARM_PERIOD_MS)

static mw_waker *sig_waker;
static atomic_int handler_calls;
static atomic_int handler_failures;   /* wakes that did not return 0 */
static atomic_int errno_clobbered;    /* wakes that changed errno */
static atomic_int alarm_ticks;
static atomic_int usr2_calls;

static void
wake_from_handler(void)
{
    int saved = errno;
    int r;

    errno = 31337;
    r = mw_waker_wake(sig_waker);
    if (errno != 31337)
        atomic_fetch_add(&errno_clobbered, 1);
    if (r != 0)
        atomic_fetch_add(&handler_failures, 1);
    atomic_fetch_add(&handler_calls, 1);
    errno = saved;
}

static void
on_usr1(int sig)
{
    (void)sig;
    wake_from_handler();
}

static void
on_alarm(int sig)
{
    static const char msg[] = "\nBail out! watchdog (interval timer)\n";
    int ticks = atomic_fetch_add(&alarm_ticks, 1) + 1;
    ssize_t r;

    (void)sig;
    if (ticks == 1) {
        wake_from_handler();
    } else if (ticks > ALARM_TICK_LIMIT) {
        r = write(STDOUT_FILENO, msg, sizeof msg - 1);
        (void)r;
        _exit(2);
    }
}

static void
on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr2_calls, 1);
}

/* Signals the target with SIGUSR2 every 20 ms until told to stop; after
 * a few seconds it wakes `rescue` instead, so a wait that ignores the
 * signals still ends (and the test fails rather than hangs). */
struct pester {
    pthread_t target;
    mw_waker *rescue;
    atomic_int done;
    atomic_int rescued;
};

static void *
pester(void *arg)
{
    struct pester *ps = arg;
    int64_t end = util_now_ms() + 3000;

    util_sleep_ms(20);
    while (!atomic_load(&ps->done)) {
        if (util_now_ms() < end) {
            pthread_kill(ps->target, SIGUSR2);
        } else if (!atomic_load(&ps->rescued)) {
            atomic_store(&ps->rescued, 1);
            mw_waker_wake(ps->rescue);
        }
        util_sleep_ms(20);
    }
    return NULL;
}

struct sender {
    pthread_t target;   /* thread to signal */
    bool self;          /* signal the sender thread itself instead */
    long delay_ms;
};

static void *
send_signal(void *arg)
{
    struct sender *s = arg;

    util_sleep_ms(s->delay_ms);
    if (s->self)
        pthread_kill(pthread_self(), SIGUSR1);
    else
        pthread_kill(s->target, SIGUSR1);
    return NULL;
}

/* Wait with no time limit until the waker's event comes, looping on
 * -EINTR.  Returns the flags of that event; counts what happened. */
static uint32_t
wait_for_waker(mw_poll *p, int *eintr, int *bad, int *others)
{
    struct mw_event ev[8];
    uint32_t flags;
    int n;

    for (;;) {
        n = mw_poll_wait(p, ev, 8, -1);
        if (n == -EINTR) {
            (*eintr)++;
            continue;
        }
        if (n <= 0 || n > 8) {
            (*bad)++;
            diag("mw_poll_wait(-1) returned %d (%s)", n,
                 tap_errno_name(n));
            if (n < 0 && n != -EINTR)
                bail_out("mw_poll_wait failed");
            continue;
        }
        if (util_count_token(ev, n, TOKEN, &flags) > 0) {
            *others += n - 1;
            return flags;
        }
        *others += n;
    }
}

static void
install(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;    /* no SA_RESTART: let the wait see EINTR */
    if (sigaction(sig, &sa, NULL) != 0)
        bail_out("sigaction: %s", strerror(errno));
}

/* self: the handler runs on the sending thread instead of the waiting
 * one. */
static void
wake_from_usr1_handler_is_delivered(mw_poll *p, int self)
{
    int eintr = 0, bad = 0, others = 0, delivered = 0, exact = 0;
    uint32_t flags;

    atomic_store(&handler_calls, 0);
    for (int i = 0; i < ROUNDS; i++) {
        struct sender s;
        pthread_t t;

        s.target = pthread_self();
        s.self = self;
        s.delay_ms = i % 4 == 0 ? 0 : 5 + i % 3 * 10;
        util_thread_start(&t, send_signal, &s);
        flags = wait_for_waker(p, &eintr, &bad, &others);
        util_thread_join(t);
        delivered++;
        exact += flags == MW_EV_READABLE;
    }
    diag("%s: %d rounds, %d waits interrupted (-EINTR)",
         self ? "handler on another thread" : "handler on the waiting "
         "thread", delivered, eintr);
    is_int(atomic_load(&handler_calls), ROUNDS, "the SIGUSR1 handler "
           "ran once per round (%s)", self ? "sender thread"
           : "waiting thread");
    is_int(exact, ROUNDS, "a wake from a SIGUSR1 handler on the %s is "
           "delivered every time, flags exactly MW_EV_READABLE",
           self ? "sending thread" : "waiting thread");
    is_int(bad, 0, "a wait with timeout -1 returns only events or "
           "-EINTR, never 0");
    is_int(others, 0, "no other event shows up");
}

/* SIGALRM from an interval timer, on the only thread, while it waits (or
 * just before). */
static void
wake_from_sigalrm_handler_is_delivered(mw_poll *p)
{
    struct itimerval it;
    int eintr = 0, bad = 0, others = 0, exact = 0;
    uint32_t flags;

    tap_watchdog(0);
    install(SIGALRM, on_alarm);
    atomic_store(&handler_calls, 0);
    for (int i = 0; i < ALARM_ROUNDS; i++) {
        atomic_store(&alarm_ticks, 0);
        memset(&it, 0, sizeof it);
        it.it_value.tv_usec = ALARM_PERIOD_MS * 1000;
        it.it_interval.tv_usec = ALARM_PERIOD_MS * 1000;
        if (setitimer(ITIMER_REAL, &it, NULL) != 0)
            bail_out("setitimer: %s", strerror(errno));
        flags = wait_for_waker(p, &eintr, &bad, &others);
        memset(&it, 0, sizeof it);
        setitimer(ITIMER_REAL, &it, NULL);
        exact += flags == MW_EV_READABLE;
        /* Ticks after the first do not wake: collect nothing more. */
    }
    tap_watchdog(60);
    diag("SIGALRM: %d rounds, %d waits interrupted", ALARM_ROUNDS,
         eintr);
    is_int(atomic_load(&handler_calls), ALARM_ROUNDS, "the SIGALRM "
           "handler woke once per round");
    is_int(exact, ALARM_ROUNDS, "a wake from a SIGALRM handler is "
           "delivered every time, flags exactly MW_EV_READABLE");
    is_int(bad, 0, "a wait with timeout -1 interrupted by SIGALRM "
           "never returns 0");
}

/* With or without a time limit. */
static void
handler_that_does_not_wake_gives_eintr(mw_poll *p)
{
    static const int timeouts[] = { -1, 30000 };
    mw_waker *rescue;

    if (mw_waker_new(&rescue, p, TOKEN + 1) != 0)
        bail_out("mw_waker_new failed");
    install(SIGUSR2, on_usr2);
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        struct pester ps;
        struct mw_event ev[8];
        pthread_t t;
        int r;

        ps.target = pthread_self();
        ps.rescue = rescue;
        atomic_init(&ps.done, 0);
        atomic_init(&ps.rescued, 0);
        atomic_store(&usr2_calls, 0);
        util_thread_start(&t, pester, &ps);
        r = mw_poll_wait(p, ev, 8, timeouts[i]);
        atomic_store(&ps.done, 1);
        util_thread_join(t);
        is_errno(r, -EINTR, "a wait with timeout %d interrupted by a "
                 "signal handler that does not wake returns -EINTR",
                 timeouts[i]);
        if (atomic_load(&ps.rescued))
            diag("the wait ignored %d signals for 3 s",
                 atomic_load(&usr2_calls));
        util_poll_drain(p, TOKEN + 1, 4, NULL);
    }
    mw_waker_free(rescue);
}

/* Tallied by the handlers over every promise above. */
static void
wake_in_handler_succeeds_and_keeps_errno(mw_poll *p)
{
    struct mw_event ev[4];
    int n;

    is_int(atomic_load(&handler_failures), 0, "mw_waker_wake returns 0 in "
           "every signal handler");
    is_int(atomic_load(&errno_clobbered), 0, "mw_waker_wake leaves errno "
           "as the signal handler set it");
    n = mw_poll_wait(p, ev, 4, 0);
    is_int(n, 0, "no stray event is left over");
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(60);
#ifdef UNDER_TSAN
    plan_skip_all("ThreadSanitizer defers signal handlers past blocking "
                  "calls");
#endif
    /* miowake(3): libkqueue's kevent() takes locks, so an EVFILT_USER
     * wake from a signal handler can deadlock there. */
    if (!util_caps()->wake_async_signal_safe)
        plan_skip_all("kqueue+user through libkqueue is not "
                      "async-signal-safe (see miowake(3))");

    if (mw_poll_new(&p) != 0 || mw_waker_new(&sig_waker, p, TOKEN) != 0)
        bail_out("cannot create a poll and a waker");
    install(SIGUSR1, on_usr1);

    wake_from_usr1_handler_is_delivered(p, 0);
    wake_from_usr1_handler_is_delivered(p, 1);
    wake_from_sigalrm_handler_is_delivered(p);
    handler_that_does_not_wake_gives_eintr(p);
    wake_in_handler_succeeds_and_keeps_errno(p);

    mw_waker_free(sig_waker);
    mw_poll_free(p);
    return done_testing();
}
