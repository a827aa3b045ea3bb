#!/usr/bin/env bash
# Step 00: install what is missing (the tools, the libraries of the nesting
# examples, clang's sanitizer runtimes), from Debian's packages.
# On its own, as root (or with sudo), from anywhere:
#   bash .ci/steps/00-packages.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# command:package pairs; a package is installed when its command is missing.
need=()
for pair in autoconf:autoconf automake:automake libtoolize:libtool \
            pkg-config:pkg-config make:make gcc:gcc g++:g++ \
            cmake:cmake meson:meson ninja:ninja-build \
            clang:clang musl-gcc:musl-tools mandoc:mandoc man:man-db \
            valgrind:valgrind lcov:lcov \
            cppcheck:cppcheck clang-tidy:clang-tidy abidw:abigail-tools \
            dpkg-buildpackage:dpkg-dev dh:debhelper dh_autoreconf:dh-autoreconf \
            lintian:lintian fakeroot:fakeroot hardening-check:devscripts \
            spin:spin xz:xz-utils; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    section "installing ${need[*]}"
    apt_install "${need[@]}"
fi

# The libraries of the nesting examples (doc/examples/nest-*.c), which
# `make check` runs only where pkg-config finds them: module:package pairs.
need=()
for pair in glib-2.0:libglib2.0-dev libuv:libuv1-dev libevent:libevent-dev; do
    pkg-config --exists "${pair%%:*}" 2>/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    section "installing ${need[*]}"
    apt_install "${need[@]}"
fi

# clang's sanitizer runtimes are only a Recommends of clang on Debian.
if ! links clang -fsanitize=thread; then
    section "installing clang's sanitizer runtimes"
    apt_install libclang-rt-dev
fi
