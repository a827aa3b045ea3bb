/* SPDX-License-Identifier: MIT */
/*
 * nest-glib: a miowake poll inside a GLib main loop.
 *
 * A worker thread queues three messages, waking the poll after each one.
 * The main thread runs a GMainLoop that watches the poll's descriptor
 * (mw_poll_fd) with g_unix_fd_add(); when it is readable, the callback
 * collects the poll's events and takes every queued message.  After the
 * third message the program removes its source, frees the poll and exits
 * 0.  It shows the two rules of nesting a poll in another loop:
 *
 *  (a) When the outer loop reports the descriptor readable, call
 *      mw_poll_wait() with a timeout of 0 until it returns 0.  A single
 *      wait may leave events behind, and an edge-triggered outer loop does
 *      not report them again.
 *  (b) Remove the source from the outer loop before mw_poll_free(), which
 *      closes the descriptor the loop watches.  Here the callback returns
 *      G_SOURCE_REMOVE (g_source_remove(id) does the same from elsewhere).
 *
 * Exit status: 0 when all messages were handled; 1 with a message on
 * stderr on an error; 77 (the status Automake's tests take for "skipped")
 * when the backend has no descriptor to nest (poll+pipe, libkqueue).  An
 * alarm() watchdog kills the program if a wake is lost.
 * Build: cc nest-glib.c $(pkg-config --cflags --libs miowake glib-2.0)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <miowake.h>

#define WAKE_TOKEN   ((mw_token)1)
#define MESSAGES     3
#define WATCHDOG_S   10     /* seconds before SIGALRM ends a hung run */
#define EXIT_NO_FD   77

struct app {
    mw_poll *poll;
    mw_waker *waker;
    GMainLoop *loop;
    guint source;           /* the g_unix_fd_add() source, 0 once removed */

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
            g_main_loop_quit(app->loop);    /* safe from any thread */
            return NULL;
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

/* g_unix_fd_add()'s callback: the poll's descriptor is readable. */
static gboolean
on_poll_readable(gint fd, GIOCondition condition, gpointer data)
{
    struct app *app = data;
    int r;

    (void)fd;
    (void)condition;
    r = collect(app);
    if (r < 0) {
        app->error = r;
        app->what = "mw_poll_wait";
    }
    if (r < 0 || app->handled >= MESSAGES) {
        g_main_loop_quit(app->loop);
        app->source = 0;
        return G_SOURCE_REMOVE;     /* rule (b): the source goes first */
    }
    return G_SOURCE_CONTINUE;
}

static int
fail(const char *what, int error)
{
    fprintf(stderr, "nest-glib: %s: %s\n", what, strerror(error));
    return 1;
}

int
main(void)
{
    struct app app = { .lock = PTHREAD_MUTEX_INITIALIZER };
    pthread_t thread;
    int fd, r, status = 0;

    alarm(WATCHDOG_S);
    r = mw_poll_new(&app.poll);
    if (r < 0)
        return fail("mw_poll_new", -r);
    fd = mw_poll_fd(app.poll);
    if (fd == -ENOTSUP) {
        fprintf(stderr, "nest-glib: the %s backend has no descriptor to "
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

    /* Watch the poll's descriptor for G_IO_IN: it becomes readable when
     * a wait has something to report. */
    app.loop = g_main_loop_new(NULL, FALSE);
    app.source = g_unix_fd_add(fd, G_IO_IN, on_poll_readable, &app);

    r = pthread_create(&thread, NULL, worker, &app);
    if (r != 0) {
        status = fail("pthread_create", r);
    } else {
        g_main_loop_run(app.loop);  /* until a g_main_loop_quit() */
        r = pthread_join(thread, NULL);
        if (r != 0)
            status = fail("pthread_join", r);
    }

    /* Rule (b): the source must be gone before mw_poll_free() closes the
     * descriptor.  The callback removed it if it quit the loop; when the
     * loop did not run, or stopped for another reason, remove it here. */
    if (app.source != 0)
        g_source_remove(app.source);
    g_main_loop_unref(app.loop);
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
