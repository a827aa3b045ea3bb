/* SPDX-License-Identifier: MIT */
/*
 * Promise: the argument checks and error returns of the contract.
 *   - NULL where an object or array is required: -EINVAL, never a crash
 *     (every function that takes a poll, a waker, an out-pointer or the
 *     events array; events NULL with a non-zero capacity; capacity 0);
 *   - argument checks first, in this order: NULL poll -EINVAL, negative fd
 *     -EBADF, interest 0 or unknown bits -EINVAL; then registering twice
 *     -EEXIST, re/deregistering an fd not registered -ENOENT, a closed fd
 *     at registration -EBADF;
 *   - errno is left as the call found it, on failure and on success;
 *   - constructors set *out to NULL on failure; destructors accept NULL.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"

#define ERRNO_MARK 12345

/* Make the call with errno set to a mark; check its result and that
 * errno still holds the mark. */
#define CHECK(call, want, ...)                                          \
    do {                                                                \
        long check_r_;                                                  \
        int check_e_;                                                   \
        errno = ERRNO_MARK;                                             \
        check_r_ = (long)(call);                                        \
        check_e_ = errno;                                               \
        is_errno(check_r_, (want), __VA_ARGS__);                        \
        is_int(check_e_, ERRNO_MARK, "... and leaves errno alone: %s",  \
               #call);                                                  \
    } while (0)

static mw_waker *const bogus_waker = (mw_waker *)(uintptr_t)0x1;
static mw_poll *const bogus_poll = (mw_poll *)(uintptr_t)0x1;

/* Lowest descriptor number that is free now. */
static int
lowest_free_fd(void)
{
    int fd = dup(STDOUT_FILENO);

    if (fd < 0)
        bail_out("dup(1) failed");
    close(fd);
    return fd;
}

/* The objects the promises below share: each promise leaves them in the
 * state the next one expects, as one main() used to. */
struct fixture {
    mw_poll *p;
    mw_waker *w;
    struct mw_event ev[8];
    int pa[2], pb[2];
};

static void
poll_new_rejects_null(struct fixture *fx)
{
    mw_poll *p = NULL;

    CHECK(mw_poll_new(NULL), -EINVAL, "mw_poll_new(NULL) is -EINVAL");
    CHECK(mw_poll_new(&p), 0, "mw_poll_new succeeds");
    if (p == NULL)
        bail_out("mw_poll_new returned 0 without a poll");
    fx->p = p;
}

static void
waker_new_rejects_null_and_clears_out(struct fixture *fx)
{
    mw_poll *p = fx->p;
    mw_waker *w = bogus_waker;

    CHECK(mw_waker_new(NULL, p, 1), -EINVAL,
          "mw_waker_new with a NULL out-pointer is -EINVAL");
    CHECK(mw_waker_new(&w, NULL, 1), -EINVAL,
          "mw_waker_new with a NULL poll is -EINVAL");
    ok(w == NULL, "a failed mw_waker_new sets *out to NULL");
    CHECK(mw_waker_new(NULL, NULL, 1), -EINVAL,
          "mw_waker_new(NULL, NULL, ...) is -EINVAL");
    CHECK(mw_waker_new(&w, p, 1), 0, "mw_waker_new succeeds");
    if (w == NULL)
        bail_out("mw_waker_new returned 0 without a waker");
    fx->w = w;
}

static void
waker_wake_rejects_null_and_repeats(struct fixture *fx)
{
    mw_waker *w = fx->w;

    CHECK(mw_waker_wake(NULL), -EINVAL, "mw_waker_wake(NULL) is -EINVAL");
    CHECK(mw_waker_wake(w), 0, "mw_waker_wake succeeds");
    CHECK(mw_waker_wake(w), 0, "mw_waker_wake on a pending waker "
          "succeeds");
}

/* Some of the bad calls carry timeout -1: an argument error must be
 * reported at once, never after a wait. */
static void
poll_wait_rejects_bad_arguments_at_once(struct fixture *fx)
{
    mw_poll *p = fx->p;
    struct mw_event *ev = fx->ev;

    CHECK(mw_poll_wait(NULL, ev, 8, 0), -EINVAL,
          "mw_poll_wait with a NULL poll is -EINVAL");
    CHECK(mw_poll_wait(NULL, ev, 8, -1), -EINVAL,
          "mw_poll_wait with a NULL poll and timeout -1 is -EINVAL at "
          "once");
    CHECK(mw_poll_wait(NULL, NULL, 0, 0), -EINVAL,
          "mw_poll_wait(NULL, NULL, 0, 0) is -EINVAL");
    CHECK(mw_poll_wait(p, NULL, 8, 0), -EINVAL,
          "mw_poll_wait with NULL events and capacity 8 is -EINVAL");
    CHECK(mw_poll_wait(p, NULL, 1, -1), -EINVAL,
          "mw_poll_wait with NULL events and timeout -1 is -EINVAL at "
          "once");
    CHECK(mw_poll_wait(p, ev, 0, 0), -EINVAL,
          "mw_poll_wait with capacity 0 is -EINVAL");
    CHECK(mw_poll_wait(p, ev, 0, -1), -EINVAL,
          "mw_poll_wait with capacity 0 and timeout -1 is -EINVAL at "
          "once");
    CHECK(mw_poll_wait(p, NULL, 0, 0), -EINVAL,
          "mw_poll_wait with NULL events and capacity 0 is -EINVAL");
}

/* Runs right after poll_wait_rejects_bad_arguments_at_once, whose failed
 * calls must not have consumed the wake left pending before them. */
static void
failed_waits_keep_the_pending_wake(struct fixture *fx)
{
    mw_poll *p = fx->p;
    struct mw_event *ev = fx->ev;

    CHECK(mw_poll_wait(p, ev, 8, 0), 1, "a valid mw_poll_wait returns the "
          "pending waker event (1)");
    CHECK(mw_poll_wait(p, ev, 8, 0), 0, "a valid mw_poll_wait with nothing "
          "ready returns 0");
    CHECK(mw_poll_wait(p, ev, 8, 1), 0, "a valid mw_poll_wait timing out "
          "after 1 ms returns 0");
}

static void
poll_fd_rejects_null(struct fixture *fx)
{
    int fd;

    CHECK(mw_poll_fd(NULL), -EINVAL, "mw_poll_fd(NULL) is -EINVAL");
    errno = ERRNO_MARK;
    fd = mw_poll_fd(fx->p);
    ok(fd >= 0 || fd == -ENOTSUP, "mw_poll_fd on a valid poll gives a "
       "descriptor or -ENOTSUP (%s)", tap_errno_name(fd));
    is_int(errno, ERRNO_MARK, "... and leaves errno alone: mw_poll_fd(p)");
}

static void
register_checks_poll_then_fd_then_interest(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int fd = fx->pa[0];
    const unsigned bad_interest[] = { 0x8u, 0x80000000u,
                                      MW_READABLE | 0x8u,
                                      MW_READABLE | MW_WRITABLE | 0x100u };

    CHECK(mw_poll_register(NULL, fd, 1, MW_READABLE), -EINVAL,
          "mw_poll_register with a NULL poll is -EINVAL");
    CHECK(mw_poll_register(NULL, -1, 1, 0), -EINVAL,
          "a NULL poll is reported before a negative fd and a bad "
          "interest");
    CHECK(mw_poll_register(p, -1, 1, MW_READABLE), -EBADF,
          "mw_poll_register with fd -1 is -EBADF");
    CHECK(mw_poll_register(p, -42, 1, MW_READABLE), -EBADF,
          "mw_poll_register with fd -42 is -EBADF");
    CHECK(mw_poll_register(p, -1, 1, 0), -EBADF,
          "a negative fd is reported before interest 0");
    CHECK(mw_poll_register(p, -1, 1, 0x80000000u), -EBADF,
          "a negative fd is reported before unknown interest bits");
    CHECK(mw_poll_register(p, fd, 1, 0), -EINVAL,
          "mw_poll_register with interest 0 is -EINVAL");
    for (size_t i = 0; i < sizeof bad_interest / sizeof bad_interest[0];
         i++)
        CHECK(mw_poll_register(p, fd, 1, bad_interest[i]), -EINVAL,
              "mw_poll_register with interest %#x (unknown bits) is "
              "-EINVAL", bad_interest[i]);
}

static void
failed_register_registers_nothing(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int fd = fx->pa[0];

    CHECK(mw_poll_deregister(p, fd), -ENOENT,
          "an fd whose registration failed is not registered (-ENOENT)");
}

static void
register_twice_is_eexist(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int fd = fx->pa[0];

    CHECK(mw_poll_register(p, fd, 1, MW_READABLE), 0,
          "mw_poll_register succeeds");
    CHECK(mw_poll_register(p, fd, 1, MW_READABLE), -EEXIST,
          "registering the same fd twice is -EEXIST");
    CHECK(mw_poll_register(p, fd, 2, MW_WRITABLE), -EEXIST,
          "registering the same fd again with another token and interest "
          "is -EEXIST");
    CHECK(mw_poll_register(p, fd, 1, 0), -EINVAL,
          "interest 0 is reported before -EEXIST");
    CHECK(mw_poll_register(p, fd, 1, 0x8u), -EINVAL,
          "unknown interest bits are reported before -EEXIST");
    CHECK(mw_poll_reregister(p, fd, 3, MW_READABLE | MW_WRITABLE), 0,
          "mw_poll_reregister of a registered fd succeeds");
}

static void
reregister_checks_arguments_before_enoent(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int fd = fx->pa[0];
    int *pb = fx->pb;

    CHECK(mw_poll_reregister(NULL, fd, 1, MW_READABLE), -EINVAL,
          "mw_poll_reregister with a NULL poll is -EINVAL");
    CHECK(mw_poll_reregister(NULL, -1, 1, 0), -EINVAL,
          "mw_poll_reregister: a NULL poll beats a negative fd and a bad "
          "interest");
    CHECK(mw_poll_reregister(p, -1, 1, MW_READABLE), -EBADF,
          "mw_poll_reregister with fd -1 is -EBADF");
    CHECK(mw_poll_reregister(p, -1, 1, 0), -EBADF,
          "mw_poll_reregister: a negative fd beats interest 0");
    CHECK(mw_poll_reregister(p, fd, 1, 0), -EINVAL,
          "mw_poll_reregister with interest 0 is -EINVAL");
    CHECK(mw_poll_reregister(p, fd, 1, 0x80000000u), -EINVAL,
          "mw_poll_reregister with unknown interest bits is -EINVAL");
    CHECK(mw_poll_reregister(p, pb[0], 1, MW_READABLE), -ENOENT,
          "mw_poll_reregister of an fd never registered is -ENOENT");
    CHECK(mw_poll_reregister(p, pb[0], 1, 0), -EINVAL,
          "mw_poll_reregister: a bad interest is reported before "
          "-ENOENT");
}

static void
deregister_unregisters_once(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int fd = fx->pa[0];
    int *pb = fx->pb;

    CHECK(mw_poll_deregister(NULL, fd), -EINVAL,
          "mw_poll_deregister with a NULL poll is -EINVAL");
    CHECK(mw_poll_deregister(NULL, -1), -EINVAL,
          "mw_poll_deregister: a NULL poll beats a negative fd");
    CHECK(mw_poll_deregister(p, -1), -EBADF,
          "mw_poll_deregister with fd -1 is -EBADF");
    CHECK(mw_poll_deregister(p, pb[0]), -ENOENT,
          "mw_poll_deregister of an fd never registered is -ENOENT");
    CHECK(mw_poll_deregister(p, fd), 0,
          "mw_poll_deregister of a registered fd succeeds");
    CHECK(mw_poll_deregister(p, fd), -ENOENT,
          "deregistering the same fd again is -ENOENT");
    CHECK(mw_poll_reregister(p, fd, 1, MW_READABLE), -ENOENT,
          "mw_poll_reregister after mw_poll_deregister is -ENOENT");
    CHECK(mw_poll_register(p, fd, 4, MW_READABLE), 0,
          "an fd can be registered again after mw_poll_deregister");
    CHECK(mw_poll_deregister(p, fd), 0,
          "and deregistered again");
}

/* Closes fx->pb: nothing opens a descriptor between the close and the
 * calls, so its number stays closed. */
static void
register_closed_fd_is_ebadf_after_argument_checks(struct fixture *fx)
{
    mw_poll *p = fx->p;
    int closed_fd = fx->pb[0];

    util_close(fx->pb[0]);
    util_close(fx->pb[1]);
    CHECK(mw_poll_register(p, closed_fd, 1, MW_READABLE), -EBADF,
          "mw_poll_register of a closed fd is -EBADF");
    CHECK(mw_poll_register(p, closed_fd, 1, 0), -EINVAL,
          "a bad interest is reported before a closed fd");
    CHECK(mw_poll_register(NULL, closed_fd, 1, MW_READABLE), -EINVAL,
          "a NULL poll is reported before a closed fd");
    CHECK(mw_poll_deregister(p, closed_fd), -ENOENT,
          "a closed fd whose registration failed is not registered");
}

/* Closed while registered, and its number given to another descriptor of
 * the caller's (mw_poll_register(3), "Closed without deregistering"). */
static void
closed_registered_number_stays_registered(struct fixture *fx)
{
    mw_poll *p = fx->p;
    const char *be = mw_backend();
    bool by_number = util_caps()->registration_by_number;
    int old[2], fresh[2];

    util_pipe(old);
    CHECK(mw_poll_register(p, old[0], 5, MW_READABLE), 0,
          "a descriptor to close while registered is registered");
    util_close(old[0]);
    util_pipe(fresh);
    if (fresh[0] != old[0])
        bail_out("the new pipe did not get the closed number");
    CHECK(mw_poll_register(p, fresh[0], 6, MW_READABLE), -EEXIST,
          "registering the number's new descriptor is -EEXIST");
    CHECK(mw_poll_reregister(p, fresh[0], 6, MW_READABLE),
          by_number ? 0 : -EBADF,
          "reregistering it is %s on %s", by_number ? "0" : "-EBADF", be);
    CHECK(mw_poll_deregister(p, fresh[0]), 0,
          "deregistering the number is 0");
    CHECK(mw_poll_deregister(p, fresh[0]), -ENOENT,
          "and -ENOENT a second time");
    CHECK(mw_poll_register(p, fresh[0], 7, MW_READABLE), 0,
          "the new descriptor can then be registered");
    CHECK(mw_poll_deregister(p, fresh[0]), 0, "and deregistered");
    util_close(old[1]);
    util_close(fresh[0]);
    util_close(fresh[1]);
}

static void
destructors_accept_null(void)
{
    errno = ERRNO_MARK;
    mw_poll_free(NULL);
    mw_waker_free(NULL);
    is_int(errno, ERRNO_MARK, "mw_poll_free(NULL) and mw_waker_free(NULL) "
           "return and leave errno alone");
}

/* Called with RLIMIT_NOFILE at the lowest free descriptor. */
static void
constructors_without_descriptors_clear_out(mw_poll *p)
{
    mw_poll *p2 = bogus_poll;
    mw_waker *w2 = bogus_waker;
    int r, e;

    errno = ERRNO_MARK;
    r = mw_poll_new(&p2);
    e = errno;
    ok(r < 0, "mw_poll_new without a free descriptor fails (%s)",
       tap_errno_name(r));
    ok(p2 == NULL, "a failed mw_poll_new sets *out to NULL");
    is_int(e, ERRNO_MARK, "a failed mw_poll_new leaves errno "
           "alone");
    if (r == 0)
        mw_poll_free(p2);

    errno = ERRNO_MARK;
    r = mw_waker_new(&w2, p, 9);
    e = errno;
    if (r == 0) {
        /* kqueue+user wakers need no descriptor of their own. */
        ok(w2 != NULL && w2 != bogus_waker, "mw_waker_new without "
           "a free descriptor either fails or gives a waker (%s)",
           mw_backend());
        mw_waker_free(w2);
    } else {
        ok(w2 == NULL, "a failed mw_waker_new (%s) sets *out to "
           "NULL", tap_errno_name(r));
    }
    is_int(e, ERRNO_MARK, "mw_waker_new without a free descriptor "
           "leaves errno alone");
}

static void
constructors_out_of_descriptors_fail_cleanly(struct fixture *fx)
{
    struct rlimit saved, low;
    int r = -1;

    if (getrlimit(RLIMIT_NOFILE, &saved) != 0)
        bail_out("getrlimit failed");
    low = saved;
    low.rlim_cur = (rlim_t)lowest_free_fd();
    if (setrlimit(RLIMIT_NOFILE, &low) != 0
        || (r = dup(STDOUT_FILENO)) >= 0) {
        if (r >= 0)
            close(r);
        setrlimit(RLIMIT_NOFILE, &saved);
        skip(5, "cannot lower RLIMIT_NOFILE to provoke -EMFILE");
        return;
    }
    constructors_without_descriptors_clear_out(fx->p);
    if (setrlimit(RLIMIT_NOFILE, &saved) != 0)
        bail_out("cannot restore RLIMIT_NOFILE");
}

/* After every failure above, the poll and its waker must still work. */
static void
poll_still_works_after_errors(struct fixture *fx)
{
    mw_waker *w = fx->w;
    int n, count;

    CHECK(mw_waker_wake(w), 0, "mw_waker_wake still succeeds");
    errno = ERRNO_MARK;
    n = mw_poll_wait(fx->p, fx->ev, 8, -1);
    is_int(errno, ERRNO_MARK, "a successful mw_poll_wait(-1) leaves "
           "errno alone");
    count = n > 0 ? util_count_token(fx->ev, n, 1, NULL) : 0;
    is_int(count, 1, "and the poll still reports the waker");
}

static void
free_leaves_errno_alone(struct fixture *fx)
{
    util_close(fx->pa[0]);
    util_close(fx->pa[1]);
    errno = ERRNO_MARK;
    mw_waker_free(fx->w);
    mw_poll_free(fx->p);
    is_int(errno, ERRNO_MARK, "mw_waker_free and mw_poll_free leave errno "
           "alone");
}

int
main(void)
{
    struct fixture fx = { .p = NULL, .w = NULL };

    tap_watchdog(60);

    poll_new_rejects_null(&fx);
    waker_new_rejects_null_and_clears_out(&fx);
    waker_wake_rejects_null_and_repeats(&fx);
    poll_wait_rejects_bad_arguments_at_once(&fx);
    failed_waits_keep_the_pending_wake(&fx);
    poll_fd_rejects_null(&fx);

    util_pipe(fx.pa);
    util_pipe(fx.pb);
    register_checks_poll_then_fd_then_interest(&fx);
    failed_register_registers_nothing(&fx);
    register_twice_is_eexist(&fx);
    reregister_checks_arguments_before_enoent(&fx);
    deregister_unregisters_once(&fx);
    register_closed_fd_is_ebadf_after_argument_checks(&fx);
    closed_registered_number_stays_registered(&fx);

    destructors_accept_null();
    constructors_out_of_descriptors_fail_cleanly(&fx);
    poll_still_works_after_errors(&fx);
    free_leaves_errno_alone(&fx);
    return done_testing();
}
