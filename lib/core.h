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
#include <sys/types.h>

/* A descriptor's place in the poll, indexed by its number. */
struct fd_slot {
    mw_token token;
    unsigned interest;
    bool registered;            /* by the caller */
    bool waker;                 /* a waker's own descriptor: not the caller's */
};

/*
 * A waker's place in the poll.  A slot is reused by the next waker, and an
 * event the wait has already fetched from the kernel may belong to the
 * waker that held it before, freed meanwhile: the generation, counted per
 * slot and carried in the cookie, tells the two apart, so that such an
 * event is dropped instead of being handed out in the new waker's name.
 *
 * A waker's cookie is MW__COOKIE_WAKER | generation << WAKER_GEN_SHIFT |
 * slot index: the generation takes bits 32-63 where mw_token has them,
 * else bits 16-30, which caps a 32-bit poll at 65,536 wakers and makes an
 * event outlive 32,768 reuses of its slot before it could be mistaken.
 */
struct waker_slot {
    mw_waker *waker;            /* NULL when free */
    mw_token gen;
};

#if UINTPTR_MAX > 0xFFFFFFFFu
# define WAKER_GEN_SHIFT 32
# define WAKER_GEN_MAX ((mw_token)0xFFFFFFFFu)
# define WAKER_ID_MAX ((size_t)MW__COOKIE_WAKER - 1)
#else
# define WAKER_GEN_SHIFT 16
# define WAKER_GEN_MAX ((mw_token)0x7FFFu)
# define WAKER_ID_MAX ((size_t)0xFFFFu)
#endif

static inline size_t
waker_id(mw_token cookie)
{
    return (size_t)(cookie & WAKER_ID_MAX);
}

static inline mw_token
waker_gen(mw_token cookie)
{
    return (cookie >> WAKER_GEN_SHIFT) & WAKER_GEN_MAX;
}

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
     * Guards the tables below.  Registration calls hold it across their
     * kernel call so the table and the kernel's set change together; the
     * wait takes it only to translate a batch, never while it blocks.
     * mw_waker_new() and mw_waker_free() (waker.c) hold it to take and
     * give back a waker's slot.
     */
    pthread_mutex_t lock;
    struct fd_slot *fds;        /* indexed by descriptor number */
    size_t nfds;
    struct waker_slot *wakers;  /* indexed by the waker's cookie */
    size_t nwakers;
    /* What the backend fetched, as (cookie, flags) pairs, before the wait
     * turns the live ones into the caller's events: the caller's array is
     * written only with events it gets, so a wait that fails after a
     * batch of stale ones leaves it as it was.  Only the waiting thread
     * touches it. */
    struct mw_event *fetched;
    size_t nfetched;
};

struct mw_waker {
    /*
     * The pending flag: 1 from the wake that signals the kernel object
     * until the wait has collected that signal's event, else 0.  Its own
     * cache line: producers that find it set only read it, so a burst of
     * wakes on a pending waker shares the line instead of bouncing it.
     * Set by mw_waker_wake() (any thread, signal handlers); cleared only
     * by the thread in mw_poll_wait(), in deliver() (poll.c).  Why no
     * wake is lost is argued in waker.c, whose steps (1)-(3) and (a)-(e)
     * the code cites.
     *
     * The signalling half of a wake reads `kobj` next, so it follows the
     * flag; the rest is read only under the poll's lock or on free.
     */
    alignas(64) atomic_int pending;
    struct mw__waker *kobj;     /* the kernel object (waker-*.c) */
    mw_token token;             /* the caller's, handed out by deliver() */
    mw_token cookie;            /* names the slot and its generation */
    mw_poll *poll;              /* NULL once mw_poll_free() has run */
    pid_t pid;                  /* of the process that made it (fork) */
};

#endif /* MW_CORE_H */
