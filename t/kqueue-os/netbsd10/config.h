/* SPDX-License-Identifier: MIT */
/*
 * The kqueue-os simulation's config.h for NetBSD 10: the build's own
 * config.h, then what configure would answer there (from the facts of
 * its <sys/event.h>, stated by the stub sys/event.h beside this file).
 * #include "config.h" finds it first through -iquote
 * (t/kqueue-os/kqueue-os.mk).
 */
#ifndef KQOS_PROFILE_CONFIG_H
#define KQOS_PROFILE_CONFIG_H

#include_next "config.h"
#include "../config-common.h"

#define KQOS_PROFILE KQOS_NETBSD10

#define HAVE_DECL_EVFILT_USER 1
#define HAVE_DECL_NOTE_TRIGGER 1
#define HAVE_DECL_EVFILT_EXCEPT 0
#define HAVE_DECL_NOTE_OOB 0
#define MW_HAVE_KQUEUE1 1
/* The type of kevent()'s nchanges and nevents. */
#define KQOS_KEVENT_COUNT size_t

/* syscall() reaches read, write and close without the C library's
 * cancellation check (lib/fd.c). */
#define MW_HAVE_SYSCALL_RW 1

#endif /* KQOS_PROFILE_CONFIG_H */
