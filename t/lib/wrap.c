/* SPDX-License-Identifier: MIT */
/*
 * The wrappers of t/lib/wrap.h.  Each forwards to the next definition of its
 * function (the C library's, or a sanitizer's in between) and runs the
 * hooks a test set; errno is kept across a hook, so the caller sees the
 * real call's.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "wrap.h"

void (*wrap_before_wait_hook)(enum wrap_call call);
void (*wrap_after_wait_hook)(enum wrap_call call, int n);
#ifdef WRAP_HAVE_EPOLL
int (*wrap_before_epoll_ctl_hook)(int op, const struct epoll_event *event);
#endif
int (*wrap_before_kevent_hook)(const struct kevent *changes, int nchanges,
                               int nevents);

int wrap_fine_wait_calls;
int wrap_fine_wait_refuse;
int wrap_fine_wait_refused_by_system;

/* Where glibc lets a program choose its time_t (i386, armhf, armel),
 * each timespec call has two names, the 64-bit one __ppoll64 and
 * __epoll_pwait2_time64, and the library calls the one of the time_t it
 * was built with, which need not be this program's: both are wrapped,
 * under their symbols, each forwarding to its own.  The timespec only
 * passes through. */
#if defined(__GLIBC__) && defined(__TIMESIZE) && __TIMESIZE == 32
# define WRAP_TWO_TIMES 1
#else
# define WRAP_TWO_TIMES 0
#endif

/* The C library has no epoll_pwait2, but its headers number the system
 * call (musl): the library makes it through syscall(), as it makes read,
 * write and close where syscall() reaches them. */
#if defined(WRAP_HAVE_EPOLL) && !defined(HAVE_EPOLL_PWAIT2) \
    && defined(HAVE_DECL_SYS_EPOLL_PWAIT2) && HAVE_DECL_SYS_EPOLL_PWAIT2
# define WRAP_SYSCALL_PWAIT2 1
#endif
#if defined(MW_HAVE_SYSCALL_RW) || defined(WRAP_SYSCALL_PWAIT2)
# define WRAP_HAVE_SYSCALL 1
# include <sys/syscall.h>
#endif

#if defined(HAVE_PPOLL) || defined(HAVE_EPOLL_PWAIT2) \
    || defined(WRAP_SYSCALL_PWAIT2)
/* A call of ppoll or epoll_pwait2: counted, and refused if the test
 * asks; -1 with errno then. */
static int
fine_wait_refused(void)
{
    wrap_fine_wait_calls++;
    if (wrap_fine_wait_refuse == 0)
        return 0;
    errno = wrap_fine_wait_refuse;
    return -1;
}
#endif

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

#ifdef HAVE_PPOLL
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const void *,
                        const sigset_t *);
static ppoll_fn real_ppoll;
# if WRAP_TWO_TIMES
static ppoll_fn real_ppoll64;
# endif

static int
fine_ppoll(ppoll_fn real, struct pollfd *fds, nfds_t nfds,
           const void *timeout, const sigset_t *sigmask)
{
    int n;

    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (fine_wait_refused() < 0)
        return -1;
    before_wait(WRAP_POLL);
    n = real(fds, nfds, timeout, sigmask);
    if (n < 0 && (errno == ENOSYS || errno == EPERM))
        wrap_fine_wait_refused_by_system++;
    after_wait(WRAP_POLL, n);
    return n;
}

# if WRAP_TWO_TIMES
int wrap_ppoll32(struct pollfd *fds, nfds_t nfds, const void *timeout,
                 const sigset_t *sigmask) __asm__("ppoll");
int wrap_ppoll64(struct pollfd *fds, nfds_t nfds, const void *timeout,
                 const sigset_t *sigmask) __asm__("__ppoll64");

int
wrap_ppoll32(struct pollfd *fds, nfds_t nfds, const void *timeout,
             const sigset_t *sigmask)
{
    return fine_ppoll(real_ppoll, fds, nfds, timeout, sigmask);
}

int
wrap_ppoll64(struct pollfd *fds, nfds_t nfds, const void *timeout,
             const sigset_t *sigmask)
{
    return fine_ppoll(real_ppoll64, fds, nfds, timeout, sigmask);
}
# else
int
ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
      const sigset_t *sigmask)
{
    return fine_ppoll(real_ppoll, fds, nfds, timeout, sigmask);
}
# endif
#endif

#if defined(WRAP_HAVE_EPOLL) && defined(HAVE_EPOLL_PWAIT2)
typedef int (*epoll_pwait2_fn)(int, struct epoll_event *, int, const void *,
                               const sigset_t *);
static epoll_pwait2_fn real_epoll_pwait2;
# if WRAP_TWO_TIMES
static epoll_pwait2_fn real_epoll_pwait2_64;
# endif

