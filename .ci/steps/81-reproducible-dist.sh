#!/usr/bin/env bash
# Step 81: make dist twice must give the same bytes, with and without
# SOURCE_DATE_EPOCH; it leaves distcheck's tarball where it found it.
# On its own, after step 80:
#   work=/tmp/ci bash .ci/steps/81-reproducible-dist.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- the tarballs are reproducible ---------------------------------------------
# Two `make dist` runs, 2 s apart, must give the same bytes, for the
# .tar.gz and the .tar.xz (Makefile.am, "the release tarball"): with
# SOURCE_DATE_EPOCH set, and, in a git checkout, without it, when the
# last commit's date takes its place.  distcheck's tarball is kept aside
# meanwhile for the Debian package.  No file of .ci/ may be in them.
# The tarball step 80 left (set already when .ci/run ran step 80).
[ -n "${tarball:-}" ] || tarball=$(ls "$work"/epoll-eventfd/libmiowake-*.tar.gz)
section "reproducible make dist"
mv "$tarball" "$work/distcheck.tar.gz"
rm -f "${tarball%.gz}.xz"
# dist_twice LABEL: make dist, sleep 2, make dist; the two must be equal.
dist_twice() {
    local n fmt base
    base=$(basename "$tarball" .tar.gz)
    for n in 1 2; do
        [ "$n" -eq 1 ] || sleep 2
        (cd "$work/epoll-eventfd" && make dist >/dev/null \
            && mv "$base.tar.gz" "$work/repro-$n.tar.gz" \
            && mv "$base.tar.xz" "$work/repro-$n.tar.xz")
    done
    for fmt in gz xz; do
        if ! cmp "$work/repro-1.tar.$fmt" "$work/repro-2.tar.$fmt"; then
            echo "make dist is not reproducible ($1, .tar.$fmt); tar tv of the two:"
            diff <(tar -tvaf "$work/repro-1.tar.$fmt" --full-time) \
                 <(tar -tvaf "$work/repro-2.tar.$fmt" --full-time) || true
            exit 1
        fi
        echo "$1: .tar.$fmt, two runs identical, sha256 $(sha256sum "$work/repro-1.tar.$fmt" | cut -d' ' -f1)"
    done
    # The two formats hold the same tar.
    if ! cmp <(gzip -dc "$work/repro-1.tar.gz") <(xz -dc "$work/repro-1.tar.xz"); then
        echo "the .tar.gz and the .tar.xz hold different files"
        exit 1
    fi
    if tar -tzf "$work/repro-1.tar.gz" | grep -E '/(\.ci/|\.clang-tidy$)'; then
        echo "development-only files in the tarball"
        exit 1
    fi
}
set_repro_epoch
(export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$repro_epoch}"
 dist_twice "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")
if [ -e "$here/.git" ]; then
    (unset SOURCE_DATE_EPOCH; dist_twice "no SOURCE_DATE_EPOCH, git commit date")
fi
mv "$work/distcheck.tar.gz" "$tarball"
