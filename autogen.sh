#!/bin/sh
# Generate configure and the Makefile templates from a git checkout.
# Release tarballs ship them; they do not need this.
set -e
cd "$(dirname "$0")"
# The kqueue-os simulation's programs: a fragment Makefile.am includes.
sh t/kqueue-os/gen-mk.sh .
exec autoreconf -fi
