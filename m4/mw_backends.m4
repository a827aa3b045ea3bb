dnl SPDX-License-Identifier: MIT
dnl The one table of libmiowake's mechanisms, and what configure makes of
dnl it: the --with-poller and --with-waker options (their help text and
dnl their values), a forced waker's poller, the auto choice, the errors
dnl of a mechanism that is missing or of a pair that cannot work, the
dnl sources and objects the library is built from, and MW_BACKEND_NAME
dnl (mw_backend(), the summary, miowake.pc).
dnl
dnl A row: [[NAME], [KIND], [HAVE], [POLLERS], [MISSING], [WHY]]
dnl   NAME     the value of --with-KIND=, and the name in mw_backend():
dnl            a lowercase word, as it also names a shell case pattern
dnl            and a file.
dnl            Its source is lib/KIND-NAME.c, which Makefile.am lists
dnl            in EXTRA_lib_libmiowake_la_SOURCES.
dnl   KIND     poller or waker.
dnl   HAVE     the shell variable a probe sets to yes when the system has
dnl            the mechanism; empty: every system has it.
dnl   POLLERS  a waker's pollers, space-separated; empty: any poller.  A
dnl            forced waker implies the first of them when the poller is
dnl            auto.
dnl   MISSING  why it cannot be had, after "--with-KIND=NAME: ".
dnl   WHY      why a waker needs its pollers, after
dnl            "--with-waker=NAME needs --with-poller=POLLER:".
dnl Rows of a kind are in the order auto prefers them: the poller is the
dnl first one the system has, the waker the first one the system has
dnl that works with that poller.  Messages may hold newlines; continued
dnl lines are indented by two spaces.
dnl
dnl Pollers: epoll (Linux), kqueue (BSDs, macOS; libkqueue elsewhere when
dnl forced: configure.ac probes it only then), poll (any POSIX system).
dnl Wakers: eventfd (epoll only), user (an EVFILT_USER knote, kqueue
dnl only), pipe (any poller).
m4_define([MW_BACKENDS],
[[[epoll],   [poller], [mw_have_epoll],   [],
    [<sys/epoll.h> or epoll_create1()
  not found]],
 [[kqueue],  [poller], [mw_have_kqueue],  [],
    [no kqueue() with <sys/event.h>
  and EV_CLEAR on this system, and pkg-config found no usable libkqueue]],
 [[poll],    [poller], [],                [], []],
 [[eventfd], [waker],  [mw_have_eventfd], [epoll],
    [<sys/eventfd.h> or eventfd()
  not found],
    [the eventfd waker relies on epoll's edge triggering]],
 [[user],    [waker],  [mw_have_user],    [kqueue],
    [<sys/event.h> does not declare
  EVFILT_USER and NOTE_TRIGGER],
    [an EVFILT_USER knote lives in a kqueue]],
 [[pipe],    [waker],  [],                [], []]])

dnl ---- lists drawn from the table, when autoconf runs -------------------

dnl _MW_BK_NAMES(KIND, SEPARATOR): the names of KIND's rows, in order,
dnl quoted.
m4_define([_MW_BK_NAMES],
[m4_ifdef([_mw_bk_list], [m4_undefine([_mw_bk_list])])]dnl
[m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_NAMES_ROW([$1], [$2], _mw_row)])]dnl
[m4_ifdef([_mw_bk_list], [m4_defn([_mw_bk_list])])])
m4_define([_MW_BK_NAMES_ROW],
[m4_if([$4], [$1], [m4_append([_mw_bk_list], [$3], [$2])])])

dnl _MW_BK_AUTO_WAKERS: "eventfd with epoll, user with kqueue, else pipe",
dnl for the help text.
m4_define([_MW_BK_AUTO_WAKERS],
[m4_ifdef([_mw_bk_list], [m4_undefine([_mw_bk_list])])]dnl
[m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_AUTO_WAKERS_ROW(_mw_row)])]dnl
[m4_ifdef([_mw_bk_list], [m4_defn([_mw_bk_list])])])
m4_define([_MW_BK_AUTO_WAKERS_ROW],
[m4_if([$2], [waker], [m4_append([_mw_bk_list],
  m4_if([$4], [], [[else $1]],
        [[$1 with ]m4_map_args_w([$4], [], [], [ or ])]), [, ])])])

dnl _MW_BK_FITS(POLLERS): a shell test that $mw_poller is one of POLLERS.
m4_define([_MW_BK_FITS],
[{ m4_map_args_w([$1], [test "x$mw_poller" = x], [], [ || ]); }])

dnl ---- the configure code ---------------------------------------------

