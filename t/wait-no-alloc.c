/* SPDX-License-Identifier: MIT */
/*
 * Promise (mw_waker_new(3), mw_poll_wait(3)): mw_waker_wake allocates
 * nothing and takes no lock; mw_poll_wait allocates nothing after the
 * first wait.
 *
 * This program replaces the allocator for the whole process: malloc,
 * calloc, realloc, free and the aligned variants are defined here, so the
 * dynamic linker binds the library's (and libc's) calls to them.  They
 * count every call and carve blocks from a static arena and never reuse
 * memory -- no forwarding to the system allocator, so there is no
 * bootstrap problem with dlsym and it works the same with glibc and musl.
 * pthread_mutex_lock is wrapped too (forwarded through dlsym(RTLD_NEXT)
 * where that exists, else through a trylock loop) to count lock calls.
 *
 * Two controls show the counters see the library's own calls (a zero
 * proves nothing if the interposition silently failed): without the
 * allocator the whole test skips (sanitizer builds, valgrind), without
 * the lock wrapper the lock checks do.  Each measured loop runs after a
 * first, uncounted wait.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"

/* A sanitizer's runtime owns malloc and pthread_mutex_lock: replacing
 * them would blind it, so such builds count nothing and skip (as does a
 * run under valgrind, whose malloc replaces ours: the control sees it). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define NO_INTERPOSE 1
#endif
#if defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer) || __has_feature(hwaddress_sanitizer)
#  define NO_INTERPOSE 1
# endif
#endif

#define ITERATIONS 1000
#define WAKER_TOKEN ((mw_token)0x3A4E)
#define PIPE_TOKEN ((mw_token)0x919E)

static atomic_long alloc_calls;     /* malloc, calloc, realloc, memalign... */
static atomic_long lock_calls;
static bool lock_forwarded;         /* pthread_mutex_lock via dlsym */

#ifndef NO_INTERPOSE

/* ---- a counting allocator over a static arena ---- */

#define ARENA_SIZE ((size_t)64 << 20)
#define MIN_ALIGN 16
/* Each block is preceded by its size, in the MIN_ALIGN bytes before it. */
#define HEADER MIN_ALIGN

static alignas(4096) unsigned char arena[ARENA_SIZE];
static atomic_size_t arena_used;
static atomic_long free_calls;

void *memalign(size_t alignment, size_t size);
void *pvalloc(size_t size);
size_t malloc_usable_size(void *ptr);

static bool
in_arena(const void *p)
{
    return (const unsigned char *)p >= arena
           && (const unsigned char *)p < arena + ARENA_SIZE;
}

/* A fresh block; never reused, so it is zero-filled like all of .bss. */
static void *
arena_alloc(size_t size, size_t align)
{
    size_t old = atomic_load(&arena_used), start, end;

    atomic_fetch_add(&alloc_calls, 1);
    if (align < MIN_ALIGN)
        align = MIN_ALIGN;
    if (size == 0)
        size = 1;
    do {
        start = (old + HEADER + align - 1) & ~(align - 1);
        end = start + ((size + MIN_ALIGN - 1) & ~(size_t)(MIN_ALIGN - 1));
        if (size > ARENA_SIZE || end > ARENA_SIZE || end < start) {
            errno = ENOMEM;
            return NULL;
        }
    } while (!atomic_compare_exchange_weak(&arena_used, &old, end));
    memcpy(arena + start - sizeof(size_t), &size, sizeof(size));
    return arena + start;
}

static size_t
block_size(const void *p)
{
    size_t size;

    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof(size));
    return size;
}

void *
malloc(size_t size)
{
    return arena_alloc(size, MIN_ALIGN);
}

void *
calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        atomic_fetch_add(&alloc_calls, 1);
        errno = ENOMEM;
        return NULL;
    }
    return arena_alloc(n * size, MIN_ALIGN);
}

void
free(void *p)
{
    if (p)
        atomic_fetch_add(&free_calls, 1);
}

