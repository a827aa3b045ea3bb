/* SPDX-License-Identifier: MIT */
/*
 * The pending-flag protocol of mw_waker (the argument at the top of
 * lib/waker.c), for SPIN.  doc/MODEL.md maps every step below onto lib/
 * and records the runs; `make check-model` runs the configurations.
 *
 * Threads: NPROD producers (mw_waker_wake), each making WAKES wakes, and
 * one consumer (mw_poll_wait and deliver).  Shared memory: the pending
 * flag (location FLAG) and one published counter per producer (location
 * PUB(i)): the data a producer writes before its wake and the consumer
 * reads after handing the event out.  The kernel object is not memory:
 * its operations are atomic steps on kernel state.
 *
 * Choose with spin -D:
 *   memory model  MODEL_SC (default), MODEL_TSO, MODEL_PSO, MODEL_WEAK
 *   kernel object KOBJ_EVENTFD (default), KOBJ_PIPE; LEVEL for a
 *                 level-triggered poller (poll(2)) instead of an edge
 *   failures      SIGNAL_FAILS: a signal may fail (then the flag is reset)
 *   broken        CLEAR_BEFORE_CONSUME, NO_FENCES, NO_PRODUCER_FENCE
 *   size          NPROD (2 or 3), WAKES (1 or 2), PIPE_CAP
 *
 * The flag's value is 0 or the "epoch" of the exchange that set it, a
 * ghost number that the C code does not have (it stores 1): with it, a
 * wake that merged into a signal that later failed is known, and is
 * excused, as mw_waker_new(3) says such wakes are lost.
 */

#ifndef NPROD
#define NPROD 2
#endif
#ifndef WAKES
#define WAKES 2
#endif
#ifndef PIPE_CAP
#define PIPE_CAP 2
#endif

#if !defined(MODEL_TSO) && !defined(MODEL_PSO) && !defined(MODEL_WEAK)
#define MODEL_SC 1
#endif
/* PSO's per-location buffers are the store side of the weak model. */
#ifdef MODEL_WEAK
#define MODEL_PSO 1
#endif
#if !defined(KOBJ_PIPE)
#define KOBJ_EVENTFD 1
#endif
#ifdef NO_FENCES
#define NO_PRODUCER_FENCE 1
#define NO_CONSUMER_FENCE 1
#endif

#define NT      (NPROD + 1)             /* threads: producers, consumer */
#define CONS    NPROD                   /* the consumer's thread number */
#define NL      (NPROD + 1)             /* locations: FLAG, PUB(0..)    */
#define FLAG    0
#define PUB(i)  ((i) + 1)
#define BUFSZ   (WAKES + 2)
#define NEPOCH  (NPROD * WAKES + 1)

byte mem[NL];                           /* what memory holds */

#ifndef MODEL_SC
/* Per-thread store buffers of (location, value).  TSO drains each in
 * order; PSO drains the oldest store of any one location (random
 * receive).  nb and lastw let a load forward from its own buffer. */
chan buf[NT] = [BUFSZ] of { byte, byte };
byte nb[NT * NL];
byte lastw[NT * NL];
#endif
#ifdef MODEL_WEAK
/* The value each thread may still read for each location: the newest of
 * memory at its last fence, its own last store and its last load there.
 * A load returns that or memory's current value: a load performed early,
 * as far back as the last fence, without breaking coherence. */
byte snap[NT * NL];
#endif

/* ---- the kernel object ---- */
bool ready;                             /* poller: an event to collect   */
#ifdef KOBJ_EVENTFD
byte ecount;                              /* the eventfd counter           */
#else
byte bytes;                             /* bytes in the pipe             */
#endif

/* ---- ghosts, for the properties ---- */
byte wepoch[NPROD * WAKES];             /* the epoch a wake returned 0 on */
bool failed[NEPOCH];                    /* that epoch's signal failed     */
byte nextepoch = 1;
byte seen[NPROD];                       /* newest PUB(i) the consumer read */
byte done;                              /* producers finished             */

/* ---- memory operations ---- */

