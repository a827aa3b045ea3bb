#!/bin/sh
# SPDX-License-Identifier: MIT
# `make installcheck` (cmake/local.mk): build t/consumer/consumer.c, or
# consumer.cpp, against the installed library in each way a project finds
# it, run it, and check what it prints:
#
#   pkg-config               cc $(pkg-config --cflags --libs miowake)
#   cmake find_package       find_package(miowake CONFIG) + miowake::miowake;
#                            also: the package's own major.minor is
#                            accepted, the next minor and major refused
#   cmake pkg_check_modules  pkg_check_modules(... IMPORTED_TARGET miowake)
#   meson dependency         dependency('miowake')
#   c++17                    <miowake.h> from C++, linked by a C++ compiler
#
# One line per way: ok, skipped (its tool is missing, with the reason),
# or FAILED, with the end of its log.  The exit status is 1 if any way
# that ran failed.  With only the static library installed, every way
# links statically (pkg-config --static, meson's static: true).
#
# The installed tree is $DESTDIR$prefix; make passes the directories, the
# tools configure found (CC, CXX, PKG_CONFIG), the runner if any
# (MW_TEST_RUNNER) and the build's facts.  The consumers are built in
# $work (in the build tree), never in the source tree, which may be
# read-only (distcheck).  CMAKE, MESON and NINJA may name other programs
# than cmake, meson and ninja.

: "${CMAKE:=cmake}" "${MESON:=meson}" "${NINJA:=ninja}"
: "${DESTDIR=}" "${PKG_CONFIG=}" "${CXX:=none}"
for v in prefix libdir includedir pkgconfigdir miowakecmakedir \
         consumer_srcdir work la CC PACKAGE_VERSION MW_VERSION_MAJOR \
         MW_VERSION_MINOR MW_BACKEND_NAME; do
    eval "test -n \"\${$v-}\"" || {
        echo "installcheck: $v is not set (run it as make installcheck)" >&2
        exit 1
    }
done

# What libtool built: a shared library (dlname), or only a static one.
dlname=; library_names=; old_library=
# shellcheck disable=SC1090
. "$la"
if [ -n "$dlname" ]; then
    linkage=shared
    library=${library_names%% *}
else
    linkage=static
    library=$old_library
fi
inst_libdir=$DESTDIR$libdir
inst_includedir=$DESTDIR$includedir
expected="backend=$MW_BACKEND_NAME version=$PACKAGE_VERSION"

if [ ! -f "$inst_libdir/$library" ] || [ ! -f "$inst_includedir/miowake.h" ]; then
    echo "installcheck: $inst_libdir/$library or $inst_includedir/miowake.h" \
         "is missing; run make install first" >&2
    exit 1
fi

rm -rf "$work"
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd)

# The flags the consumers are compiled with: the build's warnings (and
# -Werror, with --enable-werror) where the script compiles them itself;
# only the sanitizer flags for CMake and Meson, whose own probes need not
# pass this project's warnings.  A sanitized library needs its runtime
# in the program too.
cflags=$MW_CFLAGS
cxxflags="-std=c++17 -Wall -Wextra $MW_SANITIZE_FLAGS"
case " $MW_CFLAGS " in *" -Werror "*) cxxflags="$cxxflags -Werror";; esac

# The installed pkg-config file first; what was on the path stays after
# it, for a Requires.private (libkqueue) found only there.  A staged
# tree's .pc names the final prefix: the sysroot puts DESTDIR in front.
PKG_CONFIG_PATH="$DESTDIR$pkgconfigdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
if [ -n "$DESTDIR" ]; then
    PKG_CONFIG_SYSROOT_DIR=$DESTDIR
    export PKG_CONFIG_SYSROOT_DIR
fi
[ "$linkage" = static ] && pc_static=--static || pc_static=

# physical PATH: PATH with the symbolic links of its directory resolved.
physical() {
    (cd "$(dirname "$1")" 2>/dev/null \
        && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")")
}

# have PROGRAM: is PROGRAM (its first word) a command here?
have() {
    [ -n "$1" ] && [ "$1" != none ] && command -v "${1%% *}" >/dev/null 2>&1
}

