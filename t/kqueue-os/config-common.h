/* SPDX-License-Identifier: MIT */
/*
 * Included by every t/kqueue-os/<profile>/config.h right after the
 * build's own config.h (t/kqueue-os/kqueue-os.mk says how that one is found):
 * the profile numbers, and the undoing of what that config.h said about this
 * Linux machine's kqueue, which the simulated system does not share.
 * The profile's config.h then states its own answers.
 */
#ifndef KQOS_CONFIG_COMMON_H
#define KQOS_CONFIG_COMMON_H

/* KQOS_PROFILE is one of these (an integer, for #if). */
#define KQOS_FREEBSD14  1
#define KQOS_MACOS      2
#define KQOS_NETBSD7    3
#define KQOS_NETBSD9    4
#define KQOS_NETBSD10   5
#define KQOS_OPENBSD77  6
#define KQOS_OPENBSD78  7
#define KQOS_DRAGONFLY  8

/* A kernel's kqueue, never the libkqueue emulation (the library tells
 * that one by its <sys/event.h>, which defines LIBKQUEUE; no stub does). */
#undef MW_KQUEUE_EMULATED

/* configure's answers for the host; each profile gives its own. */
#undef MW_HAVE_KQUEUEX
#undef MW_HAVE_KQUEUE1
#undef HAVE_DECL_EVFILT_USER
#undef HAVE_DECL_NOTE_TRIGGER
#undef HAVE_DECL_EVFILT_EXCEPT
#undef HAVE_DECL_NOTE_OOB
#undef MW_HAVE_SYSCALL_RW

/* The pair mw_backend() names depends on the waker the program links,
 * which t/kqueue-os/kqueue-os.mk passes as -DKQOS_WAKER_USER or
 * -DKQOS_WAKER_PIPE. */
#undef MW_BACKEND_NAME
#if defined(KQOS_WAKER_USER)
# define MW_BACKEND_NAME "kqueue+user"
#elif defined(KQOS_WAKER_PIPE)
# define MW_BACKEND_NAME "kqueue+pipe"
#else
# error "compile with -DKQOS_WAKER_USER or -DKQOS_WAKER_PIPE"
#endif

#endif /* KQOS_CONFIG_COMMON_H */
