# SPDX-License-Identifier: MIT
# The kqueue-os simulation, included by the top-level Makefile.am after
# t/local.mk (whose LOG_DRIVER and t/libtap.a it uses).
#
# The kqueue backends run on the BSDs and macOS, where `make check` of
# this tree seldom runs.  Here, on Linux, each program compiles the
# library's real sources -- lib/poller-kqueue.c and a waker among them --
# against a stub <sys/event.h> that states what one system declares
# (t/kqueue-os/<profile>/sys/event.h, each citing its source) and a
# config.h with configure's answers for that system, and links them with
# a fake kqueue() and kevent() (t/kqueue-os/fake.c) that behave as that
# system does where systems differ.  t/kqueue-os.c drives the public API
# and asserts what the library must do there.  One program per profile
# and waker: the EVFILT_USER waker where the system has EVFILT_USER, the
# pipe waker everywhere.
#
# How the profile's headers are found: #include "config.h" searches
# -iquote directories before Automake's -I. (DEFAULT_INCLUDES), so the
# profile's config.h is the one found; it includes the build's own with
# #include_next and then changes what differs.  <sys/event.h> is found
# through the -I given before AM_CPPFLAGS.  Each stub refuses to compile
# unless that config.h came first.  The programs do not link
# lib/libmiowake.la: they compile the library's sources themselves, with
# -Werror for the conversions a system's types make errors of (an
# intptr_t udata, say).
#
# The simulation needs Linux (epoll, POLLRDHUP, SO_ERROR's behaviour), so
# configure enables it there only (KQUEUE_SIMULATION); a program built
# elsewhere anyway has calls that fail, and skips.
#
# `make check-kqueue-os` builds and runs each program on its own and
# prints one line per program: ok, its failed cases, or that it does not
# compile, with the compiler's errors; it fails if any program did not
# compile or pass.  `make check` builds them all, as
# every other test.

KQOS_TESTS = \
	t/kqueue-os-freebsd14-user \
	t/kqueue-os-freebsd14-pipe \
	t/kqueue-os-macos-user \
	t/kqueue-os-macos-pipe \
	t/kqueue-os-netbsd7-pipe \
	t/kqueue-os-netbsd9-pipe \
	t/kqueue-os-netbsd10-user \
	t/kqueue-os-netbsd10-pipe \
	t/kqueue-os-openbsd77-pipe \
	t/kqueue-os-openbsd78-user \
	t/kqueue-os-openbsd78-pipe \
	t/kqueue-os-dragonfly-user \
	t/kqueue-os-dragonfly-pipe

# Built and run where configure found a Linux host and a compiler of
# GCC's family (-iquote, -Werror=...): elsewhere, on a BSD say, the stubs
# would stand in for the system's own headers.
if KQUEUE_SIMULATION
check_PROGRAMS += $(KQOS_TESTS)
TESTS += $(KQOS_TESTS)
else
EXTRA_PROGRAMS += $(KQOS_TESTS)
CLEANFILES += $(KQOS_TESTS:=$(EXEEXT))
endif

# The library's sources, as a kqueue build on the system would select
# them, and the harness.
KQOS_LIB = lib/internal.h lib/backend.h lib/poller-kqueue.h lib/core.h \
	lib/poll.c lib/waker.c lib/fd.c \
	lib/array.c lib/version.c lib/poller-kqueue.c
KQOS_HARNESS = t/kqueue-os.c t/kqueue-os/fake.c t/kqueue-os/fake.h
KQOS_USER = $(KQOS_HARNESS) $(KQOS_LIB) lib/waker-user.c
KQOS_PIPE = $(KQOS_HARNESS) $(KQOS_LIB) lib/waker-pipe.c

KQOS_CFLAGS = $(AM_CFLAGS) -Werror=int-conversion \
	-Werror=incompatible-pointer-types
KQOS_LDADD = t/libtap.a $(PTHREAD_LIBS)