# run_consumer PROGRAM: run it against the installed library; its output
# must be the build's backend and version.  A runner (MW_TEST_RUNNER,
# t/local.mk) goes in front of it; the consumers are no libtool programs.
run_consumer() {
    # shellcheck disable=SC2086
    out=$(LD_LIBRARY_PATH="$inst_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
          DYLD_LIBRARY_PATH="$inst_libdir${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}" \
          ${MW_TEST_RUNNER-} "$1") || { echo "$1 failed: $out"; return 1; }
    echo "$1: $out"
    [ "$out" = "$expected" ] || { echo "expected: $expected"; return 1; }
}

# same_file GOT WANT WHAT: GOT and WANT are the same path, symbolic links
# of their directories resolved.
same_file() {
    [ -n "$1" ] && [ "$(physical "$1")" = "$(physical "$2")" ] && return 0
    echo "$3 is '$1', not $2"
    return 1
}

# ---- the ways; each prints its log on stdout and says what it checked ----

way_pkg_config() {
    have "$PKG_CONFIG" || { skip="no pkg-config (configure found none)"; return 0; }
    d=$($PKG_CONFIG --variable=pcfiledir miowake) || return 1
    same_file "$d/miowake.pc" "$DESTDIR$pkgconfigdir/miowake.pc" \
        "pkg-config's miowake.pc" || return 1
    # shellcheck disable=SC2086
    flags=$($PKG_CONFIG $pc_static --cflags --libs miowake) || return 1
    echo "$CC $cflags consumer.c $flags"
    # shellcheck disable=SC2086
    $CC $cflags "$consumer_srcdir/consumer.c" -o "$work/pkg-config" $flags \
        || return 1
    run_consumer "$work/pkg-config" || return 1
    note="pkg-config ${pc_static:+$pc_static }--cflags --libs"
}

# cmake_config BUILDDIR [ARGS...]: configure the consumer with
# find_package(miowake).
cmake_config() {
    b=$1; shift
    CFLAGS=$MW_SANITIZE_FLAGS LDFLAGS=$MW_SANITIZE_FLAGS \
        "$CMAKE" -S "$consumer_srcdir" -B "$b" -DMW_WAY=config \
        "-DCMAKE_PREFIX_PATH=$DESTDIR$prefix;$DESTDIR$miowakecmakedir" "$@"
}

way_cmake_config() {
    have "$CMAKE" || { skip="$CMAKE not found"; return 0; }
    b=$work/cmake-config
    want=$MW_VERSION_MAJOR.$MW_VERSION_MINOR
    next_minor=$MW_VERSION_MAJOR.$((MW_VERSION_MINOR + 1))
    next_major=$((MW_VERSION_MAJOR + 1)).0
    for refused in "$next_minor" "$next_major"; do
        echo "---- find_package(miowake $refused) must refuse $PACKAGE_VERSION"
        cmake_config "$b" "-DMW_REQUEST=$refused" >"$work/refused.out" 2>&1
        rc=$?
        cat "$work/refused.out"
        if [ "$rc" -eq 0 ] || ! grep -q 'compatible with requested version'                 "$work/refused.out"; then
            echo "find_package(miowake $refused) did not refuse $PACKAGE_VERSION"
            return 1
        fi
    done
    echo "---- find_package(miowake $want)"
    cmake_config "$b" "-DMW_REQUEST=$want" >"$work/cmake-config.out" 2>&1
    rc=$?
    cat "$work/cmake-config.out"
    [ "$rc" -eq 0 ] || return 1
    got() { sed -n "s/^-- consumer: $1=//p" "$work/cmake-config.out"; }
    same_file "$(got miowake_DIR)/miowakeConfig.cmake" \
        "$DESTDIR$miowakecmakedir/miowakeConfig.cmake" miowake_DIR || return 1
    same_file "$(got miowake::miowake)" "$inst_libdir/$library" \
        "miowake::miowake's IMPORTED_LOCATION" || return 1
    [ "$(got miowake_BACKEND)" = "$MW_BACKEND_NAME" ] || {
        echo "miowake_BACKEND is not $MW_BACKEND_NAME"; return 1; }
    "$CMAKE" --build "$b" || return 1
    run_consumer "$b/consumer" || return 1
    note="miowake::miowake = $library; $want accepted, $next_minor and $next_major refused"
}

