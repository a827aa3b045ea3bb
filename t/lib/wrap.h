/* SPDX-License-Identifier: MIT */
/*
 * Wrappers of the backends' system calls, for the tests that must act at
 * an exact point inside a library call: t/lib/wrap.c defines poll, ppoll
 * (where the C library has it), epoll_wait, epoll_pwait2 and epoll_ctl
 * (where <sys/epoll.h> has them) and kevent, forwards
 * each to the real one found with dlsym(RTLD_NEXT), and runs the hooks
 * below around it.  A test sets the hooks it needs; with none set, a
 * wrapper only forwards.
 *
 * t/lib/wrap.c is not in t/libtap.a: its definitions replace the system's for
 * the whole program, so only the tests that list it in their sources
 * (t/local.mk) get them.  Calls only one test wraps stay in that test.
 */
#ifndef MW_WRAP_H
#define MW_WRAP_H

#include <stdbool.h>

#if defined(__linux__) && defined(__has_include)
# if __has_include(<sys/epoll.h>)
#  include <sys/epoll.h>
#  define WRAP_HAVE_EPOLL 1
# endif
#endif

/* Only pointers to it pass through here: a build through libkqueue does
 * not put <sys/event.h> on every test's include path. */
struct kevent;

/* The wrapped calls. */
enum wrap_call { WRAP_POLL, WRAP_EPOLL_WAIT, WRAP_KEVENT, WRAP_EPOLL_CTL,
                 WRAP_SYSCALL };

/* Find the real functions.  Until then every wrapper fails with ENOSYS,
 * so a test calls this first thing in main(). */
void wrap_init(void);
/* Was the real function of `call` found?  False where the program has no
 * dlsym(RTLD_NEXT) (a static build) or the system has no such call. */
bool wrap_forwards(enum wrap_call call);
/* The call this build's backend waits in (t/lib/caps.h): the one a
 * hook on the wait must watch -- not one that call makes (libkqueue's
 * kevent() waits in epoll_wait(), and a hook there would run inside the
 * emulation). */
enum wrap_call wrap_wait_call(void);
/* "poll", "epoll_wait", "kevent", "epoll_ctl", "syscall". */
const char *wrap_call_name(enum wrap_call call);
/* dlsym(RTLD_NEXT, name), or NULL where there is none: for the wrappers
 * a single test keeps to itself. */
void *wrap_next_symbol(const char *name);

/* Run before and after a waiting call (poll, epoll_wait, and a kevent
 * that asks for events); `call` says which, n is what it returned.
 * ppoll and epoll_pwait2, the calls that wait with a timespec, count as
 * poll and epoll_wait here. */
extern void (*wrap_before_wait_hook)(enum wrap_call call);
extern void (*wrap_after_wait_hook)(enum wrap_call call, int n);

/* ppoll and epoll_pwait2: how many calls reached the wrapper, and an
 * errno value to refuse them with instead (0: let them through), as an
 * old kernel (ENOSYS) or a seccomp filter would.  Where the C library
 * has no epoll_pwait2 (musl), the library makes the system call through
 * syscall(), which is wrapped then.  A build without these calls or a
 * kqueue backend (kevent takes a timespec) has none to wrap:
 * wrap_fine_wait_wrapped() says whether this build's backend has. */
extern int wrap_fine_wait_calls;
extern int wrap_fine_wait_refuse;
/* ... and how many of them the system itself refused (ENOSYS, EPERM). */
extern int wrap_fine_wait_refused_by_system;
bool wrap_fine_wait_wrapped(void);

/* syscall(), where the library calls it (read, write and close where
 * syscall() reaches them, lib/fd.c; epoll_pwait2 where the C library has
 * no wrapper of its own): wrapped where the build has either.  Run after
 * each call it forwards, epoll_pwait2 aside (counted as above): the
 * number, the six argument words and what it returned, errno as the call
 * left it (and restored after the hook). */
extern void (*wrap_after_syscall_hook)(long number, const long *args,
                                       long result);

/* Run before a change of a kernel set: 0 lets the call through, an errno
 * value makes it fail with that instead. */
#ifdef WRAP_HAVE_EPOLL
extern int (*wrap_before_epoll_ctl_hook)(int op,
                                         const struct epoll_event *event);
#endif
/* Before every kevent(), the waiting ones too: nevents > 0 asks for
 * events. */
extern int (*wrap_before_kevent_hook)(const struct kevent *changes,
                                      int nchanges, int nevents);

#endif
