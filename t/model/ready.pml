/* SPDX-License-Identifier: MIT */
/*
 * The ready-list protocol the library is moving to, for SPIN
 * (doc/MODEL.md, "ready.pml").  Every waker of a poll shares the poll's
 * one kernel object and a lock-free ready list (a Treiber stack: push by
 * the producers, take-all by the one consumer).  The protocol, as the
 * model states it:
 *
 * waker: state 0 IDLE, 1 LISTED, 3 LISTED_UNSIGNALLED (its signal
 * failed), 2 FREED (freed while listed); next; token.  Hub: head, owed.
 *
 * mw_waker_wake(w), a producer:
 *   (1) write the data; (2) seq_cst fence; (3) relaxed load of w.state:
 *   1 -> return 0 (merge, no system call);
 *   (4) prev = exchange(w.state, 1): 1 -> return 0; 3 -> go to (7);
 *   (5) push: do { old = head; w.next = old } while (!CAS(head, old -> w));
 *   (6) old != NULL and owed == 0 -> return 0;
 *   (7) signal: if old != NULL, exchange(owed, 0) first; write to the
 *   kernel object; success -> return 0; failure -> owed = 1, CAS w.state
 *   1 -> 3, return the error.
 * mw_poll_wait, the consumer, on the kernel event:
 *   (a) collect it; (b) consume the kernel object; (c) chain =
 *   exchange(head, NULL), appended to the private leftover list; (d) for
 *   each waker of the leftovers, up to the capacity: read w.next and the
 *   token, then CAS w.state 1 (or 3) -> 0; found 2: reclaim w, emit
 *   nothing; else (e) seq_cst fence, (f) emit the token (the caller then
 *   reads the data).  A wait with leftovers returns them without an event.
 * mw_waker_free(w), never concurrent with a wake of w: old =
 *   exchange(w.state, 2); 0 -> free w now; 1 or 3 -> the consumer will.
 Where the statement leaves a choice, the model takes: (7) signals
 * whatever the exchange of owed returned; after (4) found 3 there was
 * no push, so old is NULL and (7) does not take owed; the failure's
 * "owed = 1" is a relaxed store; the wait takes one kernel event, if
 * one is ready, even when it has leftovers (or takes none).
 *
 * The threads: P0 wakes waker 1 then waker 2, then frees waker 3; a
 * signal handler may interrupt P0's push (between its load of head and
 * its CAS, or between the CAS and (6)) and run a whole wake of waker 3;
 * P1 wakes waker 2 then waker 1; the consumer waits in a loop.  Wakes are
 * numbered 0 .. 4: P0's two (0, 1), P1's two (2, 3), the handler's (4).
 *
 * The properties: (i) no lost wake, and publish then wake (EMIT, the
 * watchdog); (ii) one signal per list when no signal fails (SIGNAL7);
 * (iii) no access to a freed waker's memory and no emission of a freed
 * waker (the asserts on alive[] and ufreed[]); (iv) a waker is never
 * pushed while it is on the list or the leftovers, and is cleared (so
 * emitted) once per listing (inlist[]).
 *
 * Choose with spin -D:
 *   memory model  MODEL_SC (default), MODEL_TSO; with MODEL_TSO,
 *                 LOCKED_RMW makes every read-modify-write a full
 *                 barrier (x86's lock prefix) instead of a release one
 *   kernel object KOBJ_EVENTFD (default), KOBJ_PIPE; LEVEL for a
 *                 level-triggered poller (poll(2)) of the pipe
 *   failures      SIGNAL_FAILS: a signal may fail (at most MAXFAIL
 *                 of them, default any)
 *   capacity      CAP, the wait's capacity (default 3, every waker)
 *   size          NO_HANDLER: no signal handler (and no wake 4)
 *   broken        TAKE_BEFORE_CONSUME, SIGNAL_EVERY_PUSH,
 *                 CLEAR_BEFORE_TAKE, NO_CLEAR_FENCE, RECLAIM_LISTED
 *   a repair      OWED_CHECK: not the protocol as stated; (3) and (4)
 *                 merge into a LISTED waker only while owed is 0 (the
 *                 stated protocol loses a wake after a failed signal:
 *                 doc/MODEL.md)
 */

