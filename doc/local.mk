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
	doc/man3/mw_version.3 \
	doc/man3/mw_waker_free.3 \
	doc/man3/mw_waker_new.3 \
	doc/man3/mw_waker_wake.3

# ---- maintainer notes -----------------------------------------------------
EXTRA_DIST += doc/RELEASING
