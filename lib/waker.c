/* SPDX-License-Identifier: MIT */
/*
 * The pending-flag protocol, both its halves beside the argument below:
 * the portable half of mw_waker (its state, its wake: the producer, and
 * its lifetime), and the wait's side of the hub that a poll's wakers
 * share (its kernel object and ready list: the consumer).  The wakers
 * of one poll share one kernel object (eventfd, EVFILT_USER, self-pipe:
 * the waker-*.c that configure linked) and one ready list, both in the
 * poll's hub (core.h), so a waker costs no descriptor and no system
 * call to create.
 *
 * Why no wake is lost.  A waker's state is LISTED from the wake that put
 * it on the hub's ready list until the wait has taken it off and clears
 * it, else IDLE (core.h has the two rarer states).  A producer P does:
 * (1) its own writes (the data the consumer will look at: atomic objects,
 * of any order, for C11's fences order only atomic accesses; plain data
 * needs a lock of its own), (2) a seq_cst fence, (3) a relaxed load of
 * the state; if it reads LISTED it returns without a system call.
 * Otherwise (4) it exchanges the state for LISTED, and only the wake that
 * turned IDLE into LISTED goes on: (5) it pushes the waker onto the ready
 * list, and (6) signals the kernel object only if the list was empty
 * before its push (or a signal is owed, below): the wakes of a burst
 * share one system call.
 * The consumer C, on the kernel object's event, does: (a) collect the
 * event, (b) consume what the kernel object holds, (c) take the whole
 * list with one exchange, then for each waker taken: (d) read its next
 * and its token, (e) clear its state with a release compare-and-swap,
 * (f) a seq_cst fence, (g) hand the event out, after which its caller
 * reads the data.
 *
 * For one waker the argument is the flag's: the fences (2) and (f) are
 * ordered one way or the other.  If P's comes first, C's reads after (f)
 * see P's writes: the event C hands out covers P's wake.  If C's comes
 * first, P's load (3) sees the IDLE stored at (e), or a LISTED stored
 * after it by a wake that will push and signal again.  Without the
 * fences this is the store-buffering pattern: P could read a stale
 * LISTED while C reads stale data, and both would sleep.
 * For the list: a push onto an empty list signals, and C consumes (b)
 * before it takes (c), so a signal C consumed was made for a push that C
 * then takes, and a push after the take finds the list empty and signals
 * anew.  Taking first would let C consume the signal of a push it did not
 * take: that waker would stay listed with no event to find it, and every
 * later wake onto the non-empty list would trust it.  (d) comes before
 * (e) because once the state is IDLE a wake may push the waker again,
 * writing its next.
 *
 * A signal that fails.  The wake returns the error; its waker stays on
 * the list, marked UNSIGNALLED so that its next wake signals instead of
 * merging, and the hub owes a signal, so that the next push, even onto a
 * non-empty list, signals too.  Wakes that found the list non-empty
 * while that signal was being made trusted it and are lost with it, as
 * mw_waker_new(3) says; no wake waits for another to finish, because it
 * may run in a signal handler that interrupted that very wake.
 *
 * Lifetime.  The caller never frees a waker while it is being woken.  A
 * waker freed while listed cannot leave the list (only the consumer takes
 * from it), so mw_waker_free() marks it FREED and the consumer, whose
 * clear (e) finds that mark, frees it instead of handing its event out.
 * Once the poll is freed nobody takes the list: a waker freed while
 * listed is then freed with the hub, by the last reference.
 *
 * P is mw_waker_wake() and wake_signal() here.  C is mw_poll_wait()
 * (poll.c), which, when a batch holds the hub's event, calls
 * mw__hub_deliver() here: take_ready() is (b) and (c), emit_ready() (d)
 * to (g); mw__hub_orphan() clears the same way when the poll is freed.
 */
#include "core.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
# define MW__NOINLINE __attribute__((noinline))
# define MW__LINE_ALIGNED __attribute__((aligned(64)))
#else
# define MW__NOINLINE
# define MW__LINE_ALIGNED
#endif

/* Free the hub once its poll and every waker are gone.  In a fork()
 * child the kernel object is shared with the parent, and only closed. */