#define NW      3                       /* wakers 1 .. NW; 0 is NULL  */
#define NIL     0
#define W_H     3                       /* the handler's waker         */
#ifndef CAP
#define CAP     NW
#endif
#ifndef MAXFAIL
#define MAXFAIL NID                     /* signals that may fail       */
#endif
#ifndef PIPE_CAP
#define PIPE_CAP 2
#endif

#if !defined(MODEL_TSO)
#define MODEL_SC 1
#endif
#if !defined(KOBJ_PIPE)
#define KOBJ_EVENTFD 1
#endif

/* threads */
#define NT      3
#define P0      0
#define P1      1
#define CONS    2

/* locations */
#define ST(w)   ((w) - 1)               /* w.state                   */
#define NX(w)   (NW + (w) - 1)          /* w.next                    */
#define HEAD    (2 * NW)                /* the ready list's head     */
#define OWED    (2 * NW + 1)
#define DAT(p)  (2 * NW + 2 + (p))      /* P0's, P1's, the handler's */
#define NL      (2 * NW + 5)
#define BUFSZ   4

/* the wakes: waker, data location, the value written there */
#define NID     5
#define BIT(i)  (1 << (i))
/* (no conditional expressions: spin 6.5 trips on them in inlines) */
#define WK(i)   (1 + ((i) == 1 || (i) == 2) + 2 * ((i) == 4))
#define DL(i)   (DAT(0) + ((i) >= 2) + ((i) >= 4))
#define DV(i)   (1 + ((i) == 1 || (i) == 3))
#define NEP     (NID + 1)               /* epochs: one per signal     */

byte mem[NL];                           /* what memory holds: all 0,
                                         * NULL lists, IDLE wakers    */

#ifndef MODEL_SC
/* Per-thread FIFO store buffers of (location, value), as waker.pml's
 * TSO; nb and lastw let a load forward from its own buffer.  resv[L] is
 * the thread (+ 1) whose read-modify-write of L has its store still in
 * its buffer: no other write to L may reach memory, and no other
 * read-modify-write of L may read it, before that store does. */
chan buf[NT] = [BUFSZ] of { byte, byte };
byte nb[NT * NL];
byte lastw[NT * NL];
byte resv[NL];
#endif

/* ---- the kernel object ---- */
bool ready;                             /* poller: an event to collect */
#ifdef KOBJ_PIPE
byte bytes;                             /* bytes in the pipe           */
#endif

/* ---- the consumer's private leftover list: chains to go through ---- */
chan lq = [NW + 1] of { byte };

/* ---- ghosts, for the properties ---- */
bool alive[NW + 1] = 1;                 /* the waker's memory is valid */
bool ufreed[NW + 1];                    /* mw_waker_free() was called  */
bool inlist[NW + 1];                    /* on the list or a leftover   */
byte owe[NW + 1];                       /* wakes (bits) past their (3)
                                         * not yet followed by an emission */
byte ret[NID];                          /* 1 returned 0, 2 the error   */
/* Ghosts that decide nothing in a configuration are "hidden" (not in
 * the state vector, so states differing only there are one): the
 * epochs when no signal fails, the signal counts when one may. */
#ifdef SIGNAL_FAILS
#define EP_GHOST
#define SIG_GHOST hidden
#else
#define EP_GHOST hidden
#define SIG_GHOST
#endif
EP_GHOST byte mep[NID];                 /* epoch a wake returned 0 on,
                                         * 0 if it had already failed */
#ifdef OWED_CHECK
EP_GHOST byte mep2[NID];                /* or the list's signal's      */
#endif
/* a wake returns 0 relying on the signal of epoch x */
#define RELY(m, x) if :: failed[x] -> m = 0 :: else -> m = x fi
EP_GHOST byte lep[NW + 1];              /* epoch of the waker's listing */
EP_GHOST byte hep;                      /* epoch of the list's signal  */
EP_GHOST byte nextep = 1;
bool failed[NEP];
EP_GHOST byte alias[NEP];               /* a listing merged at (6) into */
hidden byte rz;                         /* scratch: an epoch resolved  */
byte nfail;                             /* signals that failed         */
SIG_GHOST byte lgen;                    /* pushes onto an empty list   */
SIG_GHOST byte sigcnt[NID + 1];         /* signals per such list       */
bool hran;                              /* the handler has run         */
byte done;                              /* producers finished          */

