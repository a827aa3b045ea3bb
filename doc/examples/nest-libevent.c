/* SPDX-License-Identifier: MIT */
/*
 * nest-libevent: a miowake poll inside a libevent loop, edge-triggered.
 *
 * A worker thread queues three messages, waking the poll after each one.
 * The main thread runs an event_base with an event on the poll's
 * descriptor (mw_poll_fd), EV_READ|EV_PERSIST, and EV_ET where the base
 * supports it (epoll does); when it fires, the callback collects the
 * poll's events and takes every queued message.  After the third message
 * the event is deleted and freed, and only then is the poll freed.  It
 * shows the two rules of nesting a poll in another loop:
 *
 *  (a) When the outer loop reports the descriptor readable, call
 *      mw_poll_wait() with a timeout of 0 until it returns 0.  With EV_ET
 *      libevent reports the descriptor only when it becomes readable
 *      again: events that a single wait left behind would not be reported
 *      until some later wake, or never.  Level-triggered (without EV_ET)
 *      the loop would call back once more instead; the drain is right
 *      for both.
 *  (b) Remove the event from the loop before mw_poll_free(), which
 *      closes the descriptor the loop watches: event_del() (event_free()
 *      does it too), then mw_poll_free().
 *
 * Exit status: 0 when all messages were handled; 1 with a message on
 * stderr on an error; 77 (the status Automake's tests take for "skipped")
 * when the backend has no descriptor to nest (poll+pipe, libkqueue).  An
 * alarm() watchdog kills the program if a wake is lost.
 * Build: cc nest-libevent.c $(pkg-config --cflags --libs miowake libevent)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <miowake.h>

#define WAKE_TOKEN   ((mw_token)1)
#define MESSAGES     3
#define WATCHDOG_S   10     /* seconds before SIGALRM ends a hung run */
#define EXIT_NO_FD   77

struct app {
    mw_poll *poll;
    mw_waker *waker;
    struct event_base *base;
    struct event *watcher;  /* on mw_poll_fd()'s descriptor */

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

/* The poll's descriptor is readable. */
static void
on_poll_readable(evutil_socket_t fd, short what, void *data)
{
    struct app *app = data;
    int r;

    (void)fd;
    (void)what;
    r = collect(app);
    if (r < 0) {
        app->error = r;
        app->what = "mw_poll_wait";
    }
    /* Done or failed: delete the event.  With no event left,
     * event_base_dispatch() returns. */
    if (r < 0 || app->handled >= MESSAGES)
        event_del(app->watcher);
}

static int
fail(const char *what, int error)
{
    fprintf(stderr, "nest-libevent: %s: %s\n", what, strerror(error));
    return 1;
}

/* libevent reports a failure as NULL or -1, and logs the cause to stderr
 * itself; errno is not always set. */
static int
fail_libevent(const char *what)
{
    fprintf(stderr, "nest-libevent: %s failed\n", what);
    return 1;
}

int
main(void)
{
    struct app app = { .lock = PTHREAD_MUTEX_INITIALIZER };
    pthread_t thread;
    short flags = EV_READ | EV_PERSIST;
    int fd, r, status = 0;

    alarm(WATCHDOG_S);
    r = mw_poll_new(&app.poll);
    if (r < 0)
        return fail("mw_poll_new", -r);
    fd = mw_poll_fd(app.poll);
    if (fd == -ENOTSUP) {
        fprintf(stderr, "nest-libevent: the %s backend has no descriptor "
                "to nest (mw_poll_fd: %s)\n", mw_backend(), strerror(-fd));
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
    app.base = event_base_new();
    if (app.base == NULL) {
        status = fail_libevent("event_base_new");
        goto free_poll;
    }

    /* Watch the poll's descriptor for EV_READ: it becomes readable when
     * a wait has something to report.  EV_ET, where the base has it, is
     * the case that needs rule (a). */
    if (event_base_get_features(app.base) & EV_FEATURE_ET)
        flags |= EV_ET;
    printf("libevent %s, %s, %s\n", event_get_version(),
           event_base_get_method(app.base),
           (flags & EV_ET) ? "edge-triggered" : "level-triggered");
    app.watcher = event_new(app.base, fd, flags, on_poll_readable, &app);
    if (app.watcher == NULL) {
        status = fail_libevent("event_new");
        goto free_base;
    }
    if (event_add(app.watcher, NULL) != 0) {
        status = fail_libevent("event_add");
        goto free_event;
    }

    r = pthread_create(&thread, NULL, worker, &app);
    if (r != 0) {
        status = fail("pthread_create", r);
        goto free_event;
    }
    /* Until the callback deletes the event: 1 means no events were left,
     * -1 an error. */
    if (event_base_dispatch(app.base) < 0)
        status = fail_libevent("event_base_dispatch");
    r = pthread_join(thread, NULL);
    if (r != 0)
        status = fail("pthread_join", r);

free_event:
    /* Rule (b): the event must be gone before mw_poll_free() closes the
     * descriptor.  event_free() deletes it if it is still added. */
    event_free(app.watcher);
free_base:
    event_base_free(app.base);
free_poll:
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
