# SPDX-License-Identifier: MIT
# MW_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# ----------------------------------------------------
# Does $CC accept FLAG without a warning?  -Werror makes a compiler that
# merely warns about an unknown option (clang) count as refusing it.
AC_DEFUN([MW_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([mw_var], [mw_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [mw_var], [
    mw_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([mw_var], [yes])], [AS_VAR_SET([mw_var], [no])])
    CFLAGS=$mw_save_CFLAGS])
  AS_VAR_IF([mw_var], [yes], [$2], [$3])
  AS_VAR_POPDEF([mw_var])
])

# MW_CHECK_LDFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# -----------------------------------------------------
AC_DEFUN([MW_CHECK_LDFLAG], [
  AS_VAR_PUSHDEF([mw_var], [mw_cv_ldflag_$1])
  AC_CACHE_CHECK([whether the linker accepts $1], [mw_var], [
    mw_save_LDFLAGS=$LDFLAGS
    LDFLAGS="$LDFLAGS $1"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([mw_var], [yes])], [AS_VAR_SET([mw_var], [no])])
    LDFLAGS=$mw_save_LDFLAGS])
  AS_VAR_IF([mw_var], [yes], [$2], [$3])
  AS_VAR_POPDEF([mw_var])
])