/* ---- memory operations ---- */

#ifdef MODEL_SC
inline STORE(s_t, s_L, s_v) { mem[s_L] = s_v }
inline LOAD(l_t, l_L, l_r)  { l_r = mem[l_L] }
inline FENCE(f_t)       { skip }
/* A read-modify-write: RMW_BEGIN opens it (inside an atomic block), it
 * reads mem[L], RMW_WRITE stores. */
#define RMW_BEGIN(t, L) skip
#define RMW_WRITE(t, L, v) mem[L] = v
#define KBAR(t) true
#else
inline STORE(s_t, s_L, s_v)
{
    atomic {
        nfull(buf[s_t]) -> buf[s_t]!s_L,s_v;
        nb[(s_t) * NL + (s_L)]++;
        lastw[(s_t) * NL + (s_L)] = s_v
    }
}

inline LOAD(l_t, l_L, l_r)
{
    atomic {
        if
        :: nb[(l_t) * NL + (l_L)] > 0 -> l_r = lastw[(l_t) * NL + (l_L)]
        :: else -> l_r = mem[l_L]
        fi
    }
}

/* A seq_cst fence: wait until the thread's buffer is drained. */
inline FENCE(f_t) { len(buf[f_t]) == 0 }

/* Every read-modify-write first waits for the thread's earlier stores
 * (a release) and reads memory.  Its store then goes into the buffer
 * like any other (C11's release or acq_rel RMW: a later load may be
 * satisfied before it is visible, as on Arm), the location reserved
 * until it drains; with LOCKED_RMW it goes to memory at once (x86). */
#ifdef LOCKED_RMW
#define RMW_BEGIN(t, L) (len(buf[t]) == 0)
#define RMW_WRITE(t, L, v) mem[L] = v
#else
#define RMW_BEGIN(t, L) (len(buf[t]) == 0 && resv[L] == 0)
#define RMW_WRITE(t, L, v) \
    buf[t]!L,v; nb[(t) * NL + (L)]++; lastw[(t) * NL + (L)] = v; \
    resv[L] = (t) + 1
#endif
/* A system call is a full barrier for its thread: the kernel's locks
 * drain the store buffer (write(2) then epoll_wait(2) synchronize). */
#define KBAR(t) (len(buf[t]) == 0)
#endif

/* ---- the kernel object ---- */

/* A successful signal (inside an atomic block). */
inline KSIGNAL()
{
#ifdef KOBJ_EVENTFD
    ready = 1                           /* every write is an edge */
#else
    if
    :: bytes == PIPE_CAP -> skip        /* EAGAIN: already readable */
    :: bytes == 0 -> bytes++; ready = 1
    :: bytes > 0 && bytes < PIPE_CAP ->
        bytes++;
        if
        :: ready = 1                    /* may or may not be an edge */
        :: skip
        fi
    fi
#endif
}

#if defined(KOBJ_PIPE) && defined(LEVEL)
#define KREADY (bytes > 0)              /* poll(2): readable while bytes */
#else
#define KREADY ready
#endif

inline KCONSUME()
{
#ifdef KOBJ_PIPE
    atomic { KBAR(CONS) -> bytes = 0 }  /* drain the pipe */
#else
    skip                                /* collecting the edge was it */
#endif
}

/* ---- mw_waker_wake ---- */

/* The epochs (ghosts): a wake that lists its waker (the exchange 0 -> 1
 * at (4), or 3 -> 1) takes a new epoch, the listing's; it is the epoch
 * of its signal if it signals at (7); if it merges at (6), the listing
 * relies on the list's signal (hep) instead: alias.  A wake that merges
 * at (3) or (4) relies on its waker's listing. */
