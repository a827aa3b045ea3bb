#!/bin/sh
# SPDX-License-Identifier: MIT
# The documented example doc/examples/cross-thread-wake (built by
# doc/local.mk) runs, exits 0 and prints the waker's "token 10".

: "${top_builddir:=.}"
: "${EXEEXT:=}"

# A runner (MW_TEST_RUNNER, t/local.mk), such as qemu-user for a cross
# build, goes in front of the program, behind libtool --mode=execute,
# which hands it the real program behind libtool's wrapper script.
run=${MW_TEST_RUNNER:+${LIBTOOL:-$top_builddir/libtool} --mode=execute $MW_TEST_RUNNER}

prog="$top_builddir/doc/examples/cross-thread-wake$EXEEXT"

echo "1..2"
if [ ! -x "$prog" ]; then
    echo "not ok 1 - the example program exists"
    echo "# $prog was not built"
    echo "not ok 2 - the example prints \"token 10\""
    exit 1
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/mw-example.XXXXXX") || {
    echo "Bail out! cannot make a temporary file"
    exit 1
}
trap 'rm -f "$tmp"' EXIT INT TERM

# Its own watchdog: a hung example must not hang make check.
# shellcheck disable=SC2086
if command -v timeout > /dev/null 2>&1; then
    timeout 60 $run "$prog" > "$tmp" 2>&1
else
    $run "$prog" > "$tmp" 2>&1
fi
status=$?
sed 's/^/# /' "$tmp"

failed=0
if [ "$status" -eq 0 ]; then
    echo "ok 1 - the example exits 0"
else
    echo "not ok 1 - the example exits 0 (status $status)"
    failed=1
fi
if grep -q 'token 10' "$tmp"; then
    echo "ok 2 - the example prints \"token 10\""
else
    echo "not ok 2 - the example prints \"token 10\""
    failed=1
fi
exit $failed
