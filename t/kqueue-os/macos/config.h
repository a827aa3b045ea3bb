/* SPDX-License-Identifier: MIT */
/*
 * The kqueue-os simulation's config.h for macOS: the build's own
 * config.h, then what configure would answer there (from the facts of
 * its <sys/event.h>, stated by the stub sys/event.h beside this file).
 * #include "config.h" finds it first through -iquote
 * (t/kqueue-os/kqueue-os.mk).
 */
#ifndef KQOS_PROFILE_CONFIG_H
#define KQOS_PROFILE_CONFIG_H

#include_next "config.h"
#include "../config-common.h"

#define KQOS_PROFILE KQOS_MACOS

#define HAVE_DECL_EVFILT_USER 1
#define HAVE_DECL_NOTE_TRIGGER 1
#define HAVE_DECL_EVFILT_EXCEPT 1
#define HAVE_DECL_NOTE_OOB 1
/* Neither kqueue1() nor kqueuex(): kqueue() then FD_CLOEXEC. */
/* The type of kevent()'s nchanges and nevents. */
#define KQOS_KEVENT_COUNT int

/* macOS has no pipe2(): lib/fd.c takes its pipe()+fcntl() path. */
#undef HAVE_PIPE2

/* No MW_HAVE_SYSCALL_RW: syscall() is deprecated, so lib/fd.c turns
 * cancellation off around read, write and close. */

#endif /* KQOS_PROFILE_CONFIG_H */
