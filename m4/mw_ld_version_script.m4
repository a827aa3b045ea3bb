# SPDX-License-Identifier: MIT
# MW_LD_VERSION_SCRIPT
# --------------------
# Can the linker take an ELF symbol-version script?  Following the approach
# gnulib's manual describes for gl_LD_VERSION_SCRIPT: a linker that accepts
# a garbage script is not trusted, and a valid two-node script must link.
# Sets the Automake conditional HAVE_LD_VERSION_SCRIPT and
# mw_ld_version_script=yes|no; --disable-ld-version-script turns it off.
AC_DEFUN([MW_LD_VERSION_SCRIPT], [
  AC_ARG_ENABLE([ld-version-script],
    [AS_HELP_STRING([--disable-ld-version-script],
                    [do not version the exported symbols with a linker script])],
    [mw_ld_version_script=$enableval], [mw_ld_version_script=auto])
  AS_IF([test "x$mw_ld_version_script" != xno], [
    AC_CACHE_CHECK([whether the linker supports version scripts],
                   [mw_cv_ld_version_script], [
      mw_cv_ld_version_script=no
      mw_save_LDFLAGS=$LDFLAGS
      LDFLAGS="$LDFLAGS -Wl,--version-script=conftest.map"
      echo 'this is { not a version script' > conftest.map
      AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])], [],
        [cat > conftest.map <<_MW_EOF
MW_TEST_1 { global: main; local: *; };
MW_TEST_2 { global: mw_conftest_fn; } MW_TEST_1;
_MW_EOF
         AC_LINK_IFELSE([AC_LANG_PROGRAM([[int mw_conftest_fn(void);
int mw_conftest_fn(void) { return 0; }]], [[return mw_conftest_fn();]])],
                        [mw_cv_ld_version_script=yes])])
      rm -f conftest.map
      LDFLAGS=$mw_save_LDFLAGS])
    mw_ld_version_script=$mw_cv_ld_version_script])
  AM_CONDITIONAL([HAVE_LD_VERSION_SCRIPT], [test "x$mw_ld_version_script" = xyes])
])
