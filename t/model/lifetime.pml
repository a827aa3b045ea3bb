/* SPDX-License-Identifier: MIT */
/*
 * A waker's lifetime against the wait, for SPIN (doc/MODEL.md): a waker
 * freed while its event is pending, and its slot taken by a new waker
 * while the wait holds the old waker's event, fetched but not yet
 * delivered.  The memory model is sequential consistency here (the flag
 * protocol under weaker ones is t/model/waker.pml's); what this model
 * checks is the cookie: deliver() (lib/poll.c) must drop an event whose
 * generation is not its slot's, and never hand one out under a freed
 * waker's token.
 *
 * Waker 0 holds slot 0 from the start, is woken by two threads and freed
 * by its owner once the other thread is done with it (joined); the owner
 * then makes waker 1, which attach() puts in slot 0 with the next
 * generation, and wakes it.  The kernel object is an eventfd behind an
 * edge-triggered poller.
 *
 *   -DNO_GEN_CHECK  deliver() trusts the slot without comparing
 *                   generations (known broken: expect a trail)
 *   -DGEN_MOD=n     generations counted modulo n (WAKER_GEN_MAX + 1),
 *                   default 4; 2 or more keeps one reuse apart.
 */

#ifndef GEN_MOD
#define GEN_MOD 4
#endif
#define NONE 255
#define NW 2                            /* waker objects */

/* the poll: its lock and the one waker slot (struct waker_slot) */
bool lock;
byte slot_waker = 0;                    /* waker 0 attached at start */
byte slot_gen = 1;

/* each waker object */
bool pending[NW];
bool freed[NW];
/* its kernel object: registered with the poller, ready in the poller's
 * list, and the generation of the cookie it was armed with */
bool kreg[NW] = 1;
bool kready[NW];
byte kgen[NW] = 1;

/* ghosts */
bool helper_done;
byte handed[NW];                        /* events handed out as waker w's */
bool woke1;                             /* waker 1's wake returned 0 */

inline LOCK()   { atomic { !lock -> lock = 1 } }
inline UNLOCK() { lock = 0 }

/* mw_waker_wake under SC (the fence is then no constraint) */
inline WAKE(w)
{
    if
    :: pending[w] -> skip                       /* (3): merged */
    :: else ->
        atomic { old = pending[w]; pending[w] = 1 }     /* exchange */
        if
        :: old -> skip                          /* merged */
        :: else -> atomic { kready[w] = 1 }     /* mw__os_waker_signal */
            printf("MSC: %d wakes waker %d: signals\n", _pid, w)
        fi;
        old = 0
    fi
}

active proctype helper()
{
    bool old;

    WAKE(0);
    helper_done = 1
}

active proctype owner()
{
    bool old;
    byte g;

    WAKE(0);
    helper_done;                        /* the join: no wake on 0 now */
    /* mw_waker_free(0): detach() under the lock, then close */
    LOCK();
    slot_waker = NONE;
    UNLOCK();
    atomic { kreg[0] = 0; kready[0] = 0; freed[0] = 1 }  /* close, free */
    printf("MSC: owner frees waker 0 (detach, close)\n");
    /* mw_waker_new(1): attach() takes slot 0 with the next generation */
    LOCK();
    g = (slot_gen + 1) % GEN_MOD;
    kgen[1] = g;                        /* mw__os_waker_arm under cookie g */
    kreg[1] = 1;
    slot_gen = g;
    slot_waker = 1;
    UNLOCK();
    printf("MSC: owner makes waker 1: slot 0, generation %d\n", g);
    g = 0;
    WAKE(1);
    woke1 = 1
}

/* mw_poll_wait: mw__os_poller_wait fetches (cookie) pairs without the lock;
 * deliver() translates them under it. */
active proctype consumer()
{
    byte evgen, evobj, w;

end_wait:
    do
    :: atomic {
           kready[0] && kreg[0] -> kready[0] = 0; evgen = kgen[0]; evobj = 0
       }
       printf("MSC: wait fetches waker 0's event, generation %d\n", evgen);
       goto deliver
    :: atomic {
           kready[1] && kreg[1] -> kready[1] = 0; evgen = kgen[1]; evobj = 1
       }
       printf("MSC: wait fetches waker 1's event, generation %d\n", evgen);
deliver:
       LOCK();
       /* waker_of(): the slot's waker if the cookie's generation is the
        * slot's, else NULL (the event is dropped) */
       if
#ifdef NO_GEN_CHECK
       :: slot_waker != NONE ->
#else
       :: slot_waker != NONE && slot_gen == evgen ->
#endif
           w = slot_waker;
           printf("MSC: deliver: event of waker %d (generation %d) handed out as waker %d's\n",
                  evobj, evgen, w);
           /* no event under a freed waker's token, nor another's */
           assert(!freed[evobj] && w == evobj);
           /* (b) nothing to consume for an eventfd, (c) clear, (d) */
           pending[w] = 0;
           handed[w]++
       :: else ->                       /* stale: dropped */
           printf("MSC: deliver drops waker %d's event (generation %d, slot's %d)\n",
                  evobj, evgen, slot_gen)
       fi;
       UNLOCK();
       evgen = 0; evobj = 0; w = 0
    od
}

/* No lost wake on the new waker: when nothing can move, its wake has
 * been handed out under its token. */
active proctype watchdog()
{
    timeout -> assert(woke1 && handed[1] >= 1)
}
