#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise (miowake(3), packaging): the shared library exports exactly the
# `global:` names of lib/libmiowake.map, and, when the version script was
# used, each as the default version of a MIOWAKE_ node (name@@MIOWAKE_x).

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
: "${NM:=nm}"
# NM from configure may carry options ("nm -B"); only its first word counts
# for the "is it there" test.
nm_cmd=${NM%% *}

map="$top_srcdir/lib/libmiowake.map"
so=
for f in "$top_builddir"/lib/.libs/libmiowake.so.*; do
    if [ -f "$f" ] && [ ! -h "$f" ]; then
        so=$f
        break
    fi
done
if [ -z "$so" ] && [ -f "$top_builddir/lib/.libs/libmiowake.so" ]; then
    so="$top_builddir/lib/.libs/libmiowake.so"
fi

if ! command -v "$nm_cmd" > /dev/null 2>&1; then
    echo "1..0 # SKIP no nm ($NM)"
    exit 0
fi
if [ -z "$so" ]; then
    echo "1..0 # SKIP no shared library (lib/.libs/libmiowake.so*) built"
    exit 0
fi
if [ ! -f "$map" ]; then
    echo "Bail out! $map not found"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mw-exports.XXXXXX") || {
    echo "Bail out! cannot make a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT INT TERM

# Newer nm prints versions with -D; older ones need --with-symbol-versions.
if ! $NM -D --defined-only --with-symbol-versions "$so" > "$tmp/nm" 2>/dev/null
then
    if ! $NM -D --defined-only "$so" > "$tmp/nm" 2> "$tmp/err"; then
        echo "1..0 # SKIP $NM -D does not work here: $(head -1 "$tmp/err")"
        exit 0
    fi
fi

# "ADDR TYPE NAME[@[@]VERSION]"; type A entries are the version nodes.
awk 'NF >= 3 && $2 != "A" { print $3 }' "$tmp/nm" | sort -u > "$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort -u > "$tmp/exported"

# The global: names of every node (comments stripped).
sed -e 's,/\*.*\*/,,g' -e 's,#.*,,' "$map" | awk '
    /\/\*/ { incomment = 1 }
    incomment { if (/\*\//) incomment = 0; next }
    /global:/ { inglobal = 1; sub(/.*global:/, "") }
    /local:/ { inglobal = 0 }
    /}/ { inglobal = 0 }
    inglobal {
        gsub(/[;{}]/, " ")
        for (i = 1; i <= NF; i++) print $i
    }' | sort -u > "$tmp/wanted"

echo "1..4"
failed=0
sed 's/^/# exported: /' "$tmp/versioned"

if [ -s "$tmp/wanted" ]; then
    echo "ok 1 - the map lists $(wc -l < "$tmp/wanted" | tr -d ' ') global names"
else
    echo "not ok 1 - the map lists global names"
    failed=1
fi

missing=$(comm -23 "$tmp/wanted" "$tmp/exported")
if [ -z "$missing" ]; then
    echo "ok 2 - every name in the map's global: list is exported"
else
    echo "not ok 2 - every name in the map's global: list is exported"
    echo "$missing" | sed 's/^/# missing: /'
    failed=1
fi

extra=$(comm -13 "$tmp/wanted" "$tmp/exported")
if [ -z "$extra" ]; then
    echo "ok 3 - nothing else is exported (no mw__ internals, no helpers)"
else
    echo "not ok 3 - nothing else is exported (no mw__ internals, no helpers)"
    echo "$extra" | sed 's/^/# not in the map: /'
    failed=1
fi

# Was the version script used?  configure's decision, if make check passed
# it on; otherwise whatever the library shows.
use_vs=${MW_TEST_VERSION_SCRIPT:-}
if [ -z "$use_vs" ]; then
    if grep -q '@@' "$tmp/nm" || awk '$2 == "A"' "$tmp/nm" | grep -q .; then
        use_vs=yes
    else
        use_vs=no
    fi
fi
if [ "$use_vs" = yes ]; then
    unversioned=$(grep -v '@@MIOWAKE_[0-9]' "$tmp/versioned")
    if [ -z "$unversioned" ]; then
        echo "ok 4 - every export carries a default MIOWAKE_ version (@@MIOWAKE_)"
    else
        echo "not ok 4 - every export carries a default MIOWAKE_ version (@@MIOWAKE_)"
        echo "$unversioned" | sed 's/^/# unversioned: /'
        failed=1
    fi
else
    echo "ok 4 # SKIP the library was linked without the version script"
fi

exit $failed
