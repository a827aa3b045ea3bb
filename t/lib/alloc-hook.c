/* SPDX-License-Identifier: MIT */
/* The allocation hook: see alloc-hook.h. */
#include "config.h"

#include "alloc-hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

/* Weak: older glibc keeps dlsym in libdl; without it the test skips. */
#if defined(__GNUC__) || defined(__clang__)
# pragma weak dlsym
#endif

/* The allocator runs before the sanitizers' runtimes are set up (ASan's
 * own start-up calls dlsym, which allocates): no instrumentation here. */
#if defined(__has_attribute)
# if __has_attribute(disable_sanitizer_instrumentation)
   /* clang: not even TSan's function entry and exit hooks (which
    * no_sanitize("thread") keeps); clang 14 still needs no_sanitize for
    * ASan's checks. */
#  define NO_SANITIZE __attribute__((disable_sanitizer_instrumentation, \
    no_sanitize("address", "thread", "undefined")))
# elif __has_attribute(no_sanitize)
#  define NO_SANITIZE \
    __attribute__((no_sanitize("address", "thread", "undefined")))
# endif
#endif
#ifndef NO_SANITIZE
# define NO_SANITIZE
#endif

void *memalign(size_t alignment, size_t size);

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*aligned_fn)(size_t, size_t);

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static posix_memalign_fn real_posix_memalign;
static aligned_fn real_aligned_alloc;
static aligned_fn real_memalign;
/* Set by this program's constructor, which runs after every library's
 * (the sanitizers' runtimes included) and before any thread exists:
 * until then every allocation comes from the bootstrap buffer. */
static bool ready;

/* What is allocated before `ready`, dlsym's own allocations included.
 * Never reused, never given to the real free(); each block is preceded
 * by its size. */
#define BOOT_SIZE ((size_t)1 << 20)
static alignas(64) unsigned char boot[BOOT_SIZE];
static size_t boot_used;

static atomic_long live;            /* successful allocations - frees */
/* Inside a real allocator function: musl's calloc, for one, calls the
 * (interposed) malloc; such nested calls are the outer call's business
 * and are neither counted nor failed. */
static _Thread_local int nested;
static atomic_long calls;           /* allocation calls, ever */

/* Failure injection: while armed, the main thread's allocation calls
 * count down and the one that reaches 0 fails. */
static atomic_int armed;
static pthread_t arm_thread;
static long countdown;
static long armed_calls;
static bool injected;

NO_SANITIZE static void *
boot_alloc(size_t size)
{
    size_t start = (boot_used + 16 + 15) & ~(size_t)15;

    if (size > BOOT_SIZE || start + size > BOOT_SIZE)
        return NULL;
    /* start is 16-aligned: the size_t before it is aligned too. */
    *(size_t *)(void *)(boot + start - sizeof(size_t)) = size;
    boot_used = start + size;
    return boot + start;
}

NO_SANITIZE static bool
in_boot(const void *p)
{
    return (const unsigned char *)p >= boot
           && (const unsigned char *)p < boot + BOOT_SIZE;
}

NO_SANITIZE static size_t
boot_size(const void *p)
{
    return *(const size_t *)(const void *)((const unsigned char *)p
                                           - sizeof(size_t));
}

/* POSIX guarantees that dlsym's result converts to a function pointer. */
#define RESOLVE(var, type, name) ((var) = (type)dlsym(RTLD_NEXT, name))

static void
resolve(void)
{
#ifdef RTLD_NEXT
    if (dlsym) {
        RESOLVE(real_malloc, malloc_fn, "malloc");
        RESOLVE(real_calloc, calloc_fn, "calloc");
        RESOLVE(real_realloc, realloc_fn, "realloc");
        RESOLVE(real_free, free_fn, "free");
        RESOLVE(real_posix_memalign, posix_memalign_fn, "posix_memalign");
        RESOLVE(real_aligned_alloc, aligned_fn, "aligned_alloc");
        RESOLVE(real_memalign, aligned_fn, "memalign");
    }
#endif
    ready = real_malloc && real_calloc && real_realloc && real_free
            && real_posix_memalign;
}

__attribute__((constructor)) static void
interposer_init(void)
{
    resolve();
}

/* Under libkqueue only calls from libmiowake's own code are failed:
 * [text_lo, text_hi) is its executable segment. */
static uintptr_t text_lo, text_hi;

NO_SANITIZE static bool
in_text(const void *caller)
{
    return (uintptr_t)caller >= text_lo && (uintptr_t)caller < text_hi;
}

