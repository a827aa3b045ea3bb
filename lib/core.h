/* SPDX-License-Identifier: MIT */
/*
 * The core's data, shared by its two files as one loop and its handles
 * are: poll.c (mw_poll) and waker.c (mw_waker, and the hub their wakers
 * share) read and write each other's structs directly, under the poll's
 * lock where the fields say so.  poll.c calls waker.c for the hub's life
 * and for the wakers' event (the mw__hub_* functions at the end); waker.c
 * calls nothing of poll.c's.  Only the core includes this header (and
 * t/wake-fence-litmus, for the pending flag's primitives); the backends
 * see neither struct (backend.h is their whole view of the core).
 */
#ifndef MW_CORE_H
#define MW_CORE_H

#include "backend.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/* ---- the pending flag's primitives (waker.c) ----
 * The locked-add fence below, MW__NOINLINE and MW__LINE_ALIGNED in
 * waker.c and MW_NOPLT in <miowake.h> were each measured on the pending
 * path of mw_waker_wake() (figures and method in doc/PERFORMANCE.md).
 * Do not copy them to other code, or change them, without the same
 * measurement: they pay off only there. */

/* The full barrier of the pending-flag protocol (waker.c): a seq_cst
 * fence.  On x86-64 it is written as the locked add of zero below the
 * stack pointer that gcc emits for atomic_thread_fence(seq_cst) and that
 * Linux's smp_mb() is; clang (14 at least) emits mfence instead, which
 * costs about six times as much on AMD EPYC (measured: doc/PERFORMANCE.md,
 * not to be copied without measuring the same way).  Both
 * order all ordinary memory accesses; adding zero leaves the red zone's
 * bytes as they were.  ThreadSanitizer understands only the C11 fence,
 * so a TSan build (MW__TSAN, internal.h) keeps it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(MW__TSAN)
# define mw__fence_seq_cst() \
    __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#else
# define mw__fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#endif

/* The two ends of the pending flag (waker.c says why no wake is lost).
 * mw__pending_seen() is a producer's (2) and (3): true if the waker's event is
 * pending (the state is 1, WAKER_LISTED below), so that the wake merges into
 * it.  mw__pending_clear() is the consumer's clear and fence: it sets the
 * state to 0 unless it is 2 (WAKER_FREED below, which it leaves), and returns
 * the state it found.  The fences order atomic accesses only, so plain data
 * written before a wake that merges has no happens-before edge to the
 * consumer's reads, and ThreadSanitizer, which cannot tell, stays blind to the
 * protocol.  A ThreadSanitizer build therefore uses a release
 * read-modify-write and an acquire exchange instead: dearer, just as correct
 * (two read-modify-writes of one flag are totally ordered, so one of them sees
 * the other), and it shows TSan the edge, so that the library's own TSan runs
 * check the protocol rather than miss it. */
static inline bool
mw__pending_seen(atomic_int *pending)
{
#ifdef MW__TSAN
    return atomic_fetch_or_explicit(pending, 0, memory_order_release) == 1;
#else
    mw__fence_seq_cst();
    return atomic_load_explicit(pending, memory_order_relaxed) == 1;
#endif
}

/* The compare-and-swap is a release: the consumer's reads of the waker
 * before it (its next and its token) happen before a wake that then
 * finds the state 0 writes them again.  A 2 is read with acquire: the
 * freeing thread's last accesses happen before the consumer frees it. */
static inline int
mw__pending_clear(atomic_int *pending)
{
    int old = atomic_load_explicit(pending, memory_order_acquire);

    do {
        if (old == 2)
            return old;
#ifdef MW__TSAN
    } while (!atomic_compare_exchange_weak_explicit(
                 pending, &old, 0, memory_order_acq_rel,
                 memory_order_acquire));
#else
    } while (!atomic_compare_exchange_weak_explicit(
                 pending, &old, 0, memory_order_release,
                 memory_order_acquire));
    mw__fence_seq_cst();
#endif
    return old;
}

/* A descriptor's place in the poll, indexed by its number. */
struct fd_slot {
    mw_token token;
    unsigned interest;
    bool registered;            /* by the caller */
};

/*
 * A waker's states (struct mw_waker's `pending`), argued in waker.c:
 *   IDLE      no event pending; the waker is on no list.
 *   LISTED    its event is pending: it is on its hub's ready list (or the
 *             poll's leftover list), and the hub's kernel object was
 *             signalled for it or by a wake before it.
 *   UNSIGNALLED  listed, but the signal its wake made failed: the next
 *             wake signals again instead of merging.
 *   FREED     mw_waker_free() ran while it was listed: whoever takes it
 *             off the list frees it instead of handing its event out.
 * Only LISTED is "pending" for the wake's fast path (mw__pending_seen).
 */
enum { WAKER_IDLE = 0, WAKER_LISTED = 1, WAKER_FREED = 2,
       WAKER_UNSIGNALLED = 3 };