inline RESOLVE(r)
{
    if
    :: alias[r] != 0 -> r = alias[r]
    :: else -> skip
    fi
}

/* (7), the signal; e is the epoch of this signal, g the list it is for */
inline SIGNAL7(g7_t, g7_w, g7_id, g7_v, g7_old, g7_e, g7_g, g7_ow)
{
    if
    :: g7_old != NIL ->
        atomic {
            RMW_BEGIN(g7_t, OWED);
            g7_ow = mem[OWED];
            RMW_WRITE(g7_t, OWED, 0);
            hep = g7_e    /* (6) did not merge: this wake signals */
        }
        printf("MSC: wake %d (waker %d): (7) takes owed %d\n", g7_id, g7_w, g7_ow)
    :: else -> skip
    fi;
    if
    :: atomic {
           KBAR(g7_t) ->
           KSIGNAL();
           sigcnt[g7_g]++;
#ifndef SIGNAL_FAILS
           /* (ii) one signal for all the pushes onto one list */
           assert(sigcnt[g7_g] == 1);
#endif
           ret[g7_id] = 1
       }
       printf("MSC: wake %d (waker %d): (7) signals, returns 0\n", g7_id, g7_w)
#ifdef SIGNAL_FAILS
    :: atomic { KBAR(g7_t) && nfail < MAXFAIL -> nfail++ }
       printf("MSC: wake %d (waker %d): (7) signal fails\n", g7_id, g7_w);
       STORE(g7_t, OWED, 1);
       atomic {
           RMW_BEGIN(g7_t, ST(g7_w));
           assert(alive[g7_w]);
           g7_v = mem[ST(g7_w)];
           if
           :: g7_v == 1 -> RMW_WRITE(g7_t, ST(g7_w), 3)
           :: else -> skip
           fi
       }
       atomic {
           printf("MSC: wake %d (waker %d): sets owed, state %d -> %d, returns the error\n",
                  g7_id, g7_w, g7_v, g7_v + 2 * (g7_v == 1));
           failed[g7_e] = 1; ret[g7_id] = 2;
           owe[g7_w] = owe[g7_w] & ~BIT(g7_id)   /* the error: nothing owed */
       }
#endif
    fi
}

/* (5), the push: the CAS (inside the loop) */
inline PUSH_CAS(pc_t, pc_w, pc_id, pc_old, pc_e, pc_g, pc_ok)
{
    atomic {
        RMW_BEGIN(pc_t, HEAD);
        pc_ok = (mem[HEAD] == pc_old);
        if
        :: pc_ok ->
            RMW_WRITE(pc_t, HEAD, pc_w);
            assert(!inlist[pc_w]);      /* never pushed twice */
            inlist[pc_w] = 1;
            if
            :: pc_old == NIL -> lgen++; hep = pc_e
            :: else -> skip
            fi;
            pc_g = lgen
        :: else -> skip
        fi
    }
    if
    :: pc_ok -> printf("MSC: wake %d (waker %d): (5) pushes, old head %d\n", pc_id, pc_w, pc_old)
    :: else -> printf("MSC: wake %d (waker %d): (5) CAS fails, retries\n", pc_id, pc_w)
    fi
}

inline PUSH_PLAIN(pu_t, pu_w, pu_id, pu_old, pu_e, pu_g, pu_ok)
{
    do
    :: LOAD(pu_t, HEAD, pu_old);
       atomic { assert(alive[pu_w]); STORE(pu_t, NX(pu_w), pu_old) }
       PUSH_CAS(pu_t, pu_w, pu_id, pu_old, pu_e, pu_g, pu_ok);
       if
       :: pu_ok -> break
       :: else -> skip
       fi
    od
}

