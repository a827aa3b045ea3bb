# SPDX-License-Identifier: MIT
# doc/local.mk: the documentation's part of the one Makefile, included by
# Makefile.am.  It lists the man pages (one per public function, with
# one-line `.so` stubs for functions that share a page), the release notes
# for maintainers, and the example program that README.md tells people to
# run.  Only append (+=) to the lists Makefile.am initialises.

# ---- the example from README.md and miowake(3) ----------------------------
# Built by `make` (not only by `make check`) so that
# `doc/examples/cross-thread-wake` works straight after the build; it is
# never installed.  Its source is distributed as a program source.
noinst_PROGRAMS += doc/examples/cross-thread-wake
doc_examples_cross_thread_wake_SOURCES = doc/examples/cross-thread-wake.c
doc_examples_cross_thread_wake_LDADD = lib/libmiowake.la $(PTHREAD_LIBS)

# ---- nesting a poll in another event loop ----------------------------------
# One example per outer loop: GLib, libuv, libevent.  Each is a check
# program, built by `make check` only when configure found its library
# (HAVE_GLIB, HAVE_LIBUV, HAVE_LIBEVENT), so a missing library never
# breaks `make`.  t/nest.sh runs the ones built and skips the others with
# configure's reason (MW_*_WHY).  Their sources are distributed whether
# built or not (cross-thread-wake.c as the source of a program, above).
MW_NEST_SRCS = doc/examples/nest-glib.c doc/examples/nest-libuv.c \
	doc/examples/nest-libevent.c
EXTRA_DIST += $(MW_NEST_SRCS)
MW_NEST_LDADD = lib/libmiowake.la $(PTHREAD_LIBS)
if HAVE_GLIB
check_PROGRAMS += doc/examples/nest-glib
endif
if HAVE_LIBUV
check_PROGRAMS += doc/examples/nest-libuv
endif
if HAVE_LIBEVENT
check_PROGRAMS += doc/examples/nest-libevent
endif
doc_examples_nest_glib_SOURCES = doc/examples/nest-glib.c
doc_examples_nest_glib_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
doc_examples_nest_glib_LDADD = $(MW_NEST_LDADD) $(GLIB_LIBS)
doc_examples_nest_libuv_SOURCES = doc/examples/nest-libuv.c
doc_examples_nest_libuv_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
doc_examples_nest_libuv_LDADD = $(MW_NEST_LDADD) $(LIBUV_LIBS)
doc_examples_nest_libevent_SOURCES = doc/examples/nest-libevent.c
doc_examples_nest_libevent_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
doc_examples_nest_libevent_LDADD = $(MW_NEST_LDADD) $(LIBEVENT_LIBS)
# t/nest.sh (t/local.mk) learns from these which examples were built.
AM_TESTS_ENVIRONMENT += \
	MW_GLIB_WHY='$(MW_GLIB_WHY)'; MW_LIBUV_WHY='$(MW_LIBUV_WHY)'; \
	MW_LIBEVENT_WHY='$(MW_LIBEVENT_WHY)'; \
	export MW_GLIB_WHY MW_LIBUV_WHY MW_LIBEVENT_WHY;

# ---- man pages ------------------------------------------------------------
# Installed into man3 under their base names, so that the stubs'
# `.so man3/<page>.3` resolves against the installed tree.
dist_man3_MANS += \
	doc/man3/miowake.3 \
	doc/man3/mw_backend.3 \
	doc/man3/mw_poll_deregister.3 \
	doc/man3/mw_poll_fd.3 \
	doc/man3/mw_poll_free.3 \
	doc/man3/mw_poll_new.3 \
	doc/man3/mw_poll_register.3 \
	doc/man3/mw_poll_reregister.3 \
	doc/man3/mw_poll_wait.3 \
	doc/man3/mw_poll_wait_ts.3 \
	doc/man3/mw_version.3 \
	doc/man3/mw_waker_free.3 \
	doc/man3/mw_waker_new.3 \
	doc/man3/mw_waker_wake.3

# ---- what is not installed ---------------------------------------------------
# `make install` puts nothing in $(docdir).  A distribution's package
# installs README.md, NEWS and doc/examples/ with its own tools
# (dh_installdocs and dh_installexamples, RPM's %doc), under the name of
# the binary package that carries them (libmiowake-dev, say), which no
# upstream $(docdir) can know; files installed there anyway are files the
# packager has to move or delete.  libuv, libmnl and libseccomp install
# none either.  The man pages are the installed documentation.
EXTRA_DIST += README.md

# ---- maintainer notes -----------------------------------------------------
EXTRA_DIST += doc/RELEASING
