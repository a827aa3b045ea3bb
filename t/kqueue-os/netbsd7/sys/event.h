/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what NetBSD 7's
 * <sys/event.h> declares, so that the library's kqueue sources compile here
 * as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: NetBSD sys/sys/event.h of the NetBSD 7 era (revisions 1.23 of
 * 2011 to 1.24 of January 2015, as in the NuxiNL/netbsd and
 * krytarowski/netbsd-current-src-sys mirrors): filter numbers from 0U,
 * filter, flags and fflags uint32_t, udata an intptr_t, and an EV_SET
 * that assigns each member, so a pointer given as udata is an
 * int-conversion error.  kevent() counts in size_t (libc renames it
 * __kevent50, which does not matter here).  No EVFILT_USER, no
 * EVFILT_EXCEPT, no NOTE_OOB.  Not confirmed: whether 7.x shipped
 * revision 1.23 or 1.24; the facts stated here are the same in both as
 * far as the library is concerned.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_NETBSD7
# error "this is the netbsd7 stub, and config.h another profile's"
#endif

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Filters: small unsigned numbers from 0, in a uint32_t. */
#define EVFILT_READ     0U
#define EVFILT_WRITE    1U
#define EVFILT_AIO      2U
#define EVFILT_VNODE    3U
#define EVFILT_PROC     4U
#define EVFILT_SIGNAL   5U
#define EVFILT_TIMER    6U
#define EVFILT_SYSCOUNT 7U

/* Each member assigned as it is given: no conversion of udata. */
#define EV_SET(kevp, a, b, c, d, e, f)                                 \
    do {                                                               \
        (kevp)->ident = (a);                                           \
        (kevp)->filter = (b);                                          \
        (kevp)->flags = (c);                                           \
        (kevp)->fflags = (d);                                          \
        (kevp)->data = (e);                                            \
        (kevp)->udata = (f);                                           \
    } while (0)

struct kevent {
    uintptr_t ident;
    uint32_t  filter;
    uint32_t  flags;
    uint32_t  fflags;
    int64_t   data;
    intptr_t  udata;
};

/* Actions and flags. */
#define EV_ADD          0x0001U
#define EV_DELETE       0x0002U
#define EV_ENABLE       0x0004U
#define EV_DISABLE      0x0008U
#define EV_ONESHOT      0x0010U
#define EV_CLEAR        0x0020U
#define EV_SYSFLAGS     0xF000U
#define EV_FLAG1        0x2000U
/* Returned. */
#define EV_EOF          0x8000U
#define EV_ERROR        0x4000U

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT      0x0001U

struct timespec;

int kqueue(void);
int kqueue1(int flags);
int kevent(int kq, const struct kevent *changelist, size_t nchanges,
           struct kevent *eventlist, size_t nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
