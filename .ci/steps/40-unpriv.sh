#!/usr/bin/env bash
# Step 40: make check as a user without root, in a network namespace with
# no interface up, as a package builder runs it (in $work/unpriv).
# On its own, as root (or with sudo), after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/40-unpriv.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- as a user, with no network: how a package builder runs make check -------
# pbuilder and sbuild build as a user without root in a network namespace
# where no interface is up, not even loopback.  So does this run: a user
# of its own (made here if missing), a copy of the source tree it owns
# (CI's clone may sit where that user cannot read, as under /root), and
# configure, make and make check under `unshare -n` and setpriv.  A test
# that assumes root or loopback fails here: each must skip what it
# cannot do, with the reason.
ci_user=miowake-ci
if ! id "$ci_user" >/dev/null 2>&1; then
    $sudo useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$ci_user"
fi
section "unprivileged, no network: copying the source tree for $ci_user"
# The user must get through $work (mktemp made it 0700) to its own two.
chmod 711 "$work"
mkdir -p "$work/unpriv-src" "$work/unpriv"
(cd "$here" && tar --exclude=./.git -cf - .) | tar -xpf - -C "$work/unpriv-src"
$sudo chown -R "$ci_user:" "$work/unpriv-src" "$work/unpriv"
as="${sudo:+$sudo }unshare -n setpriv --reuid=$ci_user --regid=$(id -g "$ci_user") --init-groups -- env HOME=/nonexistent"
src=$work/unpriv-src
how="user $ci_user, unshare -n (no network)"
build unpriv
as=
src=$here
how=
# The namespace really had no loopback, and the tests really ran as the
# user: otherwise this row proves nothing.
if ! grep -q '^ok .* # SKIP no loopback' "$work/unpriv/t/register-socket-error.log"; then
    echo "unpriv: t/register-socket-error connected over loopback" >&2
    exit 1
fi
if [ "$(stat -c %U "$work/unpriv/test-suite.log")" != "$ci_user" ]; then
    echo "unpriv: make check did not run as $ci_user" >&2
    exit 1
fi
