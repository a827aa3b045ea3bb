/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what macOS's
 * <sys/event.h> declares, so that the library's kqueue sources compile here
 * as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: xnu-10002.1.13 (macOS 14) bsd/sys/event.h, as published in
 * apple-oss-distributions/xnu (xnu-11417, macOS 15.4, differs only in
 * EVFILT_SYSCOUNT, 18).  The struct is packed to 4 bytes there, which
 * changes nothing on LP64 or ILP32.
 * macOS has neither kqueue1() nor kqueuex(); kevent64() and
 * kevent_qos() exist but the library does not use them.  Filters, flags
 * and notes the library never uses are left out.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_MACOS
# error "this is the macos stub, and config.h another profile's"
#endif

#include <stdint.h>
#include <sys/types.h>

/* Filters: negative numbers, in an int16_t. */
#define EVFILT_READ     (-1)
#define EVFILT_WRITE    (-2)
#define EVFILT_AIO      (-3)
#define EVFILT_VNODE    (-4)
#define EVFILT_PROC     (-5)
#define EVFILT_SIGNAL   (-6)
#define EVFILT_TIMER    (-7)
#define EVFILT_MACHPORT (-8)
#define EVFILT_FS       (-9)
#define EVFILT_USER     (-10)
#define EVFILT_VM       (-12)
#define EVFILT_EXCEPT   (-15)
#define EVFILT_SYSCOUNT 17

#pragma pack(4)
struct kevent {
    uintptr_t ident;
    int16_t   filter;
    uint16_t  flags;
    uint32_t  fflags;
    intptr_t  data;
    void     *udata;
};
#pragma pack()

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

/* Actions and flags. */
#define EV_ADD              0x0001
#define EV_DELETE           0x0002
#define EV_ENABLE           0x0004
#define EV_DISABLE          0x0008
#define EV_ONESHOT          0x0010
#define EV_CLEAR            0x0020
#define EV_RECEIPT          0x0040
#define EV_DISPATCH         0x0080
#define EV_UDATA_SPECIFIC   0x0100
#define EV_VANISHED         0x0200
#define EV_SYSFLAGS         0xF000
#define EV_FLAG0            0x1000
#define EV_FLAG1            0x2000
/* Returned. */
#define EV_EOF              0x8000
#define EV_ERROR            0x4000
/* EVFILT_READ's own names for the filter-specific flags. */
#define EV_POLL             EV_FLAG0
#define EV_OOBAND           EV_FLAG1

/* EVFILT_USER. */
#define NOTE_TRIGGER    0x01000000
#define NOTE_FFNOP      0x00000000
#define NOTE_FFAND      0x40000000
#define NOTE_FFOR       0x80000000
#define NOTE_FFCOPY     0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT      0x00000001

/* EVFILT_EXCEPT. */
#define NOTE_OOB        0x00000002

struct timespec;

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
