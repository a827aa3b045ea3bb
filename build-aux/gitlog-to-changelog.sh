#! /bin/sh
# SPDX-License-Identifier: MIT
# The release tarball's ChangeLog, generated from the commit messages
# (doc/RELEASING; the header of ChangeLog says why).
#
# Usage, from the top build directory, as Makefile.am's dist-hook calls it
# (before the times are clamped):
#   gitlog-to-changelog.sh TOP_SRCDIR DISTDIR
#
# In a git checkout (TOP_SRCDIR/.git exists and git runs), DISTDIR/ChangeLog
# becomes: the header of TOP_SRCDIR/ChangeLog (its lines before the first
# dated entry), then one entry per commit from the one that added this
# script on, newest first, then the file's hand-written entries, which
# recorded the history before it.
# Each entry is GNU style: "YYYY-MM-DD  Author  <email>", a blank line, the
# message indented by a tab, a blank line.  A merge is its subject line
# alone: its branch's commits have their own entries.  Outside git (make
# dist from a tarball, as distcheck does) DISTDIR/ChangeLog is left alone.
#
# The same commit gives the same bytes: only what the commits hold is
# written (the author's date in the author's own time zone), and the
# user's git configuration that could change log's output is overridden.

test $# -eq 2 || { echo "usage: $0 TOP_SRCDIR DISTDIR" >&2; exit 2; }
top=$1
out=$2/ChangeLog

test -e "$top/.git" && (git --version) >/dev/null 2>&1 || exit 0
test -f "$top/ChangeLog" || { echo "$0: no $top/ChangeLog" >&2; exit 1; }

# The generated entries start with the commit that added this script:
# the hand-written ones recorded history up to its parent.  Where that
# parent is not in the clone (a shallow clone), every commit is generated.
add=`cd "$top" && git log --diff-filter=A --format=%H \
       -- build-aux/gitlog-to-changelog.sh | tail -n 1` || exit 1
since=
if test -n "$add"; then
  since=`cd "$top" && git rev-parse -q --verify "$add^" 2>/dev/null` || since=
fi

# A line that no commit message holds starts each commit: \001.
soh=`printf '\001'`
tmp=$out.tmp
log=$out.log
rm -f "$tmp" "$log"
(cd "$top" && git -c log.showSignature=false \
   -c i18n.logOutputEncoding=UTF-8 \
   log --no-color --no-decorate --encoding=UTF-8 --date=short \
   --format="$soh%ad  %an  <%ae>%x09%P%n%B" \
   ${since:+"$since.."}HEAD) >"$log" \
  || { echo "$0: git log failed" >&2; rm -f "$log"; exit 1; }
{
  # The header: the lines before the first dated entry.
  awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] /{exit} {print}' \
    "$top/ChangeLog"

  awk -v soh="$soh" '
    # Flush the commit read so far: its message, trailing blank lines
    # dropped, each line indented by a tab (blank lines stay empty).
    function flush(  i) {
      if (head == "") return
      while (n > 0 && body[n] ~ /^[ \t]*$/) n--
      if (merge && n > 1) n = 1
      print head; print ""
      for (i = 1; i <= n; i++) {
        sub(/[ \t]+$/, "", body[i])
        print (body[i] == "" ? "" : "\t" body[i])
      }
      print ""
      n = 0
    }
    index($0, soh) == 1 {
      flush()
      line = substr($0, 2)
      tab = index(line, "\t")
      head = substr(line, 1, tab - 1)
      merge = split(substr(line, tab + 1), parents, " ") > 1
      next
    }
    { body[++n] = $0 }
    END { flush() }
  ' "$log" || exit 1

  # The hand-written entries, from the first dated line on.
  awk 'go || /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] /{go = 1; print}' \
    "$top/ChangeLog"
} >"$tmp" || { rm -f "$tmp" "$log"; exit 1; }
rm -f "$log"
mv -f "$tmp" "$out"
