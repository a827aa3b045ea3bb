#!/usr/bin/env bash
# Step 80: make distcheck in the epoll-eventfd build; it leaves the
# tarball there for steps 81 and 82.
# On its own, after step 30:
#   work=/tmp/ci bash .ci/steps/80-distcheck.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- release tarball and a Debian package -------------------------------------
# distcheck's installcheck builds a consumer against the installed tree
# in five ways (cmake/local.mk); CI has every tool they need, so each of
# the five must say ok, none skipped.
section "make distcheck"
if ! (cd "$work/epoll-eventfd" && make -j"$jobs" distcheck \
        DISTCHECK_CONFIGURE_FLAGS=--enable-werror >"$work/distcheck.log" 2>&1); then
    tail -n 80 "$work/distcheck.log"
    echo "make distcheck failed"
    exit 1
fi
grep '^installcheck: ' "$work/distcheck.log" || true
ways_ok=$(grep -cE '^installcheck: .* ok( \(.*\))?$' "$work/distcheck.log" || true)
if [ "$ways_ok" -ne 5 ]; then
    echo "distcheck: $ways_ok of the 5 installcheck ways ok"
    exit 1
fi
tarball=$(ls "$work"/epoll-eventfd/libmiowake-*.tar.gz)
echo "distcheck: $(basename "$tarball") ok"
