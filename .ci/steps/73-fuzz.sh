#!/usr/bin/env bash
# Step 73: a 60 s run of the API fuzzer per poller.
# On its own, after step 30 (it skips the builds not there):
#   work=/tmp/ci bash .ci/steps/73-fuzz.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- fuzzing: a short run of the API fuzzer per poller ------------------------
# t/fuzz/fuzz-api.c under libFuzzer (clang -fsanitize=fuzzer,address,undefined,
# the library's sources compiled in), started from t/fuzz/corpus/, which
# `make check` has already replayed.  A disagreement with the model, or a
# sanitizer report, fails CI with the fuzzer's log.
# fuzzer_links: does clang link a libFuzzer target (libFuzzer has main)?
fuzzer_links() {
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n > 9; }' \
        | clang -fsanitize=fuzzer,address,undefined -x c - -o "$work/fuzz-probe" \
            >/dev/null 2>&1
}
if ! fuzzer_links; then
    section "installing libFuzzer (clang's sanitizer runtimes)"
    apt_install libclang-rt-dev || apt_install libclang-rt-14-dev || true
fi
if ! fuzzer_links; then
    section "fuzz: clang -fsanitize=fuzzer does not link here; not run"
else
    for pair in epoll-eventfd poll-pipe kqueue-user; do
        [ -d "$work/$pair" ] || continue
        section "fuzz ($pair, 60 s)"
        # A fixed seed: CI's run is reproducible, so a failure there is
        # the code's and can be replayed, while `make fuzz` elsewhere
        # explores from a new seed each time.
        if ! (cd "$work/$pair" && make fuzz FUZZ_SECONDS=60 FUZZ_FLAGS=-seed=1 \
                >"$work/fuzz-$pair.log" 2>&1); then
            cat "$work/fuzz-$pair.log"
            for crash in "$work/$pair"/t/fuzz-crash-*; do
                [ -f "$crash" ] || continue
                echo "-- $crash (hex):"; od -An -tx1 "$crash"
            done
            echo "make fuzz failed for $pair"
            exit 1
        fi
        grep -E '^make fuzz:|^stat::(number_of_executed_units|average_exec_per_sec)' \
            "$work/fuzz-$pair.log"
    done
fi
