/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the benchmarks (t/bench-*.c, run by `make bench`, never
 * by `make check`): options, clocks, medians, CPU pinning, the key=value
 * output, and the raw baselines -- the same wake-up written by hand with
 * the system calls the library stands on, so that every figure comes with
 * an in-process reference measured in the same rounds.
 *
 * The baseline follows the poller part of mw_backend(), as a programmer
 * would write it by hand for that poller: epoll_wait plus an eventfd write
 * (epoll plus a pipe where there is no eventfd), kevent with EVFILT_USER,
 * or poll(2) plus a pipe.  Where it cannot be compiled the figures are
 * printed as n/a.
 */
#ifndef MW_BENCH_COMMON_H
#define MW_BENCH_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <miowake.h>

#include "caps.h"

/* ---- options ---- */

enum bench_pin { PIN_ALL = -1, PIN_SAME, PIN_SPLIT, PIN_NONE, PIN_MODES };

struct bench_opts {
    long iterations;            /* the program's main count */
    int rounds;                 /* rounds of library and of each baseline */
    enum bench_pin pin;         /* PIN_ALL: every mode, one line each */
};

/* Parse -n/--iterations N, -r/--rounds R, -p/--pin same|split|none|all and
 * -h/--help; defaults come from the arguments, then from the environment
 * (MW_BENCH_ITERATIONS, MW_BENCH_ROUNDS, MW_BENCH_PIN), then from the
 * command line.  `usage` describes the program's own meaning of N.  Also
 * arms a watchdog (MW_BENCH_TIMEOUT seconds, default 600) that turns a
 * hang -- a lost wake -- into exit status 3. */
void bench_init(const char *name, int argc, char **argv,
                struct bench_opts *o, long def_iterations,
                enum bench_pin def_pin, const char *usage);

/* ---- clocks and statistics ---- */

int64_t bench_now_ns(void);          /* CLOCK_MONOTONIC */
int64_t bench_thread_cpu_ns(void);   /* CLOCK_THREAD_CPUTIME_ID */
/* The median of n values (sorts v). */
double bench_median(double *v, int n);
/* The median of the n ratios lib[i] / base[i], each of a library round
 * and the baseline round next to it (-1 if a baseline is missing).  On a
 * machine whose speed changes between rounds (a VM's bimodal wake-ups),
 * it is steadier than the ratio of the medians. */
double bench_paired_ratio(const double *lib, const double *base, int n);

/* ---- output ---- */

/* One result line: "bench=<name> backend=<mw_backend()> " then fmt, then a
 * newline; flushed, so that lines interleave sanely with other output. */
void bench_line(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* "12.3" or "n/a" (negative x) into buf. */
const char *bench_fmt_ns(char *buf, size_t len, double x);
/* a/b as "1.023", or "n/a" if either is negative or b is 0. */
const char *bench_fmt_ratio(char *buf, size_t len, double a, double b);
/* Print "bench=<name> ... error=<msg>" on stderr and exit 1: a benchmark
 * that lost or miscounted wakes is a failure, not a number. */
void bench_fail(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
/* "same", "split", "none". */
const char *bench_pin_name(enum bench_pin pin);

/* ---- CPU pinning ---- */

/* The two CPUs used by "same" (both threads on cpu[0]) and "split" (one
 * each); false if pinning is unavailable, and *why says why.  With one
 * allowed CPU, split is unavailable but same is not. */
bool bench_pin_cpus(enum bench_pin pin, int *cpu_a, int *cpu_b,
                    const char **why);
/* Pin the calling thread to cpu, or give it back the affinity the program
 * started with (cpu < 0).  Fails the benchmark if that is refused. */
void bench_pin_self(int cpu);

/* ---- threads ---- */

/* pthread_create/pthread_join that fail the benchmark on error. */
void bench_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void bench_thread_join(pthread_t t);

/* Raise RLIMIT_NOFILE's soft limit to at least want, as far as the hard
 * limit allows; returns the resulting soft limit. */
long bench_raise_nofile(long want);

/* ---- raw baselines ---- */

enum raw_kind {
    RAW_NONE,                   /* no baseline on this system */
    RAW_EPOLL_EVENTFD,          /* epoll_wait + eventfd write, EPOLLET */
    RAW_EPOLL_PIPE,             /* epoll_wait + pipe write, EPOLLET, drain */
    RAW_KQUEUE_USER,            /* kevent EVFILT_USER, EV_CLEAR, NOTE_TRIGGER */
    RAW_POLL_PIPE               /* poll(2) + pipe write, drain */
};

/* The baseline for this build's poller, and its name for the output. */
enum raw_kind raw_kind_for_backend(void);
const char *raw_kind_name(enum raw_kind k);

/* One waitable queue with one wake-up object, the hand-written analogue of
 * an mw_poll with one mw_waker.  Idle descriptors can be added to it (read
 * interest, never expected to be ready). */
struct raw_queue;

struct raw_queue *raw_open(enum raw_kind k);
void raw_close(struct raw_queue *q);
/* Make q's wake-up object ready: one system call.  Returns 0 or -errno;
 * "already full" (EAGAIN on a pipe) counts as success. */
int raw_wake(struct raw_queue *q);
/* Block until q's wake-up object is ready and consume it; returns the
 * number of wake-up events collected (>= 1) or -errno.  Any other ready
 * descriptor is an error (-EPROTO): idle descriptors must stay idle. */
int raw_wait(struct raw_queue *q);
/* Add fd with read interest; 0 or -errno. */
int raw_add_idle(struct raw_queue *q, int fd);
/* One wait of timeout_ns on q with the finest call the system has for
 * q's kind (epoll_pwait2, kevent, ppoll; else epoll_wait or poll in
 * milliseconds, rounded up); returns what the call returned, or -errno.
 * raw_timed_call_name() names that call. */
int raw_wait_timed(struct raw_queue *q, int64_t timeout_ns);
const char *raw_timed_call_name(enum raw_kind k);

/* ---- the ping-pong engine (bench-pingpong, bench-idle) ---- */

/* Two threads, A (the caller) and B, each waiting on its own queue, wake
 * each other in turn: one round trip is A wakes B, B wakes A.  The library
 * variant uses an mw_poll and an mw_waker per side; the raw variant a
 * raw_queue per side. */
struct pingpong;

/* Both variants; raw one only if k != RAW_NONE.  Idle descriptors can
 * then be added to side A of both. */
struct pingpong *pingpong_new(enum raw_kind k);
void pingpong_free(struct pingpong *pp);
/* Register fd (read interest) on side A of the library variant and of the
 * raw variant; fails the benchmark on error. */
void pingpong_add_idle(struct pingpong *pp, int fd);
/* Run n round trips (after a short untimed warm-up), A pinned to cpu_a and
 * B to cpu_b (-1: not pinned); returns ns per round trip.  Every event is
 * counted and checked: a lost, extra or foreign event fails the
 * benchmark. */
double pingpong_run(struct pingpong *pp, bool raw, long n, int cpu_a,
                    int cpu_b);

#endif /* MW_BENCH_COMMON_H */
