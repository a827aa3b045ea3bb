/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what NetBSD 9's
 * <sys/event.h> declares, so that the library's kqueue sources compile here
 * as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Sources: NetBSD sys/sys/event.h as in NetBSD 7 (see that stub) for
 * the numbers and the uint32_t members; udata is still an intptr_t in
 * NetBSD 9: NetBSD-current switched it to void * at 9.99.15, after the
 * netbsd-9 branch (as libevent's and Boost.Asio's changes for NetBSD 10
 * of 2019 and 2020 say).  EV_RECEIPT and EV_DISPATCH are there since
 * 2015 (as in the tombibsd/netbsd mirror).  Not confirmed from a netbsd-9 header: the form of EV_SET.  It
 * is stated here as the inline function NetBSD has later, taking an
 * intptr_t that EV_SET casts udata to, so a pointer compiles; NetBSD 7's
 * member-by-member EV_SET is the netbsd7 stub.  No EVFILT_USER (NetBSD
 * 10 has it), no EVFILT_EXCEPT, no NOTE_OOB.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_NETBSD9
# error "this is the netbsd9 stub, and config.h another profile's"
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

struct kevent {
    uintptr_t ident;
    uint32_t  filter;
    uint32_t  flags;
    uint32_t  fflags;
    int64_t   data;
    intptr_t  udata;
};

/* An inline function with converting casts in the macro around it. */
static __inline void
kqos_ev_set_(struct kevent *kev, uintptr_t ident, uint32_t filter,
             uint32_t flags, uint32_t fflags, int64_t data, intptr_t udata)
{
    kev->ident = ident;
    kev->filter = filter;
    kev->flags = flags;
    kev->fflags = fflags;
    kev->data = data;
    kev->udata = udata;
}
#define EV_SET(kevp, ident, filter, flags, fflags, data, udata)        \
    kqos_ev_set_((kevp), (uintptr_t)(ident), (filter), (flags),        \
                 (fflags), (data), (intptr_t)(udata))

/* Actions and flags. */
#define EV_ADD          0x0001U
#define EV_DELETE       0x0002U
#define EV_ENABLE       0x0004U
#define EV_DISABLE      0x0008U
#define EV_ONESHOT      0x0010U
#define EV_CLEAR        0x0020U
#define EV_RECEIPT      0x0040U
#define EV_DISPATCH     0x0080U
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
