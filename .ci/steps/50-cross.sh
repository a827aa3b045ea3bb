#!/usr/bin/env bash
# Step 50: eight more architectures, built with Debian's cross toolchains,
# their make check run natively (i386) or under qemu-user, then check-abi
# (each in $work/ARCH).  From amd64 only.
# On its own, as root (it installs packages and switches binfmt_misc
# entries), after steps 00 and 20:
#   work=/tmp/ci bash .ci/steps/50-cross.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
[ -n "${ci_driver:-}" ] || . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- other architectures, under qemu-user ------------------------------------
# Debian's cross toolchains build each.  Where binfmt_misc hands its
# programs to qemu-user, which finds the target's C library through
# QEMU_LD_PREFIX, make check runs as it would on the machine.  Where it
# cannot (binfmt_misc not mounted, or its entry not enabled, as in many
# containers), make check puts the test runner MW_TEST_RUNNER="qemu-ARCH
# -L /usr/TRIPLET" in front of each program instead (t/local.mk).  So
# that CI takes that way too, $runner_arch always does: its binfmt_misc
# entry is disabled for the run (a program built for it must then fail to
# run directly, which proves the runner ran the tests) and enabled again
# after.  Either way the build is a shared one (the runner goes behind
# libtool --mode=execute), and check-abi compares the library with that
# architecture's baseline in lib/abi/.
# i386 (where mw_token is 32 bits) runs natively, through libc6-i386's
# loader; Debian's gcc-multilib conflicts with every cross compiler, so
# it too is built with one.
cross_archs="i386:i686-linux-gnu:- arm64:aarch64-linux-gnu:aarch64
armel:arm-linux-gnueabi:arm
armhf:arm-linux-gnueabihf:arm mips64el:mips64el-linux-gnuabi64:mips64el
ppc64el:powerpc64le-linux-gnu:ppc64le riscv64:riscv64-linux-gnu:riscv64
s390x:s390x-linux-gnu:s390x"
runner_arch=riscv64
# runs_directly ARCH TRIPLET: does a program built for ARCH run when
# executed?  When it does not, $work/probe-ARCH.err says why.
runs_directly() {
    echo 'int main(void){return 0;}' \
        | "$2-gcc" -x c - -o "$work/probe-$1" >"$work/probe-$1.err" 2>&1 \
        && (QEMU_LD_PREFIX=/usr/$2 "$work/probe-$1") >"$work/probe-$1.err" 2>&1
}
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
    pkgs=()
    command -v qemu-aarch64 >/dev/null 2>&1 || pkgs+=(qemu-user)
    command -v update-binfmts >/dev/null 2>&1 || pkgs+=(binfmt-support)
    [ -e /usr/share/binfmts/qemu-aarch64 ] || pkgs+=(qemu-user-binfmt)
    [ -e /lib/ld-linux.so.2 ] || pkgs+=(libc6-i386)
    for entry in $cross_archs; do
        IFS=: read -r arch triplet qarch <<<"$entry"
        command -v "$triplet-g++" >/dev/null 2>&1 \
            || pkgs+=("gcc-$triplet" "g++-$triplet" "libc6-dev-$arch-cross")
    done
    if [ ${#pkgs[@]} -gt 0 ]; then
        section "installing cross toolchains and qemu-user"
        apt_install "${pkgs[@]}"
    fi
    [ -e /proc/sys/fs/binfmt_misc/status ] \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || true
    for entry in $cross_archs; do
        IFS=: read -r arch triplet qarch <<<"$entry"
        runner=
        if [ "$qarch" = - ]; then
            how="natively (i386 loader)"
        elif [ "$arch" = "$runner_arch" ]; then
            if [ "$(head -n 1 "/proc/sys/fs/binfmt_misc/qemu-$qarch" 2>/dev/null)" \
                    = enabled ]; then
                binfmt_restore=qemu-$qarch
                update-binfmts --disable "qemu-$qarch" >/dev/null 2>&1 || true
            fi
            runner="qemu-$qarch -L /usr/$triplet"
            if runs_directly "$arch" "$triplet"; then
                section "$arch: binfmt_misc could not be disabled; the runner is used all the same"
                how="qemu-user, MW_TEST_RUNNER (binfmt_misc on)"
            else
                section "$arch: binfmt_misc off, its programs do not run directly ($(tail -n 1 "$work/probe-$arch.err" | sed 's/.*: //')): make check through MW_TEST_RUNNER"
                how="qemu-user, MW_TEST_RUNNER (binfmt_misc off)"
            fi
        else
            update-binfmts --enable "qemu-$qarch" >/dev/null 2>&1 || true
            if runs_directly "$arch" "$triplet"; then
                how="qemu-user, binfmt_misc"
            else
                runner="qemu-$qarch -L /usr/$triplet"
                section "$arch: binfmt_misc cannot run its programs here: make check through MW_TEST_RUNNER"
                how="qemu-user, MW_TEST_RUNNER (no binfmt_misc)"
            fi
        fi
        if [ -n "$runner" ]; then
            build "$arch" --host="$triplet" "MW_TEST_RUNNER=$runner"
        else
            QEMU_LD_PREFIX=/usr/$triplet build "$arch" --host="$triplet"
        fi
        (cd "$work/$arch" && make check-abi)
        if [ -n "$binfmt_restore" ]; then
            update-binfmts --enable "$binfmt_restore" >/dev/null 2>&1 || true
            binfmt_restore=
        fi
    done
    how=
else
    section "other architectures: cross toolchains are run from amd64 only"
fi
