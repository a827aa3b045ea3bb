/* SPDX-License-Identifier: MIT */
/*
 * The test side of the fake kqueue (fake.c): what the simulated system
 * does where systems differ, what the library asked of kevent(), which
 * knotes exist, two knobs and a hook.  Safe from any thread but the hook;
 * the library's own calls go through kqueue() and kevent() as on the
 * real system.
 */
#ifndef KQOS_FAKE_H
#define KQOS_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The behaviour of the system this program plays (KQOS_PROFILE). */
struct fake_profile {
    const char *name;               /* "freebsd14", "macos", ... */
    bool has_user;                  /* EVFILT_USER exists */
    bool has_except;                /* EVFILT_EXCEPT exists */
    /* EVFILT_EXCEPT added on a pipe, fifo or tty: the error (errno value
     * of this Linux build), 0 where the kernel accepts it. */
    int except_pipe_error;
    /* macOS: EVFILT_EXCEPT is the read filter plus NOTE_OOB, so it fires
     * for ordinary data and at end-of-file too. */
    bool except_is_read_filter;
    /* EVFILT_WRITE added on a pipe's write end whose reader is closed:
     * the error, no knote attached; 0 where the knote attaches and
     * reports EV_EOF. */
    int widowed_pipe_write_error;
    /* A kevent() timeout of more seconds than this fails with EINVAL;
     * 0 for no limit. */
    long max_timeout_sec;
    /* EVFILT_USER knotes a process may have at once (EV_ADD of one more
     * fails with ENOMEM); 0 for no limit. */
    unsigned user_limit;
};
const struct fake_profile *fake_profile(void);

/* One change given to kevent(), in the order they came. */
struct fake_change {
    int kq;
    uintptr_t ident;
    long filter;
    unsigned long flags;
    unsigned long fflags;
    uintptr_t udata;
    int error;                      /* 0, or the errno it failed with */
};
size_t fake_change_count(void);
/* Copy change i into *out; false past the end. */
bool fake_change_get(size_t i, struct fake_change *out);
void fake_changes_clear(void);

/* Does kqueue kq hold the knote (ident, filter)?  Knotes of descriptors
 * closed since are gone, as a BSD kernel drops them at close(). */
bool fake_knote_exists(int kq, uintptr_t ident, long filter);
/* How many EVFILT_READ, EVFILT_WRITE and EVFILT_EXCEPT knotes kq holds
 * for descriptor fd. */
size_t fake_fd_knotes(int kq, int fd);
/* EVFILT_USER knotes of the process, all kqueues. */
size_t fake_user_knotes(void);
/* The descriptor of the kqueue created last, -1 if none. */
int fake_last_kqueue(void);

/* From now on, EV_ADD of a new EVFILT_USER knote fails with err (an
 * errno value) on any profile; 0 puts it back. */
void fake_fail_user_add(int err);
/* The next kevent() asked for events fails with err (an errno value)
 * once its changes are made, before it looks at any knote; 0 takes it
 * back. */
void fake_fail_next_wait(int err);

/* When set, called by each kevent() that was asked for events and has
 * its answer, with the kqueue and the count it is about to return.  It
 * runs without the fake's lock, on the waiting thread, before the
 * library reads the answer: what it does there (deregister a descriptor,
 * say) is what another thread may do in that instant, which a test
 * cannot time from a thread of its own.  It may call the library: a
 * kevent() that only makes changes does not call it.  Set it while no
 * kevent() waits. */
extern void (*_Atomic fake_after_wait_hook)(int kq, int n);

#endif /* KQOS_FAKE_H */
