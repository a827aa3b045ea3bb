# SPDX-License-Identifier: MIT
# The API fuzzer (t/fuzz/fuzz-api.c), included by the top-level
# Makefile.am.
#
#   make check                         replays t/fuzz/corpus/ (t/fuzz-replay)
#   make fuzz                          fuzzes for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=600         longer
#   make fuzz FUZZ_FLAGS='-jobs=1 ...' more libFuzzer options
#
# `make fuzz` needs clang with libFuzzer (configure looks for it: FUZZ_CC,
# default clang).  It compiles the library sources this build selected
# straight into the fuzzer with -fsanitize=fuzzer,address,undefined, so
# the library is coverage-instrumented whatever compiler built it, and
# runs it on the seed corpus.  New inputs go to t/fuzz-corpus/ in the
# build tree; the seeds in the source tree are only read.  A crash leaves
# t/fuzz-crash-* and the log t/fuzz.log; t/fuzz/README says how to turn
# one into a seed.

# ---- replay, part of make check ---------------------------------------

# The program keeps its name, t/fuzz-replay, the test's name since it
# was at the top of t/.  The seeds and the README are named one by one:
# all of t/fuzz/ would take an in-tree build's objects into the tarball.
check_PROGRAMS += t/fuzz-replay
t_fuzz_replay_SOURCES = \
	t/fuzz/fuzz-api.c \
	t/fuzz/fuzz-replay.c
TESTS += t/fuzz-replay
EXTRA_DIST += \
	t/fuzz/README \
	t/fuzz/corpus

# ---- make fuzz ----------------------------------------------------------

FUZZ_SECONDS = 60
FUZZ_FLAGS =
FUZZ_CFLAGS = -g -O1 -Wall -Wextra -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/include \
	-I$(top_srcdir)/include -I$(top_srcdir)/lib -I$(top_srcdir)/t/lib \
	$(KQUEUE_CFLAGS)
FUZZ_PROG = t/fuzz-api-fuzzer$(EXEEXT)
CLEANFILES += $(FUZZ_PROG) t/fuzz.log

# The library's C sources: its core and the poller and waker configure
# chose (mw_backend_sources, Makefile.am); the rpath lets the
# fuzzer find an uninstalled libkqueue without LD_LIBRARY_PATH.
FUZZ_SRCS = \
	t/fuzz/fuzz-api.c \
	t/lib/caps.c
$(FUZZ_PROG): $(lib_libmiowake_la_SOURCES) $(mw_backend_sources) \
		$(FUZZ_SRCS) config.h include/miowake.h
	@test -n "$(MW_FUZZ_CC)" || { echo "$(MW_FUZZ_WHY)" >&2; exit 1; }
	@srcs=; \
	for f in $(lib_libmiowake_la_SOURCES) $(mw_backend_sources) $(FUZZ_SRCS); do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; \
	done; \
	rpath=; for w in $(KQUEUE_LIBS); do \
	  case $$w in -L*) rpath="$$rpath -Wl,-rpath,$${w#-L}";; esac; \
	done; \
	echo "  FUZZCC   $@"; \
	$(MW_FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -o $@ $$srcs \
	  $(KQUEUE_LIBS) $$rpath $(PTHREAD_LIBS) $(LIBS)

fuzz:
	@if test -z "$(MW_FUZZ_CC)"; then \
	  echo "make fuzz: $(MW_FUZZ_WHY); nothing done"; exit 0; fi; \
	$(MAKE) $(AM_MAKEFLAGS) $(FUZZ_PROG) || exit 1; \
	$(MKDIR_P) t/fuzz-corpus; \
	echo "make fuzz: $(MW_BACKEND_NAME), $(FUZZ_SECONDS) s; log in t/fuzz.log"; \
	./$(FUZZ_PROG) -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	  -max_len=512 -print_final_stats=1 -artifact_prefix=t/fuzz- \
	  $(FUZZ_FLAGS) t/fuzz-corpus $(srcdir)/t/fuzz/corpus \
	  >t/fuzz.log 2>&1; rc=$$?; \
	grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
	  t/fuzz.log || true; \
	if test $$rc -ne 0; then \
	  echo "make fuzz: the fuzzer failed (status $$rc); its log:" >&2; \
	  grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse|INITED|RELOAD)' t/fuzz.log >&2; \
	  exit 1; \
	fi; \
	echo "make fuzz: no disagreement with the model"

clean-local: fuzz-clean
fuzz-clean:
	-rm -rf t/fuzz-corpus t/fuzz-crash-* t/fuzz-timeout-* t/fuzz-leak-* \
	  t/fuzz-oom-*
.PHONY: fuzz fuzz-clean
