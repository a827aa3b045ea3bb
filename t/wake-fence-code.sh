#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise (mw_waker_wake(3)): a wake that returns 0 is delivered by the
# current or the next wait.  A wake that finds its event pending makes no
# system call, so on a machine that reorders a store with a later load
# (x86-64's store buffer, any arm64) that promise holds only if the
# library's compiled code carries the full barrier of the pending-flag
# protocol (lib/waker.c) at both ends: in mw_waker_wake() before it reads
# the flag, and on the wait's collect path (mw__hub_deliver() in
# lib/waker.c, reached from mw_poll_wait()) after it clears the flag.
# t/wake-fence-litmus runs the same primitives on this machine; this
# test reads the built library, so that a barrier the compiler or an edit
# dropped is seen on every build, also one whose tests run elsewhere.
#
# It also checks that mw_waker_wake starts a 64-byte line, which
# lib/waker.c asks for because its pending path straddling two was
# measured slower.
#
# x86-64: a lock-prefixed instruction or mfence; arm64: dmb ish.  Other
# architectures, a build without objdump, a ThreadSanitizer build
# (whose primitives are read-modify-writes through the runtime) and a
# coverage build (-O0) skip.

: "${top_builddir:=.}"
: "${OBJDUMP:=objdump}"

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

command -v "$OBJDUMP" >/dev/null 2>&1 || skip_all "no $OBJDUMP here"

lib=
for f in "$top_builddir/lib/.libs/libmiowake.so" \
         "$top_builddir/lib/.libs/libmiowake.a"; do
    if [ -f "$f" ]; then
        lib=$f
        break
    fi
done
[ -n "$lib" ] || skip_all "no built library under $top_builddir/lib/.libs"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mw-fence.XXXXXX") || {
    echo "Bail out! cannot make a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT INT TERM

"$OBJDUMP" -dr "$lib" >"$tmp/dis" 2>"$tmp/err" ||
    skip_all "$OBJDUMP cannot read $lib: $(head -n 1 "$tmp/err")"
format=$("$OBJDUMP" -f "$lib" 2>/dev/null | sed -n 's/.*file format //p' |
         head -n 1)
case $format in
*x86-64*)
    barrier='[[:space:]](lock[[:space:]]|mfence)' ;;
*aarch64*)
    barrier='[[:space:]]dmb[[:space:]]+ish([[:space:]]|$)' ;;
*)
    skip_all "no barrier to look for in a $format library" ;;
esac

# body NAME: the disassembly of the function NAME.
body() {
    awk -v name="$1" '
        /^[0-9a-f]+ <.*>:$/ { on = ($2 == "<" name ">:"); next }
        on' "$tmp/dis"
}

# callees: the functions that the disassembly on stdin calls or jumps
# to: named in the instruction (in a shared library; the PLT's, which
# leave it, excluded), or by a call's relocation (in a static one, whose
# members' calls to each other are not resolved yet).  Names with no
# body in the library find nothing below.
callees() {
    sed -n -E \
        -e 's/.*[[:space:]](call[a-z]*|jmp[a-z]*|j[a-z]+|bl|b|b\.[a-z]+)[[:space:]]+[0-9a-f]+ <([^+@>]+)>.*/\2/p' \
        -e 's/.*[[:space:]]R_[A-Z0-9_]*(PLT32|CALL26|JUMP26)[[:space:]]+([A-Za-z_][A-Za-z0-9_.]*).*/\2/p' |
        sort -u
}

# The wait's collect path is whatever mw_poll_wait runs: its own body and
# the library's functions it reaches, to a few calls deep, whatever the
# compiler inlined and whatever the source names them.
body mw_waker_wake >"$tmp/wake"
body mw_poll_wait >"$tmp/wait"
seen=" mw_poll_wait "
looked=" mw_poll_wait"
next=mw_poll_wait
for _ in 1 2 3; do
    found=$(for f in $next; do body "$f"; done | callees)
    next=
    for f in $found; do
        case $seen in
        *" $f "*) continue ;;
        esac
        seen="$seen$f "
        body "$f" >"$tmp/one"
        if [ -s "$tmp/one" ]; then
            cat "$tmp/one" >>"$tmp/wait"
            looked="$looked $f"
            next="$next $f"
        fi
    done
done
[ -s "$tmp/wake" ] && [ -s "$tmp/wait" ] ||
    skip_all "mw_waker_wake or mw_poll_wait not found in $lib"
if grep -q '__tsan' "$tmp/wake" "$tmp/wait"; then
    skip_all "ThreadSanitizer build: the protocol runs through its runtime"
fi
# configure --enable-coverage builds at -O0, which keeps the flag's
# helpers out of line: the wake's barrier is then in a function of its
# own, and that code says nothing of an optimised build's.
if grep -q '__gcov' "$tmp/wake"; then
    skip_all "--coverage -O0 build: the barrier's helper is not inlined"
fi

echo "1..3"
n=0
failed=0
check() { # check FILE DESCRIPTION
    n=$((n + 1))
    if grep -Eq "$barrier" "$1"; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        echo "# no instruction matching '$barrier' in:"
        sed 's/^/#   /' "$1"
        failed=$((failed + 1))
    fi
}
check "$tmp/wake" "mw_waker_wake carries a full barrier before it reads \
the pending flag ($format)"
check "$tmp/wait" "mw_poll_wait's collect path (deliver) carries a full \
barrier after it clears the pending flag ($format; looked in:$looked)"

# The pending path must not straddle two 64-byte lines (lib/waker.c says
# what that cost): the function starts one.
n=$((n + 1))
addr=$(sed -n 's/^\([0-9a-f][0-9a-f]*\) <mw_waker_wake>:$/\1/p' "$tmp/dis" |
       head -n 1)
if [ -n "$addr" ] && [ $((0x$addr % 64)) -eq 0 ]; then
    echo "ok $n - mw_waker_wake starts a 64-byte line (at 0x$addr)"
else
    echo "not ok $n - mw_waker_wake starts a 64-byte line (at 0x$addr)"
    failed=$((failed + 1))
fi
[ "$failed" -eq 0 ]
