/* SPDX-License-Identifier: MIT */
/*
 * The core's data, shared by its two files as one loop and its handles
 * are: poll.c (mw_poll) and waker.c (mw_waker) read and write each
 * other's structs directly, under the poll's lock where the fields say
 * so, instead of calling each other.  Only poll.c and waker.c include
 * this header; the mechanism files see neither struct (internal.h is
 * their whole view of the core).
 */
#ifndef MW_CORE_H
#define MW_CORE_H

#include "internal.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

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
    struct mw__waker *kobj;     /* the kernel object (waker-*.c) */
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
    struct mw__poller *poller;
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

/* waker.c: a reference to the hub dropped; the last frees it. */
void mw__hub_unref(struct waker_hub *hub);

#endif /* MW_CORE_H */