static int
fine_epoll_pwait2(epoll_pwait2_fn real, int epfd, struct epoll_event *events,
                  int maxevents, const void *timeout, const sigset_t *sigmask)
{
    int n;

    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (fine_wait_refused() < 0)
        return -1;
    before_wait(WRAP_EPOLL_WAIT);
    n = real(epfd, events, maxevents, timeout, sigmask);
    if (n < 0 && (errno == ENOSYS || errno == EPERM))
        wrap_fine_wait_refused_by_system++;
    after_wait(WRAP_EPOLL_WAIT, n);
    return n;
}

# if WRAP_TWO_TIMES
int wrap_epoll_pwait2_32(int epfd, struct epoll_event *events, int maxevents,
                         const void *timeout, const sigset_t *sigmask)
    __asm__("epoll_pwait2");
int wrap_epoll_pwait2_64(int epfd, struct epoll_event *events, int maxevents,
                         const void *timeout, const sigset_t *sigmask)
    __asm__("__epoll_pwait2_time64");

int
wrap_epoll_pwait2_32(int epfd, struct epoll_event *events, int maxevents,
                     const void *timeout, const sigset_t *sigmask)
{
    return fine_epoll_pwait2(real_epoll_pwait2, epfd, events, maxevents,
                             timeout, sigmask);
}

int
wrap_epoll_pwait2_64(int epfd, struct epoll_event *events, int maxevents,
                     const void *timeout, const sigset_t *sigmask)
{
    return fine_epoll_pwait2(real_epoll_pwait2_64, epfd, events, maxevents,
                             timeout, sigmask);
}
# else
int
epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
             const struct timespec *timeout, const sigset_t *sigmask)
{
    return fine_epoll_pwait2(real_epoll_pwait2, epfd, events, maxevents,
                             timeout, sigmask);
}
# endif
#endif

#ifdef WRAP_HAVE_SYSCALL
void (*wrap_after_syscall_hook)(long number, const long *args, long result);
typedef long (*syscall_fn)(long, ...);
static syscall_fn real_syscall;

/* Six arguments are taken whatever the call, as the C libraries' own
 * syscall() does. */
long
syscall(long number, ...)
{
    va_list ap;
    long a[6], n;

    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (!real_syscall) {
        errno = ENOSYS;
        return -1;
    }
# ifdef WRAP_SYSCALL_PWAIT2
    if (number == SYS_epoll_pwait2) {
        if (fine_wait_refused() < 0)
            return -1;
        before_wait(WRAP_EPOLL_WAIT);
        n = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (n < 0 && (errno == ENOSYS || errno == EPERM))
            wrap_fine_wait_refused_by_system++;
        after_wait(WRAP_EPOLL_WAIT, (int)n);
        return n;
    }
# endif
    n = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (wrap_after_syscall_hook) {
        int saved = errno;

        wrap_after_syscall_hook(number, a, n);
        errno = saved;
    }
    return n;
}
#else
void (*wrap_after_syscall_hook)(long number, const long *args, long result);
#endif

bool
wrap_fine_wait_wrapped(void)
{
    enum util_wait_call call = util_caps()->wait_call;

    if (call == UTIL_WAIT_EPOLL_WAIT) {
#if defined(WRAP_HAVE_EPOLL) && defined(HAVE_EPOLL_PWAIT2)
        return real_epoll_pwait2 != NULL;
#elif defined(WRAP_SYSCALL_PWAIT2)
        return real_syscall != NULL;
#endif
    } else if (call == UTIL_WAIT_POLL) {
#ifdef HAVE_PPOLL
        return real_ppoll != NULL;
#endif
    }
    return false;
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
#ifdef HAVE_PPOLL
    RESOLVE(real_ppoll, "ppoll");
# if WRAP_TWO_TIMES
    RESOLVE(real_ppoll64, "__ppoll64");
# endif
#endif
#ifdef WRAP_HAVE_SYSCALL
    RESOLVE(real_syscall, "syscall");
#endif
#if defined(WRAP_HAVE_EPOLL) && defined(HAVE_EPOLL_PWAIT2)
    RESOLVE(real_epoll_pwait2, "epoll_pwait2");
# if WRAP_TWO_TIMES
    RESOLVE(real_epoll_pwait2_64, "__epoll_pwait2_time64");
# endif
#endif
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
    case WRAP_SYSCALL:
#ifdef WRAP_HAVE_SYSCALL
        return real_syscall != NULL;
#else
        return false;
#endif
    }
    return false;
}

enum wrap_call
wrap_wait_call(void)
{
    switch (util_caps()->wait_call) {
    case UTIL_WAIT_EPOLL_WAIT:
        return WRAP_EPOLL_WAIT;
    case UTIL_WAIT_KEVENT:
        return WRAP_KEVENT;
    case UTIL_WAIT_POLL:
        break;
    }
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
    case WRAP_SYSCALL:
        return "syscall";
    }
    return "?";
}
