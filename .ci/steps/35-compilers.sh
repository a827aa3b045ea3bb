#!/usr/bin/env bash
# Step 35: the default pair with other compilers: clang and musl-gcc, in
# $work/clang and $work/musl.
# On its own, after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/35-compilers.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

build clang CC=clang
build musl CC=musl-gcc
