dnl SPDX-License-Identifier: MIT
dnl MW_PROBE_KQUEUE: sets mw_have_kqueue, mw_have_user and
dnl mw_kqueue_cloexec from the current CPPFLAGS/LIBS (the system's, or
dnl libkqueue's when that is in them).
AC_DEFUN([MW_PROBE_KQUEUE], [
  mw_have_kqueue=no
  mw_have_user=no
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>]], [[struct kevent kev;
EV_SET(&kev, 1, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, 0);
return kevent(kqueue(), &kev, 1, 0, 0, 0);]])],
    [mw_have_kqueue=yes])
  AS_IF([test "x$mw_have_kqueue" = xyes],
    [AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <sys/types.h>
#include <sys/event.h>]], [[struct kevent kev;
EV_SET(&kev, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
return kev.filter;]])], [mw_have_user=yes])])
  dnl A kqueue made close-on-exec at once: FreeBSD's kqueuex(), else the
  dnl kqueue1() of NetBSD and OpenBSD (FreeBSD has it too).
  mw_kqueue_cloexec=none
  AS_IF([test "x$mw_have_kqueue" = xyes],
    [AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <sys/types.h>
#include <sys/event.h>]], [[return kqueuex(KQUEUE_CLOEXEC);]])],
       [mw_kqueue_cloexec=kqueuex],
       [AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <sys/types.h>
#include <sys/event.h>
#include <fcntl.h>]], [[return kqueue1(O_CLOEXEC);]])],
          [mw_kqueue_cloexec=kqueue1])])])
])
