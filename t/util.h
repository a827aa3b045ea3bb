/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the tests: descriptors, threads, clocks, fd
 * snapshots and a "wait until this token shows up" loop.  Setup failures
 * that are not what a test checks end in bail_out().
 */
#ifndef MW_UTIL_H
#define MW_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <miowake.h>

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

/* ---- snapshot of the open descriptors ---- */

struct util_fds {
    int n;                  /* descriptors 0 .. n-1 were examined */
    unsigned char *open;    /* open[i] != 0: descriptor i was open */
};

/* Record every open descriptor (fcntl(F_GETFD) over 0..getdtablesize()). */
void util_fds_take(struct util_fds *s);
void util_fds_free(struct util_fds *s);
/* Descriptors open in `after` but not in `before`, written into out (at
 * most max); returns how many there are (may exceed max). */
int util_fds_new(const struct util_fds *before, const struct util_fds *after,
                 int *out, int max);

/* ---- processes, threads and time ---- */

/* fork(), after flushing stdout (else the child would print the TAP lines
 * still buffered a second time); bails out on failure. */
pid_t util_fork(void);

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

/* Is this process running under valgrind (make check-valgrind sets
 * MW_UNDER_VALGRIND; valgrind's preload library shows in LD_PRELOAD)? */
bool util_under_valgrind(void);

/* Is the kqueue poller emulated by libkqueue (a kqueue build on Linux)?
 * libkqueue opens descriptors of its own and closes them from a thread
 * of its own some time after the kqueue is closed. */
bool util_libkqueue(void);

/* Human-readable MW_EV_* flags, e.g. "READABLE|READ_CLOSED" (static). */
const char *util_flags_str(uint32_t flags);

#endif /* MW_UTIL_H */
