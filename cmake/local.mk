# SPDX-License-Identifier: MIT
# cmake/local.mk, included by Makefile.am: the CMake package, and
# `make installcheck`, which builds a consumer against the installed tree
# in each way a project finds the library.
#
# The package is two files in $(libdir)/cmake/miowake.  configure makes
# miowakeConfigVersion.cmake; make writes miowakeConfig.cmake, because
# only make has the installation directories expanded and the library's
# file names (from libtool's lib/libmiowake.la).  Building the library
# needs no CMake.

# ---- the CMake package ------------------------------------------------------

miowakecmakedir = $(libdir)/cmake/miowake
nodist_miowakecmake_DATA = cmake/miowakeConfig.cmake \
	cmake/miowakeConfigVersion.cmake
EXTRA_DIST += cmake/miowakeConfig.cmake.in cmake/miowakeConfigVersion.cmake.in
CLEANFILES += cmake/miowakeConfig.cmake

# The .la file says what libtool built: dlname is the shared library's
# SONAME (empty with --disable-shared), the first of library_names its
# real file, and old_library the static archive.  The target is the shared
# library when there is one.  The header's directory is written relative
# to $(miowakecmakedir): the longest directory the two paths share, and
# one ../ for each of its remaining components.
# The placeholders are written [@]NAME[@] here so that configure does not
# substitute them in this Makefile.
cmake/miowakeConfig.cmake: $(srcdir)/cmake/miowakeConfig.cmake.in \
		lib/libmiowake.la Makefile
	$(AM_V_GEN)rm -f $@ $@.tmp; $(MKDIR_P) cmake; \
	dlname=; library_names=; old_library=; . ./lib/libmiowake.la; \
	if test -n "$$dlname"; then \
	  type=SHARED; set x $$library_names; file=$$2; soname=$$dlname; \
	elif test -n "$$old_library"; then \
	  type=STATIC; file=$$old_library; soname=; \
	else \
	  echo "$@: lib/libmiowake.la names no library" >&2; exit 1; \
	fi; \
	to='$(includedir)'; common='$(miowakecmakedir)'; up=; \
	while test "$$common" != / && \
	      test "x$${to#"$$common/"}" = "x$$to"; do \
	  common=`dirname "$$common"`; up="../$$up"; \
	done; \
	if test "$$common" = /; then rel=$$up$${to#/}; \
	else rel=$$up$${to#"$$common/"}; fi; \
	$(SED) -e "s|[@]MW_CMAKE_TYPE[@]|$$type|g" \
	  -e "s|[@]MW_CMAKE_FILE[@]|$$file|g" \
	  -e "s|[@]MW_CMAKE_SONAME[@]|$$soname|g" \
	  -e "s|[@]MW_CMAKE_INCLUDEDIR[@]|$$rel|g" \
	  -e 's|[@]MW_BACKEND_NAME[@]|$(MW_BACKEND_NAME)|g' \
	  -e 's|[@]KQUEUE_LIBS[@]|$(KQUEUE_LIBS)|g' \
	  $(srcdir)/cmake/miowakeConfig.cmake.in >$@.tmp && mv $@.tmp $@

# ---- make installcheck ------------------------------------------------------

# t/installcheck.sh gets the installed tree's directories (DESTDIR too:
# a staged tree is checked where it is), the tools configure found, and
# the build's facts to compare with what each consumer prints.  It builds
# in t/installcheck.d, which it removes when every way passed.
EXTRA_DIST += t/installcheck.sh \
	t/consumer/consumer.c \
	t/consumer/consumer.cpp \
	t/consumer/CMakeLists.txt \
	t/consumer/meson.build \
	t/consumer/meson_options.txt

installcheck-local:
	@DESTDIR='$(DESTDIR)' prefix='$(prefix)' libdir='$(libdir)' \
	includedir='$(includedir)' pkgconfigdir='$(pkgconfigdir)' \
	miowakecmakedir='$(miowakecmakedir)' \
	consumer_srcdir='$(abs_top_srcdir)/t/consumer' \
	work='$(abs_top_builddir)/t/installcheck.d' \
	la='$(abs_top_builddir)/lib/libmiowake.la' \
	CC='$(CC)' CXX='$(MW_CXX)' PKG_CONFIG='$(PKG_CONFIG)' \
	MW_CFLAGS='$(MW_CFLAGS)' MW_SANITIZE_FLAGS='$(MW_SANITIZE_FLAGS)' \
	PTHREAD_LIBS='$(PTHREAD_LIBS)' KQUEUE_LIBS='$(KQUEUE_LIBS)' \
	PACKAGE_VERSION='$(PACKAGE_VERSION)' \
	MW_VERSION_MAJOR='$(MW_VERSION_MAJOR)' \
	MW_VERSION_MINOR='$(MW_VERSION_MINOR)' \
	MW_BACKEND_NAME='$(MW_BACKEND_NAME)' \
	MW_TEST_RUNNER='$(MW_TEST_RUNNER)' \
	$(SHELL) $(srcdir)/t/installcheck.sh

clean-local: installcheck-clean
installcheck-clean:
	-rm -rf t/installcheck.d
.PHONY: installcheck-clean