inline STORE(t, L, v)
{
#ifdef MODEL_SC
    mem[L] = v
#else
    atomic {
        nfull(buf[t]) -> buf[t]!L,v;
        nb[(t) * NL + (L)]++;
        lastw[(t) * NL + (L)] = v;
#ifdef MODEL_WEAK
        snap[(t) * NL + (L)] = v
#endif
    }
#endif
}

inline LOAD(t, L, r)
{
#ifdef MODEL_SC
    r = mem[L]
#else
    atomic {
        if
        :: nb[(t) * NL + (L)] > 0 -> r = lastw[(t) * NL + (L)]
        :: else ->
#ifdef MODEL_WEAK
            if
            :: r = mem[L]
            :: r = snap[(t) * NL + (L)]
            fi;
            snap[(t) * NL + (L)] = r
#else
            r = mem[L]
#endif
        fi
    }
#endif
}

/* A seq_cst fence (mw__fence_seq_cst): wait until the thread's buffer is
 * drained; no later load reads a value older than memory's now. */
inline FENCE(t)
{
#ifndef MODEL_SC
    atomic {
        len(buf[t]) == 0;
#ifdef MODEL_WEAK
        k = 0;
        do
        :: k < NL -> snap[(t) * NL + k] = mem[k]; k++
        :: else -> k = 0; break
        od
#else
        skip
#endif
    }
#else
    skip
#endif
}

/* ---- the kernel object's operations (waker-eventfd.c, waker-pipe.c) ---- */

/* mw__os_waker_signal: make the object readable; an event for the poller. */
inline KSIGNAL()
{
    atomic {
#ifdef KOBJ_EVENTFD
        /* Each write is an edge (EPOLLET); the counter never fills here
         * (only outside writes can fill it). */
        ecount++;
        ready = 1
#else
        if
        :: bytes == PIPE_CAP -> skip    /* EAGAIN: already readable */
        :: bytes == 0 -> bytes++; ready = 1
        :: bytes > 0 && bytes < PIPE_CAP ->
            /* A write to a non-empty pipe need not be an edge. */
            bytes++;
            if
            :: ready = 1
            :: skip
            fi
        fi
#endif
    }
}

/* The wait's collection of the event: mw__os_poller_wait returns it. */
inline KCOLLECT()
{
#if defined(KOBJ_PIPE) && defined(LEVEL)
    atomic { bytes > 0 -> ready = 0 }   /* poll(2): readable while bytes */
#else
    atomic { ready -> ready = 0 }
#endif
}

/* mw__os_waker_consume */
inline KCONSUME()
{
#ifdef KOBJ_PIPE
    bytes = 0                           /* mw__fd_drain */
#else
    skip                                /* collecting the edge was it */
#endif
}

/* ---- threads ---- */

active [NPROD] proctype producer()
{
    byte me = _pid;                     /* thread number, 0 .. NPROD-1 */
    byte s = 0;                         /* this wake's sequence number */
    byte v, k, e;

    do
    :: s < WAKES ->
        s++;
        /* (1) the caller's data */
        STORE(me, PUB(me), s);
        printf("MSC: P%d wake %d: (1) writes data %d\n", me, s, s);
        /* (2) the fence; (3) the relaxed load (mw__pending_seen) */
#ifndef NO_PRODUCER_FENCE
        FENCE(me);
#endif
        LOAD(me, FLAG, v);
        printf("MSC: P%d wake %d: (3) reads flag %d\n", me, s, v);
        if
        :: v != 0 ->
            /* merged: returns 0, trusting the wake of epoch v */
            wepoch[me * WAKES + s - 1] = v
        :: else ->
            /* wake_signal: atomic_exchange(pending, 1), acq_rel: the
             * read-modify-write drains the buffer and acts on memory. */
            atomic {
#ifndef MODEL_SC
                len(buf[me]) == 0;
#endif
#ifdef SIGNAL_FAILS
                e = nextepoch;
#else
                e = 1;
#endif
                v = mem[FLAG];
                if
                :: v == 0 -> mem[FLAG] = e
#ifdef SIGNAL_FAILS
                    ; nextepoch++
#endif
                :: else -> skip
                fi;
#ifdef MODEL_WEAK
                k = 0;
                do
                :: k < NL -> snap[me * NL + k] = mem[k]; k++
                :: else -> k = 0; break
                od
#endif
            }
            if
            :: v != 0 ->
                /* lost the race: merged into that wake's signal */
                wepoch[me * WAKES + s - 1] = v
            :: else ->
#ifdef SIGNAL_FAILS
                if
                :: KSIGNAL(); wepoch[me * WAKES + s - 1] = e;
                    printf("MSC: P%d wake %d: signals\n", me, s)
                :: failed[e] = 1;
                    printf("MSC: P%d wake %d: signal fails\n", me, s);
                    /* no event is coming: unset the flag (relaxed) */
                    STORE(me, FLAG, 0)
                    /* the wake returns the error: nothing owed */
                fi
#else
                KSIGNAL();
                printf("MSC: P%d wake %d: signals\n", me, s);
                wepoch[me * WAKES + s - 1] = e
#endif
            fi
        fi;
        v = 0; e = 0
    :: else -> break
    od;
    done++
}

