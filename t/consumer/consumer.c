/* SPDX-License-Identifier: MIT */
/*
 * consumer: the program `make installcheck` builds against the installed
 * library, once for each way a project finds it (t/installcheck.sh).  It
 * creates a poll and a waker, wakes it, waits, and checks that the one
 * event is the waker's token with MW_EV_READABLE; then it prints
 *
 *   backend=epoll+eventfd version=0.1.0
 *
 * for the script to compare with the build's.  Exit status 0 on success,
 * 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <miowake.h>

#define TOKEN ((mw_token)42)

static int
fail(const char *what, int error)
{
    fprintf(stderr, "consumer: %s: %s\n", what,
            error < 0 ? strerror(-error) : "unexpected result");
    return 1;
}

static int
wake_and_wait(mw_poll *poll, mw_waker *waker)
{
    struct mw_event events[4];
    int n, r;

    r = mw_waker_wake(waker);
    if (r < 0)
        return fail("mw_waker_wake", r);
    /* The wake is already pending: no wait at all is needed, and 5 s
     * only bounds a broken library. */
    n = mw_poll_wait(poll, events, 4, 5000);
    if (n < 0)
        return fail("mw_poll_wait", n);
    if (n != 1 || events[0].token != TOKEN
        || events[0].flags != MW_EV_READABLE) {
        fprintf(stderr, "consumer: mw_poll_wait: %d events, the first "
                "token %lu flags %#x; expected 1, token %lu flags %#x\n",
                n, n > 0 ? (unsigned long)events[0].token : 0UL,
                n > 0 ? (unsigned)events[0].flags : 0U,
                (unsigned long)TOKEN, (unsigned)MW_EV_READABLE);
        return 1;
    }
    return 0;
}

int
main(void)
{
    mw_poll *poll = NULL;
    mw_waker *waker = NULL;
    char header[64];
    int r, status;

    /* The header and the library are the same release. */
    snprintf(header, sizeof header, "%d.%d.%d", MW_VERSION_MAJOR,
             MW_VERSION_MINOR, MW_VERSION_PATCH);
    if (strcmp(header, mw_version()) != 0) {
        fprintf(stderr, "consumer: <miowake.h> is %s, the library %s\n",
                header, mw_version());
        return 1;
    }

    r = mw_poll_new(&poll);
    if (r < 0)
        return fail("mw_poll_new", r);
    r = mw_waker_new(&waker, poll, TOKEN);
    if (r < 0) {
        mw_poll_free(poll);
        return fail("mw_waker_new", r);
    }
    status = wake_and_wait(poll, waker);
    mw_waker_free(waker);
    mw_poll_free(poll);
    if (status == 0)
        printf("backend=%s version=%s\n", mw_backend(), mw_version());
    return status;
}