# The include path of each profile, before everything else.
KQOS_freebsd14 = -iquote $(srcdir)/t/kqueue-os/freebsd14 \
	-I$(srcdir)/t/kqueue-os/freebsd14 $(AM_CPPFLAGS)
KQOS_macos = -iquote $(srcdir)/t/kqueue-os/macos \
	-I$(srcdir)/t/kqueue-os/macos $(AM_CPPFLAGS)
KQOS_netbsd7 = -iquote $(srcdir)/t/kqueue-os/netbsd7 \
	-I$(srcdir)/t/kqueue-os/netbsd7 $(AM_CPPFLAGS)
KQOS_netbsd9 = -iquote $(srcdir)/t/kqueue-os/netbsd9 \
	-I$(srcdir)/t/kqueue-os/netbsd9 $(AM_CPPFLAGS)
KQOS_netbsd10 = -iquote $(srcdir)/t/kqueue-os/netbsd10 \
	-I$(srcdir)/t/kqueue-os/netbsd10 $(AM_CPPFLAGS)
KQOS_openbsd77 = -iquote $(srcdir)/t/kqueue-os/openbsd77 \
	-I$(srcdir)/t/kqueue-os/openbsd77 $(AM_CPPFLAGS)
KQOS_openbsd78 = -iquote $(srcdir)/t/kqueue-os/openbsd78 \
	-I$(srcdir)/t/kqueue-os/openbsd78 $(AM_CPPFLAGS)
KQOS_dragonfly = -iquote $(srcdir)/t/kqueue-os/dragonfly \
	-I$(srcdir)/t/kqueue-os/dragonfly $(AM_CPPFLAGS)

# One block per program: sources, the profile's include path with the
# waker, and the common flags.
t_kqueue_os_freebsd14_user_SOURCES = $(KQOS_USER)
t_kqueue_os_freebsd14_user_CPPFLAGS = $(KQOS_freebsd14) -DKQOS_WAKER_USER
t_kqueue_os_freebsd14_user_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_freebsd14_user_LDADD = $(KQOS_LDADD)

t_kqueue_os_freebsd14_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_freebsd14_pipe_CPPFLAGS = $(KQOS_freebsd14) -DKQOS_WAKER_PIPE
t_kqueue_os_freebsd14_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_freebsd14_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_macos_user_SOURCES = $(KQOS_USER)
t_kqueue_os_macos_user_CPPFLAGS = $(KQOS_macos) -DKQOS_WAKER_USER
t_kqueue_os_macos_user_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_macos_user_LDADD = $(KQOS_LDADD)

t_kqueue_os_macos_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_macos_pipe_CPPFLAGS = $(KQOS_macos) -DKQOS_WAKER_PIPE
t_kqueue_os_macos_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_macos_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_netbsd7_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_netbsd7_pipe_CPPFLAGS = $(KQOS_netbsd7) -DKQOS_WAKER_PIPE
t_kqueue_os_netbsd7_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_netbsd7_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_netbsd9_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_netbsd9_pipe_CPPFLAGS = $(KQOS_netbsd9) -DKQOS_WAKER_PIPE
t_kqueue_os_netbsd9_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_netbsd9_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_netbsd10_user_SOURCES = $(KQOS_USER)
t_kqueue_os_netbsd10_user_CPPFLAGS = $(KQOS_netbsd10) -DKQOS_WAKER_USER
t_kqueue_os_netbsd10_user_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_netbsd10_user_LDADD = $(KQOS_LDADD)

t_kqueue_os_netbsd10_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_netbsd10_pipe_CPPFLAGS = $(KQOS_netbsd10) -DKQOS_WAKER_PIPE
t_kqueue_os_netbsd10_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_netbsd10_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_openbsd77_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_openbsd77_pipe_CPPFLAGS = $(KQOS_openbsd77) -DKQOS_WAKER_PIPE
t_kqueue_os_openbsd77_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_openbsd77_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_openbsd78_user_SOURCES = $(KQOS_USER)
t_kqueue_os_openbsd78_user_CPPFLAGS = $(KQOS_openbsd78) -DKQOS_WAKER_USER
t_kqueue_os_openbsd78_user_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_openbsd78_user_LDADD = $(KQOS_LDADD)