/*
 * What the wakers of one poll share: its one kernel object, and the
 * ready list of the wakers whose event is pending.  Producers (wakes)
 * push onto `head` with a compare-and-swap; the one waiting thread takes
 * the whole list with an exchange.  Push-only and take-all is free of
 * ABA, needs no lock, and is async-signal-safe.  The hub outlives its
 * poll while wakers remain: each waker and the poll hold a reference,
 * and the last one closes the kernel object, so its descriptor number
 * is never reused under a wake.
 */
struct waker_hub {
    alignas(64) _Atomic(mw_waker *) head;
    /* A signal failed: the next wake signals even onto a non-empty
     * list.  Cleared by the wake that then signals. */
    atomic_int owed;
    struct mw__os_waker *kobj;  /* the kernel object (waker-*.c) */
    atomic_int refs;
    /* mw_poll_free() has run: nobody takes the list any more, and a
     * waker freed while listed is freed with the hub. */
    atomic_int orphaned;
    /* The process that made it: the last reference, dropped in a fork()
     * child, only closes what the child inherited.  Asked only then, so
     * that making and freeing a waker makes no system call (getpid() is
     * one, uncached since glibc 2.25). */
    pid_t pid;
};

/* The cookie of the hub's kernel object: the one waker cookie. */
#define HUB_COOKIE MW__COOKIE_WAKER

struct mw_poll {
    struct mw__os_poller *poller;
    pid_t pid;                  /* of the process that made it (fork) */
    /* A thread is inside mw_poll_wait(): a second one gets -EBUSY rather
     * than a share of the events, which it could not tell from its own. */
    /* An int, not a bool: a one-byte exchange is a libatomic call on
     * some architectures (riscv64 with GCC 12), and the wait must not
     * pull in a library for it. */
    atomic_int waiting;
    /*
     * Guards the table below.  Registration calls hold it across their
     * kernel call so the table and the kernel's set change together; the
     * wait takes it only to translate a batch, never while it blocks.
     */
    pthread_mutex_t lock;
    struct fd_slot *fds;        /* indexed by descriptor number */
    size_t nfds;
    struct waker_hub *hub;
    /* Wakers taken from the hub beyond what the caller's array could
     * hold, oldest first: they go out first on the next wait.  Only the
     * waiting thread touches them (the -EBUSY rule). */
    mw_waker *leftover;
    mw_waker **leftover_tail;
    /* What the backend fetched, as (cookie, flags) pairs, before the wait
     * turns the live ones into the caller's events: the caller's array is
     * written only with events it gets, so a wait that fails after a
     * batch of stale ones leaves it as it was.  Only the waiting thread
     * touches it. */
    struct mw_event *fetched;
    size_t nfetched;
};

struct mw_waker {
    mw_token token;             /* the caller's, handed out by the wait */
    struct waker_hub *hub;
    /* The next waker on the hub's list, written by the wake that pushes
     * this one and read by the thread that takes it, before it clears
     * `pending` (after which a wake may push it again). */
    mw_waker *next;
    /*
     * The state (WAKER_IDLE ...), 64 bytes into the struct with 64 bytes
     * of the struct after it, so that, wherever malloc() puts the struct,
     * the cache line that holds it holds no other object's bytes:
     * producers that find it LISTED only read it, so a burst of wakes on
     * a pending waker shares the line instead of bouncing it.  (Padding,
     * not alignas(64): glibc's posix_memalign() leaves a fragment of each
     * block on its free lists, and after many frees each later
     * allocation sorted through thousands of them -- t/bench-create saw
     * 90 us a waker; and a pointer into the middle of a block is what
     * valgrind calls possibly lost.)  Why no wake is lost is argued in
     * waker.c, whose steps the code cites.
     */
    char before_pending[64 - sizeof(mw_token) - 2 * sizeof(void *)];
    atomic_int pending;
    char after_pending[64 - sizeof(atomic_int)];
};
_Static_assert(offsetof(struct mw_waker, pending) == 64,
               "a waker's state must be 64 bytes into it");

/* ---- the wakers' side of a poll (waker.c), called by poll.c ---- */

/* Make the poll's hub: its one waker object, opened and armed under
 * HUB_COOKIE, and its ready list; the poll holds the first reference.
 * 0 or -errno. */
int  mw__hub_open(mw_poll *poll);
/* The consumer's side of the protocol, on the waiting thread: if the
 * batch held the hub's event (hub_event), consume the kernel object and
 * take the ready list; then hand out up to room of the listed wakers'
 * events into ev.  Returns their count. */
int  mw__hub_deliver(mw_poll *poll, struct mw_event *ev, size_t room,
                     bool hub_event);
/* mw_poll_free(): nobody will take the ready list again.  Drops the
 * poll's reference to the hub. */
void mw__hub_orphan(mw_poll *poll);

#endif /* MW_CORE_H */
