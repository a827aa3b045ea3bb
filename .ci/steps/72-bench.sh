#!/usr/bin/env bash
# Step 72: a short run of the benchmarks in each build there is.
# On its own, after steps 30, 35 and 50 (it skips the builds not there):
#   work=/tmp/ci bash .ci/steps/72-bench.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- benchmarks: built with -Werror and run once, short -----------------------
# Not for figures (doc/PERFORMANCE.md has those): each program checks its
# counts (one event per ping, no lost wake, no system call on a pending
# wake) and a lost wake ends in its watchdog's exit status.
for pair in epoll-eventfd epoll-pipe poll-pipe kqueue-user kqueue-pipe clang musl i386; do
    [ -d "$work/$pair" ] || continue
    section "bench smoke run ($pair)"
    if ! (cd "$work/$pair" && MW_BENCH_TIMEOUT=300 \
            make bench BENCH_FLAGS='-n 2000 -r 1' >"$work/bench-$pair.log" 2>&1); then
        cat "$work/bench-$pair.log"
        echo "make bench failed for $pair"
        exit 1
    fi
    echo "bench ($pair): $(grep -c '^bench=' "$work/bench-$pair.log") result lines, all checks passed"
done
