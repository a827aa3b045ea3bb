#!/usr/bin/env bash
# Step 61: make check-valgrind, the suite under valgrind memcheck, for two
# pairs.
# On its own, after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/61-valgrind.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

target=check-valgrind
build valgrind-epoll-eventfd
build valgrind-poll-pipe --with-poller=poll --with-waker=pipe
target=check
