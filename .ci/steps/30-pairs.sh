#!/usr/bin/env bash
# Step 30: build and `make check` every mechanism pair this machine can
# build (epoll-eventfd, epoll-pipe, poll-pipe, wait-ts-ms, and the kqueue
# pairs when pkg-config finds libkqueue), each in $work/PAIR.
# On its own, after steps 00, 10 (for the kqueue pairs) and 20:
#   work=/tmp/ci bash .ci/steps/30-pairs.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- every pair this machine can build -------------------------------------
build epoll-eventfd --with-poller=epoll --with-waker=eventfd
# The nesting examples must have run there, not been skipped: CI installs
# GLib, libuv and libevent for them.
if grep -E '^ok .*# SKIP' "$work/epoll-eventfd/t/nest.log"; then
    echo "a nesting example was skipped on epoll+eventfd" >&2
    exit 1
fi
echo "nesting examples: $(grep -c '^ok' "$work/epoll-eventfd/t/nest.log") ran"
build epoll-pipe --with-poller=epoll --with-waker=pipe
build poll-pipe --with-poller=poll --with-waker=pipe
# The whole suite once more with every mw_poll_wait of the tests made
# through mw_poll_wait_ts (t/lib/util.h), in a build that waits in whole
# milliseconds as a system without epoll_pwait2 or ppoll does.
build wait-ts-ms --with-poller=epoll --with-waker=eventfd \
    --disable-fine-timeouts CPPFLAGS=-DMW_TEST_WAIT_TS
if pkg-config --exists libkqueue 2>/dev/null; then
    build kqueue-user --with-poller=kqueue --with-waker=user
    build kqueue-pipe --with-poller=kqueue --with-waker=pipe
    # libkqueue given as CPPFLAGS and LIBS, which pkg-config cannot find:
    # configure must still know the emulation by its header's LIBKQUEUE.
    section "libkqueue through CPPFLAGS: configure recognises the emulation"
    mkdir -p "$work/kqueue-cppflags"
    (cd "$work/kqueue-cppflags" && PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/nonexistent \
        "$here/configure" -q --with-poller=kqueue \
        CPPFLAGS="$(pkg-config --cflags libkqueue)" \
        LIBS="$(pkg-config --libs libkqueue)" >/dev/null)
    if ! grep -q '^#define MW_KQUEUE_EMULATED 1' "$work/kqueue-cppflags/config.h"; then
        echo "libkqueue through CPPFLAGS was not recognised" >&2
        exit 1
    fi
    echo "MW_KQUEUE_EMULATED 1: recognised"
else
    section "kqueue pairs: no kqueue here and pkg-config finds no libkqueue; not built"
    if (mkdir -p "$work/nokq" && cd "$work/nokq" \
            && "$here/configure" -q --with-poller=kqueue >/dev/null 2>&1); then
        echo "configure --with-poller=kqueue succeeded without kqueue" >&2
        exit 1
    fi
    echo "configure --with-poller=kqueue refuses, as it should"
fi