/* (6): merge if the list was not empty and nothing is owed */
inline STEP6(s6_t, s6_w, s6_id, s6_old, s6_e, s6_ow, s6_sig)
{
#ifdef SIGNAL_EVERY_PUSH
    s6_sig = 1
#else
    if
    :: s6_old != NIL ->
        atomic {
            LOAD(s6_t, OWED, s6_ow);
            if
            :: s6_ow == 0 ->
                /* the listing relies on the list's signal */
                alias[s6_e] = hep; RELY(mep[s6_id], hep); ret[s6_id] = 1
            :: else -> skip
            fi
        }
        if
        :: s6_ow == 0 -> s6_sig = 0;
            printf("MSC: wake %d (waker %d): (6) list not empty, owed 0: returns 0\n", s6_id, s6_w)
        :: else -> s6_sig = 1
        fi
    :: else -> s6_sig = 1
    fi
#endif
}

/* A wake that found its waker LISTED at (3) or (4) merges.  The fix
 * OWED_CHECK (not the protocol as stated): only if owed is 0; else it
 * takes owed and signals, unless another wake took it first. */
#ifdef OWED_CHECK
#define OWCK 1
#else
#define OWCK 0
#endif
inline MERGE(m_t, m_w, m_id, m_ow, m_e, m_g, m_old, m_sig, m_step)
{
#ifdef OWED_CHECK
    atomic {
        LOAD(m_t, OWED, m_ow);
        if
        /* relies on its waker's listing, or on the list's newest
         * signal (the one that took owed after a failure): either's
         * failure in flight excuses it */
        :: m_ow == 0 ->
            rz = lep[m_w]; RESOLVE(rz);
            RELY(mep[m_id], rz); ret[m_id] = 1; rz = 0;
            RELY(mep2[m_id], hep)
        :: else -> skip
        fi
    }
    if
    :: m_ow == 0 -> m_sig = 0;
        printf("MSC: wake %d (waker %d): (%d) state 1, owed 0: merges, returns 0\n", m_id, m_w, m_step)
    :: else ->
        atomic {
            RMW_BEGIN(m_t, OWED);
            m_ow = mem[OWED];
            RMW_WRITE(m_t, OWED, 0);
            if
            :: m_ow == 0 ->             /* as above */
                rz = lep[m_w]; RESOLVE(rz);
                RELY(mep[m_id], rz); ret[m_id] = 1; rz = 0;
                RELY(mep2[m_id], hep)
            :: else ->
                /* its signal is for the list; the wake still relies on
                 * its waker's listing (which may not be pushed yet) */
                m_e = nextep; nextep++; hep = m_e; m_g = 0;
                rz = lep[m_w]; RESOLVE(rz);
                RELY(mep[m_id], rz); rz = 0
            fi
        }
        m_old = NIL;                    /* owed is taken: (7) signals */
        if
        :: m_ow == 0 -> m_sig = 0;
            printf("MSC: wake %d (waker %d): (%d) state 1, owed taken by another: returns 0\n", m_id, m_w, m_step)
        :: else -> m_sig = 1;
            printf("MSC: wake %d (waker %d): (%d) state 1, takes owed 1\n", m_id, m_w, m_step)
        fi
    fi
#else
    m_sig = 0;
    printf("MSC: wake %d (waker %d): (%d) merges, returns 0\n", m_id, m_w, m_step)
#endif
}

