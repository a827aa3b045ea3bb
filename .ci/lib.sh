# shellcheck shell=bash
# .ci/lib.sh: what .ci/run and every step in .ci/steps/ share.  Sourced,
# never run: by .ci/run once, before its steps, or by a step run on its own
# (see .ci/run for how).  It sets `here` (the source tree, where it cds),
# `jobs`, `work` (the work directory: $work when given, kept after; else
# a new one, removed at exit), the functions section, apt_install, links,
# use_libkqueue_libdir and build, and the state build keeps: the TAP
# totals `pass` and `fail` and the result `table`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
jobs=$(nproc 2>/dev/null || echo 2)
# ci_driver: set by .ci/run; empty when a step runs on its own.
ci_driver=${ci_driver:-}
if [ -z "${work:-}" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/miowake-ci.XXXXXX")
    ci_keep_work=
else
    mkdir -p "$work"
    work=$(cd "$work" && pwd)
    ci_keep_work=1
fi
# binfmt_restore: a binfmt_misc entry disabled for a run through the test
# runner (steps/50-cross.sh), to enable again even if CI stops during
# that run.
binfmt_restore=
cleanup() {
    if [ -n "$binfmt_restore" ]; then
        update-binfmts --enable "$binfmt_restore" >/dev/null 2>&1 || true
    fi
    # A step run on its own shows the rows it added.
    if [ -z "$ci_driver" ] && [ -n "${table+set}" ]; then
        print_table
    fi
    if [ -z "$ci_keep_work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
start=$(date +%s)

section() { printf '\n==== %s (%ss) ====\n' "$*" "$(( $(date +%s) - start ))"; }

# ---- tools ----------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# apt_install PKG...: without recommends; the package lists are fetched
# only when the first attempt fails (a fresh machine has none).
apt_install() {
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || { $sudo apt-get update -qq \
             && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
# links CC [FLAGS...]: does this compiler link an empty C program?
links() {
    echo 'int main(void){return 0;}' | "$@" -x c - -o "$work/link-probe" \
        >/dev/null 2>&1
}

# use_libkqueue_libdir LIBDIR: pkg-config and the loader find the
# libkqueue installed there (steps/10-libkqueue.sh).
use_libkqueue_libdir() {
    export PKG_CONFIG_PATH="$1/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
# A step on its own finds the libkqueue that an earlier run of
# steps/10-libkqueue.sh installed, as under .ci/run.
if [ -z "$ci_driver" ]; then
    for d in /opt/libkqueue/lib /usr/local/lib; do
        if [ -f "$d/pkgconfig/libkqueue.pc" ]; then use_libkqueue_libdir "$d"; fi
    done
    if [ -d "$work/libkqueue" ]; then
        lkq_pc=$(find "$work/libkqueue" -name libkqueue.pc | head -n 1)
        if [ -n "$lkq_pc" ]; then
            use_libkqueue_libdir "$(dirname "$(dirname "$lkq_pc")")"
        fi
    fi
fi

# set_repro_epoch: sets repro_epoch, the time of a reproducible `make
# dist` and Debian package when SOURCE_DATE_EPOCH is not set: in a git
# checkout the last commit's.
# shellcheck disable=SC2034  # used by steps 81 and 82
set_repro_epoch() {
    if [ -e "$here/.git" ]; then
        repro_epoch=$(cd "$here" && git log -1 --format=%ct)
    else
        repro_epoch=1700000000
    fi
}

pass=0
fail=0
table=()
how=
# build NAME [configure args...]: configure out of tree, make, make check
# (or $target), and add the TAP totals to the run's; the table says $how
# it ran, when that is set.  $as, when set, is a command put in front of
# configure and each make (the build directory must then be its user's),
# and $src the source tree to configure (default: this one).
target=check
as=
src=$here
build() {
    local name=$1 dir="$work/$1" p f
    shift
    section "$name: ${as:+$as }configure $* && make $target"
    mkdir -p "$dir"
    if ! (cd "$dir" && $as "$src/configure" -q --enable-werror "$@" \
            && $as make -j"$jobs" >/dev/null \
            && $as make -j"$jobs" $target >/dev/null); then
        echo "---- $name failed; logs follow"
        tail -n 60 "$dir/config.log" 2>/dev/null | sed -n '/^## ---/q;p' || true
        for log in "$dir"/t/*.log; do
            [ -f "$log" ] || continue
            grep -qE '^(not ok|Bail out!)' "$log" && { echo "-- $log"; cat "$log"; }
        done
        [ -f "$dir/test-suite.log" ] && cat "$dir/test-suite.log"
        exit 1
    fi
    p=$(sed -n 's/^# PASS: *//p' "$dir/test-suite.log")
    f=$(sed -n 's/^# FAIL: *//p' "$dir/test-suite.log")
    table+=("$(printf '%-24s %6s %6s %6s  %s' "$name" "${p:-0}" "${f:-0}" \
               "$(sed -n 's/^# SKIP: *//p' "$dir/test-suite.log")" "$how")")
    echo "$name: $(grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$dir/test-suite.log" | tr '\n' ' ')"
    echo "$name: $(grep -m1 '^#define MW_BACKEND_NAME' "$dir/config.h")"
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0}))
}

# print_table: the result table, one row per build, and the totals.
print_table() {
    printf '%-24s %6s %6s %6s  %s\n' build pass fail skip how
    printf '%s\n' "${table[@]}"
    echo "$pass passed, $fail failed"
}