active proctype consumer()
{
    byte i, v, k;

end_wait:
    do
    :: KCOLLECT();                      /* (a) */
        printf("MSC: C collects an event\n");
#ifdef CLEAR_BEFORE_CONSUME
        STORE(CONS, FLAG, 0);           /* (c) too early */
        printf("MSC: C (c) clears the flag\n");
        KCONSUME();                     /* (b) */
        printf("MSC: C (b) consumes the kernel object\n");
#else
        KCONSUME();                     /* (b) */
        printf("MSC: C (b) consumes the kernel object\n");
        STORE(CONS, FLAG, 0);           /* (c) */
        printf("MSC: C (c) clears the flag\n");
#endif
#ifndef NO_CONSUMER_FENCE
        FENCE(CONS);                    /* (d) */
#endif
        /* (e) the event is handed out; the caller reads the data */
        i = 0;
        do
        :: i < NPROD ->
            LOAD(CONS, PUB(i), v);
            printf("MSC: C (e) reads data of P%d: %d\n", i, v);
            if
            :: v > seen[i] -> seen[i] = v
            :: else -> skip
            fi;
            i++
        :: else -> i = 0; v = 0; break
        od
    od
}

#ifndef MODEL_SC
/* The memory system: drains one store of some thread's buffer. */
#ifdef MODEL_PSO
#define DRAIN(t, L) \
    :: atomic { buf[t] ?? [eval(L), _] -> buf[t] ?? eval(L), v; \
                mem[L] = v; nb[(t) * NL + (L)]--; \
                printf("MSC: T%d's store %d to location %d reaches memory\n", \
                       t, v, L); v = 0 }
#else
#define DRAIN(t, L) \
    :: atomic { buf[t] ? [eval(L), _] -> buf[t] ? eval(L), v; \
                mem[L] = v; nb[(t) * NL + (L)]--; \
                printf("MSC: T%d's store %d to location %d reaches memory\n", \
                       t, v, L); v = 0 }
#endif
active proctype memory()
{
    byte v;

end_drain:
    do
    DRAIN(0, FLAG)
    DRAIN(0, PUB(0))
    DRAIN(1, FLAG)
    DRAIN(1, PUB(1))
#if NPROD > 2
    DRAIN(2, FLAG)
    DRAIN(2, PUB(2))
#endif
    DRAIN(CONS, FLAG)
    od
}
#endif

/* No lost wake: once nothing can move (every producer has returned, the
 * consumer sleeps in (a), every buffer is drained), the consumer has read
 * the newest value of every wake that returned 0, unless that wake merged
 * into a signal that failed. */
active proctype watchdog()
{
    byte i, j;

    timeout ->
    assert(done == NPROD);
    i = 0;
    do
    :: i < NPROD ->
        j = 0;
        do
        :: j < WAKES ->
            if
            :: wepoch[i * WAKES + j] != 0 && !failed[wepoch[i * WAKES + j]] ->
                assert(seen[i] >= j + 1)
            :: else -> skip
            fi;
            j++
        :: else -> break
        od;
        i++
    :: else -> break
    od
}
