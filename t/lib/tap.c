/* SPDX-License-Identifier: MIT */
/* Our TAP producer: see tap.h. */
#include "config.h"

#include "tap.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_planned = -1;    /* -1: no plan printed yet */
static int tap_run;
static int tap_failed;
static char tap_todo_reason[256];
static bool tap_todo_next;

void
plan(int n)
{
    if (tap_planned >= 0)
        bail_out("plan() called twice");
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

void
plan_skip_all(const char *fmt, ...)
{
    va_list ap;

    printf("1..0 # SKIP ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(0);
}

static bool tap_result(const char *file, int line, bool cond,
                       const char *fmt, va_list ap) TAP_PRINTF(4, 0);

static bool
tap_result(const char *file, int line, bool cond, const char *fmt,
           va_list ap)
{
    tap_run++;
    printf("%sok %d", cond ? "" : "not ", tap_run);
    if (fmt != NULL && *fmt != '\0') {
        printf(" - ");
        vprintf(fmt, ap);
    }
    if (tap_todo_next) {
        printf(" # TODO %s", tap_todo_reason);
        tap_todo_next = false;
    } else if (!cond) {
        tap_failed++;
    }
    printf("\n");
    if (!cond)
        printf("#   at %s:%d\n", file, line);
    fflush(stdout);
    return cond;
}

bool
tap_ok_at(const char *file, int line, bool cond, const char *fmt, ...)
{
    va_list ap;
    bool r;

    va_start(ap, fmt);
    r = tap_result(file, line, cond, fmt, ap);
    va_end(ap);
    return r;
}

bool
tap_is_int_at(const char *file, int line, long long got, long long want,
              const char *fmt, ...)
{
    va_list ap;
    bool r;

    va_start(ap, fmt);
    r = tap_result(file, line, got == want, fmt, ap);
    va_end(ap);
    if (!r)
        diag("  got %lld, expected %lld", got, want);
    return r;
}

struct tap_errname {
    int value;
    const char *name;
};

static const struct tap_errname tap_errnames[] = {
    { EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { ESRCH, "ESRCH" },
    { EINTR, "EINTR" }, { EIO, "EIO" }, { ENXIO, "ENXIO" },
    { E2BIG, "E2BIG" }, { EBADF, "EBADF" }, { ECHILD, "ECHILD" },
    { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
    { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
    { ENODEV, "ENODEV" }, { ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
    { EINVAL, "EINVAL" }, { ENFILE, "ENFILE" }, { EMFILE, "EMFILE" },
    { ENOTTY, "ENOTTY" }, { ENOSPC, "ENOSPC" }, { ESPIPE, "ESPIPE" },
    { EPIPE, "EPIPE" }, { ERANGE, "ERANGE" }, { ENOSYS, "ENOSYS" },
    { ENOTSUP, "ENOTSUP" }, { EOPNOTSUPP, "EOPNOTSUPP" },
    { ETIMEDOUT, "ETIMEDOUT" }, { EOVERFLOW, "EOVERFLOW" },
};

const char *
tap_errno_name(long long rc)
{
    static char buf[64];
    size_t i;

    if (rc == 0)
        return "0";
    if (rc < 0) {
        for (i = 0; i < sizeof tap_errnames / sizeof tap_errnames[0]; i++)
            if (-rc == tap_errnames[i].value) {
                snprintf(buf, sizeof buf, "-%s", tap_errnames[i].name);
                return buf;
            }
    }
    snprintf(buf, sizeof buf, "%lld", rc);
    return buf;
}

bool
tap_is_errno_at(const char *file, int line, long long got, long long want,
                const char *fmt, ...)
{
    va_list ap;
    bool r;
    char gotname[64];

    va_start(ap, fmt);
    r = tap_result(file, line, got == want, fmt, ap);
    va_end(ap);
    if (!r) {
        snprintf(gotname, sizeof gotname, "%s", tap_errno_name(got));
        diag("  got %s (%lld), expected %s (%lld)", gotname, got,
             tap_errno_name(want), want);
    }
    return r;
}

void
skip(int n, const char *fmt, ...)
{
    va_list ap;
    char reason[256];

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    while (n-- > 0) {
        tap_run++;
        printf("ok %d # SKIP %s\n", tap_run, reason);
    }
    fflush(stdout);
}

void
todo(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tap_todo_reason, sizeof tap_todo_reason, fmt, ap);
    va_end(ap);
    tap_todo_next = true;
}

void
diag(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void
bail_out(const char *fmt, ...)
{
    va_list ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(255);
}

int
done_testing(void)
{
    if (tap_planned < 0) {
        tap_planned = tap_run;
        printf("1..%d\n", tap_run);
    } else if (tap_planned != tap_run) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
    }
    if (tap_failed > 0)
        diag("failed %d of %d tests", tap_failed, tap_run);
    fflush(stdout);
    return tap_failed == 0 && tap_planned == tap_run ? 0 : 1;
}

/* ---- watchdog ---- */

static char tap_watchdog_msg[64];
static size_t tap_watchdog_len;

static void
tap_watchdog_fire(int sig)
{
    ssize_t r;

    (void)sig;
    /* write() and _exit() are async-signal-safe; stdio is not. */
    r = write(STDOUT_FILENO, tap_watchdog_msg, tap_watchdog_len);
    (void)r;
    _exit(2);
}

void
tap_watchdog(unsigned seconds)
{
    struct sigaction sa;
    int saved = errno;

    if (seconds == 0) {
        alarm(0);
        return;
    }
    /* Longer on slow machines (MW_TEST_TIMEOUT_FACTOR=N) and under
     * valgrind (util_under_valgrind(): x10). */
    {
        const char *f = getenv("MW_TEST_TIMEOUT_FACTOR");
        long k = f != NULL ? strtol(f, NULL, 10) : 1;

        if (k <= 1 && util_under_valgrind())
            k = 10;
        if (k > 1 && k < 1000)
            seconds *= (unsigned)k;
    }
    snprintf(tap_watchdog_msg, sizeof tap_watchdog_msg,
             "\nBail out! watchdog after %u s\n", seconds);
    tap_watchdog_len = strlen(tap_watchdog_msg);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tap_watchdog_fire;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        bail_out("sigaction(SIGALRM): %s", strerror(errno));
    fflush(stdout);
    alarm(seconds);
    errno = saved;
}
