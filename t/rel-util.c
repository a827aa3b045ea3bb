/* SPDX-License-Identifier: MIT */
/* Fixtures for the reliability tests: see rel-util.h. */
#include "config.h"

#include "rel-util.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- run length ---- */

static bool
env_true(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

bool
rel_stress(void)
{
    return env_true("MW_STRESS");
}

long
rel_count(long short_n, long long_n, long valgrind_div)
{
    long n = rel_stress() ? long_n : short_n;

    if (util_under_valgrind() && valgrind_div > 1)
        n /= valgrind_div;
    return n > 0 ? n : 1;
}

bool
rel_libkqueue(void)
{
    return env_true("MW_TEST_LIBKQUEUE");
}

/* ---- the backend ---- */

bool
rel_poller_is(const char *name)
{
    const char *b = mw_backend();
    size_t len = strlen(name);

    return strncmp(b, name, len) == 0 && b[len] == '+';
}

bool
rel_waker_is(const char *name)
{
    const char *plus = strchr(mw_backend(), '+');

    return plus != NULL && strcmp(plus + 1, name) == 0;
}

/* ---- descriptors ---- */

void
rel_fdset_take(struct rel_fdset *s)
{
    int saved = errno;
    int n = getdtablesize();

    if (n <= 0 || n > REL_FDSET_MAX)
        n = REL_FDSET_MAX;
    s->n = n;
    for (int i = 0; i < REL_FDSET_MAX; i++)
        s->open[i] = i < n && fcntl(i, F_GETFD) >= 0;
    errno = saved;
}

int
rel_fdset_count(const struct rel_fdset *s)
{
    int c = 0;

    for (int i = 0; i < s->n; i++)
        c += s->open[i] != 0;
    return c;
}

int
rel_fdset_new(const struct rel_fdset *before, const struct rel_fdset *after,
              int *out, int max)
{
    int c = 0;

    for (int i = 0; i < REL_FDSET_MAX; i++) {
        if (!after->open[i] || before->open[i])
            continue;
        if (c < max)
            out[c] = i;
        c++;
    }
    return c;
}

int
rel_fdset_gone(const struct rel_fdset *before, const struct rel_fdset *after)
{
    int c = 0;

    for (int i = 0; i < REL_FDSET_MAX; i++)
        c += before->open[i] && !after->open[i];
    return c;
}

bool
rel_fdset_equal(const struct rel_fdset *a, const struct rel_fdset *b,
                int *first)
{
    for (int i = 0; i < REL_FDSET_MAX; i++) {
        if ((a->open[i] != 0) != (b->open[i] != 0)) {
            if (first != NULL)
                *first = i;
            return false;
        }
    }
    return true;
}

/* Only libkqueue's Linux backend has it; a weak reference is NULL
 * elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
void libkqueue_drain_pending_close(void) __attribute__((weak));
#endif

void
rel_settle(void)
{
    if (!rel_libkqueue())
        return;
#if defined(__GNUC__) || defined(__clang__)
    if (libkqueue_drain_pending_close)
        libkqueue_drain_pending_close();
#endif
}

bool
rel_fdset_settled(const struct rel_fdset *want, struct rel_fdset *got,
                  int *first)
{
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    for (;;) {
        rel_fdset_take(got);
        if (rel_fdset_equal(want, got, first))
            return true;
        if (!rel_libkqueue() || util_now_ms() > end)
            return false;
        rel_settle();
        util_sleep_ms(10);
    }
}

enum rel_fd_kind
rel_fd_kind(int fd)
{
    struct stat st;
    int fl;

    if (fstat(fd, &st) != 0)
        return REL_FD_OTHER;
    if (S_ISFIFO(st.st_mode)) {
        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return REL_FD_OTHER;
        if ((fl & O_ACCMODE) == O_WRONLY)
            return REL_FD_PIPE_WRITE;
        if ((fl & O_ACCMODE) == O_RDONLY)
            return REL_FD_PIPE_READ;
        return REL_FD_OTHER;
    }
    if (util_fd_is_eventfd(fd))
        return REL_FD_EVENTFD;
    return REL_FD_OTHER;
}

/* ---- waiting ---- */

int
rel_wait(mw_poll *p, struct mw_event *ev, size_t cap, int timeout_ms)
{
    int n;

    do
        n = mw_poll_wait(p, ev, cap, timeout_ms);
    while (n == -EINTR);
    return n;
}

bool
rel_fence(mw_poll *p, mw_waker *fence, mw_token fence_token, mw_token token,
          int *hits, int *others)
{
    struct mw_event ev[64];
    int64_t end;
    bool came = false;

    if (mw_waker_wake(fence) != 0)
        return false;
    end = util_now_ms() + UTIL_LONG_MS;
    while (!came && util_now_ms() < end) {
        int n = rel_wait(p, ev, 64, 100);

        if (n < 0)
            return false;
        for (int i = 0; i < n; i++) {
            if (ev[i].token == fence_token)
                came = true;
            else if (ev[i].token == token) {
                if (hits != NULL)
                    (*hits)++;
            } else if (others != NULL) {
                (*others)++;
            }
        }
    }
    return came;
}