void *
realloc(void *p, size_t size)
{
    void *q;

    if (!p)
        return arena_alloc(size, MIN_ALIGN);
    if (!in_arena(p)) {
        /* Nothing allocated outside the arena can be resized here. */
        static const char msg[] = "Bail out! realloc of a foreign block\n";

        (void)!write(1, msg, sizeof(msg) - 1);
        _exit(255);
    }
    q = arena_alloc(size, MIN_ALIGN);
    if (q)
        memcpy(q, p, block_size(p) < size ? block_size(p) : size);
    return q;
}

int
posix_memalign(void **out, size_t alignment, size_t size)
{
    void *p;

    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    p = arena_alloc(size, alignment);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *
aligned_alloc(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return arena_alloc(size, alignment);
}

void *
memalign(size_t alignment, size_t size)
{
    return aligned_alloc(alignment, size);
}

void *
valloc(size_t size)
{
    return arena_alloc(size, 4096);
}

void *
pvalloc(size_t size)
{
    return arena_alloc((size + 4095) & ~(size_t)4095, 4096);
}

size_t
malloc_usable_size(void *p)
{
    return p && in_arena(p) ? block_size(p) : 0;
}

/* ---- counting pthread_mutex_lock ---- */

/* Weak: older glibc keeps dlsym in libdl, which is not linked here. */
#if defined(__GNUC__) || defined(__clang__)
# pragma weak dlsym
#endif

typedef int (*lock_fn)(pthread_mutex_t *);
static lock_fn real_lock;

static void
resolve_lock(void)
{
#ifdef RTLD_NEXT
    if (!real_lock && dlsym) {
        void *sym = dlsym(RTLD_NEXT, "pthread_mutex_lock");

        if (sym) {
            memcpy(&real_lock, &sym, sizeof(real_lock));
            lock_forwarded = true;
        }
    }
#endif
}

int
pthread_mutex_lock(pthread_mutex_t *m)
{
    int rc;

    atomic_fetch_add(&lock_calls, 1);
    resolve_lock();
    if (real_lock)
        return real_lock(m);
    /* No dlsym: the library only uses default mutexes, for which this
     * is equivalent. */
    while ((rc = pthread_mutex_trylock(m)) == EBUSY)
        sched_yield();
    return rc;
}

#else /* NO_INTERPOSE */

static void
resolve_lock(void)
{
}

#endif /* NO_INTERPOSE */

/* ---- the tests ---- */

struct counts {
    long allocs;
    long locks;
};

static struct counts
now(void)
{
    struct counts c = { atomic_load(&alloc_calls), atomic_load(&lock_calls) };

    return c;
}

static void
set_nonblock(int fd)
{
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        bail_out("fcntl: %s", strerror(errno));
}

/* One event of `token` within a wait of `capacity`; anything else is a
 * failure. */
static bool
wait_one(mw_poll *p, struct mw_event *ev, size_t capacity, mw_token token)
{
    int n;

    do
        n = mw_poll_wait(p, ev, capacity, -1);
    while (n == -EINTR);
    return n == 1 && ev[0].token == token
           && (ev[0].flags & MW_EV_READABLE);
}

int
main(void)
{
    static struct mw_event ev[4096];
    static const size_t caps[] = { 1, 64, 4096 };
    struct counts c0, c1;
    long bad, wake_locks;
    mw_poll *p;
    mw_waker *w;
    int fds[2];
    char byte = 'x';
    bool libkqueue_user = false;
    bool count_locks;

    tap_watchdog(60);
#ifdef MW_TEST_LIBKQUEUE
    /* The EVFILT_USER waker signals through kevent(), which libkqueue
     * implements with mutexes (a documented limit of the emulation). */
    libkqueue_user = strcmp(mw_backend(), "kqueue+user") == 0;
#endif
    resolve_lock();

    /* Controls first: a zero proves nothing unless the counters see the
     * library's own calls. */
    c0 = now();
    if (mw_poll_new(&p) != 0 || mw_waker_new(&w, p, WAKER_TOKEN) != 0)
        bail_out("cannot create a poll and a waker");
    c1 = now();
    if (c1.allocs == c0.allocs)
        plan_skip_all("malloc cannot be replaced here (a sanitizer or "
                      "valgrind owns it)");
    diag("backend %s; locks forwarded through %s", mw_backend(),
         lock_forwarded ? "dlsym(RTLD_NEXT)" : "pthread_mutex_trylock");
    ok(c1.allocs > c0.allocs, "control: the allocation counter sees "
       "mw_poll_new and mw_waker_new allocate (%ld calls)",
       c1.allocs - c0.allocs);
    if (pipe(fds) < 0)
        bail_out("pipe: %s", strerror(errno));
    set_nonblock(fds[0]);
    set_nonblock(fds[1]);
    c0 = now();
    if (mw_poll_register(p, fds[0], PIPE_TOKEN, MW_READABLE) != 0)
        bail_out("mw_poll_register failed");
    c1 = now();
    count_locks = c1.locks > c0.locks;
    if (count_locks)
        ok(true, "control: the lock counter sees mw_poll_register take "
           "its lock (%ld calls)", c1.locks - c0.locks);
    else
        skip(1, "pthread_mutex_lock could not be replaced: lock counts "
             "are not checked");

    /* The first wait may set things up; everything after it is counted. */
    if (mw_waker_wake(w) != 0 || !wait_one(p, ev, 64, WAKER_TOKEN))
        bail_out("the first wake and wait failed");

    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        bad = 0;
        wake_locks = 0;
        c0 = now();
        for (int i = 0; i < ITERATIONS; i++) {
            long l0 = atomic_load(&lock_calls);

            bad += mw_waker_wake(w) != 0;
            wake_locks += atomic_load(&lock_calls) - l0;
            bad += !wait_one(p, ev, caps[k], WAKER_TOKEN);
        }
        c1 = now();
        is_int(bad, 0, "%d wake+wait cycles with capacity %zu each gave "
               "the waker's event", ITERATIONS, caps[k]);
        is_int(c1.allocs - c0.allocs, 0, "... and made no allocation");
        if (!count_locks) {
            skip(1, "lock calls are not counted");
        } else {
            if (libkqueue_user)
                todo("libkqueue's kevent() locks a mutex to trigger a "
                     "knote");
            is_int(wake_locks, 0, "... and the %d signalling wakes took "
                   "no lock", ITERATIONS);
        }
    }

    /* Readiness of a registered pipe: after a first round, nothing. */
    if (write(fds[1], &byte, 1) != 1 || !wait_one(p, ev, 64, PIPE_TOKEN)
        || read(fds[0], &byte, 1) != 1)
        bail_out("the first pipe readiness round failed");
    bad = 0;
    c0 = now();
    for (int i = 0; i < ITERATIONS; i++) {
        bad += write(fds[1], &byte, 1) != 1;
        bad += !wait_one(p, ev, 64, PIPE_TOKEN);
        bad += read(fds[0], &byte, 1) != 1;
    }
    c1 = now();
    is_int(bad, 0, "%d rounds of pipe readiness + wait each gave the "
           "pipe's event", ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... and made no allocation");

    /* 1000 wakes in a row: the first signals, the rest find it pending. */
    bad = 0;
    c0 = now();
    for (int i = 0; i < ITERATIONS; i++)
        bad += mw_waker_wake(w) != 0;
    c1 = now();
    is_int(bad, 0, "%d mw_waker_wake calls in a row returned 0",
           ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... made no allocation");
    if (!count_locks) {
        skip(1, "lock calls are not counted");
    } else {
        if (libkqueue_user)
            todo("libkqueue's kevent() locks a mutex to trigger a knote");
        is_int(c1.locks - c0.locks, 0, "... and took no lock");
    }

    /* Pending wakes alone: no lock on any backend. */
    bad = 0;
    c0 = now();
    for (int i = 0; i < ITERATIONS; i++)
        bad += mw_waker_wake(w) != 0;
    c1 = now();
    is_int(bad, 0, "%d more wakes on the pending waker returned 0",
           ITERATIONS);
    is_int(c1.allocs - c0.allocs, 0, "... made no allocation");
    if (count_locks)
        is_int(c1.locks - c0.locks, 0, "... and took no lock");
    else
        skip(1, "lock calls are not counted");
    ok(wait_one(p, ev, 64, WAKER_TOKEN), "and left one event to collect");

    mw_poll_deregister(p, fds[0]);
    close(fds[0]);
    close(fds[1]);
    mw_waker_free(w);
    mw_poll_free(p);
    return done_testing();
}