/* Once alloc_hook_only_library() has run (under libkqueue, whose own
 * memory comes and goes on its monitoring thread), the blocks that
 * libmiowake's code allocated are also kept by address, and
 * alloc_hook_live() counts only those.  Open addressing; 0 is a free slot,
 * 1 a deleted one; a spin lock, since nothing here may allocate. */
#define OWN_SLOTS 65536
static uintptr_t own[OWN_SLOTS];
static atomic_flag own_lock = ATOMIC_FLAG_INIT;
static long own_live;

NO_SANITIZE static size_t
own_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 2654435761u) % OWN_SLOTS;
}

NO_SANITIZE static void
own_insert(const void *p)
{
    size_t h = own_hash(p);

    while (atomic_flag_test_and_set_explicit(&own_lock, memory_order_acquire))
        ;
    for (size_t i = 0; i < OWN_SLOTS; i++) {
        size_t j = (h + i) % OWN_SLOTS;

        if (own[j] <= 1) {
            own[j] = (uintptr_t)p;
            own_live++;
            break;
        }
    }
    atomic_flag_clear_explicit(&own_lock, memory_order_release);
}

NO_SANITIZE static bool
own_remove(const void *p)
{
    size_t h = own_hash(p);
    bool found = false;

    while (atomic_flag_test_and_set_explicit(&own_lock, memory_order_acquire))
        ;
    for (size_t i = 0; i < OWN_SLOTS; i++) {
        size_t j = (h + i) % OWN_SLOTS;

        if (own[j] == 0)
            break;
        if (own[j] == (uintptr_t)p) {
            own[j] = 1;
            own_live--;
            found = true;
            break;
        }
    }
    atomic_flag_clear_explicit(&own_lock, memory_order_release);
    return found;
}

NO_SANITIZE static void
note_alloc(void *p, const void *caller)
{
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    if (text_hi != 0 && in_text(caller))
        own_insert(p);
}

NO_SANITIZE static void
note_free(void *p)
{
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    if (text_hi != 0)
        (void)own_remove(p);
}

NO_SANITIZE static bool
should_fail(const void *caller)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&armed, memory_order_acquire)
        || !pthread_equal(pthread_self(), arm_thread))
        return false;
    if (text_hi != 0 && !in_text(caller))
        return false;
    armed_calls++;
    if (--countdown != 0)
        return false;
    injected = true;
    return true;
}

NO_SANITIZE void *
malloc(size_t size)
{
    void *p;

    if (!ready)
        return boot_alloc(size);
    if (nested)
        return real_malloc(size);
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    nested++;
    p = real_malloc(size);
    nested--;
    if (p)
        note_alloc(p, __builtin_return_address(0));
    return p;
}

NO_SANITIZE void *
calloc(size_t n, size_t size)
{
    void *p;

    if (!ready) {
        if (size && n > SIZE_MAX / size)
            return NULL;
        return boot_alloc(n * size);    /* .bss, never reused: zero */
    }
    if (nested)
        return real_calloc(n, size);
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    nested++;
    p = real_calloc(n, size);
    nested--;
    if (p)
        note_alloc(p, __builtin_return_address(0));
    return p;
}

NO_SANITIZE void *
realloc(void *old, size_t size)
{
    void *p;

    if (old != NULL && in_boot(old)) {
        size_t was = boot_size(old);
        unsigned char *to;

        p = malloc(size);
        to = p;
        for (size_t i = 0; p != NULL && i < was && i < size; i++)
            to[i] = ((const unsigned char *)old)[i];
        return p;
    }
    if (!ready)
        return old == NULL ? boot_alloc(size) : NULL;
    if (nested)
        return real_realloc(old, size);
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    nested++;
    p = real_realloc(old, size);
    nested--;
    if (old == NULL) {
        if (p)
            note_alloc(p, __builtin_return_address(0));
    } else if (p) {
        /* Moved (or not): the same block as far as counting goes. */
        if (text_hi != 0
            && (own_remove(old) || in_text(__builtin_return_address(0))))
            own_insert(p);
    } else if (size == 0) {
        note_free(old);                 /* realloc(p, 0) freed it */
    }
    return p;
}

NO_SANITIZE void
free(void *p)
{
    if (p == NULL || in_boot(p) || !ready)
        return;
    if (nested) {
        real_free(p);
        return;
    }
    note_free(p);
    nested++;
    real_free(p);
    nested--;
}

