#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise of mw_poll_fd(3): a poll nested in another event loop, with the
# two rules kept, hears every wake.  The examples doc/examples/nest-glib,
# nest-libuv and nest-libevent (doc/local.mk builds each when configure
# found its library) exit 0 and print "3 of 3 messages handled".
# One that was not built is skipped with configure's reason (MW_GLIB_WHY,
# MW_LIBUV_WHY, MW_LIBEVENT_WHY); one that exits 77 found no descriptor
# to nest (poll+pipe, libkqueue) and is skipped with what it printed.

: "${top_builddir:=.}"
: "${EXEEXT:=}"

# A runner (MW_TEST_RUNNER, t/local.mk), such as qemu-user for a cross
# build, goes in front of the program, behind libtool --mode=execute,
# which hands it the real program behind libtool's wrapper script.
run=${MW_TEST_RUNNER:+${LIBTOOL:-$top_builddir/libtool} --mode=execute $MW_TEST_RUNNER}

tmp=$(mktemp "${TMPDIR:-/tmp}/mw-nest.XXXXXX") || {
    echo "Bail out! cannot make a temporary file"
    exit 1
}
trap 'rm -f "$tmp"' EXIT INT TERM

echo "1..3"
i=0
failed=0
# nest NAME WHY: test point for doc/examples/nest-NAME; WHY is empty when
# configure found the library.
nest() {
    i=$((i + 1))
    prog="$top_builddir/doc/examples/nest-$1$EXEEXT"
    if [ -n "$2" ]; then
        echo "ok $i - nest-$1 # SKIP not built: $2"
        return
    fi
    if [ ! -x "$prog" ]; then
        echo "not ok $i - nest-$1 handles 3 messages ($prog was not built)"
        failed=1
        return
    fi
    # The example has its own watchdog (alarm); this one is for a hang
    # before it is set.
    # shellcheck disable=SC2086
    if command -v timeout > /dev/null 2>&1; then
        timeout 60 $run "$prog" > "$tmp" 2>&1
    else
        $run "$prog" > "$tmp" 2>&1
    fi
    status=$?
    sed 's/^/# /' "$tmp"
    if [ "$status" -eq 77 ]; then
        echo "ok $i - nest-$1 # SKIP $(sed -n 's/^nest-[a-z]*: //p' "$tmp" | tail -n 1)"
    elif [ "$status" -eq 0 ] && grep -q '^3 of 3 messages handled$' "$tmp"; then
        echo "ok $i - nest-$1 handles 3 messages"
    else
        echo "not ok $i - nest-$1 handles 3 messages (exit status $status)"
        failed=1
    fi
}
nest glib "${MW_GLIB_WHY-}"
nest libuv "${MW_LIBUV_WHY-}"
nest libevent "${MW_LIBEVENT_WHY-}"
exit $failed
