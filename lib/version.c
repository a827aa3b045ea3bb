/* SPDX-License-Identifier: MIT */
/* Build identity: the package version and the mechanism pair configure
 * chose (MW_BACKEND_NAME in config.h). */
#include "internal.h"

MW_EXPORT const char *
mw_backend(void)
{
    return MW_BACKEND_NAME;
}

MW_EXPORT const char *
mw_version(void)
{
    return PACKAGE_VERSION;
}