#define DEFINE_WAKE(NAME, PUSH) \
inline NAME(wk_t, wk_w, wk_id, wk_v, wk_prev, wk_old, wk_e, wk_g, wk_ow, wk_ok, wk_sig) \
{ \
    STORE(wk_t, DL(wk_id), DV(wk_id)); \
    printf("MSC: wake %d (waker %d) by T%d: (1) writes data %d\n", wk_id, wk_w, wk_t, DV(wk_id)); \
    FENCE(wk_t); \
    atomic { \
        LOAD(wk_t, ST(wk_w), wk_v); \
        assert(alive[wk_w]); \
        owe[wk_w] = owe[wk_w] | BIT(wk_id); \
        if \
        :: wk_v == 1 && !OWCK -> \
            rz = lep[wk_w]; RESOLVE(rz); \
            RELY(mep[wk_id], rz); ret[wk_id] = 1; rz = 0 \
        :: else -> skip \
        fi \
    } \
    printf("MSC: wake %d (waker %d): (3) reads state %d\n", wk_id, wk_w, wk_v); \
    if \
    :: wk_v == 1 -> MERGE(wk_t, wk_w, wk_id, wk_ow, wk_e, wk_g, wk_old, wk_sig, 3) \
    :: else -> \
        atomic { \
            RMW_BEGIN(wk_t, ST(wk_w)); \
            assert(alive[wk_w]); \
            wk_prev = mem[ST(wk_w)]; \
            RMW_WRITE(wk_t, ST(wk_w), 1); \
            if \
            :: wk_prev == 1 && !OWCK -> \
                rz = lep[wk_w]; RESOLVE(rz); \
                RELY(mep[wk_id], rz); ret[wk_id] = 1; rz = 0 \
            :: wk_prev == 3 -> wk_e = nextep; nextep++; lep[wk_w] = wk_e; wk_g = 0 \
            :: wk_prev == 0 -> wk_e = nextep; nextep++; lep[wk_w] = wk_e \
            :: else -> skip \
            fi \
        } \
        printf("MSC: wake %d (waker %d): (4) exchanges state %d -> 1\n", wk_id, wk_w, wk_prev); \
        assert(wk_prev != 2); \
        if \
        :: wk_prev == 1 -> MERGE(wk_t, wk_w, wk_id, wk_ow, wk_e, wk_g, wk_old, wk_sig, 4) \
        :: wk_prev == 3 -> wk_old = NIL; wk_sig = 1 \
        :: wk_prev == 0 -> PUSH(wk_t, wk_w, wk_id, wk_old, wk_e, wk_g, wk_ok); STEP6(wk_t, wk_w, wk_id, wk_old, wk_e, wk_ow, wk_sig) \
        fi \
    fi; \
    if \
    :: wk_sig -> SIGNAL7(wk_t, wk_w, wk_id, wk_v, wk_old, wk_e, wk_g, wk_ow) \
    :: else -> skip \
    fi \
}

DEFINE_WAKE(WAKE, PUSH_PLAIN)

/* The signal handler: once, at a point of P0's push, a whole wake of
 * waker 3 (wake 4), in P0's thread. */
inline HANDLER()
{
    if
#ifndef NO_HANDLER
    :: !hran ->
        atomic {
            hran = 1;
            printf("MSC: a signal handler interrupts T0's push\n");
            WAKE(P0, W_H, 4, hv, hprev, hold, he, hg, how, hok, hsig);
            printf("MSC: the handler returns\n");
            hv = 0; hprev = 0; hold = 0; he = 0; hg = 0; how = 0; hok = 0; hsig = 0
        }
#endif
    :: skip
    fi
}

/* P0's push: the handler may run between its load of head and its CAS
 * (pst 1) or between its CAS and (6) (pst 2); one place in the code, so
 * that the handler's wake is expanded once. */
inline PUSH_HOOKED(ph_t, ph_w, ph_id, ph_old, ph_e, ph_g, ph_ok)
{
    do
    :: pst == 0 ->
        LOAD(ph_t, HEAD, ph_old);
        atomic { assert(alive[ph_w]); STORE(ph_t, NX(ph_w), ph_old) }
        pst = 1
    :: pst != 0 ->
        HANDLER();
        if
        :: pst == 2 -> break
        :: else -> skip
        fi;
        PUSH_CAS(ph_t, ph_w, ph_id, ph_old, ph_e, ph_g, ph_ok);
        if
        :: ph_ok -> pst = 2
        :: else -> pst = 0
        fi
    od;
    pst = 0
}
DEFINE_WAKE(WAKE_P0, PUSH_HOOKED)

/* mw_waker_free */
inline FREE(fr_t, fr_w, fr_v)
{
    atomic {
        RMW_BEGIN(fr_t, ST(fr_w));
        assert(alive[fr_w]);
        fr_v = mem[ST(fr_w)];
        RMW_WRITE(fr_t, ST(fr_w), 2);
        ufreed[fr_w] = 1;
#ifdef RECLAIM_LISTED
        alive[fr_w] = 0
#else
        if
        :: fr_v == 0 -> alive[fr_w] = 0
        :: else -> skip
        fi
#endif
    }
    printf("MSC: T%d frees waker %d: state was %d\n", fr_t, fr_w, fr_v)
}

