#!/usr/bin/env bash
# Step 20: ./autogen.sh, which every build step needs.
# On its own, after step 00:
#   bash .ci/steps/20-autogen.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

section "autogen"
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
