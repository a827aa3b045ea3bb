#!/usr/bin/env bash
# Step 74: make check-abi in the epoll-eventfd build.
# On its own, after step 30:
#   work=/tmp/ci bash .ci/steps/74-check-abi.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

section "check-abi"
(cd "$work/epoll-eventfd" && make check-abi)
