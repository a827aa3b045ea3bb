/* SPDX-License-Identifier: MIT */
/* The table of t/lib/caps.h: the one place the tests read the backend's
 * name. */
#include <stddef.h>
#include <string.h>

#include <miowake.h>

#include "caps.h"

/* Any kqueue on Linux is libkqueue's -- or the kqueue-os simulation's
 * fake one, which links this table too and is then treated as the
 * emulation (its late closes waited for, its descriptors excused). */
#ifdef __linux__
# define KQ_EMULATED true
#else
# define KQ_EMULATED false
#endif

static const struct row {
    const char *backend;
    struct util_caps caps;
} table[] = {
    { "epoll+eventfd", {
        .wait_call = UTIL_WAIT_EPOLL_WAIT, .set_call = UTIL_SET_EPOLL_CTL,
        .kernel_keeps_set = true, .set_inherited_by_fork = true,
        .emulated = false, .poll_fd_works = true,
        .waker_eventfd = true,
        .wake_takes_lock = false, .wake_async_signal_safe = true,
        .registration_by_number = false, .registers_disk_files = false,
        .priority_may_be_unsupported = false } },
    { "epoll+pipe", {
        .wait_call = UTIL_WAIT_EPOLL_WAIT, .set_call = UTIL_SET_EPOLL_CTL,
        .kernel_keeps_set = true, .set_inherited_by_fork = true,
        .emulated = false, .poll_fd_works = true,
        .waker_pipe = true,
        .wake_takes_lock = false, .wake_async_signal_safe = true,
        .registration_by_number = false, .registers_disk_files = false,
        .priority_may_be_unsupported = false } },
    { "poll+pipe", {
        .wait_call = UTIL_WAIT_POLL, .set_call = UTIL_SET_NONE,
        .kernel_keeps_set = false, .set_inherited_by_fork = true,
        .emulated = false, .poll_fd_works = false,
        .waker_pipe = true,
        .wake_takes_lock = false, .wake_async_signal_safe = true,
        .registration_by_number = true, .registers_disk_files = true,
        .priority_may_be_unsupported = false } },
    { "kqueue+user", {
        .wait_call = UTIL_WAIT_KEVENT, .set_call = UTIL_SET_KEVENT,
        .kernel_keeps_set = true, .set_inherited_by_fork = false,
        .emulated = KQ_EMULATED, .poll_fd_works = !KQ_EMULATED,
        .waker_knote = true,
        .wake_takes_lock = KQ_EMULATED,
        .wake_async_signal_safe = !KQ_EMULATED,
        .registration_by_number = !KQ_EMULATED,
        .registers_disk_files = false,
        .priority_may_be_unsupported = true } },
    { "kqueue+pipe", {
        .wait_call = UTIL_WAIT_KEVENT, .set_call = UTIL_SET_KEVENT,
        .kernel_keeps_set = true, .set_inherited_by_fork = false,
        .emulated = KQ_EMULATED, .poll_fd_works = !KQ_EMULATED,
        .waker_pipe = true,
        .wake_takes_lock = false, .wake_async_signal_safe = true,
        .registration_by_number = !KQ_EMULATED,
        .registers_disk_files = false,
        .priority_may_be_unsupported = true } },
};

const struct util_caps *
util_caps(void)
{
    /* An unknown pair answers as poll+pipe, the portable fallback,
     * which assumes the least of the kernel; t/version checks that
     * mw_backend() names a known pair. */
    const char *b = mw_backend();

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(b, table[i].backend) == 0)
            return &table[i].caps;
    return &table[2].caps;
}
