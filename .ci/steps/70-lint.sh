#!/usr/bin/env bash
# Step 70: make lint (cppcheck and clang-tidy) in each pair's build.
# On its own, after step 30 in the same work directory:
#   work=/tmp/ci bash .ci/steps/70-lint.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- static analysis and ABI ------------------------------------------------
for pair in epoll-eventfd epoll-pipe poll-pipe kqueue-user kqueue-pipe; do
    [ -d "$work/$pair" ] || continue
    section "lint ($pair)"
    if ! (cd "$work/$pair" && make lint >"$work/lint-$pair.log" 2>&1); then
        cat "$work/lint-$pair.log"
        echo "lint failed for $pair"
        exit 1
    fi
    echo "lint ($pair): cppcheck and clang-tidy clean"
done