static void
hub_unref(struct waker_hub *hub)
{
    mw_waker *w;

    if (atomic_fetch_sub_explicit(&hub->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* Nobody else can reach the hub: what is left on the list are the
     * wakers freed while listed after the poll was freed. */
    w = atomic_load_explicit(&hub->head, memory_order_acquire);
    while (w) {
        mw_waker *next = w->next;

        free(w);
        w = next;
    }
    mw__os_waker_close(hub->kobj, hub->pid != getpid());
    free(hub);
}

/* Drop the reference of a waker freed while listed, for the consumer,
 * which frees the waker itself: never the hub's last, as the poll holds
 * one until mw__hub_orphan() ends, so the hub stays (hub_unref()'s count,
 * without its freeing, which the consumer must never reach). */
static void
hub_drop_freed_waker(struct waker_hub *hub)
{
    (void)atomic_fetch_sub_explicit(&hub->refs, 1, memory_order_acq_rel);
}

MW_EXPORT int
mw_waker_new(mw_waker **out, mw_poll *poll, mw_token token)
{
    int saved = errno;
    mw_waker *w;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!poll)
        return -EINVAL;
    /* malloc(), not posix_memalign(): core.h says why. */
    w = malloc(sizeof(*w));
    if (!w) {
        mw__errno_restore(saved);
        return -ENOMEM;
    }
    atomic_init(&w->pending, WAKER_IDLE);
    w->next = NULL;
    w->hub = poll->hub;
    w->token = token;
    atomic_fetch_add_explicit(&w->hub->refs, 1, memory_order_relaxed);
    *out = w;
    mw__errno_restore(saved);
    return 0;
}

/* (4) to (6), and the signal a failure left owed.  Kept out of line
 * (noinline: a static function called once is otherwise inlined back)
 * so that the pending path in mw_waker_wake() needs no stack frame:
 * inlined, its callee-saved registers are pushed before the fence on
 * every wake: 15 instructions instead of 9, and a fifth more time.
 * Measured (doc/PERFORMANCE.md has the figures); not to be copied to
 * other functions without the same measurement. */
MW__NOINLINE static int
wake_signal(mw_waker *waker)
{
    struct waker_hub *hub = waker->hub;
    mw_waker *old = NULL;
    int prev, saved, rc, listed;

    /* Only the wake that turns IDLE into LISTED pushes; a concurrent one
     * that loses the race merges into that push.  One that finds the
     * signal of its own last wake failed signals again. */
    prev = atomic_exchange_explicit(&waker->pending, WAKER_LISTED,
                                    memory_order_acq_rel);
    if (prev == WAKER_LISTED)
        return 0;
    if (prev == WAKER_IDLE) {
        old = atomic_load_explicit(&hub->head, memory_order_relaxed);
        do
            waker->next = old;
        while (!atomic_compare_exchange_weak_explicit(
                   &hub->head, &old, waker, memory_order_seq_cst,
                   memory_order_relaxed));
        if (old && !atomic_load_explicit(&hub->owed, memory_order_seq_cst))
            return 0;
    }
    /* This signal pays what a failed one left owed. */
    if (atomic_load_explicit(&hub->owed, memory_order_relaxed))
        atomic_store_explicit(&hub->owed, 0, memory_order_seq_cst);
    /* The backend's system call may change errno: keep the caller's. */
    saved = errno;
    rc = mw__os_waker_signal(hub->kobj);
    if (rc < 0) {
        atomic_store_explicit(&hub->owed, 1, memory_order_seq_cst);
        listed = WAKER_LISTED;
        (void)atomic_compare_exchange_strong_explicit(
            &waker->pending, &listed, WAKER_UNSIGNALLED,
            memory_order_relaxed, memory_order_relaxed);
    }
    mw__errno_restore(saved);
    return rc;
}

/* Starts a 64-byte line, so that the pending path (24 bytes on x86-64)
 * never straddles two: where the link put it across a boundary, a
 * pending wake took 1.25 times the inline limit instead of 1.10 (t/bench-
 * pending, doc/PERFORMANCE.md 6.2).  Measured there; not to be copied
 * without the same measurement. */
MW_EXPORT MW__LINE_ALIGNED int
mw_waker_wake(mw_waker *waker)
{
    if (!waker)
        return -EINVAL;
    /* (2) and (3) of the argument at the top of this file. */
    if (mw__pending_seen(&waker->pending))
        return 0;
    return wake_signal(waker);
}

MW_EXPORT void
mw_waker_free(mw_waker *waker)
{
    int saved = errno;
    struct waker_hub *hub;
    int prev;

    if (!waker)
        return;
    hub = waker->hub;
    /* A fork() child frees its copy as the parent would: nothing here
     * takes a lock, and only the hub's last reference closes anything. */
    prev = atomic_exchange_explicit(&waker->pending, WAKER_FREED,
                                    memory_order_acq_rel);
    if (prev == WAKER_IDLE) {
        free(waker);
        hub_unref(hub);
    } else if (atomic_load_explicit(&hub->orphaned, memory_order_acquire)) {
        /* Listed, and no wait will take it: the hub's last reference
         * frees it with the list. */
        hub_unref(hub);
    }
    /* Else listed: the wait that takes it frees it, and drops its
     * reference (emit_ready()). */
    mw__errno_restore(saved);
}

/* ---- the hub on its poll's side, called by poll.c: its making, the
 * consumer, and its orphaning ---- */

/* The poll's one waker object, armed under HUB_COOKIE, and its ready
 * list; the poll holds the first reference. */
int
mw__hub_open(mw_poll *poll)
{
    struct waker_hub *hub;
    void *mem;
    int rc;

    if (posix_memalign(&mem, alignof(struct waker_hub), sizeof(*hub)) != 0)
        return -ENOMEM;
    hub = mem;
    atomic_init(&hub->head, NULL);
    atomic_init(&hub->owed, 0);
    atomic_init(&hub->refs, 1);
    atomic_init(&hub->orphaned, 0);
    hub->pid = poll->pid;
    rc = mw__os_waker_open(&hub->kobj, poll->poller);
    if (rc < 0) {
        free(hub);
        return rc;
    }
    rc = mw__os_waker_arm(hub->kobj, poll->poller, HUB_COOKIE);
    if (rc < 0) {
        mw__os_waker_close(hub->kobj, false);
        free(hub);
        return rc;
    }
    poll->hub = hub;
    return 0;
}

/* Steps (b) and (c) of the argument above, on the hub's event:
 * consume the kernel object, then take the whole ready list, and queue
 * it, oldest push first, behind what an earlier wait left.  The waiting
 * thread alone. */
static void
take_ready(mw_poll *poll)
{
    mw_waker *w, *oldest, *fifo = NULL;

    mw__os_waker_consume(poll->hub->kobj);
    w = atomic_exchange_explicit(&poll->hub->head, NULL,
                                 memory_order_acquire);
    oldest = NULL;
    while (w) {
        mw_waker *next = w->next;

        if (!oldest)
            oldest = w;
        w->next = fifo;
        fifo = w;
        w = next;
    }
    if (!fifo)
        return;
    *poll->leftover_tail = fifo;
    poll->leftover_tail = &oldest->next;
}

/* Steps (d) to (g): hand out up to room of the queued wakers' events.
 * A waker freed while listed is freed here instead.  The waiting thread
 * alone. */
static int
emit_ready(mw_poll *poll, struct mw_event *ev, size_t room)
{
    size_t k = 0;

    while (poll->leftover && k < room) {
        mw_waker *w = poll->leftover;
        mw_waker *next = w->next;
        mw_token token = w->token;

        poll->leftover = next;
        if (!next)
            poll->leftover_tail = &poll->leftover;
        if (mw__pending_clear(&w->pending) == WAKER_FREED) {
            free(w);
            hub_drop_freed_waker(poll->hub);
            continue;
        }
        ev[k].token = token;
        ev[k].flags = MW_EV_READABLE;
        k++;
    }
    return (int)k;
}

int
mw__hub_deliver(mw_poll *poll, struct mw_event *ev, size_t room,
                bool hub_event)
{
    if (hub_event)
        take_ready(poll);
    return emit_ready(poll, ev, room);
}

/* The poll is going: nobody will take the ready list again.  Wakers
 * still alive keep waking the hub's kernel object, which stays open
 * until the last of them is freed, and their wakes return 0.  The listed
 * ones are made idle, and those freed while listed are freed now; a
 * waker listed from now on and then freed is freed with the hub. */
void
mw__hub_orphan(mw_poll *poll)
{
    struct waker_hub *hub = poll->hub;
    mw_waker *w;

    atomic_store_explicit(&hub->orphaned, 1, memory_order_seq_cst);
    w = atomic_exchange_explicit(&hub->head, NULL, memory_order_acquire);
    *poll->leftover_tail = w;
    w = poll->leftover;
    while (w) {
        mw_waker *next = w->next;

        if (mw__pending_clear(&w->pending) == WAKER_FREED) {
            free(w);
            hub_drop_freed_waker(hub);
        }
        w = next;
    }
    hub_unref(hub);
}
