#!/usr/bin/env bash
# Step 60: make check under AddressSanitizer with UBSan (gcc) and under
# ThreadSanitizer (clang).
# On its own, after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/60-sanitizers.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- instrumented runs -------------------------------------------------------
build asan-ubsan --enable-sanitizers=address,undefined
build tsan --enable-sanitizers=thread CC=clang
