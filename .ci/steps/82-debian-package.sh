#!/usr/bin/env bash
# Step 82: a Debian package from the tarball, with lintian
# (.ci/debian-package), built twice: the .deb files must be the same.
# On its own, as root (or with sudo), after step 80:
#   work=/tmp/ci bash .ci/steps/82-debian-package.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# The tarball step 80 left (set already when .ci/run ran step 80).
[ -n "${tarball:-}" ] || tarball=$(ls "$work"/epoll-eventfd/libmiowake-*.tar.gz)
set_repro_epoch
section "Debian package and lintian"
# The throwaway debian/changelog is dated SOURCE_DATE_EPOCH: the same
# for both builds.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$repro_epoch}" \
    "$here/.ci/debian-package" "$tarball" "$work/debs-1"
# README ("Notes for packagers") says the build records no time, user or
# build path: a second build in another directory and time zone must
# give the same .deb files.
section "Debian package again, elsewhere: reproducible"
mkdir -p "$work/elsewhere/deeper"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$repro_epoch}" \
TMPDIR="$work/elsewhere/deeper" TZ=Pacific/Kiritimati \
    "$here/.ci/debian-package" "$tarball" "$work/debs-2" >/dev/null
for deb in "$work"/debs-1/*.deb; do
    if ! cmp "$deb" "$work/debs-2/$(basename "$deb")"; then
        echo "$(basename "$deb") differs between two builds"
        exit 1
    fi
    echo "$(basename "$deb"): two builds identical"
done
