# SPDX-License-Identifier: MIT
# The reliability tests, included by the top-level Makefile.am after
# t/local.mk (whose LOG_DRIVER, AM_TESTS_ENVIRONMENT and t/libtap.a they
# use): stress under contention, injected faults, and bad input.  What
# each one checks, and the numbers, are in doc/ROBUSTNESS.md.
#
# Each runs in seconds in `make check`; MW_STRESS=1 in the environment
# makes the stress tests long, MW_UNDER_VALGRIND=1 (make check-valgrind)
# makes them shorter still.

check_LIBRARIES += t/librel.a
t_librel_a_SOURCES = t/rel-util.c t/rel-util.h

# t/librel.a and t/libtap.a come first: they call the library, and a
# static archive only resolves symbols for what precedes it.
MW_REL_LDADD = t/librel.a t/libtap.a lib/libmiowake.la $(PTHREAD_LIBS)

MW_REL_TESTS = \
	t/stress-lost-wake \
	t/stress-churn \
	t/stress-signals \
	t/fault-emfile \
	t/fault-enomem \
	t/fault-full-counter \
	t/fault-fork \
	t/bad-input

check_PROGRAMS += $(MW_REL_TESTS)
TESTS += $(MW_REL_TESTS)

# t/fault-enomem and t/fault-emfile interpose malloc and forward through
# dlsym(RTLD_NEXT), referenced weakly: glibc 2.34+ and musl have it in
# libc; where it is in libdl, configure can put -ldl in DLOPEN_LIBS
# (empty until then; without dlsym t/fault-enomem skips and t/fault-emfile
# leaves memory to the leak checkers).
t_stress_lost_wake_LDADD = $(MW_REL_LDADD)
t_stress_churn_LDADD = $(MW_REL_LDADD)
t_stress_signals_LDADD = $(MW_REL_LDADD)
t_fault_emfile_LDADD = $(MW_REL_LDADD) $(DLOPEN_LIBS)
t_fault_enomem_LDADD = $(MW_REL_LDADD) $(DLOPEN_LIBS)
t_fault_full_counter_LDADD = $(MW_REL_LDADD)
t_fault_fork_LDADD = $(MW_REL_LDADD)
t_bad_input_LDADD = $(MW_REL_LDADD)
EXTRA_DIST += doc/ROBUSTNESS.md
