#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise: every man page renders without a
# warning.  Each page is linted from a man3/ copy, laid out as installed,
# so that the ".so man3/..." stubs resolve: groff -ww -man -z must be
# silent on every page, and mandoc -T lint on every full page; a stub must
# be exactly one .so line naming a page that exists.  mandoc calls any .so
# "fragile" (a style opinion, not a rendering problem), so stubs are
# checked by hand rather than by mandoc.

: "${top_srcdir:=.}"
doc="$top_srcdir/doc"
pages=$(cd "$doc" && ls ./*.3 | sed 's|^\./||')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mw-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/man3"
for p in $pages; do cp "$doc/$p" "$tmp/man3/"; done

have_groff=no; command -v groff >/dev/null 2>&1 && have_groff=yes
have_mandoc=no; command -v mandoc >/dev/null 2>&1 && have_mandoc=yes
if [ $have_groff = no ] && [ $have_mandoc = no ]; then
    echo "1..0 # SKIP neither groff nor mandoc is installed"
    exit 0
fi

n=0
for p in $pages; do n=$((n + 2)); done
echo "1..$n"
i=0
for p in $pages; do
    i=$((i + 1))
    if [ $have_groff = yes ]; then
        out=$(cd "$tmp" && groff -ww -man -z "man3/$p" 2>&1)
        if [ -z "$out" ]; then
            echo "ok $i - groff -ww renders $p without a warning"
        else
            echo "not ok $i - groff -ww renders $p without a warning"
            printf '%s\n' "$out" | sed 's/^/# /'
        fi
    else
        echo "ok $i # SKIP groff is not installed"
    fi
    i=$((i + 1))
    if head -n 1 "$doc/$p" | grep -q '^\.so '; then
        target=$(sed -n '1s/^\.so //p' "$doc/$p")
        lines=$(wc -l < "$doc/$p")
        if [ "$lines" -eq 1 ] && [ -f "$tmp/$target" ] \
                && ! head -n 1 "$tmp/$target" | grep -q '^\.so '; then
            echo "ok $i - $p is a one-line .so to a full page ($target)"
        else
            echo "not ok $i - $p is a one-line .so to a full page ($target)"
        fi
    elif [ $have_mandoc = yes ]; then
        out=$(cd "$tmp" && mandoc -T lint -W style "man3/$p" 2>&1)
        if [ -z "$out" ]; then
            echo "ok $i - mandoc -T lint finds nothing in $p"
        else
            echo "not ok $i - mandoc -T lint finds nothing in $p"
            printf '%s\n' "$out" | sed 's/^/# /'
        fi
    else
        echo "ok $i # SKIP mandoc is not installed"
    fi
done
