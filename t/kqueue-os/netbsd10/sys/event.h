/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what NetBSD 10's
 * <sys/event.h> declares, so that the library's kqueue sources compile here
 * as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: NetBSD sys/sys/event.h revision 1.54 (July 2022, before the
 * netbsd-10 branch): EVFILT_USER (8U) and EVFILT_EMPTY (9U), NOTE_TRIGGER,
 * udata a void * (since 9.99.15), and EV_SET an inline function behind a
 * macro that casts ident and udata.  The ext[4] members and the
 * __kevent100 symbol came later (NetBSD 11).  No EVFILT_EXCEPT, no
 * NOTE_OOB.  Not confirmed: one report of a NetBSD 10.1 system whose
 * installed header still had an intptr_t udata; the sources say void *.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_NETBSD10
# error "this is the netbsd10 stub, and config.h another profile's"
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
#define EVFILT_FS       7U
#define EVFILT_USER     8U
#define EVFILT_EMPTY    9U
#define EVFILT_SYSCOUNT 10U

struct kevent {
    uintptr_t ident;
    uint32_t  filter;
    uint32_t  flags;
    uint32_t  fflags;
    int64_t   data;
    void     *udata;
};

/* An inline function with converting casts in the macro around it. */
static __inline void
kqos_ev_set_(struct kevent *kev, uintptr_t ident, uint32_t filter,
             uint32_t flags, uint32_t fflags, int64_t data, void *udata)
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
                 (fflags), (data), (void *)(udata))

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

/* EVFILT_USER. */
#define NOTE_FFNOP      0x00000000U
#define NOTE_FFAND      0x40000000U
#define NOTE_FFOR       0x80000000U
#define NOTE_FFCOPY     0xc0000000U
#define NOTE_FFCTRLMASK 0xc0000000U
#define NOTE_FFLAGSMASK 0x00ffffffU
#define NOTE_TRIGGER    0x01000000U

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT      0x0001U

struct timespec;

int kqueue(void);
int kqueue1(int flags);
int kevent(int kq, const struct kevent *changelist, size_t nchanges,
           struct kevent *eventlist, size_t nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
