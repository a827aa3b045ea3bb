#!/usr/bin/env bash
# Step 71: make check-model, the SPIN models of the waker protocol.
# On its own, after step 30 (it uses $work/epoll-eventfd):
#   work=/tmp/ci bash .ci/steps/71-model.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- the SPIN models of the waker protocol ------------------------------------
# make check-model (t/model/model.mk, doc/MODEL.md): every correct
# configuration must verify with no error and a complete search, every
# known-broken variant must end in a trail.  spin was installed above, so a
# skip here is a failure too.
section "check-model (SPIN)"
if ! (cd "$work/epoll-eventfd" && make check-model >"$work/model.log" 2>&1) \
        || grep -q '^check-model: SKIP' "$work/model.log"; then
    cat "$work/model.log"
    echo "check-model failed"
    exit 1
fi
grep '^check-model:' "$work/model.log"