t_kqueue_os_openbsd78_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_openbsd78_pipe_CPPFLAGS = $(KQOS_openbsd78) -DKQOS_WAKER_PIPE
t_kqueue_os_openbsd78_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_openbsd78_pipe_LDADD = $(KQOS_LDADD)

t_kqueue_os_dragonfly_user_SOURCES = $(KQOS_USER)
t_kqueue_os_dragonfly_user_CPPFLAGS = $(KQOS_dragonfly) -DKQOS_WAKER_USER
t_kqueue_os_dragonfly_user_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_dragonfly_user_LDADD = $(KQOS_LDADD)

t_kqueue_os_dragonfly_pipe_SOURCES = $(KQOS_PIPE)
t_kqueue_os_dragonfly_pipe_CPPFLAGS = $(KQOS_dragonfly) -DKQOS_WAKER_PIPE
t_kqueue_os_dragonfly_pipe_CFLAGS = $(KQOS_CFLAGS)
t_kqueue_os_dragonfly_pipe_LDADD = $(KQOS_LDADD)

# The profiles' headers (the sources above carry the rest into the
# tarball).
EXTRA_DIST += t/kqueue-os/config-common.h \
	t/kqueue-os/freebsd14/config.h t/kqueue-os/freebsd14/sys/event.h \
	t/kqueue-os/macos/config.h t/kqueue-os/macos/sys/event.h \
	t/kqueue-os/netbsd7/config.h t/kqueue-os/netbsd7/sys/event.h \
	t/kqueue-os/netbsd9/config.h t/kqueue-os/netbsd9/sys/event.h \
	t/kqueue-os/netbsd10/config.h t/kqueue-os/netbsd10/sys/event.h \
	t/kqueue-os/openbsd77/config.h t/kqueue-os/openbsd77/sys/event.h \
	t/kqueue-os/openbsd78/config.h t/kqueue-os/openbsd78/sys/event.h \
	t/kqueue-os/dragonfly/config.h t/kqueue-os/dragonfly/sys/event.h

# Each program on its own, whatever the others do: for comparing one
# library with another (a program that does not compile is a result).
# Every program's line is printed; then the target fails if any program
# did not compile or did not pass, so that a script or CI that runs it
# sees a broken system without reading the lines.
check-kqueue-os: t/libtap.a
	@bad=0; n=0; for p in $(KQOS_TESTS); do n=`expr $$n + 1`; \
	  if $(MAKE) $(AM_MAKEFLAGS) -k $$p$(EXEEXT) >$$p.build 2>&1; then \
	    ./$$p$(EXEEXT) >$$p.tap 2>&1; rc=$$?; \
	    failed=`sed -n 's/^not ok [0-9]* - \([0-9]*\) .*/\1/p' $$p.tap \
	            | sort -n | uniq | tr '\n' ' '`; \
	    if test $$rc -eq 0; then echo "$$p: ok"; \
	    elif test -n "$$failed"; then \
	      echo "$$p: cases failing: $$failed(see $$p.tap)"; bad=`expr $$bad + 1`; \
	    else echo "$$p: exit $$rc (see $$p.tap)"; bad=`expr $$bad + 1`; fi; \
	  else \
	    echo "$$p: does not compile:"; bad=`expr $$bad + 1`; \
	    grep 'error:' $$p.build | sed 's/^.*\/\([^/]*:[0-9]*:[0-9]*:\)/  \1/' \
	      | sort -u; \
	  fi; \
	done; \
	if test $$bad -ne 0; then \
	  echo "check-kqueue-os: $$bad of $$n programs failed" >&2; \
	  exit 1; \
	fi
CLEANFILES += $(KQOS_TESTS:=.build) $(KQOS_TESTS:=.tap)
.PHONY: check-kqueue-os
