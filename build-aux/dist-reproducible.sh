#! /bin/sh
# SPDX-License-Identifier: MIT
# The reproducible release tarball (Makefile.am, "the release tarball";
# doc/RELEASING): `make dist` gives the same bytes from the same tree,
# whenever it runs.  Names sorted, owner and group 0 without names, and
# every time clamped to SOURCE_DATE_EPOCH or, when that is unset, in a git
# checkout, to the date of the last commit.  With neither, times are left
# as they are.  (No time in the gzip header, and one xz format: GZIP_ENV
# and the dist-xz rule in Makefile.am.)
#
# Usage, from the top build directory, as Makefile.am calls it:
#   dist-reproducible.sh epoch TOP_SRCDIR          print that time, or nothing
#   dist-reproducible.sh clamp TOP_SRCDIR DISTDIR  (dist-hook) clamp the times
#                                                  of the copied tree
#   dist-reproducible.sh tar TOP_SRCDIR TARDIR     (am__tar) write the tar of
#                                                  TARDIR to standard output

# epoch TOP_SRCDIR: print the time in seconds, or nothing; fail if
# SOURCE_DATE_EPOCH is not a count of seconds.
epoch() {
  if test -n "${SOURCE_DATE_EPOCH-}"; then
    case $SOURCE_DATE_EPOCH in
      *[!0-9]*) echo "make dist: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" \
                  "is not a count of seconds" >&2; exit 1;;
    esac
    echo "$SOURCE_DATE_EPOCH"
  elif test -e "$1/.git" && (git --version) >/dev/null 2>&1; then
    (cd "$1" && git log -1 --format=%ct 2>/dev/null) || :
  fi
}

# clamp TOP_SRCDIR DISTDIR: the copied tree's directories were made just
# now, and some files were generated after the epoch: clamp their times
# with POSIX find and touch, so that any tar gets them (GNU tar clamps once
# more below).  GNU touch takes -d @SECONDS, the BSDs' date -r SECONDS.
clamp() {
  epoch=`epoch "$1"` || exit 1
  test -n "$epoch" || exit 0
  ref="$2.epoch"; rm -f "$ref"
  if touch -d "@$epoch" "$ref" 2>/dev/null; then :
  elif stamp=`TZ=UTC0 date -r "$epoch" +%Y%m%d%H%M.%S 2>/dev/null` \
       && TZ=UTC0 touch -t "$stamp" "$ref"; then :
  else
    echo "make dist: cannot set a time to @$epoch here;" \
         "the tarball's times are not clamped" >&2
    rm -f "$ref"; exit 0
  fi
  find "$2" -newer "$ref" -exec touch -r "$ref" {} +
  rm -f "$ref"
}

# tar TOP_SRCDIR TARDIR: automake's tar command, for every dist-* format.
# GNU tar (1.29 or later, which has --sort and --clamp-mtime) writes its
# own format, which has no limit on name length.  Any other tar gets
# automake's plain command (v7 format, names in directory order, this
# machine's owner): its tarball is not reproducible, though the times are
# clamped above.
tar_() {
  epoch=`epoch "$1"`
  mw_gnu="--sort=name --format=gnu --owner=0 --group=0 --numeric-owner"
  if ${TAR-tar} $mw_gnu --mtime=@0 --clamp-mtime -cf - -T /dev/null \
       >/dev/null 2>&1; then
    ${TAR-tar} $mw_gnu ${epoch:+--mtime=@$epoch --clamp-mtime} \
      -chf - "$2"
  else
    ${TAR-tar} chof - "$2"
  fi
}

case ${1-} in
  epoch) test $# -eq 2 || { echo "usage: $0 epoch TOP_SRCDIR" >&2; exit 2; }
         epoch "$2";;
  clamp) test $# -eq 3 || { echo "usage: $0 clamp TOP_SRCDIR DISTDIR" >&2; exit 2; }
         clamp "$2" "$3";;
  tar)   test $# -eq 3 || { echo "usage: $0 tar TOP_SRCDIR TARDIR" >&2; exit 2; }
         tar_ "$2" "$3";;
  *)     echo "usage: $0 epoch|clamp|tar TOP_SRCDIR [DIR]" >&2; exit 2;;
esac
