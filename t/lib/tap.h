/* SPDX-License-Identifier: MIT */
/*
 * A small TAP producer for the test suite: a plan, results (ok, is_int,
 * is_errno), skip, todo, diag, bail_out and a watchdog.  With the
 * fixtures of util.h it makes up t/libtap.a, the one test library.
 *
 * Only the main thread may call these functions: worker threads record
 * what they saw into atomics and the main thread reports it.  Output goes
 * to stdout and is flushed after each line, so diagnostics stay in order
 * with the results under Automake's tap-driver.sh.
 */
#ifndef MW_TAP_H
#define MW_TAP_H

#include <stdbool.h>

#if defined(__GNUC__) || defined(__clang__)
# define TAP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
# define TAP_NORETURN __attribute__((noreturn))
#else
# define TAP_PRINTF(fmt, args)
# define TAP_NORETURN
#endif

/* Announce n tests ("1..n").  Call once, before or after the tests. */
void plan(int n);
/* Print "1..0 # SKIP reason" and exit 0: nothing here applies. */
TAP_NORETURN void plan_skip_all(const char *fmt, ...) TAP_PRINTF(1, 2);

/* One result.  On failure the caller's file and line are printed as a
 * diagnostic.  Each returns whether the test passed. */
#define ok(cond, ...) \
    tap_ok_at(__FILE__, __LINE__, (cond) ? true : false, __VA_ARGS__)
/* Integer equality, printing both values on failure. */
#define is_int(got, want, ...) \
    tap_is_int_at(__FILE__, __LINE__, (long long)(got), (long long)(want), \
                  __VA_ARGS__)
/* A return code that must equal a given negative errno value (or 0):
 * failures print "got -ENOENT (-2), expected -EEXIST (-17)". */
#define is_errno(rc, want, ...) \
    tap_is_errno_at(__FILE__, __LINE__, (long long)(rc), (long long)(want), \
                    __VA_ARGS__)

bool tap_ok_at(const char *file, int line, bool cond, const char *fmt, ...)
    TAP_PRINTF(4, 5);
bool tap_is_int_at(const char *file, int line, long long got, long long want,
                   const char *fmt, ...) TAP_PRINTF(5, 6);
bool tap_is_errno_at(const char *file, int line, long long got,
                     long long want, const char *fmt, ...) TAP_PRINTF(5, 6);

/* "ok N # SKIP reason", n times. */
void skip(int n, const char *fmt, ...) TAP_PRINTF(2, 3);
/* The next result is marked "# TODO reason". */
void todo(const char *fmt, ...) TAP_PRINTF(1, 2);
/* "# message" on stdout, flushed. */
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* "Bail out! message" and exit 255: a fixture could not be set up. */
TAP_NORETURN void bail_out(const char *fmt, ...) TAP_PRINTF(1, 2);
/* 0 iff every test passed and the count matched the plan (printing the
 * plan now if none was given).  Use it as main's return value. */
int done_testing(void);

/* After `seconds`, print "Bail out! watchdog after N s" and _exit(2), so a
 * hang (a lost wake, say) becomes an error instead of a stuck make check.
 * Uses alarm() and SIGALRM; call it first in main.  0 disarms it. */
void tap_watchdog(unsigned seconds);

/* "-ENOENT" for -2, "0" for 0, a bare number otherwise: a static buffer
 * (main thread only), valid until the next call. */
const char *tap_errno_name(long long rc);

#endif /* MW_TAP_H */
