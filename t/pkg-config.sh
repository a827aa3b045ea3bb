#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise (README.md, mw_backend(3)): `pkg-config --variable=backend
# miowake` prints the mechanism pair the library was built with, the same
# string mw_backend() returns.  And miowake.pc has no field without a
# value (an empty Requires.private: or Libs.private: line), which some
# pkg-config implementations and every packager's linter complain of.  Run against the built, uninstalled
# miowake.pc; mw_backend() is read from t/version, which prints it as a
# TAP comment (a test program, so it is built with this build's flags,
# sanitizers included).
# Uses the PKG_CONFIG configure found (make check exports it).

: "${top_builddir:=.}"
: "${EXEEXT:=}"
: "${PKG_CONFIG:=pkg-config}"

# A runner (MW_TEST_RUNNER, t/local.mk), such as qemu-user for a cross
# build, goes in front of the program, behind libtool --mode=execute,
# which hands it the real program behind libtool's wrapper script.
run=${MW_TEST_RUNNER:+${LIBTOOL:-$top_builddir/libtool} --mode=execute $MW_TEST_RUNNER}

if ! command -v "${PKG_CONFIG%% *}" > /dev/null 2>&1; then
    echo "1..0 # SKIP no pkg-config (${PKG_CONFIG:-none found by configure})"
    exit 0
fi
if [ ! -f "$top_builddir/miowake.pc" ]; then
    echo "Bail out! $top_builddir/miowake.pc not generated"
    exit 1
fi
version="$top_builddir/t/version$EXEEXT"
if [ ! -x "$version" ]; then
    echo "Bail out! $version not built (make check builds it)"
    exit 1
fi

# The build's .pc first; what was there stays after it, because
# Requires.private may name a package (libkqueue) found only there.
PKG_CONFIG_PATH="$top_builddir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH

echo "1..4"
failed=0

# Not an installed miowake.pc that happens to come first.
dir=$($PKG_CONFIG --variable=pcfiledir miowake 2> /dev/null)
if [ -n "$dir" ] && [ "$(cd "$dir" 2> /dev/null && pwd -P)" = \
        "$(cd "$top_builddir" && pwd -P)" ]; then
    echo "ok 1 - pkg-config reads the build's miowake.pc"
else
    echo "not ok 1 - pkg-config reads the build's miowake.pc"
    echo "# pcfiledir: '$dir', build: '$top_builddir'"
    failed=1
fi

pc=$($PKG_CONFIG --variable=backend miowake 2>&1)
status=$?
echo "# pkg-config --variable=backend miowake: '$pc' (status $status)"
if [ "$status" -eq 0 ] && [ -n "$pc" ]; then
    echo "ok 2 - miowake.pc has a backend variable"
else
    echo "not ok 2 - miowake.pc has a backend variable"
    failed=1
fi

# t/version prints: # mw_backend() = "epoll+eventfd"
# shellcheck disable=SC2086
lib=$($run "$version" 2> /dev/null |
      sed -n 's/^# mw_backend() = "\(.*\)"$/\1/p' | head -n 1)
echo "# mw_backend(): '$lib'"
if [ -n "$lib" ] && [ "$pc" = "$lib" ]; then
    echo "ok 3 - the backend variable is what mw_backend() returns ($lib)"
else
    echo "not ok 3 - the backend variable is what mw_backend() returns"
    [ -n "$lib" ] || echo "# $version printed no mw_backend() line"
    failed=1
fi

# A field is "Name: value"; a variable "name=value" may be empty.
empty=$(sed -n 's/^\([A-Za-z][A-Za-z.]*\):[[:space:]]*$/\1/p' "$top_builddir/miowake.pc")
if [ -z "$empty" ]; then
    echo "ok 4 - every field of miowake.pc has a value"
else
    echo "not ok 4 - every field of miowake.pc has a value"
    for f in $empty; do echo "# empty field: $f"; done
    failed=1
fi

exit $failed