/* ---- threads ---- */

#define RESET v = 0; prev = 0; old = 0; e = 0; g = 0; ow = 0; ok = 0; sig = 0

active proctype p0()
{
    byte v, prev, old, e, g, ow;
    bool ok, sig;
    byte hv, hprev, hold, he, hg, how;  /* the handler's */
    bool hok, hsig;
    byte k, w, id, pst;

    /* wake 0 of waker 1, wake 1 of waker 2 */
    do
    :: k < 2 ->
        w = k + 1; id = k;
        WAKE_P0(P0, w, id, v, prev, old, e, g, ow, ok, sig);
        RESET; k++
    :: else -> break
    od;
    k = 0; w = 0; id = 0;
    FREE(P0, W_H, v);
    v = 0;
    done++
}

active proctype p1()
{
    byte v, prev, old, e, g, ow;
    bool ok, sig;


    WAKE(P1, 2, 2, v, prev, old, e, g, ow, ok, sig);
    RESET;
    WAKE(P1, 1, 3, v, prev, old, e, g, ow, ok, sig);
    RESET;
    done++
}

/* (f): the token goes out; the caller reads the data of every wake of w
 * that is past its (3), and must see it (publish, then wake). */
inline EMIT(em_w, em_i, em_v)
{
    atomic {
        printf("MSC: C (f) emits token %d\n", em_w);
        em_i = 0;
        do
        :: em_i < NID ->
            if
            :: WK(em_i) == em_w && (owe[em_w] & BIT(em_i)) ->
                LOAD(CONS, DL(em_i), em_v);
                printf("MSC: C reads the data of wake %d: %d\n", em_i, em_v);
                assert(em_v >= DV(em_i));
                owe[em_w] = owe[em_w] & ~BIT(em_i)
            :: else -> skip
            fi;
            em_i++
        :: else -> em_i = 0; em_v = 0; break
        od
    }
}

/* (c): take the whole list, append it to the leftovers */
inline TAKE(tk_w, tk_nxt, tk_s, tk_hd)
{
#ifdef CLEAR_BEFORE_TAKE
    /* broken: clear the flags of what head leads to, then take it */
    LOAD(CONS, HEAD, tk_hd);
    do
    :: tk_hd != NIL ->
        tk_w = tk_hd;
        atomic { assert(alive[tk_w]); LOAD(CONS, NX(tk_w), tk_nxt) }
        atomic {
            RMW_BEGIN(CONS, ST(tk_w));
            assert(alive[tk_w]);
            tk_s = mem[ST(tk_w)];
            if
            :: tk_s == 1 || tk_s == 3 -> RMW_WRITE(CONS, ST(tk_w), 0)
            :: else -> skip
            fi
        }
        printf("MSC: C clears waker %d before the take (state %d)\n", tk_w, tk_s);
        tk_hd = tk_nxt
    :: else -> break
    od;
    tk_w = 0; tk_nxt = 0; tk_s = 0;
#endif
    atomic {
        RMW_BEGIN(CONS, HEAD);
        tk_hd = mem[HEAD];
        RMW_WRITE(CONS, HEAD, NIL)
    }
    printf("MSC: C (c) takes the list: head %d\n", tk_hd);
    if
    :: tk_hd != NIL -> lq!tk_hd
    :: else -> skip
    fi;
    tk_hd = 0
}

