/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the tests: descriptors, threads, clocks, snapshots
 * of the open descriptors, waits, run-length knobs and what the backend
 * is.  Each fact has one predicate here (util_under_valgrind(), ...),
 * what the backend can do one table (t/lib/caps.h); t/lib/tap.c, t/lib/util.c
 * and t/lib/caps.c make up t/libtap.a.
 * Setup failures that are not what a test checks end in bail_out().
 */
#ifndef MW_UTIL_H
#define MW_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <miowake.h>

#include "caps.h"

/* Built with MW_TEST_WAIT_TS defined, a test makes every one of its
 * mw_poll_wait() calls through mw_poll_wait_ts() instead, the timeout
 * turned into a struct timespec (a negative one into NULL): t/local.mk
 * builds the tests of the waits' promises a second time so, and a CI step
 * the whole suite, to show that the two waits keep the same ones. */
int util_wait_via_ts(mw_poll *poll, struct mw_event *events, size_t capacity,
                     int timeout_ms);
#ifdef MW_TEST_WAIT_TS
# define mw_poll_wait util_wait_via_ts
#endif

/* A generous bound for "this must happen": never a timing assertion, only
 * a way to turn a hang into a failure before the watchdog fires. */
#define UTIL_LONG_MS 10000

/* ---- descriptors ---- */

/* pipe() with both ends O_NONBLOCK and FD_CLOEXEC; bails out on failure. */
void util_pipe(int fds[2]);
/* socketpair(AF_UNIX, SOCK_STREAM), both ends O_NONBLOCK and FD_CLOEXEC. */
void util_socketpair(int sv[2]);
/* Write one byte (bails out unless it was written). */
void util_write_byte(int fd);
/* Read until EAGAIN: the number of bytes read, or -1 if end-of-file was
 * seen (the peer closed), or -2 on another error. */
long util_drain(int fd);
/* close() that bails out on EBADF (a test bug). */
void util_close(int fd);

/* Flags of fd: 1 if set, 0 if not, -1 if fd is not open. */
int util_is_cloexec(int fd);
int util_is_nonblock(int fd);
/* Is fd an open descriptor? */
bool util_fd_is_open(int fd);
/* Is fd an eventfd (Linux: its /proc/self/fd link says so)?  False
 * wherever that cannot be told. */
bool util_fd_is_eventfd(int fd);
/* Is fd readable right now (poll(2), timeout_ms)? */
bool util_fd_readable(int fd, int timeout_ms);

/* What a descriptor is, for finding the ones a waker opened. */
enum util_fd_kind {
    UTIL_FD_OTHER,
    UTIL_FD_EVENTFD,        /* Linux: anon_inode:[eventfd] */
    UTIL_FD_PIPE_READ,      /* a FIFO opened O_RDONLY */
    UTIL_FD_PIPE_WRITE      /* a FIFO opened O_WRONLY */
};
enum util_fd_kind util_fd_kind(int fd);

/* ---- snapshot of the open descriptors ---- */

/* Descriptors 0 .. UTIL_FDS_MAX-1 are examined; the tests keep their
 * tables below that (RLIMIT_NOFILE is lowered where they fill it). */
#define UTIL_FDS_MAX 4096

struct util_fds {
    int n;                          /* descriptors 0 .. n-1 were examined */
    unsigned char open[UTIL_FDS_MAX];   /* open[i] != 0: i was open */
};

/* Record every open descriptor (fcntl(F_GETFD) over 0..getdtablesize(),
 * at most UTIL_FDS_MAX).  It allocates nothing, so it may be taken while
 * allocations are counted (t/fault-enomem.c), and leaves errno alone. */
void util_fds_take(struct util_fds *s);
/* The descriptors of a poll's wakers' one kernel object (its "hub"),
 * among those mw_poll_new() opened between the snapshots before and
 * after: *rfd is the end the poller watches, *wfd the one a wake writes
 * (the same eventfd for both).  The poll(2) poller opens its interrupt
 * pipe first, so the wakers' object is the last of its kind opened;
 * under libkqueue the emulation opens eventfds of its own, which count
 * only where the waker is an eventfd.  Both -1 where the wakers have no
 * descriptor (an EVFILT_USER knote) or none was found. */
void util_hub_fds(const struct util_fds *before, const struct util_fds *after,
                  int *rfd, int *wfd);
/* Forget the snapshot (it holds no resource: this only empties it). */
void util_fds_free(struct util_fds *s);
/* Descriptors open in `after` but not in `before`, written into out (at
 * most max); returns how many there are (may exceed max). */
