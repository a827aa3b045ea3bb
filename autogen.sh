#!/bin/sh
# Generate configure and the Makefile templates from a git checkout.
# Release tarballs ship them; they do not need this.
set -e
cd "$(dirname "$0")"
exec autoreconf -fi