NO_SANITIZE int
posix_memalign(void **out, size_t alignment, size_t size)
{
    int rc;

    if (!ready) {
        void *p = boot_alloc(size + alignment);

        if (p == NULL)
            return ENOMEM;
        *out = (void *)(((uintptr_t)p + alignment - 1)
                        & ~(uintptr_t)(alignment - 1));
        return 0;
    }
    if (nested)
        return real_posix_memalign(out, alignment, size);
    if (should_fail(__builtin_return_address(0)))
        return ENOMEM;
    nested++;
    rc = real_posix_memalign(out, alignment, size);
    nested--;
    if (rc == 0)
        note_alloc(*out, __builtin_return_address(0));
    return rc;
}

NO_SANITIZE static void *
aligned_common(aligned_fn fn, size_t alignment, size_t size,
               const void *caller)
{
    void *p;

    if (!ready || !fn) {
        p = boot_alloc(size + alignment);
        return p == NULL ? NULL
                         : (void *)(((uintptr_t)p + alignment - 1)
                                    & ~(uintptr_t)(alignment - 1));
    }
    if (nested)
        return fn(alignment, size);
    if (should_fail(caller)) {
        errno = ENOMEM;
        return NULL;
    }
    nested++;
    p = fn(alignment, size);
    nested--;
    if (p)
        note_alloc(p, caller);
    return p;
}

NO_SANITIZE void *
aligned_alloc(size_t alignment, size_t size)
{
    return aligned_common(real_aligned_alloc, alignment, size,
                          __builtin_return_address(0));
}

NO_SANITIZE void *
memalign(size_t alignment, size_t size)
{
    return aligned_common(real_memalign, alignment, size,
                          __builtin_return_address(0));
}

/* ---- counting pthread_mutex_lock ---- */

static atomic_long lock_calls;

#ifndef ALLOC_HOOK_SANITIZER

typedef int (*lock_fn)(pthread_mutex_t *);
static lock_fn real_lock;

/* Called on the first lock, which may come before this program's
 * constructor (another library's constructor, say). */
static void
resolve_lock(void)
{
#ifdef RTLD_NEXT
    if (!real_lock && dlsym) {
        void *sym = dlsym(RTLD_NEXT, "pthread_mutex_lock");

        if (sym)
            memcpy(&real_lock, &sym, sizeof(real_lock));
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

bool
alloc_hook_lock_forwarded(void)
{
    resolve_lock();
    return real_lock != NULL;
}

#else /* ALLOC_HOOK_SANITIZER */

bool
alloc_hook_lock_forwarded(void)
{
    return false;
}

#endif /* ALLOC_HOOK_SANITIZER */

long
alloc_hook_lock_calls(void)
{
    return atomic_load(&lock_calls);
}

/* ---- the API ---- */

void
alloc_hook_fail_at(long n)
{
    injected = false;
    armed_calls = 0;
    countdown = n;
    arm_thread = pthread_self();
    atomic_store_explicit(&armed, 1, memory_order_release);
}

bool
alloc_hook_disarm(void)
{
    atomic_store_explicit(&armed, 0, memory_order_release);
    return injected;
}

/* Where libmiowake's code is: the executable segment of the loaded
 * object whose name contains "libmiowake" (or, linked statically, of the
 * executable itself). */
static int
find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    bool want_exe = *(bool *)arg;
    const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";

    (void)size;
    if (want_exe ? *name != '\0' : strstr(name, "libmiowake") == NULL)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            text_lo = info->dlpi_addr + ph->p_vaddr;
            text_hi = text_lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

void
alloc_hook_only_library(void)
{
    bool want_exe = false;

    if (dl_iterate_phdr(find_text, &want_exe) == 0) {
        want_exe = true;
        dl_iterate_phdr(find_text, &want_exe);
    }
    if (text_hi == 0)
        bail_out("cannot find libmiowake's code");
}

long
alloc_hook_live(void)
{
    long n;

    util_settle();
    if (text_hi == 0)
        return atomic_load(&live);
    while (atomic_flag_test_and_set_explicit(&own_lock, memory_order_acquire))
        ;
    n = own_live;
    atomic_flag_clear_explicit(&own_lock, memory_order_release);
    return n;
}

bool
alloc_hook_back_to(long base)
{
    int64_t end = util_now_ms() + UTIL_LONG_MS;

    for (;;) {
        if (alloc_hook_live() == base)
            return true;
        if (!util_caps()->emulated || util_now_ms() > end)
            return false;
        util_sleep_ms(10);
    }
}

long
alloc_hook_calls(void)
{
    return atomic_load(&calls);
}

long
alloc_hook_armed_calls(void)
{
    return armed_calls;
}

bool
alloc_hook_ready(void)
{
    return ready;
}