int util_fds_new(const struct util_fds *before, const struct util_fds *after,
                 int *out, int max);
/* The same set?  If not, the first descriptor that differs goes to
 * *first (may be NULL). */
bool util_fds_equal(const struct util_fds *a, const struct util_fds *b,
                    int *first);
/* Take the set into *got and compare it with *want (util_fds_equal);
 * under libkqueue, which releases a closed kqueue's own descriptors on
 * its monitoring thread after close() has returned, call util_settle()
 * and retry for up to UTIL_LONG_MS before reporting a difference. */
bool util_fds_settled(const struct util_fds *want, struct util_fds *got,
                      int *first);
/* Under libkqueue: wait for what its monitoring thread still has to
 * release (libkqueue_drain_pending_close(), when linked).  Elsewhere it
 * does nothing. */
void util_settle(void);

/* ---- processes, threads and time ---- */

/* fork(), after flushing stdout (else the child would print the TAP lines
 * still buffered a second time); bails out on failure. */
pid_t util_fork(void);
/* _exit(status) for a fork child of a test.  In a --coverage build
 * (MW_COVERAGE) the counts gathered so far are written first, which
 * _exit() would drop, so that what the library did in the child counts
 * in `make coverage`.  Not from a signal handler, nor where a seccomp
 * filter forbids opening files. */
_Noreturn void util_child_exit(int status);

void util_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void util_thread_join(pthread_t t);
void util_sleep_ms(long ms);
/* A thread body: sleep delay_ms, then wake w. */
struct util_later {
    mw_waker *w;
    long delay_ms;
};
void *util_wake_later(void *arg);
/* Monotonic milliseconds. */
int64_t util_now_ms(void);

/* ---- waiting ---- */

/* Events gathered by util_collect / util_wait_token. */
struct util_seen {
    int waits;          /* mw_poll_wait calls that returned > 0 */
    int eintr;          /* ... that returned -EINTR */
    int events;         /* events returned in total */
    int bad;            /* unexpected results: 0 with a negative timeout,
                           negative other than -EINTR, count > capacity */
    int last_rc;        /* the last unexpected rc */
};

/* Wait (looping over -EINTR and over other tokens' events) until an event
 * with `token` is reported or timeout_ms passes.  Returns 1 when it came,
 * with the OR of the flags of that wait's events carrying the token in
 * *flags (may be NULL); 0 if it never came; a negative rc if a wait failed
 * otherwise.  `seen` (may be NULL) accumulates statistics. */
int util_wait_token(mw_poll *p, mw_token token, int timeout_ms,
                    uint32_t *flags, struct util_seen *seen);

/* How many events with `token` a set of events holds, and the OR of their
 * flags in *flags (may be NULL). */
int util_count_token(const struct mw_event *ev, int n, mw_token token,
                     uint32_t *flags);

/* Collect events with timeout 0 until a wait returns 0, at most `rounds`
 * times; count the ones carrying token (and OR their flags into *flags,
 * which may be NULL).  Returns that count, or a negative rc. */
int util_poll_drain(mw_poll *p, mw_token token, int rounds, uint32_t *flags);

/* mw_poll_wait, again after -EINTR (the timeout restarts: callers use
 * it only with 0, a negative one, or a generous bound). */
int util_wait(mw_poll *p, struct mw_event *ev, size_t cap, int timeout_ms);

/* A fence for "this token was never reported": wake `fence` and collect
 * events until its event comes (at most UTIL_LONG_MS).  Every event
 * carrying `token` on the way is counted into *hits; every other token
 * than fence's and `token` into *others (either may be NULL).  Returns
 * true when the fence's event came. */
bool util_fence(mw_poll *p, mw_waker *fence, mw_token fence_token,
                mw_token token, int *hits, int *others);

/* ---- the environment: one predicate per fact ---- */

/* Is this process running under valgrind (make check-valgrind sets
 * MW_UNDER_VALGRIND; valgrind's preload library shows in LD_PRELOAD)? */
bool util_under_valgrind(void);

/* MW_STRESS is set to something other than "" or "0": the long mode. */
bool util_stress(void);
/* Iterations for this run: short_n in `make check`, long_n with
 * MW_STRESS=1, and either divided by valgrind_div (at least 1) under
 * valgrind (util_under_valgrind()). */
long util_count(long short_n, long long_n, long valgrind_div);

/* Human-readable MW_EV_* flags, e.g. "READABLE|READ_CLOSED" (static). */
const char *util_flags_str(uint32_t flags);

#endif /* MW_UTIL_H */
