/* SPDX-License-Identifier: MIT */
/*
 * nest-libuv: a miowake poll inside a libuv loop.
 *
 * A worker thread queues three messages, waking the poll after each one.
 * The main thread runs a uv_loop_t with a uv_poll_t that watches the
 * poll's descriptor (mw_poll_fd) for UV_READABLE; when it fires, the
 * callback collects the poll's events and takes every queued message.
 * After the third message the handle is stopped and closed, the loop runs
 * until the close completes, and only then is the poll freed.  It shows
 * the two rules of nesting a poll in another loop:
 *
 *  (a) When the outer loop reports the descriptor readable, call
 *      mw_poll_wait() with a timeout of 0 until it returns 0.  A single
 *      wait may leave events behind, and an edge-triggered outer loop does
 *      not report them again.
 *  (b) Remove the handle from the outer loop before mw_poll_free(), which
 *      closes the descriptor the loop watches: uv_poll_stop(), uv_close(),
 *      and uv_run() again so that the close completes.
 *
 * Exit status: 0 when all messages were handled; 1 with a message on
 * stderr on an error; 77 (the status Automake's tests take for "skipped")
 * when the backend has no descriptor to nest (poll+pipe, libkqueue).  An
 * alarm() watchdog kills the program if a wake is lost.
 * Build: cc nest-libuv.c $(pkg-config --cflags --libs miowake libuv)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <miowake.h>

#define WAKE_TOKEN   ((mw_token)1)
#define MESSAGES     3
#define WATCHDOG_S   10     /* seconds before SIGALRM ends a hung run */
#define EXIT_NO_FD   77

struct app {
    mw_poll *poll;
    mw_waker *waker;
    uv_poll_t watcher;      /* watches mw_poll_fd()'s descriptor */

    /* The queue: the worker appends under the lock, then wakes. */
    pthread_mutex_t lock;
    int queue[MESSAGES];
    int queued;             /* messages in queue[] */
    int worker_error;       /* 0, or the negative errno of a failed call */

    int handled;            /* messages the main thread took */
    int error;              /* the main thread's first error, or 0 */
    const char *what;       /* the call that failed */
};

static void *
worker(void *arg)
{
    struct app *app = arg;
    struct timespec pause = { 0, 20 * 1000000L };
    int r;

    for (int i = 1; i <= MESSAGES; i++) {
        nanosleep(&pause, NULL);            /* so the wakes come apart */
        pthread_mutex_lock(&app->lock);
        app->queue[app->queued++] = i;
        pthread_mutex_unlock(&app->lock);
        /* Publish first, then wake: the wake makes the message visible. */
        r = mw_waker_wake(app->waker);
        if (r < 0) {
            pthread_mutex_lock(&app->lock);
            app->worker_error = r;
            pthread_mutex_unlock(&app->lock);
            return NULL;    /* the watchdog ends the loop, which waits on */
        }
    }
    return NULL;
}

/* The waker's event means "at least one wake": take all there is. */
static void
take_messages(struct app *app)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < app->queued; i++)
        printf("message %d\n", app->queue[i]);
    app->handled += app->queued;
    app->queued = 0;
    pthread_mutex_unlock(&app->lock);
}

/* Rule (a): collect with a timeout of 0 until the wait returns 0. */
static int
collect(struct app *app)
{
    struct mw_event events[8];
    int n;

    for (;;) {
        n = mw_poll_wait(app->poll, events, 8, 0);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            return n;       /* 0: nothing left; < 0: an error */
        for (int i = 0; i < n; i++)
            if (events[i].token == WAKE_TOKEN)
                take_messages(app);
    }
}

/* The poll's descriptor is readable (or libuv reports an error). */
static void
on_poll_readable(uv_poll_t *watcher, int status, int events)
{
    struct app *app = watcher->data;
    int r;

    (void)events;
    if (status < 0) {
        /* libuv's errors are negative errno values on POSIX systems. */
        app->error = status;
        app->what = "uv_poll_start";
    } else {
        r = collect(app);
        if (r < 0) {
            app->error = r;
            app->what = "mw_poll_wait";
        }
    }
    /* Done or failed: stop watching.  With no active handle left,
     * uv_run() returns. */
    if (app->error != 0 || app->handled >= MESSAGES)
        uv_poll_stop(watcher);
}

static int
fail(const char *what, int error)
{
    fprintf(stderr, "nest-libuv: %s: %s\n", what, strerror(error));
    return 1;
}

int
main(void)
{
    struct app app = { .lock = PTHREAD_MUTEX_INITIALIZER };
    uv_loop_t loop;
    pthread_t thread;
    int fd, r, status = 0, started = 0;

    alarm(WATCHDOG_S);
    r = mw_poll_new(&app.poll);
    if (r < 0)
        return fail("mw_poll_new", -r);
    fd = mw_poll_fd(app.poll);
    if (fd == -ENOTSUP) {
        fprintf(stderr, "nest-libuv: the %s backend has no descriptor to "
                "nest (mw_poll_fd: %s)\n", mw_backend(), strerror(-fd));
        mw_poll_free(app.poll);
        return EXIT_NO_FD;
    }
    if (fd < 0) {
        mw_poll_free(app.poll);
        return fail("mw_poll_fd", -fd);
    }
    r = mw_waker_new(&app.waker, app.poll, WAKE_TOKEN);
    if (r < 0) {
        mw_poll_free(app.poll);
        return fail("mw_waker_new", -r);
    }
    r = uv_loop_init(&loop);
    if (r < 0) {
        mw_waker_free(app.waker);
        mw_poll_free(app.poll);
        return fail("uv_loop_init", -r);
    }

    /* Watch the poll's descriptor for UV_READABLE: it becomes readable
     * when a wait has something to report. */
    r = uv_poll_init(&loop, &app.watcher, fd);
    if (r < 0) {
        status = fail("uv_poll_init", -r);
        goto close_loop;
    }
    app.watcher.data = &app;
    r = uv_poll_start(&app.watcher, UV_READABLE, on_poll_readable);
    if (r < 0) {
        status = fail("uv_poll_start", -r);
        goto close_handle;
    }

    r = pthread_create(&thread, NULL, worker, &app);
    if (r != 0) {
        status = fail("pthread_create", r);
        goto close_handle;
    }
    started = 1;
    /* Until the callback stops the handle. */
    r = uv_run(&loop, UV_RUN_DEFAULT);
    (void)r;    /* the number of handles still active: 0 here */

close_handle:
    /* Rule (b): stop and close the handle, and let the loop finish the
     * close, before mw_poll_free() closes the descriptor. */
    uv_poll_stop(&app.watcher);
    uv_close((uv_handle_t *)&app.watcher, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
close_loop:
    r = uv_loop_close(&loop);
    if (r < 0)
        status = fail("uv_loop_close", -r);
    if (started) {
        r = pthread_join(thread, NULL);
        if (r != 0)
            status = fail("pthread_join", r);
    }
    mw_waker_free(app.waker);
    mw_poll_free(app.poll);

    if (app.worker_error != 0)
        status = fail("mw_waker_wake", -app.worker_error);
    if (app.error != 0)
        status = fail(app.what, -app.error);
    if (status == 0 && app.handled != MESSAGES)
        status = 1;
    printf("%d of %d messages handled\n", app.handled, MESSAGES);
    return status;
}
