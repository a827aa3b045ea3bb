/* SPDX-License-Identifier: MIT */
/*
 * cross-thread-wake: the example from the documentation of mio's Waker,
 * in C.  The main thread blocks in mw_poll_wait() with no timeout; another
 * thread sleeps for about 500 ms and then calls mw_waker_wake(), which
 * makes the wait return exactly one event: the waker's token (10) with
 * MW_EV_READABLE.  Exit status 0 on success, 1 with a message on stderr
 * otherwise.  Built by `make`; run it as doc/examples/cross-thread-wake.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <miowake.h>

#define WAKE_TOKEN ((mw_token)10)
#define SLEEP_MS   500

/* What the waking thread needs, and what it reports back. */
struct wake_job {
    mw_waker *waker;
    int error;      /* 0, or the negative errno of the failed call */
    const char *what;
};

static void *
wake_later(void *arg)
{
    struct wake_job *job = arg;
    struct timespec delay = { SLEEP_MS / 1000, (SLEEP_MS % 1000) * 1000000L };
    int r;

    /* nanosleep() leaves the time still to sleep in its second argument
     * when a signal handler interrupts it, so the loop sleeps the rest. */
    while (nanosleep(&delay, &delay) != 0) {
        if (errno != EINTR) {
            job->error = -errno;
            job->what = "nanosleep";
            return NULL;
        }
    }

    r = mw_waker_wake(job->waker);
    if (r < 0) {
        job->error = r;
        job->what = "mw_waker_wake";
    }
    return NULL;
}

static long
elapsed_ms(const struct timespec *start, const struct timespec *end)
{
    return (long)(end->tv_sec - start->tv_sec) * 1000L
           + (end->tv_nsec - start->tv_nsec) / 1000000L;
}

static int
fail(const char *what, int error)
{
    fprintf(stderr, "cross-thread-wake: %s: %s\n", what, strerror(error));
    return 1;
}

int
main(void)
{
    mw_poll *poll = NULL;
    mw_waker *waker = NULL;
    struct wake_job job = { NULL, 0, NULL };
    struct mw_event events[2];
    struct timespec start, end;
    pthread_t thread;
    int started = 0;
    int status = 1;
    int n, r;

    printf("backend: %s\n", mw_backend());

    r = mw_poll_new(&poll);
    if (r < 0) {
        status = fail("mw_poll_new", -r);
        goto out;
    }
    r = mw_waker_new(&waker, poll, WAKE_TOKEN);
    if (r < 0) {
        status = fail("mw_waker_new", -r);
        goto out;
    }

    if (clock_gettime(CLOCK_MONOTONIC, &start) != 0) {
        status = fail("clock_gettime", errno);
        goto out;
    }
    job.waker = waker;
    r = pthread_create(&thread, NULL, wake_later, &job);
    if (r != 0) {
        status = fail("pthread_create", r);     /* a positive errno */
        goto out;
    }
    started = 1;

    /* No timeout: the wait returns only with at least one event, or with
     * -EINTR when a signal handler ran, in which case it waits again. */
    do {
        n = mw_poll_wait(poll, events, 2, -1);
    } while (n == -EINTR);
    if (n < 0) {
        status = fail("mw_poll_wait", -n);
        goto out;
    }
    if (clock_gettime(CLOCK_MONOTONIC, &end) != 0) {
        status = fail("clock_gettime", errno);
        goto out;
    }

    if (n != 1) {
        fprintf(stderr, "cross-thread-wake: expected 1 event, got %d\n", n);
        goto out;
    }
    if (events[0].token != WAKE_TOKEN
        || events[0].flags != MW_EV_READABLE) {
        fprintf(stderr, "cross-thread-wake: expected token %lu with flags "
                "0x%x, got token %lu with flags 0x%x\n",
                (unsigned long)WAKE_TOKEN, (unsigned)MW_EV_READABLE,
                (unsigned long)events[0].token, (unsigned)events[0].flags);
        goto out;
    }
    printf("woken after %ld ms: token %lu, readable\n",
           elapsed_ms(&start, &end), (unsigned long)events[0].token);
    status = 0;

out:
    if (started) {
        r = pthread_join(thread, NULL);
        if (r != 0)
            status = fail("pthread_join", r);
        else if (job.error != 0)
            status = fail(job.what, -job.error);
    }
    mw_waker_free(waker);
    mw_poll_free(poll);
    return status;
}