way_cmake_pkg_config() {
    have "$CMAKE" || { skip="$CMAKE not found"; return 0; }
    have "$PKG_CONFIG" || { skip="no pkg-config (configure found none)"; return 0; }
    b=$work/cmake-pkg-config
    [ "$linkage" = static ] && s=ON || s=OFF
    CFLAGS=$MW_SANITIZE_FLAGS LDFLAGS=$MW_SANITIZE_FLAGS PKG_CONFIG=$PKG_CONFIG \
        "$CMAKE" -S "$consumer_srcdir" -B "$b" -DMW_WAY=pkgconfig \
        "-DMW_STATIC=$s" >"$work/cmake-pkg-config.out" 2>&1
    rc=$?
    cat "$work/cmake-pkg-config.out"
    [ "$rc" -eq 0 ] || return 1
    d=$(sed -n 's/^-- consumer: pcfiledir=//p' "$work/cmake-pkg-config.out")
    same_file "$d/miowake.pc" "$DESTDIR$pkgconfigdir/miowake.pc" \
        "FindPkgConfig's miowake.pc" || return 1
    "$CMAKE" --build "$b" || return 1
    run_consumer "$b/consumer" || return 1
    note="PkgConfig::MIOWAKE"
}

way_meson() {
    have "$MESON" || { skip="$MESON not found"; return 0; }
    have "$NINJA" || { skip="$NINJA not found"; return 0; }
    have "$PKG_CONFIG" || { skip="no pkg-config (configure found none)"; return 0; }
    b=$work/meson
    [ "$linkage" = static ] && s=true || s=false
    CFLAGS=$MW_SANITIZE_FLAGS LDFLAGS=$MW_SANITIZE_FLAGS PKG_CONFIG=$PKG_CONFIG \
        "$MESON" setup "$b" "$consumer_srcdir" "-Dstatic=$s" \
        >"$work/meson.out" 2>&1
    rc=$?
    cat "$work/meson.out"
    [ "$rc" -eq 0 ] || return 1
    d=$(sed -n 's/^Message: consumer: pcfiledir=//p' "$work/meson.out")
    same_file "$d/miowake.pc" "$DESTDIR$pkgconfigdir/miowake.pc" \
        "Meson's miowake.pc" || return 1
    "$NINJA" -C "$b" || return 1
    run_consumer "$b/consumer" || return 1
    if [ "$s" = true ]; then
        note="dependency('miowake', static : true)"
    else
        note="dependency('miowake')"
    fi
}

way_cxx() {
    have "$CXX" || { skip="no C++ compiler (configure found none)"; return 0; }
    # The compiler's own flags, not pkg-config's: this way is about C++.
    libs="-L$inst_libdir -lmiowake"
    [ "$linkage" = static ] && libs="$libs $KQUEUE_LIBS $PTHREAD_LIBS"
    echo "$CXX $cxxflags -I$inst_includedir consumer.cpp $libs"
    # shellcheck disable=SC2086
    $CXX $cxxflags "-I$inst_includedir" "$consumer_srcdir/consumer.cpp" \
        -o "$work/cxx" $libs || return 1
    run_consumer "$work/cxx" || return 1
    note="$CXX -std=c++17"
}

# ---- run them -----------------------------------------------------------

echo "installcheck: libmiowake $PACKAGE_VERSION ($MW_BACKEND_NAME, $linkage)" \
     "installed in $DESTDIR$prefix"
ok=0 skipped=0 failed=0
for w in pkg-config:way_pkg_config \
         "cmake find_package:way_cmake_config" \
         "cmake pkg_check_modules:way_cmake_pkg_config" \
         "meson dependency:way_meson" \
         "c++17:way_cxx"; do
    name=${w%%:*} fn=${w#*:}
    log=$work/$(echo "$name" | tr ' +' '-p').log
    skip='' note=''
    $fn >"$log" 2>&1
    rc=$?
    label=$(printf '%-25s' "$name")
    if [ "$rc" -ne 0 ]; then
        echo "installcheck: $label FAILED (log: $log)"
        tail -n 25 "$log" | sed 's/^/    | /'
        failed=$((failed + 1))
    elif [ -n "$skip" ]; then
        echo "installcheck: $label skipped: $skip"
        skipped=$((skipped + 1))
    else
        echo "installcheck: $label ok${note:+ ($note)}"
        ok=$((ok + 1))
    fi
done
echo "installcheck: $ok ok, $skipped skipped, $failed failed"
if [ "$failed" -ne 0 ]; then
    echo "installcheck: the builds are kept in $work" >&2
    exit 1
fi
rm -rf "$work"
exit 0
