# SPDX-License-Identifier: MIT
# The reliability tests, included by the top-level Makefile.am after
# t/local.mk (whose LOG_DRIVER, AM_TESTS_ENVIRONMENT, LDADD and
# allocation hook they use): stress under contention, injected faults,
# and bad input.  What each one checks, and the numbers, are in
# doc/ROBUSTNESS.md.
#
# Each runs in seconds in `make check`; MW_STRESS=1 in the environment
# makes the stress tests long, MW_UNDER_VALGRIND=1 (make check-valgrind)
# makes them shorter still.

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

# These two count live allocations with the allocation hook (t/local.mk).
t_fault_emfile_SOURCES = t/fault-emfile.c $(MW_ALLOC_HOOK)
t_fault_enomem_SOURCES = t/fault-enomem.c $(MW_ALLOC_HOOK)
EXTRA_DIST += doc/ROBUSTNESS.md
