# SPDX-License-Identifier: MIT
# The kqueue-os simulation, included by the top-level Makefile.am after
# t/local.mk (whose LOG_DRIVER, AM_CPPFLAGS and t/libtap.a it uses).
#
# The kqueue backends run on the BSDs and macOS, where `make check` of
# this tree seldom runs.  Here, on Linux, each program compiles the
# library's real sources -- lib/poller-kqueue.c and a waker among them --
# against a stub <sys/event.h> that states what one system declares
# (t/kqueue-os/<profile>/sys/event.h, each citing its source) and a
# config.h with configure's answers for that system, and links them with
# a fake kqueue() and kevent() (t/kqueue-os/fake.c) that behave as that
# system does where systems differ.  t/kqueue-os/kqueue-os.c drives the
# public API and asserts what the library must do there.  One program per
# profile and waker: the EVFILT_USER waker where the system has EVFILT_USER,
# the pipe waker everywhere.
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

# The programs, t/kqueue-os-PROFILE-WAKER, are in t/kqueue-os/programs.mk,
# which t/kqueue-os/gen-mk.sh writes from its list of profile-waker
# pairs (the one place to add a system or a waker): KQOS_TESTS, the
# profiles' headers, and each program's sources and flags.  autogen.sh
# runs it; so does make, when the script is newer than its output.
include $(top_srcdir)/t/kqueue-os/programs.mk
$(top_srcdir)/t/kqueue-os/programs.mk: $(top_srcdir)/t/kqueue-os/gen-mk.sh
	$(SHELL) $(top_srcdir)/t/kqueue-os/gen-mk.sh $(top_srcdir)
EXTRA_DIST += t/kqueue-os/gen-mk.sh

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
# them (the core of Makefile.am's list, mw_core_sources, and the kqueue
# poller; each program adds its waker), and the harness.
KQOS_LIB = $(mw_core_sources) lib/poller-kqueue.c lib/poller-kqueue.h
KQOS_HARNESS = \
	t/kqueue-os/fake.c \
	t/kqueue-os/fake.h \
	t/kqueue-os/kqueue-os.c
KQOS_SRCS = $(KQOS_HARNESS) $(KQOS_LIB)

KQOS_CFLAGS = $(AM_CFLAGS) -Werror=int-conversion \
	-Werror=incompatible-pointer-types
KQOS_LDADD = t/libtap.a $(PTHREAD_LIBS)

EXTRA_DIST += t/kqueue-os/config-common.h $(KQOS_STUBS)

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