dnl MW_BACKEND_ARGS: --with-poller and --with-waker, their values checked;
dnl sets with_poller, with_waker and mw_want_poller (the poller asked for,
dnl or implied by a forced waker: the first of its POLLERS).
AC_DEFUN([MW_BACKEND_ARGS], [
AC_ARG_WITH([poller],
  [AS_HELP_STRING([--with-poller=auto|]_MW_BK_NAMES([poller], [|]),
                  [the readiness mechanism (default: auto, the first of
                   ]_MW_BK_NAMES([poller], [, ])[ that the system has)])],
  [], [with_poller=auto])
AC_ARG_WITH([waker],
  [AS_HELP_STRING([--with-waker=auto|]_MW_BK_NAMES([waker], [|]),
                  [the wake-up mechanism (default: auto, the best one
                   the poller can use: ]_MW_BK_AUTO_WAKERS[)])],
  [], [with_waker=auto])

AS_CASE([$with_poller], [auto|]_MW_BK_NAMES([poller], [|]), [],
  [AC_MSG_ERROR([--with-poller=$with_poller: unknown poller
  (auto, ]_MW_BK_NAMES([poller], [, ])[)])])
AS_CASE([$with_waker], [auto|]_MW_BK_NAMES([waker], [|]), [],
  [AC_MSG_ERROR([--with-waker=$with_waker: unknown waker
  (auto, ]_MW_BK_NAMES([waker], [, ])[)])])

dnl A forced waker implies its poller.
mw_want_poller=$with_poller
if test "x$mw_want_poller" = xauto; then
  case $with_waker in
m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_IMPLY(_mw_row)])dnl
  esac
fi
])
m4_define([_MW_BK_IMPLY],
[m4_if([$2], [waker], [m4_if([$4], [], [],
[[  $1) mw_want_poller=]m4_bpatsubst([$4], [ .*])[ ;;
]])])])

dnl MW_BACKEND_POLLER: sets mw_poller and mw_poller_why from
dnl mw_want_poller and the probes' HAVE variables, or stops with MISSING.
AC_DEFUN([MW_BACKEND_POLLER], [
mw_poller=
case $mw_want_poller in
  auto)
m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_POLLER_AUTO(_mw_row)])dnl
    mw_poller_why="auto" ;;
m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_POLLER_FORCED(_mw_row)])dnl
esac
AS_IF([test -z "$mw_poller"], [AC_MSG_ERROR([no poller for this system])])
AS_IF([test "x$with_poller" != xauto], [mw_poller_why="forced"],
      [test "x$mw_want_poller" != xauto],
      [mw_poller_why="implied by --with-waker=$with_waker"])
])
m4_define([_MW_BK_POLLER_AUTO],
[m4_if([$2], [poller],
[    AS_IF([test -z "$mw_poller"]m4_if([$3], [], [],
                                 [[ && test "x$$3" = xyes]]),
          [mw_poller=$1])
])])
m4_define([_MW_BK_POLLER_FORCED],
[m4_if([$2], [poller],
[[  $1)]m4_if([$3], [], [[ mw_poller=$1 ;;]], [
    AS_IF([test "x$$3" = xyes], [mw_poller=$1],
      [AC_MSG_ERROR([--with-poller=$1: $5])]) ;;])
])])

dnl MW_BACKEND_WAKER: sets mw_waker and mw_waker_why from with_waker,
dnl mw_poller and the probes, or stops: a forced waker is checked first
dnl against its POLLERS (WHY), then against the system (MISSING).
AC_DEFUN([MW_BACKEND_WAKER], [
mw_waker=
case $with_waker in
  auto)
m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_WAKER_AUTO(_mw_row)])dnl
    mw_waker_why="auto, best for $mw_poller" ;;
m4_foreach([_mw_row], [MW_BACKENDS], [_MW_BK_WAKER_FORCED(_mw_row)])dnl
esac
AS_IF([test -z "$mw_waker"],
  [AC_MSG_ERROR([no waker for the $mw_poller poller on this system])])
])
m4_define([_MW_BK_WAKER_AUTO],
[m4_if([$2], [waker],
[    AS_IF([test -z "$mw_waker"]m4_if([$4], [], [],
                                [[ && ]_MW_BK_FITS([$4])])[]m4_if([$3], [], [],
                                [[ && test "x$$3" = xyes]]),
          [mw_waker=$1])
])])
m4_define([_MW_BK_WAKER_FORCED],
[m4_if([$2], [waker],
[[  $1)]m4_if([$4], [], [], [
    AS_IF(_MW_BK_FITS([$4]), [],
      [AC_MSG_ERROR([--with-waker=$1 needs ]dnl
m4_map_args_w([$4], [--with-poller=], [], [ or ])[:
  $6])])])[]m4_if([$3], [], [], [
    AS_IF([test "x$$3" != xyes],
      [AC_MSG_ERROR([--with-waker=$1: $5])])])
[    mw_waker=$1; mw_waker_why="forced" ;;]
])])

dnl MW_BACKEND_OUTPUT: what the build is told of the choice.
dnl   MW_POLLER, MW_WAKER           the names, substituted: Makefile.am
dnl                                 builds lib/KIND-NAME.c of each.
dnl   MW_BACKEND_NAME               "POLLER+WAKER", defined and substituted.
AC_DEFUN([MW_BACKEND_OUTPUT], [
AC_SUBST([MW_POLLER], [$mw_poller])
AC_SUBST([MW_WAKER], [$mw_waker])
AC_DEFINE_UNQUOTED([MW_BACKEND_NAME], ["$mw_poller+$mw_waker"],
                   [The poller and waker this build uses, for mw_backend().])
AC_SUBST([MW_BACKEND_NAME], ["$mw_poller+$mw_waker"])
])

