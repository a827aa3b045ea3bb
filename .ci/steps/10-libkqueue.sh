#!/usr/bin/env bash
# Step 10: libkqueue for the kqueue pairs: an installed one, or one built
# from ../shared/third_party into $work/libkqueue.
# On its own, after step 00, in the work directory later steps use (a
# later step run on its own finds $work/libkqueue through lib.sh):
#   work=/tmp/ci bash .ci/steps/10-libkqueue.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# libkqueue (an emulation of kqueue on top of epoll; never part of this
# tree) lets the kqueue pairs run on Linux.  CI uses an installed one that
# pkg-config finds; otherwise it builds the source that sits beside the
# project in ../shared/third_party, checked against its SHA256SUMS, into
# its own work directory (use_libkqueue_libdir: lib.sh).
for d in /opt/libkqueue/lib /usr/local/lib; do
    if [ -f "$d/pkgconfig/libkqueue.pc" ]; then use_libkqueue_libdir "$d"; fi
done
third_party="$here/../shared/third_party"
lkq_tarball=libkqueue-2.7.0-f966089.tar.gz
if ! pkg-config --exists libkqueue 2>/dev/null; then
    if [ -f "$third_party/$lkq_tarball" ]; then
        section "building libkqueue from $lkq_tarball"
        command -v cmake >/dev/null 2>&1 || apt_install cmake
        (cd "$third_party" && grep " $lkq_tarball\$" SHA256SUMS | sha256sum -c -)
        tar -xzf "$third_party/$lkq_tarball" -C "$work"
        cmake -S "$work/${lkq_tarball%.tar.gz}" -B "$work/lkq-build" \
              -DCMAKE_INSTALL_PREFIX="$work/libkqueue" \
              -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build "$work/lkq-build" -j"$jobs" >/dev/null
        cmake --install "$work/lkq-build" >/dev/null
        # Debian's cmake installs into lib/ or lib/<triplet>/.
        lkq_pc=$(find "$work/libkqueue" -name libkqueue.pc | head -n 1)
        use_libkqueue_libdir "$(dirname "$(dirname "$lkq_pc")")"
        pkg-config --modversion libkqueue
    else
        section "no libkqueue installed and no $third_party/$lkq_tarball"
    fi
fi
