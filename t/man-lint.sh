#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise: every man page renders without a warning, from the source tree
# as well as installed.  The pages live in doc/man3/, laid out as they are
# installed, so that the ".so man3/..." stubs resolve against doc/ just as
# they do against an installed man directory: groff -ww -man -z must be
# silent on every page, mandoc -T lint on every full page, and man -l
# (run from doc/, or as `man -M doc PAGE` from the top) must render every
# page, stubs included.  A stub must be exactly one .so line naming a page
# that exists.  mandoc calls any .so "fragile" (a style opinion, not a
# rendering problem), so stubs are checked by hand rather than by mandoc.

: "${top_srcdir:=.}"
doc="$top_srcdir/doc"
pages=$(cd "$doc/man3" && ls ./*.3 | sed 's|^\./||')

have() { command -v "$1" >/dev/null 2>&1; }
if ! have groff && ! have mandoc; then
    echo "1..0 # SKIP neither groff nor mandoc is installed"
    exit 0
fi

n=0
for p in $pages; do n=$((n + 3)); done
echo "1..$n"
i=0
# report TEST-NAME OUTPUT: ok when OUTPUT is empty, else not ok with it.
report() {
    i=$((i + 1))
    if [ -z "$2" ]; then
        echo "ok $i - $1"
    else
        echo "not ok $i - $1"
        printf '%s\n' "$2" | sed 's/^/# /'
    fi
}
for p in $pages; do
    if have groff; then
        report "groff -ww renders $p without a warning" \
            "$(cd "$doc" && groff -ww -man -z "man3/$p" 2>&1)"
    else
        i=$((i + 1)); echo "ok $i # SKIP groff is not installed"
    fi

    if head -n 1 "$doc/man3/$p" | grep -q '^\.so '; then
        target=$(sed -n '1s/^\.so //p' "$doc/man3/$p")
        lines=$(wc -l < "$doc/man3/$p")
        if [ "$lines" -eq 1 ] && [ -f "$doc/$target" ] \
                && ! head -n 1 "$doc/$target" | grep -q '^\.so '; then
            report "$p is a one-line .so to a full page ($target)" ""
        else
            report "$p is a one-line .so to a full page ($target)" \
                "not one line, or $target is missing or a stub itself"
        fi
    elif have mandoc; then
        report "mandoc -T lint finds nothing in $p" \
            "$(cd "$doc" && mandoc -T lint -W style "man3/$p" 2>&1)"
    else
        i=$((i + 1)); echo "ok $i # SKIP mandoc is not installed"
    fi

    if have man; then
        out=$(cd "$doc" && MANWIDTH=80 man -l "man3/$p" 2>&1 >/dev/null)
        shown=$(cd "$doc" && MANWIDTH=80 man -l "man3/$p" 2>/dev/null \
                | grep -c .)
        [ "$shown" -gt 3 ] || out="${out:-it rendered $shown lines}"
        report "man -l man3/$p renders from doc/" "$out"
    else
        i=$((i + 1)); echo "ok $i # SKIP man is not installed"
    fi
done
