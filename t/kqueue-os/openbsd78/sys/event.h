/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what OpenBSD
 * 7.8's <sys/event.h> declares, so that the library's kqueue sources compile
 * here as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: OpenBSD sys/sys/event.h revision 1.74 (May 2025, after the
 * 7.7 release: OpenBSD 7.8), which added EVFILT_USER (-10) and its
 * NOTE_FF* and NOTE_TRIGGER; kern_event.c revision 1.205 for kqueue1()
 * (sys_kqueue1) and the per-process limit of user and timer events
 * (kq_usereventsmax, 1024), which fake.c plays.  EVFILT_EXCEPT is -9 and
 * its NOTE_OOB 0x0004.  Filters, flags and notes the library never uses
 * are left out.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_OPENBSD78
# error "this is the openbsd78 stub, and config.h another profile's"
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
#define EVFILT_DEVICE   (-8)
#define EVFILT_EXCEPT   (-9)
#define EVFILT_USER     (-10)
#define EVFILT_SYSCOUNT 10

/* Plain member assignments through a local pointer. */
#define EV_SET(kevp, a, b, c, d, e, f)                                 \
    do {                                                               \
        struct kevent *kqos_kev_ = (kevp);                             \
        kqos_kev_->ident = (a);                                        \
        kqos_kev_->filter = (b);                                       \
        kqos_kev_->flags = (c);                                        \
        kqos_kev_->fflags = (d);                                       \
        kqos_kev_->data = (e);                                         \
        kqos_kev_->udata = (f);                                        \
    } while (0)

struct kevent {
    uintptr_t      ident;
    short          filter;
    unsigned short flags;
    unsigned int   fflags;
    int64_t        data;
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
#define EV_SYSFLAGS     0xf800
#define EV_FLAG1        0x2000
/* Returned. */
#define EV_EOF          0x8000
#define EV_ERROR        0x4000

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT      0x0001
#define NOTE_EOF        0x0002

/* EVFILT_EXCEPT (and EVFILT_READ and EVFILT_WRITE). */
#define NOTE_OOB        0x0004

/* EVFILT_USER. */
#define NOTE_FFNOP      0x00000000
#define NOTE_FFAND      0x40000000
#define NOTE_FFOR       0x80000000
#define NOTE_FFCOPY     0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER    0x01000000

struct timespec;

int kqueue(void);
int kqueue1(int flags);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
