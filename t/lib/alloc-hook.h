/* SPDX-License-Identifier: MIT */
/*
 * The allocation hook, linked into the tests that count or fail
 * allocations (t/fault-enomem.c, t/fault-emfile.c, t/wait-no-alloc.c):
 * t/lib/alloc-hook.c is one of their sources, not part of t/libtap.a.
 *
 * It replaces malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc and memalign for the whole process.  Each call is counted
 * and forwarded to the next definition found by dlsym(RTLD_NEXT): libc's,
 * or a sanitizer's.  What is allocated before the program's constructors
 * have run (dlsym's own allocations, a sanitizer's start-up) comes from a
 * static bootstrap buffer.  Outside sanitizer builds it also wraps
 * pthread_mutex_lock, to count lock calls.
 *
 * alloc_hook_ready() is false where dlsym is missing; where something
 * else replaces the allocator in the executable (valgrind), the counters
 * do not move: callers check both and skip.
 */
#ifndef MW_ALLOC_HOOK_H
#define MW_ALLOC_HOOK_H

#include <stdbool.h>

/* ALLOC_HOOK_SANITIZER: this is a sanitizer build.  Its runtime owns
 * pthread_mutex_lock (ThreadSanitizer's does), so the hook leaves the
 * lock alone there, and a test that counts lock calls skips. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define ALLOC_HOOK_SANITIZER 1
#endif
#if defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer) || __has_feature(hwaddress_sanitizer)
#  ifndef ALLOC_HOOK_SANITIZER
#   define ALLOC_HOOK_SANITIZER 1
#  endif
# endif
#endif

/* ---- counters ---- */

/* The real allocator was found: the interposition can work. */
bool alloc_hook_ready(void);
/* Allocation calls (malloc, calloc, realloc, the aligned ones) made by
 * any thread, ever; a call an allocator function makes on its own behalf
 * (musl's calloc calls malloc) is not counted again. */
long alloc_hook_calls(void);
/* Live blocks: successful allocations minus frees.  After
 * alloc_hook_only_library(), only the blocks libmiowake's own code
 * allocated.  Under libkqueue it lets libkqueue settle first
 * (util_settle()). */
long alloc_hook_live(void);
/* Is alloc_hook_live() back at `base`?  Under libkqueue, whose monitoring
 * thread frees a closed kqueue's memory when it gets to it, this waits
 * for that (up to UTIL_LONG_MS). */
bool alloc_hook_back_to(long base);

/* pthread_mutex_lock calls, by any thread (0 where the lock is not
 * wrapped: a sanitizer build). */
long alloc_hook_lock_calls(void);
/* The wrapped pthread_mutex_lock forwards to the real one through dlsym
 * (else through a pthread_mutex_trylock loop, equivalent for the default
 * mutexes the library uses). */
bool alloc_hook_lock_forwarded(void);

/* ---- failure injection ---- */

/* Make the n-th allocation call of the calling thread from now fail
 * (NULL and ENOMEM, or ENOMEM from posix_memalign), once. */
void alloc_hook_fail_at(long n);
/* Stop counting down; returns whether the failure was injected. */
bool alloc_hook_disarm(void);
/* Allocation calls the calling thread made while armed (the last time). */
long alloc_hook_armed_calls(void);

/* From now on only allocations made by libmiowake's own code are failed
 * and counted as live: under libkqueue, whose own memory comes and goes
 * on its monitoring thread.  Bails out if libmiowake's code is not
 * found. */
void alloc_hook_only_library(void);

#endif /* MW_ALLOC_HOOK_H */
