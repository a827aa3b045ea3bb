/* SPDX-License-Identifier: MIT */
/*
 * The wrappers of t/wrap.h.  Each forwards to the next definition of its
 * function (the C library's, or a sanitizer's in between) and runs the
 * hooks a test set; errno is kept across a hook, so the caller sees the
 * real call's.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>

#include "wrap.h"

void (*wrap_before_wait_hook)(enum wrap_call call);
void (*wrap_after_wait_hook)(enum wrap_call call, int n);
#ifdef WRAP_HAVE_EPOLL
int (*wrap_before_epoll_ctl_hook)(int op, const struct epoll_event *event);
#endif
int (*wrap_before_kevent_hook)(const struct kevent *changes, int nchanges,
                               int nevents);

static void
before_wait(enum wrap_call call)
{
    int saved = errno;

    if (wrap_before_wait_hook)
        wrap_before_wait_hook(call);
    errno = saved;
}

static void
after_wait(enum wrap_call call, int n)
{
    int saved = errno;

    if (wrap_after_wait_hook)
        wrap_after_wait_hook(call, n);
    errno = saved;
}

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
static poll_fn real_poll;

int
poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    int n;

    if (!real_poll) {
        errno = ENOSYS;
        return -1;
    }
    before_wait(WRAP_POLL);
    n = real_poll(fds, nfds, timeout);
    after_wait(WRAP_POLL, n);
    return n;
}

#ifdef WRAP_HAVE_EPOLL
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
static epoll_wait_fn real_epoll_wait;

int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    int n;

    if (!real_epoll_wait) {
        errno = ENOSYS;
        return -1;
    }
    before_wait(WRAP_EPOLL_WAIT);
    n = real_epoll_wait(epfd, events, maxevents, timeout);
    after_wait(WRAP_EPOLL_WAIT, n);
    return n;
}

typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);
static epoll_ctl_fn real_epoll_ctl;

/* libkqueue calls epoll_ctl() too: a hook that means the backend's own
 * calls checks which backend this is. */
int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    if (!real_epoll_ctl) {
        errno = ENOSYS;
        return -1;
    }
    if (wrap_before_epoll_ctl_hook) {
        int saved = errno;
        int err = wrap_before_epoll_ctl_hook(op, event);

        errno = err != 0 ? err : saved;
        if (err != 0)
            return -1;
    }
    return real_epoll_ctl(epfd, op, fd, event);
}
#endif

/* Declared without <sys/event.h>, which a Linux build through libkqueue
 * does not put on this program's include path: the wrapper only forwards
 * the arguments and looks at the result. */
struct timespec;
int kevent(int kq, const struct kevent *changes, int nchanges,
           struct kevent *events, int nevents, const struct timespec *timeout);
typedef int (*kevent_fn)(int, const struct kevent *, int, struct kevent *,
                         int, const struct timespec *);
static kevent_fn real_kevent;

int
kevent(int kq, const struct kevent *changes, int nchanges,
       struct kevent *events, int nevents, const struct timespec *timeout)
{
    int n;

    if (!real_kevent) {
        errno = ENOSYS;
        return -1;
    }
    if (wrap_before_kevent_hook) {
        int saved = errno;
        int err = wrap_before_kevent_hook(changes, nchanges, nevents);

        errno = err != 0 ? err : saved;
        if (err != 0)
            return -1;
    }
    /* A kevent() that asks for no events only changes the set. */
    if (nevents > 0)
        before_wait(WRAP_KEVENT);
    n = real_kevent(kq, changes, nchanges, events, nevents, timeout);
    if (nevents > 0)
        after_wait(WRAP_KEVENT, n);
    return n;
}

void *
wrap_next_symbol(const char *name)
{
#ifdef RTLD_NEXT
    return dlsym(RTLD_NEXT, name);
#else
    (void)name;
    return NULL;
#endif
}

/* POSIX guarantees that dlsym's result converts to a function pointer;
 * memcpy keeps ISO C's -Wpedantic quiet about the conversion. */
#define RESOLVE(var, name) \
    do { \
        void *sym_ = wrap_next_symbol(name); \
        if (sym_) \
            memcpy(&(var), &sym_, sizeof(var)); \
    } while (0)

void
wrap_init(void)
{
    RESOLVE(real_poll, "poll");
#ifdef WRAP_HAVE_EPOLL
    RESOLVE(real_epoll_wait, "epoll_wait");
    RESOLVE(real_epoll_ctl, "epoll_ctl");
#endif
    RESOLVE(real_kevent, "kevent");
}

bool
wrap_forwards(enum wrap_call call)
{
    switch (call) {
    case WRAP_POLL:
        return real_poll != NULL;
#ifdef WRAP_HAVE_EPOLL
    case WRAP_EPOLL_WAIT:
        return real_epoll_wait != NULL;
    case WRAP_EPOLL_CTL:
        return real_epoll_ctl != NULL;
#else
    case WRAP_EPOLL_WAIT:
    case WRAP_EPOLL_CTL:
        return false;
#endif
    case WRAP_KEVENT:
        return real_kevent != NULL;
    }
    return false;
}

enum wrap_call
wrap_wait_call_for_backend(const char *backend)
{
    if (strncmp(backend, "epoll+", 6) == 0)
        return WRAP_EPOLL_WAIT;
    if (strncmp(backend, "kqueue+", 7) == 0)
        return WRAP_KEVENT;
    return WRAP_POLL;
}

const char *
wrap_call_name(enum wrap_call call)
{
    switch (call) {
    case WRAP_POLL:
        return "poll";
    case WRAP_EPOLL_WAIT:
        return "epoll_wait";
    case WRAP_KEVENT:
        return "kevent";
    case WRAP_EPOLL_CTL:
        return "epoll_ctl";
    }
    return "?";
}
