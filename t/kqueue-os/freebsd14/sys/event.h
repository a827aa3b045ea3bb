/* SPDX-License-Identifier: MIT */
/*
 * A stub <sys/event.h> for the kqueue-os simulation
 * (t/kqueue-os/kqueue-os.mk), not a system header: it states what FreeBSD
 * 14's <sys/event.h> declares, so that the library's kqueue sources compile
 * here as they would there, and t/kqueue-os/fake.c implements the calls.
 *
 * Source: FreeBSD sys/sys/event.h (freebsd-src: the struct with ext[4]
 * and the int64_t data since FreeBSD 12), kqueue(2) for kqueuex() and
 * KQUEUE_CLOEXEC (March 2023, before the stable/14 branch), and the
 * change of 2023 that made kqueue1() take NetBSD's O_CLOEXEC;
 * configure prefers kqueuex().  FreeBSD has no EVFILT_EXCEPT and no
 * NOTE_OOB.  Filters, flags and notes the library never uses are left
 * out.
 */
#ifndef KQOS_SYS_EVENT_H
#define KQOS_SYS_EVENT_H

#ifndef KQOS_PROFILE
# error "include config.h first: the profile's, found through -iquote"
#elif KQOS_PROFILE != KQOS_FREEBSD14
# error "this is the freebsd14 stub, and config.h another profile's"
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
#define EVFILT_PROCDESC (-8)
#define EVFILT_FS       (-9)
#define EVFILT_LIO      (-10)
#define EVFILT_USER     (-11)
#define EVFILT_SENDFILE (-12)
#define EVFILT_EMPTY    (-13)
#define EVFILT_SYSCOUNT 13

struct kevent {
    uintptr_t      ident;
    short          filter;
    unsigned short flags;
    unsigned int   fflags;
    int64_t        data;
    void          *udata;
    uint64_t       ext[4];
};

/* A C99 compiler gets a compound literal, which zeroes ext[]. */
#define EV_SET(kevp, a, b, c, d, e, f)                                 \
    do {                                                               \
        *(kevp) = (struct kevent){ .ident = (a), .filter = (b),        \
                                   .flags = (c), .fflags = (d),        \
                                   .data = (e), .udata = (f),          \
                                   .ext = { 0 } };                     \
    } while (0)

/* Actions and flags. */
#define EV_ADD          0x0001
#define EV_DELETE       0x0002
#define EV_ENABLE       0x0004
#define EV_DISABLE      0x0008
#define EV_ONESHOT      0x0010
#define EV_CLEAR        0x0020
#define EV_RECEIPT      0x0040
#define EV_DISPATCH     0x0080
#define EV_FORCEONESHOT 0x0100
#define EV_KEEPUDATA    0x0200
#define EV_SYSFLAGS     0xF000
#define EV_DROP         0x1000
#define EV_FLAG1        0x2000
#define EV_FLAG2        0x4000
/* Returned. */
#define EV_EOF          0x8000
#define EV_ERROR        0x4000

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
#define NOTE_FILE_POLL  0x0002

/* kqueuex(). */
#define KQUEUE_CLOEXEC  0x00000001

struct timespec;

int kqueue(void);
int kqueuex(unsigned int flags);
int kqueue1(int flags);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif /* KQOS_SYS_EVENT_H */