active proctype consumer()
{
    byte cur, w, nxt, s, n, hd, i, v;
    bool got;

end_wait:
    if
    :: atomic { KBAR(CONS) && KREADY -> ready = 0; got = 1 }
        printf("MSC: C (a) collects an event\n")
    :: cur != NIL || len(lq) > 0 -> got = 0 /* leftovers: no event needed */
    fi;
    if
    :: got ->
#ifdef TAKE_BEFORE_CONSUME
        TAKE(w, nxt, s, hd);
        KCONSUME();
        printf("MSC: C (b) consumes the kernel object\n")
#else
        KCONSUME();
        printf("MSC: C (b) consumes the kernel object\n");
        TAKE(w, nxt, s, hd)
#endif
    :: else -> skip
    fi;
    /* (d), up to CAP wakers */
    n = 0;
    do
    :: n < CAP && (cur != NIL || len(lq) > 0) ->
        if
        :: cur == NIL -> lq?cur
        :: else -> skip
        fi;
        w = cur;
        atomic { assert(alive[w]); LOAD(CONS, NX(w), nxt) } /* and the token */
        printf("MSC: C (d) reads waker %d: next %d, token %d\n", w, nxt, w);
        atomic {
            RMW_BEGIN(CONS, ST(w));
            assert(alive[w]);
            s = mem[ST(w)];
            if
            :: s == 1 || s == 3 -> RMW_WRITE(CONS, ST(w), 0);
                assert(!ufreed[w])      /* (iii) */
            :: else -> skip
            fi;
#ifndef CLEAR_BEFORE_TAKE
            assert(s != 0);             /* a listed waker is not IDLE */
#endif
            assert(inlist[w]);          /* (iv) once per listing */
            inlist[w] = 0;
            if
            :: s == 2 -> alive[w] = 0   /* reclaim */
            :: else -> skip
            fi
        }
        if
        :: s == 2 -> printf("MSC: C (d) finds waker %d freed, reclaims it\n", w)
        :: else ->
            printf("MSC: C (d) clears waker %d: state %d -> 0\n", w, s);
#ifndef NO_CLEAR_FENCE
            FENCE(CONS);                /* (e) */
#endif
            EMIT(w, i, v);              /* (f) */
            n++
        fi;
        cur = nxt; w = 0; nxt = 0; s = 0
    :: else -> break
    od;
    n = 0; got = 0;
    goto end_wait
}

#ifndef MODEL_SC
/* The memory system: moves the oldest store of some thread's buffer to
 * memory, unless another thread's read-modify-write holds its location. */
#define DRAIN(t, L) \
    :: atomic { buf[t]?[eval(L), _] && (resv[L] == 0 || resv[L] == (t) + 1) -> \
                buf[t]?eval(L), v; mem[L] = v; nb[(t) * NL + (L)]--; \
                if :: resv[L] == (t) + 1 -> resv[L] = 0 :: else -> skip fi; \
                printf("MSC: T%d's store %d to location %d reaches memory\n", \
                       t, v, L); v = 0 }
#define DRAINS(t) DRAIN(t, 0) DRAIN(t, 1) DRAIN(t, 2) DRAIN(t, 3) \
    DRAIN(t, 4) DRAIN(t, 5) DRAIN(t, 6) DRAIN(t, 7) DRAIN(t, 8) \
    DRAIN(t, 9) DRAIN(t, 10)
active proctype memory()
{
    byte v;

end_drain:
    do
    DRAINS(0)
    DRAINS(1)
    DRAINS(2)
    od
}
#endif

/* (i) no lost wake: once nothing can move (the producers have returned,
 * the consumer sleeps in (a) with no leftovers, the buffers are
 * drained), every wake that returned 0 has been followed by an emission
 * of its waker's token after its (3), unless it merged into a signal
 * that failed while that signal was in flight, or its waker has been
 * freed since (mw_waker_free() drops what is pending).  And without
 * failures no freed waker's memory is left unreclaimed. */
active proctype watchdog()
{
    byte i;
    bool no_lost_wake, no_leak;

    timeout ->
    assert(done == 2);
    i = 0;
    do
    :: i < NID ->
        if
        :: ret[i] == 1 && (owe[WK(i)] & BIT(i)) && !ufreed[WK(i)] ->
            printf("MSC: wake %d returned 0 and no emission followed\n", i);
            rz = mep[i]; RESOLVE(rz);
#ifdef OWED_CHECK
            no_lost_wake = failed[rz] || failed[mep2[i]];
#else
            no_lost_wake = failed[rz];      /* excused */
#endif
            assert(no_lost_wake)
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    no_leak = nfail > 0 || !alive[W_H] || !ufreed[W_H];
    assert(no_leak)
}
