#!/usr/bin/env bash
# Step 62: make coverage for two pairs, and the figures.
# On its own, after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/62-coverage.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- coverage of lib/, per pair ------------------------------------------------
# make coverage (Makefile.am) runs make check in a --coverage build and
# reports the line and branch coverage of lib/.  The figures are printed,
# never judged: only a failing target (a failing test) fails CI.  The
# branches no test reaches, and why, are in doc/ROBUSTNESS.md.
target=coverage
how="make coverage (-O0 --coverage)"
build coverage-epoll-eventfd --enable-coverage --with-poller=epoll --with-waker=eventfd
build coverage-poll-pipe --enable-coverage --with-poller=poll --with-waker=pipe
target=check
how=
for pair in epoll-eventfd poll-pipe; do
    sed -e '/^Reading tracefile/d' -e '/^Summary coverage rate/,$d' \
        "$work/coverage-$pair/coverage.txt"
    sed -n -e "s/^  lines\.*: /coverage $pair: lines /p" \
        -e "s/^  branches\.*: /coverage $pair: branches /p" \
        "$work/coverage-$pair/coverage.txt"
done
