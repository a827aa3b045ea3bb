/* SPDX-License-Identifier: MIT */
/*
 * What the backend pair of this build can do, as the tests ask it: one
 * table, filled from mw_backend() in t/lib/caps.c and nowhere else, so that
 * a test asks "does the wake take a lock" rather than "is this
 * kqueue+user" and a new backend is described in one place.  Part of
 * t/libtap.a; the benchmarks and the fuzzer, which do not link it, build
 * t/lib/caps.c themselves.
 */
#ifndef MW_CAPS_H
#define MW_CAPS_H

#include <stdbool.h>

/* The system call a wait blocks in.  A hook on the wait must watch this
 * one, not one it makes (libkqueue's kevent() waits in epoll_wait()). */
enum util_wait_call {
    UTIL_WAIT_POLL,             /* poll(2), or ppoll */
    UTIL_WAIT_EPOLL_WAIT,       /* epoll_wait, or epoll_pwait2 */
    UTIL_WAIT_KEVENT
};

/* The system call that changes the kernel's set of registrations: none
 * where the poller keeps the set itself and hands it to poll(2) whole on
 * each wait. */
enum util_set_call {
    UTIL_SET_NONE,
    UTIL_SET_EPOLL_CTL,
    UTIL_SET_KEVENT
};

struct util_caps {
    enum util_wait_call wait_call;
    enum util_set_call set_call;
    /* The kernel keeps the set between waits (epoll, kqueue); poll(2)
     * is handed the poller's own copy each time, so what was
     * deregistered or closed is simply gone and each wait costs O(n). */
    bool kernel_keeps_set;
    /* A child inherits the poll's kernel set across fork(): an epoll
     * descriptor is shared, a kqueue is not inherited at all. */
    bool set_inherited_by_fork;
    /* kqueue emulated in user space by libkqueue (a kqueue build on
     * Linux): it opens descriptors of its own (an eventfd per kqueue and
     * per EVFILT_USER knote) and closes them from its own thread some
     * time after the kqueue is closed, allocates, tracks the file behind
     * each registration, reads SO_ERROR itself, and waits in epoll. */
    bool emulated;
    /* mw_poll_fd() gives a descriptor that becomes readable when the
     * poll has an event, for nesting: poll(2) has no kernel object, and
     * libkqueue's kqueue descriptor never becomes readable. */
    bool poll_fd_works;
    /* The wakers' object.  An eventfd and a pipe are descriptors the
     * poll registers (and a test can find, fill or make fail); an
     * EVFILT_USER knote is none, and is triggered through kevent() --
     * unless a kernel refuses it and the wakers fall back to a pipe,
     * which util_hub_fds() then finds. */
    bool waker_eventfd;
    bool waker_pipe;
    bool waker_knote;
    /* mw_waker_wake() takes a lock: libkqueue's kevent() locks mutexes
     * to trigger a knote.  Everywhere else a wake is one write(2). */
    bool wake_takes_lock;
    /* ... and so may deadlock when called from a signal handler. */
    bool wake_async_signal_safe;
    /* A registration follows the descriptor number rather than the open
     * file: poll(2) and a native kqueue name only the number, so after
     * close and reuse the number can be reregistered; epoll (and
     * libkqueue, which notes the file) refuse it with -EBADF. */
    bool registration_by_number;
    /* Regular files and directories can be registered (always ready):
     * poll(2) takes any descriptor, epoll_ctl refuses them with EPERM
     * and the kqueue poller refuses them the same way. */
    bool registers_disk_files;
    /* MW_PRIORITY may be -ENOTSUP: a kqueue without EVFILT_EXCEPT has no
     * urgent-data filter; poll and epoll always have POLLPRI. */
    bool priority_may_be_unsupported;
};

/* This build's row of the table (static; never NULL). */
const struct util_caps *util_caps(void);

#endif /* MW_CAPS_H */
