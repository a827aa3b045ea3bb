# SPDX-License-Identifier: MIT
# The test suite, included by the top-level Makefile.am.
# Every test speaks TAP through Automake's tap-driver.sh, so `make check`
# counts individual results, not one per program.
#
# t/ holds one kind of thing per folder:
#
#   t/*.c, t/*.sh  the tests (this file); t/ts/ in the build tree holds
#                  the tests' timespec variants, built from the same
#                  sources
#   t/lib/         the fixtures the tests share
#   t/bench/       the benchmarks (bench.mk, `make bench`)
#   t/fuzz/        the API fuzzer and its corpus (fuzz.mk, `make fuzz`)
#   t/kqueue-os/   the kqueue simulation (kqueue-os.mk,
#                  `make check-kqueue-os`)
#   t/model/       the SPIN models (model.mk, `make check-model`)
#   t/consumer/    the consumers of the installed library
#                  (t/installcheck.sh, cmake/local.mk)

LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) \
	$(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
TEST_EXTENSIONS = .sh

# A runner: MW_TEST_RUNNER (empty by default; configure takes it too, as
# make's default) is a command put in front of every program of this
# build that the tests run, such as qemu-user for a cross build where
# binfmt_misc cannot hand the programs to it:
#
#   make check MW_TEST_RUNNER="qemu-riscv64 -L /usr/riscv64-linux-gnu"
#
# In a shared build an uninstalled program is a libtool wrapper script,
# which sets the library's path and runs the real program from .libs/;
# an emulator cannot run a script.  So the runner goes behind
# `$(LIBTOOL) --mode=execute`, which does what the wrapper would and
# hands the runner the real program (as check-valgrind does for
# valgrind); a program of a static build passes through unchanged.
# mw_test_exec is that prefix as a shell expression, empty without a
# runner, for a recipe where mw_test_runner_env has set MW_TEST_RUNNER
# and LIBTOOL (AM_TESTS_ENVIRONMENT, below, for every test).  The C tests
# run behind it; the shell tests still run under $(SHELL), and put the
# same prefix in front of each program of the build they run
# (t/example.sh, t/nest.sh, t/pkg-config.sh).  So does `make bench`.
# Programs built for this machine whatever the build (the fuzzer, SPIN's
# verifiers) and check-valgrind ignore it.
mw_test_runner_env = MW_TEST_RUNNER='$(MW_TEST_RUNNER)'; \
	LIBTOOL='$(LIBTOOL)'; export MW_TEST_RUNNER LIBTOOL;
mw_test_exec = $${MW_TEST_RUNNER:+$$LIBTOOL --mode=execute $$MW_TEST_RUNNER}
LOG_COMPILER = $(mw_test_exec)

# MALLOC_PERTURB_ (glibc) fills freed and new memory with a random byte, so
# a use-after-free is more likely to show; MW_STRESS=1 makes the stress tests
# run ten times longer.  The shell tests get the build's paths and tools.
if HAVE_LD_VERSION_SCRIPT
MW_TEST_VERSION_SCRIPT = yes
else
MW_TEST_VERSION_SCRIPT = no
endif
AM_TESTS_ENVIRONMENT = \
	export MALLOC_PERTURB_=$$(( $${RANDOM:-$$$$} % 255 + 1 )) MW_STRESS \
	  MW_TEST_TIMEOUT_FACTOR; \
	MW_UNDER_VALGRIND='$(MW_UNDER_VALGRIND)'; \
	top_builddir='$(abs_top_builddir)'; top_srcdir='$(abs_top_srcdir)'; \
	CC='$(CC)'; CXX='$(MW_CXX)'; NM='$(NM)'; EXEEXT='$(EXEEXT)'; \
	MW_TEST_VERSION_SCRIPT='$(MW_TEST_VERSION_SCRIPT)'; \
	export MW_UNDER_VALGRIND top_builddir top_srcdir CC CXX NM EXEEXT \
	  MW_TEST_VERSION_SCRIPT;
AM_TESTS_ENVIRONMENT += $(mw_test_runner_env)

# The fixtures the tests share are in t/lib/: the TAP producer (tap.h),
# the helpers (util.h), the capabilities table (caps.h), the wrappers of
# system calls (wrap.h) and the allocation hook (alloc-hook.h).  A test
# includes them by name ("tap.h"): Automake has no per-directory flags in
# a non-recursive Makefile, so the directory is on every compile's path;
# nothing in lib/ includes a name of t/lib/.
AM_CPPFLAGS += -I$(top_srcdir)/t/lib

# The one test library: the TAP producer and every fixture (t/lib/util.h).
check_LIBRARIES += t/libtap.a
t_libtap_a_SOURCES = \
	t/lib/caps.c \
	t/lib/caps.h \
	t/lib/tap.c \
	t/lib/tap.h \
	t/lib/util.c \
	t/lib/util.h

# The one LDADD of every test program.  t/libtap.a comes first: its
# fixtures call the library, and a static archive only resolves symbols
# for what precedes it.  DLOPEN_LIBS is for the tests that forward a call
# through dlsym(RTLD_NEXT) (the wrappers of backend calls, the allocation
# hook): glibc 2.34+ and musl have dlsym in libc, and where it is in libdl
# configure puts -ldl here.
LDADD = t/libtap.a lib/libmiowake.la $(PTHREAD_LIBS) $(DLOPEN_LIBS)

# The allocation hook (t/lib/alloc-hook.h), a source of the few tests that
# count or fail allocations: it replaces malloc for the whole process.
MW_ALLOC_HOOK = t/lib/alloc-hook.c t/lib/alloc-hook.h

# The wrappers of the backends' system calls (t/lib/wrap.h), a source of
# the tests that act inside a library call.  Not in t/libtap.a: a member
# that defines poll or epoll_ctl would replace them for any test that
# happened to link that member.
MW_WRAP = t/lib/wrap.c t/lib/wrap.h

# The fault explorer (doc/ROBUSTNESS.md): it defines the C library calls
# the library makes and forwards them through dlsym(RTLD_NEXT), so it
# links neither the allocation hook nor t/lib/wrap.c.
check_PROGRAMS += t/explore
TESTS += t/explore
t_explore_SOURCES = t/explore.c
# It looks into the changes given to kevent (which add a knote).
t_explore_CPPFLAGS = $(AM_CPPFLAGS) $(KQUEUE_CFLAGS)

# One program per promise of the man pages, named after it.
MW_TESTS_C = \
	t/cancel \
	t/event-flags \
	t/fd-flags \
	t/fork-child-numbers \
	t/fork-free-wakers \
	t/fork-lock-held \
	t/fork-poll-spin \
	t/free-after-fork \
	t/hub-lifetime \
	t/kernel-refusals \
	t/poll-fd \
	t/register-errors \
	t/register-fail-unchanged \
	t/register-number-reuse \
	t/register-poll-constants \
	t/register-reader-gone \
	t/register-readiness \
	t/register-socket-error \
	t/register-wakes-untimed-wait \
	t/register-while-waiting \
	t/reregister-other-file \
	t/version \
	t/wait-leftover-fair \
	t/wait-never-early \
	t/wait-no-alloc \
	t/wait-one-thread \
	t/wait-stale-deadline \
	t/wait-timeout \
	t/wait-zero-stale \
	t/wake-after-poll-free \
	t/wake-batching \
	t/wake-cross-thread \
	t/wake-fence-litmus \
	t/wake-free-listed \
	t/wake-many-wakers \
	t/wake-merge \
	t/wake-merge-failing \
	t/wake-million \
	t/wake-no-loss \
	t/wake-same-thread \
	t/wake-signal-fails \
	t/wake-signal-handler \
	t/wake-stale-slot \
	t/wake-visibility \
	t/waker-new-emfile

MW_TESTS_SH = \
	t/example.sh \
	t/exports.sh \
	t/header.sh \
	t/man-lint.sh \
	t/nest.sh \
	t/pkg-config.sh \
	t/wake-fence-code.sh

check_PROGRAMS += $(MW_TESTS_C)
dist_check_SCRIPTS += $(MW_TESTS_SH)
TESTS += $(MW_TESTS_C) $(MW_TESTS_SH)

# The tests that act inside a library call (MW_WRAP) or count allocations
# (MW_ALLOC_HOOK); every other test is its own one source.
t_cancel_SOURCES = t/cancel.c $(MW_WRAP)
t_fork_lock_held_SOURCES = t/fork-lock-held.c $(MW_WRAP)
t_fork_poll_spin_SOURCES = t/fork-poll-spin.c $(MW_WRAP)
t_kernel_refusals_SOURCES = t/kernel-refusals.c $(MW_WRAP)
t_register_fail_unchanged_SOURCES = t/register-fail-unchanged.c $(MW_WRAP)
t_register_wakes_untimed_wait_SOURCES = t/register-wakes-untimed-wait.c \
	$(MW_WRAP)
t_wait_never_early_SOURCES = t/wait-never-early.c $(MW_WRAP)
# t/wait-no-alloc checks the allocation promises the benchmarks
# (t/bench/) rely on: no allocation or lock on the wake path, none on the
# wait path after the first wait.  It counts allocations and lock calls
# with the allocation hook.
t_wait_no_alloc_SOURCES = t/wait-no-alloc.c $(MW_ALLOC_HOOK)
t_wait_stale_deadline_SOURCES = t/wait-stale-deadline.c $(MW_WRAP)
t_wait_zero_stale_SOURCES = t/wait-zero-stale.c $(MW_WRAP)
t_wake_batching_SOURCES = t/wake-batching.c $(MW_WRAP)
t_wake_merge_failing_SOURCES = t/wake-merge-failing.c $(MW_WRAP)
t_wake_signal_fails_SOURCES = t/wake-signal-fails.c $(MW_WRAP)
t_wake_stale_slot_SOURCES = t/wake-stale-slot.c $(MW_WRAP)

# t/register-fail-unchanged looks into the changes given to kevent (the
# call a kqueue backend changes its set with); a kqueue emulated by
# libkqueue has its <sys/event.h> off the usual path.  t/wake-batching
# counts the EVFILT_USER triggers given to kevent.
t_register_fail_unchanged_CPPFLAGS = $(AM_CPPFLAGS) $(KQUEUE_CFLAGS)
t_wake_batching_CPPFLAGS = $(AM_CPPFLAGS) $(KQUEUE_CFLAGS)

# t/pkg-config.sh asks the pkg-config configure found about miowake.pc.
AM_TESTS_ENVIRONMENT += PKG_CONFIG='$(PKG_CONFIG)'; export PKG_CONFIG;
# t/wake-fence-code.sh reads the built library with the host's objdump
# (libtool's probe finds the cross one in a cross build).
AM_TESTS_ENVIRONMENT += OBJDUMP='$(OBJDUMP)'; export OBJDUMP;

# The reliability tests: stress under contention, injected faults, and
# bad input.  What each one checks, and the numbers, are in
# doc/ROBUSTNESS.md.  Each runs in seconds in `make check`; MW_STRESS=1
# in the environment makes the stress tests long, MW_UNDER_VALGRIND=1
# (make check-valgrind) makes them shorter still.
MW_REL_TESTS = \
	t/bad-input \
	t/fault-emfile \
	t/fault-enomem \
	t/fault-fork \
	t/fault-full-counter \
	t/stress-churn \
	t/stress-lost-wake \
	t/stress-signals
check_PROGRAMS += $(MW_REL_TESTS)
TESTS += $(MW_REL_TESTS)
# These two count live allocations with the allocation hook.
t_fault_emfile_SOURCES = t/fault-emfile.c $(MW_ALLOC_HOOK)
t_fault_enomem_SOURCES = t/fault-enomem.c $(MW_ALLOC_HOOK)
EXTRA_DIST += doc/ROBUSTNESS.md

# The tests of the waits' promises (timeouts, stale events, -EBUSY,
# cancellation) a second time, every mw_poll_wait of theirs made through
# mw_poll_wait_ts (MW_TEST_WAIT_TS, t/lib/util.h); t/wait-ts covers what only
# the timespec wait has.
MW_TESTS_TS = \
	t/ts/cancel \
	t/ts/wait-never-early \
	t/ts/wait-one-thread \
	t/ts/wait-stale-deadline \
	t/ts/wait-timeout \
	t/ts/wait-zero-stale
MW_TS_CPPFLAGS = $(AM_CPPFLAGS) -DMW_TEST_WAIT_TS
check_PROGRAMS += $(MW_TESTS_TS) t/wait-ts t/wait-ts-time64
TESTS += $(MW_TESTS_TS) t/wait-ts t/wait-ts-time64
t_ts_cancel_SOURCES = t/cancel.c $(MW_WRAP)
t_ts_cancel_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_ts_wait_never_early_SOURCES = t/wait-never-early.c $(MW_WRAP)
t_ts_wait_never_early_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_ts_wait_one_thread_SOURCES = t/wait-one-thread.c
t_ts_wait_one_thread_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_ts_wait_stale_deadline_SOURCES = t/wait-stale-deadline.c $(MW_WRAP)
t_ts_wait_stale_deadline_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_ts_wait_timeout_SOURCES = t/wait-timeout.c
t_ts_wait_timeout_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_ts_wait_zero_stale_SOURCES = t/wait-zero-stale.c $(MW_WRAP)
t_ts_wait_zero_stale_CPPFLAGS = $(MW_TS_CPPFLAGS)
t_wait_ts_SOURCES = t/wait-ts.c $(MW_WRAP)
# The same test in a program whose time_t is 64 bits where glibc lets it
# choose (i386, armhf, armel): it reaches mw_poll_wait_ts64 through the
# header.  Elsewhere the two programs are the same.
t_wait_ts_time64_SOURCES = t/wait-ts.c $(MW_WRAP)
t_wait_ts_time64_CPPFLAGS = $(AM_CPPFLAGS) -D_FILE_OFFSET_BITS=64 \
	-D_TIME_BITS=64

# `make check-valgrind` (Makefile.am) runs all of this under valgrind and
# sets MW_UNDER_VALGRIND=1: the watchdogs then allow ten times longer and
# the stress tests run fewer rounds.
