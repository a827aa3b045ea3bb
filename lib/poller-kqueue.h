/* SPDX-License-Identifier: MIT */
/*
 * The kqueue poller's services for the EVFILT_USER waker (waker-user.c),
 * beyond the backend contract (backend.h).  Defined by poller-kqueue.c,
 * so named mw__os_poller_ like everything a poller-*.c defines; only
 * waker-user.c calls them, which configure links with the kqueue poller
 * alone.  The kqueue is reference-counted (atomically: ref and unref run
 * on any thread) so that a waker keeps it open after its poll is freed.
 * mw__os_poller_kqueue_change() applies one kevent change; it is also the
 * EVFILT_USER waker's signal.
 */
#ifndef MW_POLLER_KQUEUE_H
#define MW_POLLER_KQUEUE_H

#include "backend.h"

/* configure defines it to 1 when <sys/event.h> is libkqueue's. */
#ifndef MW_KQUEUE_EMULATED
# define MW_KQUEUE_EMULATED 0
#endif

struct mw__os_poller *mw__os_poller_kqueue_ref(struct mw__os_poller *p);
void mw__os_poller_kqueue_unref(struct mw__os_poller *p, bool in_child);
int  mw__os_poller_kqueue_change(struct mw__os_poller *p, uintptr_t ident,
                                 short filter, unsigned short flags,
                                 unsigned int fflags, mw_token cookie);

#endif /* MW_POLLER_KQUEUE_H */
