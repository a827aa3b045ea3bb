/* SPDX-License-Identifier: MIT */
/*
 * Promise: mw_version() is the package version, the string the
 * MW_VERSION_MAJOR/MINOR/PATCH macros spell; mw_backend() names the
 * mechanism pair of this build, "poller+waker", from the known names.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

static const char *const pollers[] = { "epoll", "kqueue", "poll" };
static const char *const wakers[] = { "eventfd", "user", "pipe" };

static bool
known(const char *name, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(name, list[i], len) == 0)
            return true;
    return false;
}

static void
version_is_the_package_version(void)
{
    char want[64];
    const char *v;

    v = mw_version();
    ok(v != NULL, "mw_version() is not NULL");
    if (v == NULL)
        v = "(null)";
    snprintf(want, sizeof want, "%d.%d.%d", MW_VERSION_MAJOR,
             MW_VERSION_MINOR, MW_VERSION_PATCH);
    ok(strcmp(v, want) == 0, "mw_version() \"%s\" equals "
       "MW_VERSION_MAJOR.MINOR.PATCH \"%s\"", v, want);
#ifdef PACKAGE_VERSION
    ok(strcmp(v, PACKAGE_VERSION) == 0, "mw_version() equals the package "
       "version \"%s\"", PACKAGE_VERSION);
#else
    skip(1, "no PACKAGE_VERSION in config.h");
#endif
    ok(mw_version() == v, "mw_version() returns the same static string "
       "every time");
}

static void
backend_names_a_known_pair(void)
{
    const char *b, *plus;

    b = mw_backend();
    ok(b != NULL && *b != '\0', "mw_backend() is a non-empty string");
    if (b == NULL)
        b = "";
    diag("mw_backend() = \"%s\"", b);
    plus = strchr(b, '+');
    ok(plus != NULL && strchr(plus + 1, '+') == NULL,
       "mw_backend() has the form poller+waker");
    ok(plus != NULL
       && known(b, (size_t)(plus - b), pollers, 3)
       && known(plus + 1, strlen(plus + 1), wakers, 3),
       "the poller is epoll, kqueue or poll and the waker eventfd, user "
       "or pipe (\"%s\")", b);
    ok(strncmp(b, "kqueue+", 7) == 0 || strcmp(plus ? plus : "", "+user")
       != 0, "the user waker comes only with the kqueue poller");
#ifdef MW_BACKEND_NAME
    ok(strcmp(b, MW_BACKEND_NAME) == 0, "mw_backend() is the pair "
       "configure chose (\"%s\")", MW_BACKEND_NAME);
#else
    skip(1, "configure did not define MW_BACKEND_NAME");
#endif
    ok(mw_backend() == b, "mw_backend() returns the same static string "
       "every time");
}

int
main(void)
{
    tap_watchdog(60);

    version_is_the_package_version();
    backend_names_a_known_pair();

    return done_testing();
}
