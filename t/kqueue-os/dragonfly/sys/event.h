/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what DragonFly
 * BSD's <sys/event.h> declares, so that the library's kqueue sources compile
 * here as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: DragonFly sys/sys/event.h of the 5.x/6.x series (as in the
 * tuxillo/DragonFlyBSD mirror): EVFILT_EXCEPT -8 with NOTE_OOB 0x0002,
 * EVFILT_USER -9 with NOTE_TRIGGER, EVFILT_FS -10, an intptr_t data, the
 * returned EV_HUP and EV_NODATA, and an EV_SET with a local variable
 * named kevp.  DragonFly has neither kqueue1() nor kqueuex().  Not
 * confirmed: which 6.x release is the newest with exactly these values.
 * Filters, flags and notes the library never uses are left out.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_DRAGONFLY
# error "this is the dragonfly stub, and config.h another profile's"
#endif

#include <stdint.h>
#include <sys/types.h>

/* Filters: small negative numbers, in a short. */
#define EVFILT_READ     (-1)
#define EVFILT_WRITE    (-2)
#define EVFILT_AIO      (-3)
#define EVFILT_VNODE    (-4)
#define EVFILT_PROC     (-5)
#define EVFILT_SIGNAL   (-6)
#define EVFILT_TIMER    (-7)
#define EVFILT_EXCEPT   (-8)
#define EVFILT_USER     (-9)
#define EVFILT_FS       (-10)
#define EVFILT_SYSCOUNT 10

/* Member assignments through a local pointer called kevp. */
#define EV_SET(kevp_, a, b, c, d, e, f)                                \
    do {                                                               \
        struct kevent *kevp = (kevp_);                                 \
        kevp->ident = (a);                                             \
        kevp->filter = (b);                                            \
        kevp->flags = (c);                                             \
        kevp->fflags = (d);                                            \
        kevp->data = (e);                                              \
        kevp->udata = (f);                                             \
    } while (0)

struct kevent {
    uintptr_t      ident;
    short          filter;
    unsigned short flags;
    unsigned int   fflags;
    intptr_t       data;
    void          *udata;
};

/* Actions and flags. */
#define EV_ADD          0x0001
#define EV_DELETE       0x0002
#define EV_ENABLE       0x0004
#define EV_DISABLE      0x0008
#define EV_ONESHOT      0x0010
#define EV_CLEAR        0x0020
#define EV_RECEIPT      0x0040
#define EV_DISPATCH     0x0080
#define EV_SYSFLAGS     0xF800
#define EV_FLAG1        0x2000
/* Returned. */
#define EV_HUP          0x0800
#define EV_EOF          0x8000
#define EV_ERROR        0x4000
#define EV_NODATA       0x1000

/* EVFILT_USER. */
#define NOTE_FFNOP      0x00000000
#define NOTE_FFAND      0x40000000
#define NOTE_FFOR       0x80000000
#define NOTE_FFCOPY     0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER    0x01000000

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT      0x0001

/* EVFILT_EXCEPT (and EVFILT_READ and EVFILT_WRITE). */
#define NOTE_OOB        0x0002

struct timespec;

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
