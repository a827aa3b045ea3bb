/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_poll_register(3), NOTES, kqueue backends): under the
 * libkqueue emulation, which cannot see close(2), the poll notes the file
 * (device and inode) each registration was made on, and treats a
 * registered number that now names another file as closed:
 * reregistering it fails with -EBADF, deregistering it returns 0, and
 * neither touches the new file.
 *
 * A registered pipe is closed and the number given to another file, of
 * two kinds: another pipe (the same device, another inode) and a socket
 * (another device).  After each, the new file can be registered under a
 * token of its own, and its readiness is reported with that token.
 *
 * Elsewhere the kernel forgets a closed descriptor on its own and the
 * backends answer as their kernels do: the test skips.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define T_OLD ((mw_token)0x01D)
#define T_NEW ((mw_token)0x0E3)

/* Register a pipe's read end, close the pipe, and put a new file of the
 * given kind on the number: its ends in fds[0] (on the number) and fds[1]. */
static int
replace_registered(mw_poll *p, bool socket, int fds[2])
{
    int old[2], n;

    util_pipe(old);
    if (mw_poll_register(p, old[0], T_OLD, MW_READABLE) != 0)
        bail_out("mw_poll_register of a pipe failed");
    n = old[0];
    util_close(old[0]);
    util_close(old[1]);
    /* The lowest free numbers: n first. */
    if (socket)
        util_socketpair(fds);
    else
        util_pipe(fds);
    if (fds[0] != n)
        bail_out("the new file took %d, not the closed %d", fds[0], n);
    return n;
}

static void
other_file(mw_poll *p, bool socket)
{
    const char *kind = socket ? "a socket (another device)"
                              : "another pipe (another inode)";
    uint32_t flags = 0;
    int fds[2];
    int n = replace_registered(p, socket, fds);

    is_errno(mw_poll_reregister(p, n, T_OLD, MW_READABLE | MW_WRITABLE),
             -EBADF, "%s on a closed registration's number: reregistering "
             "it is -EBADF", kind);
    is_errno(mw_poll_deregister(p, n), 0, "... deregistering it returns 0");
    is_errno(mw_poll_register(p, n, T_NEW, MW_READABLE), 0,
             "... and the new file registers under a token of its own");
    util_write_byte(fds[1]);
    is_int(util_wait_token(p, T_NEW, UTIL_LONG_MS, &flags, NULL), 1,
           "... whose readiness is reported with that token");
    (void)mw_poll_deregister(p, n);
    util_close(fds[0]);
    util_close(fds[1]);
}

int
main(void)
{
    mw_poll *p;

    tap_watchdog(60);
    if (!util_caps()->emulated)
        plan_skip_all("%s: only under libkqueue does the poll note the file "
                      "of each registration (mw_poll_register(3), NOTES)",
                      mw_backend());
    plan(8);
    if (mw_poll_new(&p) != 0)
        bail_out("mw_poll_new failed");
    other_file(p, false);
    other_file(p, true);
    mw_poll_free(p);
    return done_testing();
}
