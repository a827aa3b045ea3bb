#!/bin/sh
# SPDX-License-Identifier: MIT
# Promise: <miowake.h> is self-contained and clean C99, C11 and C++:
# a program using every name it declares compiles with -Werror.  With a
# compiler that has the noplt attribute, calls to mw_waker_wake go through
# the GOT, not the PLT, unless MW_NO_NOPLT is defined (checked on x86-64,
# where the assembly says which).
# Uses the CC and CXX configure found (make check exports them).

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
: "${CC:=cc}"
: "${CXX:=none}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mw-header.XXXXXX") || {
    echo "Bail out! cannot make a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT INT TERM

inc="-I$top_builddir/include -I$top_srcdir/include"
n=0
failed=0

echo "1..7"

result() { # result STATUS DESCRIPTION [LOGFILE]
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        if [ -n "$3" ] && [ -s "$3" ]; then
            sed 's/^/# /' "$3"
        fi
    fi
}

if [ ! -f "$top_builddir/include/miowake.h" ]; then
    echo "Bail out! $top_builddir/include/miowake.h not generated"
    exit 1
fi

# Every public name, so that a missing or misspelt declaration fails, and
# the values of the macros and types the contract fixes.
cat > "$tmp/use.c" <<'EOT'
#include <miowake.h>
#include <miowake.h>    /* the include guard works */
#include <stddef.h>     /* offsetof */

int use_everything(void);

/* The values 0.1.0 froze: part of the ABI.  A false condition makes a
 * negative array size, an error in C99, C11 and C++ alike. */
#define MW_CHECK(name, cond) typedef char name[(cond) ? 1 : -1]
MW_CHECK(readable_is_bit_16, MW_READABLE == 0x00010000u);
MW_CHECK(writable_is_bit_17, MW_WRITABLE == 0x00020000u);
MW_CHECK(priority_is_bit_18, MW_PRIORITY == 0x00040000u);
MW_CHECK(ev_readable_is_bit_16, MW_EV_READABLE == 0x00010000u);
MW_CHECK(ev_writable_is_bit_17, MW_EV_WRITABLE == 0x00020000u);
MW_CHECK(ev_priority_is_bit_18, MW_EV_PRIORITY == 0x00040000u);
MW_CHECK(ev_error_is_bit_19, MW_EV_ERROR == 0x00080000u);
MW_CHECK(ev_read_closed_is_bit_20, MW_EV_READ_CLOSED == 0x00100000u);
MW_CHECK(ev_write_closed_is_bit_21, MW_EV_WRITE_CLOSED == 0x00200000u);
MW_CHECK(token_is_uintptr, sizeof(mw_token) == sizeof(uintptr_t)
                           && (mw_token)-1 > 0);
MW_CHECK(flags_are_32_bits, sizeof(((struct mw_event *)0)->flags) == 4);
MW_CHECK(token_comes_first, offsetof(struct mw_event, token) == 0);

int
use_everything(void)
{
    mw_poll *p = NULL;
    mw_waker *w = NULL;
    struct mw_event ev[2];
    mw_token tok = (mw_token)&ev[0];
    unsigned interest = MW_READABLE | MW_WRITABLE | MW_PRIORITY;
    unsigned flags = MW_EV_READABLE | MW_EV_WRITABLE | MW_EV_PRIORITY
                     | MW_EV_ERROR | MW_EV_READ_CLOSED | MW_EV_WRITE_CLOSED;
    int (*reg)(mw_poll *, int, mw_token, unsigned) = mw_poll_register;
    int (*rereg)(mw_poll *, int, mw_token, unsigned) = mw_poll_reregister;
    int (*dereg)(mw_poll *, int) = mw_poll_deregister;
    int (*wait)(mw_poll *, struct mw_event *, size_t, int) = mw_poll_wait;
    int (*pfd)(const mw_poll *) = mw_poll_fd;
    int (*pnew)(mw_poll **) = mw_poll_new;
    void (*pfree)(mw_poll *) = mw_poll_free;
    int (*wnew)(mw_waker **, mw_poll *, mw_token) = mw_waker_new;
    int (*wwake)(mw_waker *) = mw_waker_wake;
    void (*wfree)(mw_waker *) = mw_waker_free;
    const char *(*be)(void) = mw_backend;
    const char *(*ver)(void) = mw_version;
    int version = MW_VERSION_MAJOR * 10000 + MW_VERSION_MINOR * 100
                  + MW_VERSION_PATCH;
    uint32_t f = 0;
    size_t s = sizeof(struct mw_event);

    ev[0].token = tok;
    ev[0].flags = f;
    return (reg != 0) + (rereg != 0) + (dereg != 0) + (wait != 0)
           + (pfd != 0) + (pnew != 0) + (pfree != 0) + (wnew != 0)
           + (wwake != 0) + (wfree != 0) + (be != 0) + (ver != 0)
           + (p == NULL) + (w == NULL) + (int)interest + (int)flags
           + version + (int)s + (int)ev[0].flags;
}
EOT
cp "$tmp/use.c" "$tmp/use.cc"

# shellcheck disable=SC2086
$CC -std=c99 -pedantic -Wall -Wextra -Werror $inc -c "$tmp/use.c" \
    -o "$tmp/c99.o" > "$tmp/log" 2>&1
result $? "<miowake.h> compiles as C99 with -pedantic -Wall -Wextra -Werror, with the contract's values" "$tmp/log"

# shellcheck disable=SC2086
$CC -std=c11 -pedantic -Wall -Wextra -Werror $inc -c "$tmp/use.c" \
    -o "$tmp/c11.o" > "$tmp/log" 2>&1
result $? "<miowake.h> compiles as C11 with -pedantic -Wall -Wextra -Werror" "$tmp/log"

# Self-contained: nothing before it, and -Wundef for the macros it tests.
printf '#include <miowake.h>\nint x_(void);\nint x_(void) { return MW_VERSION_MAJOR; }\n' \
    > "$tmp/alone.c"
# shellcheck disable=SC2086
$CC -std=c99 -pedantic -Wall -Wextra -Wundef -Werror $inc -c \
    "$tmp/alone.c" -o "$tmp/alone.o" > "$tmp/log" 2>&1
result $? "<miowake.h> is self-contained (first and only include)" "$tmp/log"

# C++: only if the compiler configure found actually works.
printf 'int main() { return 0; }\n' > "$tmp/probe.cc"
if $CXX -c "$tmp/probe.cc" -o "$tmp/probe.o" > /dev/null 2>&1; then
    # shellcheck disable=SC2086
    $CXX -Wall -Wextra -Werror $inc -c "$tmp/use.cc" -o "$tmp/cxx.o" \
        > "$tmp/log" 2>&1
    result $? "<miowake.h> compiles as C++ with -Wall -Wextra -Werror" "$tmp/log"
    # The functions have C linkage: the undefined references in the
    # object are the plain C names, not mangled ones.
    nm_cmd=${NM:-nm}
    if command -v "${nm_cmd%% *}" > /dev/null 2>&1 && [ -f "$tmp/cxx.o" ]; then
        $nm_cmd "$tmp/cxx.o" | grep ' U ' > "$tmp/syms" 2>&1
        grep -q ' U _*mw_poll_wait$' "$tmp/syms"
        result $? "C++ code refers to the C names (extern \"C\")" "$tmp/syms"
    else
        n=$((n + 1))
        echo "ok $n # SKIP no nm to inspect the C++ object"
    fi
else
    n=$((n + 1))
    echo "ok $n # SKIP no working C++ compiler ($CXX)"
    n=$((n + 1))
    echo "ok $n # SKIP no working C++ compiler ($CXX)"
fi

# How a position-independent caller calls mw_waker_wake.  The pending
# wake is a fence and a load; the PLT's extra jump costs a fifth of it
# (doc/PERFORMANCE.md), so a compiler that can skip it must.
cat > "$tmp/call.c" <<'EOT'
#include <miowake.h>
int call_wake(mw_waker *w);
int call_wake(mw_waker *w) { return mw_waker_wake(w); }
EOT
cat > "$tmp/probe.c" <<'EOT'
#if !defined(__x86_64__) || !defined(__has_attribute)
# error "not x86-64, or no __has_attribute"
#elif !__has_attribute(noplt)
# error "no noplt attribute"
#endif
EOT
# shellcheck disable=SC2086
if ! $CC -c "$tmp/probe.c" -o "$tmp/probe.o" > "$tmp/why" 2>&1; then
    why=$(grep -o -E 'not x86-64[^"]*|no noplt attribute' "$tmp/why" |
          head -n 1)
    n=$((n + 1))
    echo "ok $n # SKIP $CC: ${why:-cannot tell}"
    n=$((n + 1))
    echo "ok $n # SKIP $CC: ${why:-cannot tell}"
else
    # shellcheck disable=SC2086
    $CC -O2 -fPIC $inc -S "$tmp/call.c" -o "$tmp/call.s" > "$tmp/log" 2>&1 &&
        grep -q 'mw_waker_wake@GOTPCREL' "$tmp/call.s" &&
        ! grep -q 'mw_waker_wake@PLT' "$tmp/call.s"
    result $? "a PIC caller calls mw_waker_wake through the GOT, not the PLT" "$tmp/call.s"
    # shellcheck disable=SC2086
    $CC -O2 -fPIC -DMW_NO_NOPLT $inc -S "$tmp/call.c" -o "$tmp/call.s" \
        > "$tmp/log" 2>&1 &&
        grep -q 'mw_waker_wake@PLT' "$tmp/call.s"
    result $? "MW_NO_NOPLT keeps the plain PLT call" "$tmp/call.s"
fi

[ "$failed" -eq 0 ]
