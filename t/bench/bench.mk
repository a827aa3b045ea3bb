# SPDX-License-Identifier: MIT
# Benchmarks, included by the top-level Makefile.am.
# They are EXTRA_PROGRAMS: built and run only by `make bench`, never by
# `make check` (a figure is not a pass/fail result on a shared machine).
# Each one runs its raw baselines in the same process and prints one
# key=value line per result; doc/PERFORMANCE.md records a run.
#
#   make bench                          all of them, default counts
#   make bench BENCH_FLAGS='-r 11'      more rounds for each
#   MW_BENCH_ITERATIONS=N make bench    another count for each (see -h)
#   ./t/bench-pingpong -p split -n 5000 one program, one pin mode
#
# The programs keep the names they had when their sources were at the top
# of t/ (t/bench-pingpong from t/bench/bench-pingpong.c), so that the
# commands of doc/PERFORMANCE.md and CI still run them.  t/wait-no-alloc,
# the check test of the allocation promises they rely on, is a test like
# any other (t/local.mk).

BENCH_PROGS = \
	t/bench-burst \
	t/bench-create \
	t/bench-idle \
	t/bench-pending \
	t/bench-pingpong \
	t/bench-pipeline \
	t/bench-timeout
EXTRA_PROGRAMS += $(BENCH_PROGS)
CLEANFILES += $(BENCH_PROGS:=$(EXEEXT))

BENCH_COMMON = \
	t/bench/bench-common.c \
	t/bench/bench-common.h \
	t/lib/caps.c \
	t/lib/caps.h
BENCH_LDADD = lib/libmiowake.la $(PTHREAD_LIBS)

# On a kqueue build through libkqueue, <sys/event.h> is libkqueue's: give
# the raw kevent baseline its header and library.
if WITH_LIBKQUEUE
BENCH_CPPFLAGS = $(AM_CPPFLAGS) $(KQUEUE_CFLAGS) -DMW_BENCH_LIBKQUEUE=1
BENCH_LDADD += $(KQUEUE_LIBS)
else
BENCH_CPPFLAGS = $(AM_CPPFLAGS)
endif

t_bench_burst_SOURCES = t/bench/bench-burst.c $(BENCH_COMMON)
t_bench_burst_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_burst_LDADD = $(BENCH_LDADD)
t_bench_create_SOURCES = t/bench/bench-create.c $(BENCH_COMMON)
t_bench_create_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_create_LDADD = $(BENCH_LDADD)
t_bench_idle_SOURCES = t/bench/bench-idle.c $(BENCH_COMMON)
t_bench_idle_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_idle_LDADD = $(BENCH_LDADD)
t_bench_pending_SOURCES = t/bench/bench-pending.c $(BENCH_COMMON)
t_bench_pending_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_pending_LDADD = $(BENCH_LDADD)
t_bench_pingpong_SOURCES = t/bench/bench-pingpong.c $(BENCH_COMMON)
t_bench_pingpong_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_pingpong_LDADD = $(BENCH_LDADD)
t_bench_pipeline_SOURCES = t/bench/bench-pipeline.c $(BENCH_COMMON)
t_bench_pipeline_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_pipeline_LDADD = $(BENCH_LDADD)
t_bench_timeout_SOURCES = t/bench/bench-timeout.c $(BENCH_COMMON)
t_bench_timeout_CPPFLAGS = $(BENCH_CPPFLAGS)
t_bench_timeout_LDADD = $(BENCH_LDADD)

# Build them all, then run each through its libtool wrapper (or behind
# the runner, MW_TEST_RUNNER: t/local.mk); every one runs even if an
# earlier one failed, and the target fails if any did.
BENCH_FLAGS =
bench:
	$(MAKE) $(AM_MAKEFLAGS) $(BENCH_PROGS:=$(EXEEXT))
	@fail=; $(mw_test_runner_env) \
	for p in $(BENCH_PROGS); do \
	  echo "# $$p $(BENCH_FLAGS)"; \
	  $(mw_test_exec) ./$$p$(EXEEXT) $(BENCH_FLAGS) || fail="$$fail $$p"; \
	done; \
	if test -n "$$fail"; then echo "bench: FAILED:$$fail" >&2; exit 1; fi
.PHONY: bench

# The record of a run, with the machine, the command and what each figure
# means.
EXTRA_DIST += doc/PERFORMANCE.md
