/* SPDX-License-Identifier: MIT */
/*
 * The fault explorer: every failure the system can really give each call
 * the library makes, one at a time, at every call of a scripted scenario,
 * with invariants checked after each run (in the spirit of SQLite's I/O
 * and malloc fault tests).  doc/ROBUSTNESS.md has the figures per pair.
 *
 * This program defines the C library functions the library calls on every
 * pair (allocation, descriptors, the pollers' and wakers' system calls,
 * the syscall() forms of read, write and close, and the mutex calls) and
 * forwards each to the next definition, dlsym(RTLD_NEXT).  A call counts
 * only when the scenario's thread makes it from inside an API call and
 * no wrapper is already running on the thread: the test's own I/O, the
 * TAP output, what libkqueue does inside kevent() and a fork() child's
 * calls are never counted or faulted.
 *
 * One run of the scenario with nothing injected counts N calls.  Then for
 * each call i < N and each fault that call can really see, the scenario
 * runs again with that one fault at call i:
 *   - an errno value from the realistic set of the function (the table
 *     is in doc/ROBUSTNESS.md); close() fails with EINTR after closing,
 *     as Linux's does; EAGAIN from read() or write() on a non-blocking pipe or
 *     eventfd is made true (the object drained or filled) rather than
 *     invented, as the library rightly takes it to mean "empty" or "full";
 *   - a deferred cancellation acted on at that call: pthread_cancel() of
 *     the scenario's own thread just before the call; cancellation is
 *     enabled only inside API calls.  mw_poll_wait() may act on it, and
 *     must then leave the poll as a wait that returned -EINTR would;
 *     every other call must return as if nothing were pending (the
 *     scenario acts on the request itself before its next API call);
 *   - a signal delivered at that call: SIGUSR1, whose handler (installed
 *     without SA_RESTART) wakes a waker; a blocking wait then fails with
 *     EINTR, as the kernel's would.
 *
 * After each run: every API call returned 0, a count, or an error its man
 * page lists (or, where the page says so, the kernel's own error); errno
 * is the sentinel it was set to before the call; a failed call changed
 * nothing (a failed registration is not there, a failed reregistration or
 * deregistration left the registration there, a failed constructor set
 * *out to NULL and a retry works); no descriptor is open and no block the
 * library allocated is live once everything is freed; no lock of the
 * library is held; and every event due is delivered: at the end each
 * live waker and a fresh one are woken and each token comes.
 *
 * Bound: 1,800 to 3,100 runs of a scenario of 620 to 950 calls, each run a
 * thread and a fork(): 4 to 9 s per pair on a loaded 2-core machine, 8 to
 * 15 s under libkqueue, whose every kqueue costs milliseconds more;
 * a run stuck for 5 s ends the exploration, and the watchdog the program
 * at 300 s (both times MW_TEST_TIMEOUT_FACTOR).  It is deterministic: no
 * point is sampled, and the scenario waits only for what is ready.
 *
 * The report has one result per API call and fault kind; the first
 * failing points of each kind are printed with their call index, and
 * MW_EXPLORE_POINT=INDEX:FAULT (say 183:cancel) runs one point alone.
 * Cancellations are explored last, as one acted on inside libkqueue can
 * leave it unusable, which ends the exploration.
 *
 * Skipped under valgrind (which replaces the allocator), in sanitizer
 * builds (whose runtimes own these functions) and where dlsym(RTLD_NEXT)
 * finds nothing to forward to.  fcntl() and fstat() are wrapped only
 * where pointers are 64 bits wide: elsewhere large-file support renames
 * them, and they go uncounted.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EPOLL_H
# include <sys/epoll.h>
#endif
#ifdef HAVE_SYS_EVENTFD_H
# include <sys/eventfd.h>
#endif

/* t/local.mk puts libkqueue's headers on this program's path when kqueue
 * is emulated; a BSD has the header anyway. */
#if defined(__has_include)
# if __has_include(<sys/event.h>)
#  include <sys/event.h>
#  define HAVE_KEVENT_FLAGS 1
# endif
#endif

#include <miowake.h>

#include "tap.h"
#include "util.h"

/* Sanitizer runtimes intercept these functions themselves. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define EXPLORE_OFF "a sanitizer build (its runtime owns these functions)"
#endif
#if defined(__has_feature) && !defined(EXPLORE_OFF)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) \
     || __has_feature(memory_sanitizer) || __has_feature(hwaddress_sanitizer)
#  define EXPLORE_OFF "a sanitizer build (its runtime owns these functions)"
# endif
#endif
#if !defined(EXPLORE_OFF) && !defined(RTLD_NEXT)
# define EXPLORE_OFF "no dlsym(RTLD_NEXT) here"
#endif
/* qemu-user's fork() from a program with threads can wedge the emulator
 * itself, beyond the reach of the watchdog; this program forks in every
 * one of its runs (configure.ac says more). */
#if !defined(EXPLORE_OFF) && defined(MW_FOREIGN_HOST)
# define EXPLORE_OFF "a build for another processor, run under an emulator"
#endif

#ifdef EXPLORE_OFF

int
main(void)
{
    plan_skip_all("%s", EXPLORE_OFF);
}

#else /* !EXPLORE_OFF */

/* Large-file support renames these two on 32-bit systems. */
#if UINTPTR_MAX > 0xFFFFFFFFu
# define WRAP_FCNTL_FSTAT 1
#endif

/* The finer timed waits have two names where glibc lets a program choose
 * its time_t (i386, armhf, armel), and go uncounted there.  Without the
 * C library's epoll_pwait2 (musl) the library makes the system call
 * through syscall(). */
#if !(defined(__GLIBC__) && defined(__TIMESIZE) && __TIMESIZE == 32)
# if defined(HAVE_PPOLL)
#  define EXPLORE_PPOLL 1
# endif
# if defined(HAVE_SYS_EPOLL_H) && defined(HAVE_EPOLL_PWAIT2)
#  define EXPLORE_PWAIT2 1
# endif
#endif
#if defined(HAVE_SYS_EPOLL_H) && !defined(HAVE_EPOLL_PWAIT2) \
    && defined(HAVE_DECL_SYS_EPOLL_PWAIT2) && defined(SYS_epoll_pwait2)
# if HAVE_DECL_SYS_EPOLL_PWAIT2
#  define EXPLORE_PWAIT2_SYSCALL 1
# endif
#endif

/* Weak: older glibc keeps dlsym in libdl. */
#if defined(__GNUC__) || defined(__clang__)
# pragma weak dlsym
#endif

/* ==== faults ==== */

enum fault {
    F_NONE, F_ENOMEM, F_EMFILE, F_ENFILE, F_ENOSPC, F_EINTR, F_EAGAIN,
    F_EBADF, F_EOVERFLOW, F_CANCEL, F_SIGNAL, F_NFAULT
};

static const int fault_errno[F_NFAULT] = {
    0, ENOMEM, EMFILE, ENFILE, ENOSPC, EINTR, EAGAIN, EBADF, EOVERFLOW, 0, 0
};
static const char *const fault_name[F_NFAULT] = {
    "none", "ENOMEM", "EMFILE", "ENFILE", "ENOSPC", "EINTR", "EAGAIN",
    "EBADF", "EOVERFLOW", "cancel", "signal"
};

#define M(f) (1u << (f))
#define ASYNC (M(F_CANCEL) | M(F_SIGNAL))
#define DESCRIPTOR_MASK (M(F_EMFILE) | M(F_ENFILE) | M(F_ENOMEM) | ASYNC)

/* The functions counted.  The syscall() forms have names of their own in
 * reports but the faults of the call they make. */
enum fn {
    FN_MALLOC, FN_CALLOC, FN_REALLOC, FN_POSIX_MEMALIGN, FN_ALIGNED,
    FN_EPOLL_CREATE1, FN_EPOLL_CTL, FN_EPOLL_WAIT, FN_EVENTFD, FN_PIPE2,
    FN_PIPE, FN_READ, FN_WRITE, FN_CLOSE, FN_SYS_READ, FN_SYS_WRITE,
    FN_SYS_CLOSE, FN_FCNTL, FN_FSTAT, FN_KQUEUE, FN_KEVENT, FN_POLL,
    FN_LOCK, FN_EPOLL_PWAIT2, FN_PPOLL, FN_NFN
};

static const char *const fn_name[FN_NFN] = {
    "malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc",
    "epoll_create1", "epoll_ctl", "epoll_wait", "eventfd", "pipe2", "pipe",
    "read", "write", "close", "syscall(SYS_read)", "syscall(SYS_write)",
    "syscall(SYS_close)", "fcntl", "fstat", "kqueue", "kevent", "poll",
    "pthread_mutex_lock", "epoll_pwait2", "ppoll"
};

/* The API calls, for grouping and for the table of errors. */
enum api {
    A_POLL_NEW, A_REGISTER, A_REREGISTER, A_DEREGISTER, A_WAKER_NEW,
    A_WAKE, A_WAIT, A_WAKER_FREE, A_POLL_FREE, A_NAPI
};

static const char *const api_name[A_NAPI] = {
    "mw_poll_new", "mw_poll_register", "mw_poll_reregister",
    "mw_poll_deregister", "mw_waker_new", "mw_waker_wake", "mw_poll_wait",
    "mw_waker_free", "mw_poll_free"
};

/* ==== the state of one run ==== */

/* Set by the scenario around each API call (inside) and by every wrapper
 * around what it forwards (depth): a call counts when inside && !depth. */
static _Thread_local int inside;
static _Thread_local int depth;
/* Set in a fork() child of the scenario: nothing counts there. */
static volatile sig_atomic_t in_child;

#define COUNTED() (inside && depth == 0 && !in_child)

/* Touched only by the scenario's thread while it runs, and by the driver
 * after joining it. */
#define MAX_CALLS 16384
struct callrec {
    unsigned char fn;
    unsigned char api;
    unsigned short mask;        /* the faults this call can see */
    int seq;                    /* which API call of the run */
    const char *label;
};
static struct callrec rec[MAX_CALLS];
static bool recording;
static long ncalls;
static long target = -1;
static enum fault target_fault;
static bool reached;            /* the run made call `target` */
static bool injected;           /* ... and gave it the fault */
static struct callrec injected_at;
static bool diverged;           /* call `target` is not the baseline's */
static char diverged_msg[200];
/* The run began with another table of descriptors than the clean one:
 * an earlier run leaked, and its numbers shift this one's calls. */
static bool dirty;
static long held;               /* library locks held by the scenario */
static enum fn last_fn;         /* the last call counted */
static bool last_kevent_waits;  /* ... and, a kevent(), asked for events */
/* A cancellation was acted on inside libkqueue, which may have been
 * holding its own locks: nothing may call it any more. */
static bool poisoned;
static bool cancel_injected;
static bool cancel_acted;
static bool in_sink;            /* acting on a request no call acted on */

static int said_busy;
static enum api cur_api;
static const char *cur_label = "";
static int cur_seq;

/* What broke, for the report. */
static int nbroken;
static char broken_msg[320];

static void broke(const char *fmt, ...) TAP_PRINTF(1, 2);

static void
broke(const char *fmt, ...)
{
    va_list ap;
    size_t len = strlen(broken_msg);

    if (nbroken++ < 2 && len + 4 < sizeof broken_msg) {
        if (len > 0) {
            strcpy(broken_msg + len, "; ");
            len += 2;
        }
        va_start(ap, fmt);
        vsnprintf(broken_msg + len, sizeof broken_msg - len, fmt, ap);
        va_end(ap);
    }
}

/* ==== live allocations of the library, by address ==== */

#define OWN_SLOTS 8192
static uintptr_t own[OWN_SLOTS];        /* 0 free, 1 deleted */
static long own_live;
static atomic_int own_any;
static atomic_flag own_lock = ATOMIC_FLAG_INIT;

static size_t
own_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 2654435761u) % OWN_SLOTS;
}

static void
own_lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&own_lock, memory_order_acquire))
        ;
}

static void
own_lock_give(void)
{
    atomic_flag_clear_explicit(&own_lock, memory_order_release);
}

static void
own_insert(const void *p)
{
    size_t h = own_hash(p);

    own_lock_take();
    for (size_t i = 0; i < OWN_SLOTS; i++) {
        size_t j = (h + i) % OWN_SLOTS;

        if (own[j] <= 1) {
            own[j] = (uintptr_t)p;
            own_live++;
            atomic_store(&own_any, 1);
            break;
        }
    }
    own_lock_give();
}

static bool
own_remove(const void *p)
{
    size_t h = own_hash(p);
    bool found = false;

    if (!atomic_load_explicit(&own_any, memory_order_relaxed))
        return false;
    own_lock_take();
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
    own_lock_give();
    return found;
}

/* Forget what a run leaked, so that the next starts from nothing. */
static void
own_reset(void)
{
    own_lock_take();
    memset(own, 0, sizeof own);
    own_live = 0;
    atomic_store(&own_any, 0);
    own_lock_give();
}

/* ==== the real functions ==== */

static void *
next_symbol(const char *name)
{
    return dlsym ? dlsym(RTLD_NEXT, name) : NULL;
}

/* POSIX guarantees that dlsym's result converts to a function pointer;
 * memcpy keeps -Wpedantic quiet about it. */
#define RESOLVE(var, name) \
    do { \
        if (!(var)) { \
            void *sym_ = next_symbol(name); \
            if (sym_) \
                memcpy(&(var), &sym_, sizeof(var)); \
        } \
    } while (0)

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*aligned_fn)(size_t, size_t);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*close_fn)(int);
typedef int (*pipe_fn)(int[2]);
typedef int (*pipe2_fn)(int[2], int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef long (*syscall_fn)(long, ...);
typedef int (*lock_fn)(pthread_mutex_t *);
typedef int (*kqueue_fn)(void);

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static posix_memalign_fn real_posix_memalign;
static aligned_fn real_aligned_alloc;
static aligned_fn real_memalign;
static read_fn real_read;
static write_fn real_write;
static close_fn real_close;
static pipe_fn real_pipe;
static pipe2_fn real_pipe2;
static poll_fn real_poll;
static syscall_fn real_syscall;
static lock_fn real_lock;
static lock_fn real_unlock;
static kqueue_fn real_kqueue;

/* The allocator is ready once this program's constructor has run: until
 * then (dlsym's own allocations, other libraries' constructors) blocks
 * come from a static buffer, never reused. */
static bool ready;

#define BOOT_SIZE ((size_t)1 << 20)
static alignas(64) unsigned char boot[BOOT_SIZE];
static size_t boot_used;

static void *
boot_alloc(size_t size)
{
    size_t start = (boot_used + 16 + 15) & ~(size_t)15;

    if (size > BOOT_SIZE || start + size > BOOT_SIZE)
        return NULL;
    *(size_t *)(void *)(boot + start - sizeof(size_t)) = size;
    boot_used = start + size;
    return boot + start;
}

static bool
in_boot(const void *p)
{
    return (const unsigned char *)p >= boot
           && (const unsigned char *)p < boot + BOOT_SIZE;
}

__attribute__((constructor)) static void
explore_init(void)
{
    RESOLVE(real_malloc, "malloc");
    RESOLVE(real_calloc, "calloc");
    RESOLVE(real_realloc, "realloc");
    RESOLVE(real_free, "free");
    RESOLVE(real_posix_memalign, "posix_memalign");
    RESOLVE(real_aligned_alloc, "aligned_alloc");
    RESOLVE(real_memalign, "memalign");
    RESOLVE(real_read, "read");
    RESOLVE(real_write, "write");
    RESOLVE(real_close, "close");
    RESOLVE(real_syscall, "syscall");
    RESOLVE(real_lock, "pthread_mutex_lock");
    RESOLVE(real_unlock, "pthread_mutex_unlock");
    ready = real_malloc && real_calloc && real_realloc && real_free
            && real_posix_memalign;
}

/* ==== counting and injecting ==== */

static void
inject_cancel(void)
{
    depth++;
    cancel_injected = true;
    pthread_cancel(pthread_self());
    depth--;
}

static void
inject_signal(void)
{
    int saved = errno;

    depth++;
    pthread_kill(pthread_self(), SIGUSR1);
    depth--;
    errno = saved;
}

/* Count a call the library makes, with the faults it can see; the fault
 * to give it now, F_NONE nearly always.  A cancellation or a signal is
 * dealt with here, before the call goes on (F_SIGNAL is returned so that
 * a blocking wait can fail with EINTR). */
static enum fault
at_call(enum fn fn, unsigned mask)
{
    long i = ncalls++;

    last_fn = fn;
    if (recording && i < MAX_CALLS)
        rec[i] = (struct callrec){ .fn = (unsigned char)fn,
                                   .api = (unsigned char)cur_api,
                                   .mask = (unsigned short)mask,
                                   .seq = cur_seq, .label = cur_label };
    if (i != target)
        return F_NONE;
    reached = true;
    if (i >= MAX_CALLS || rec[i].fn != fn || !(mask & M(target_fault))) {
        if (!diverged)
            snprintf(diverged_msg, sizeof diverged_msg,
                     "call %ld is %s in %s (%s), not %s in %s (%s) as "
                     "without a fault", i, fn_name[fn], api_name[cur_api],
                     cur_label, fn_name[rec[i].fn], api_name[rec[i].api],
                     rec[i].label);
        diverged = true;
        /* After a leak has shifted the numbers, the point still tries
         * the fault on whatever call it reached, if that call can see
         * it. */
        if (!(mask & M(target_fault)))
            return F_NONE;
    }
    injected = true;
    injected_at = (struct callrec){ .fn = (unsigned char)fn,
                                    .api = (unsigned char)cur_api,
                                    .mask = (unsigned short)mask,
                                    .seq = cur_seq, .label = cur_label };
    switch (target_fault) {
    case F_CANCEL:
        inject_cancel();
        return F_NONE;
    case F_SIGNAL:
        inject_signal();
        return F_SIGNAL;
    default:
        return target_fault;
    }
}

/* An errno fault that simply makes the call fail. */
static bool
fails(enum fault f)
{
    return f != F_NONE && fault_errno[f] != 0;
}

/* ---- EAGAIN made true ---- */

/* A non-blocking pipe or eventfd, on which EAGAIN has a real meaning. */
static bool
eagain_possible(int fd)
{
    struct stat st;
    int fl;
    bool yes;

    depth++;
    fl = fcntl(fd, F_GETFL);
    yes = fl >= 0 && (fl & O_NONBLOCK)
          && (util_fd_is_eventfd(fd)
              || (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)));
    depth--;
    return yes;
}

/* The faults of a read or write of fd.  Whether EAGAIN can be made true
 * costs three system calls, and matters only to the clean run, which
 * records it, and at the one call a run faults. */
static unsigned
io_mask(int fd)
{
    unsigned mask = M(F_EINTR) | ASYNC;

    if ((recording || ncalls == target) && eagain_possible(fd))
        mask |= M(F_EAGAIN);
    return mask;
}

/* Make a write of a few bytes fail with EAGAIN: fill the object. */
static void
fill(int fd)
{
    static char junk[4096];
    int saved = errno;

    depth++;
    if (util_fd_is_eventfd(fd)) {
        uint64_t v;

        (void)real_read(fd, &v, sizeof v);
        v = UINT64_C(0xfffffffffffffffe);
        (void)real_write(fd, &v, sizeof v);
    } else {
        while (real_write(fd, junk, sizeof junk) > 0)
            ;
        while (real_write(fd, junk, 1) > 0)
            ;
    }
    depth--;
    errno = saved;
}

/* Make a read fail with EAGAIN: empty the object. */
static void
empty(int fd)
{
    char buf[4096];
    int saved = errno;

    depth++;
    while (real_read(fd, buf, sizeof buf) > 0)
        ;
    depth--;
    errno = saved;
}

/* ==== the wrappers ==== */

#ifdef WRAP_FCNTL_FSTAT
static bool is_callers_fd(int fd);
#endif

/* ---- allocation ---- */

void *memalign(size_t alignment, size_t size);

static void
note_alloc(void *p, bool counted)
{
    if (p && counted)
        own_insert(p);
}

void *
malloc(size_t size)
{
    enum fault f = F_NONE;
    bool counted;
    void *p;

    if (!ready)
        return boot_alloc(size);
    counted = COUNTED();
    if (counted)
        f = at_call(FN_MALLOC, M(F_ENOMEM) | ASYNC);
    if (fails(f)) {
        errno = ENOMEM;
        return NULL;
    }
    depth++;
    p = real_malloc(size);
    depth--;
    note_alloc(p, counted);
    return p;
}

void *
calloc(size_t n, size_t size)
{
    enum fault f = F_NONE;
    bool counted;
    void *p;

    if (!ready) {
        if (size && n > SIZE_MAX / size)
            return NULL;
        return boot_alloc(n * size);
    }
    counted = COUNTED();
    if (counted)
        f = at_call(FN_CALLOC, M(F_ENOMEM) | ASYNC);
    if (fails(f)) {
        errno = ENOMEM;
        return NULL;
    }
    depth++;
    p = real_calloc(n, size);
    depth--;
    note_alloc(p, counted);
    return p;
}

void *
realloc(void *old, size_t size)
{
    enum fault f = F_NONE;
    bool counted;
    void *p;

    if (old != NULL && in_boot(old)) {
        size_t was = *(const size_t *)(const void *)
                     ((const unsigned char *)old - sizeof(size_t));

        p = malloc(size);
        if (p)
            memcpy(p, old, was < size ? was : size);
        return p;
    }
    if (!ready)
        return old == NULL ? boot_alloc(size) : NULL;
    counted = COUNTED();
    if (counted)
        f = at_call(FN_REALLOC, M(F_ENOMEM) | ASYNC);
    if (fails(f)) {
        errno = ENOMEM;
        return NULL;
    }
    depth++;
    p = real_realloc(old, size);
    depth--;
    if (p != NULL || size == 0) {
        bool was_own = old != NULL && own_remove(old);

        note_alloc(p, counted || was_own);
    }
    return p;
}

void
free(void *p)
{
    if (p == NULL || in_boot(p) || !ready)
        return;
    (void)own_remove(p);
    depth++;
    real_free(p);
    depth--;
}

int
posix_memalign(void **out, size_t alignment, size_t size)
{
    enum fault f = F_NONE;
    bool counted;
    int rc;

    if (!ready) {
        void *p = boot_alloc(size + alignment);

        if (p == NULL)
            return ENOMEM;
        *out = (void *)(((uintptr_t)p + alignment - 1)
                        & ~(uintptr_t)(alignment - 1));
        return 0;
    }
    counted = COUNTED();
    if (counted)
        f = at_call(FN_POSIX_MEMALIGN, M(F_ENOMEM) | ASYNC);
    if (fails(f))
        return ENOMEM;
    depth++;
    rc = real_posix_memalign(out, alignment, size);
    depth--;
    if (rc == 0)
        note_alloc(*out, counted);
    return rc;
}

static void *
aligned_common(aligned_fn fn, size_t alignment, size_t size)
{
    enum fault f = F_NONE;
    bool counted;
    void *p;

    if (!ready || !fn) {
        p = boot_alloc(size + alignment);
        return p == NULL ? NULL
                         : (void *)(((uintptr_t)p + alignment - 1)
                                    & ~(uintptr_t)(alignment - 1));
    }
    counted = COUNTED();
    if (counted)
        f = at_call(FN_ALIGNED, M(F_ENOMEM) | ASYNC);
    if (fails(f)) {
        errno = ENOMEM;
        return NULL;
    }
    depth++;
    p = fn(alignment, size);
    depth--;
    note_alloc(p, counted);
    return p;
}

void *
aligned_alloc(size_t alignment, size_t size)
{
    return aligned_common(real_aligned_alloc, alignment, size);
}

void *
memalign(size_t alignment, size_t size)
{
    return aligned_common(real_memalign, alignment, size);
}

/* ---- locks: never failed, only counted and balanced ---- */

int
pthread_mutex_lock(pthread_mutex_t *m)
{
    bool counted = COUNTED();
    int rc;

    RESOLVE(real_lock, "pthread_mutex_lock");
    if (counted)
        (void)at_call(FN_LOCK, ASYNC);
    depth++;
    if (real_lock) {
        rc = real_lock(m);
    } else {
        while ((rc = pthread_mutex_trylock(m)) == EBUSY)
            ;
    }
    depth--;
    if (counted && rc == 0)
        held++;
    return rc;
}

int
pthread_mutex_unlock(pthread_mutex_t *m)
{
    bool counted = COUNTED();
    int rc;

    RESOLVE(real_unlock, "pthread_mutex_unlock");
    if (!real_unlock)
        return EINVAL;
    depth++;
    rc = real_unlock(m);
    depth--;
    if (counted && rc == 0)
        held--;
    return rc;
}

/* ---- descriptors ---- */

static ssize_t
do_read(enum fn fn, long nr, int fd, void *buf, size_t n)
{
    enum fault f = F_NONE;
    ssize_t r;

    if (COUNTED()) {
        f = at_call(fn, io_mask(fd));
        if (f == F_EINTR) {
            errno = EINTR;
            return -1;
        }
        if (f == F_EAGAIN)
            empty(fd);
    }
    depth++;
    r = fn == FN_SYS_READ
        ? (ssize_t)real_syscall(nr, (long)fd, (long)buf, (long)n)
        : real_read(fd, buf, n);
    depth--;
    return r;
}

static ssize_t
do_write(enum fn fn, long nr, int fd, const void *buf, size_t n)
{
    enum fault f = F_NONE;
    ssize_t r;

    if (COUNTED()) {
        f = at_call(fn, io_mask(fd));
        if (f == F_EINTR) {
            errno = EINTR;
            return -1;
        }
        if (f == F_EAGAIN)
            fill(fd);
    }
    depth++;
    r = fn == FN_SYS_WRITE
        ? (ssize_t)real_syscall(nr, (long)fd, (long)buf, (long)n)
        : real_write(fd, buf, n);
    depth--;
    return r;
}

static int
do_close(enum fn fn, long nr, int fd)
{
    enum fault f = F_NONE;
    int r;

    if (COUNTED())
        f = at_call(fn, M(F_EINTR) | ASYNC);
    depth++;
    r = fn == FN_SYS_CLOSE ? (int)real_syscall(nr, (long)fd)
                           : real_close(fd);
    depth--;
    /* Linux has released the descriptor when close() says EINTR. */
    if (f == F_EINTR && r == 0) {
        errno = EINTR;
        return -1;
    }
    return r;
}

ssize_t
read(int fd, void *buf, size_t n)
{
    RESOLVE(real_read, "read");
    return do_read(FN_READ, 0, fd, buf, n);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    RESOLVE(real_write, "write");
    return do_write(FN_WRITE, 0, fd, buf, n);
}

int
close(int fd)
{
    RESOLVE(real_close, "close");
    return do_close(FN_CLOSE, 0, fd);
}

#ifdef EXPLORE_PWAIT2_SYSCALL
static enum fault pwait2_fault(const struct timespec *ts);
#endif

/* The non-cancellable forms of read, write and close are these numbers
 * through syscall(), and so is epoll_pwait2 where the C library has no
 * function of that name; any other number goes through untouched. */
long
syscall(long number, ...)
{
    long a[6];
    va_list ap;

    RESOLVE(real_syscall, "syscall");
    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (!real_syscall) {
        errno = ENOSYS;
        return -1;
    }
#ifdef SYS_read
    if (number == SYS_read)
        return do_read(FN_SYS_READ, number, (int)a[0], (void *)a[1],
                       (size_t)a[2]);
#endif
#ifdef SYS_write
    if (number == SYS_write)
        return do_write(FN_SYS_WRITE, number, (int)a[0],
                        (const void *)a[1], (size_t)a[2]);
#endif
#ifdef SYS_close
    if (number == SYS_close)
        return do_close(FN_SYS_CLOSE, number, (int)a[0]);
#endif
#ifdef EXPLORE_PWAIT2_SYSCALL
    if (number == SYS_epoll_pwait2
        && pwait2_fault((const struct timespec *)a[3]) != F_NONE) {
        errno = EINTR;
        return -1;
    }
#endif
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int
pipe(int fds[2])
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_pipe, "pipe");
    if (COUNTED())
        f = at_call(FN_PIPE, DESCRIPTOR_MASK);
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_pipe(fds);
    depth--;
    return r;
}

int
pipe2(int fds[2], int flags)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_pipe2, "pipe2");
    if (COUNTED())
        f = at_call(FN_PIPE2, DESCRIPTOR_MASK);
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_pipe2(fds, flags);
    depth--;
    return r;
}

int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_poll, "poll");
    if (COUNTED())
        f = at_call(FN_POLL, M(F_EINTR) | M(F_ENOMEM) | ASYNC);
    if (fails(f) || (f == F_SIGNAL && timeout != 0)) {
        errno = f == F_SIGNAL ? EINTR : fault_errno[f];
        return -1;
    }
    depth++;
    r = real_poll(fds, n, timeout);
    depth--;
    return r;
}

#if defined(EXPLORE_PPOLL) || defined(EXPLORE_PWAIT2) \
    || defined(EXPLORE_PWAIT2_SYSCALL)
/* The finer timed waits of mw_poll_wait_ts(): the faults of their
 * millisecond forms.  Not ENOSYS or EPERM, the system refusing the call:
 * the library remembers a refusal for the process, so every later run of
 * this one would make other calls; t/wait-ts forces both, each in a
 * process of its own. */
# define FINE_WAIT_MASK (M(F_EINTR) | ASYNC)

/* The wait would block: a signal then ends it with EINTR. */
static bool
fine_wait_blocks(const struct timespec *ts)
{
    return !ts || ts->tv_sec != 0 || ts->tv_nsec != 0;
}
#endif

#ifdef EXPLORE_PPOLL
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *,
                        const sigset_t *);
static ppoll_fn real_ppoll;

int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
      const sigset_t *sigmask)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_ppoll, "ppoll");
    if (COUNTED())
        f = at_call(FN_PPOLL, FINE_WAIT_MASK | M(F_ENOMEM));
    if (fails(f) || (f == F_SIGNAL && fine_wait_blocks(ts))) {
        errno = f == F_SIGNAL ? EINTR : fault_errno[f];
        return -1;
    }
    depth++;
    r = real_ppoll(fds, n, ts, sigmask);
    depth--;
    return r;
}
#endif

#ifdef WRAP_FCNTL_FSTAT
typedef int (*fcntl_fn)(int, int, ...);
typedef int (*fstat_fn)(int, struct stat *);
static fcntl_fn real_fcntl;
static fstat_fn real_fstat;

int
fcntl(int fd, int cmd, ...)
{
    enum fault f = F_NONE;
    va_list ap;
    void *arg;
    int r;

    RESOLVE(real_fcntl, "fcntl");
    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    /* It fails only for a descriptor that is not open: one of the
     * caller's, closed by another thread just before; never one the
     * library has just opened. */
    if (COUNTED())
        f = at_call(FN_FCNTL, ASYNC | (is_callers_fd(fd) ? M(F_EBADF) : 0));
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_fcntl(fd, cmd, arg);
    depth--;
    return r;
}

int
fstat(int fd, struct stat *st)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_fstat, "fstat");
    /* EOVERFLOW is a file too large for struct stat: one of the
     * caller's, never a pipe the library made. */
    if (COUNTED())
        f = at_call(FN_FSTAT, M(F_ENOMEM) | ASYNC
                              | (is_callers_fd(fd) ? M(F_EOVERFLOW) : 0));
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_fstat(fd, st);
    depth--;
    return r;
}
#endif /* WRAP_FCNTL_FSTAT */

#ifdef HAVE_SYS_EPOLL_H
typedef int (*epoll_create1_fn)(int);
typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
static epoll_create1_fn real_epoll_create1;
static epoll_ctl_fn real_epoll_ctl;
static epoll_wait_fn real_epoll_wait;

int
epoll_create1(int flags)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_epoll_create1, "epoll_create1");
    if (COUNTED())
        f = at_call(FN_EPOLL_CREATE1, DESCRIPTOR_MASK);
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_epoll_create1(flags);
    depth--;
    return r;
}

int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_epoll_ctl, "epoll_ctl");
    /* ENOSPC is max_user_watches, reached only by an addition. */
    if (COUNTED())
        f = at_call(FN_EPOLL_CTL, M(F_ENOMEM) | ASYNC
                    | (op == EPOLL_CTL_ADD ? M(F_ENOSPC) : 0));
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_epoll_ctl(epfd, op, fd, ev);
    depth--;
    return r;
}

int
epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_epoll_wait, "epoll_wait");
    if (COUNTED())
        f = at_call(FN_EPOLL_WAIT, M(F_EINTR) | ASYNC);
    if (fails(f) || (f == F_SIGNAL && timeout != 0)) {
        errno = EINTR;
        return -1;
    }
    depth++;
    r = real_epoll_wait(epfd, ev, max, timeout);
    depth--;
    return r;
}

# if defined(EXPLORE_PWAIT2) || defined(EXPLORE_PWAIT2_SYSCALL)
/* Returns the fault to give the call (F_SIGNAL only when it blocks), for
 * the C library's epoll_pwait2 and for the system call made through
 * syscall() where there is none (musl). */
static enum fault
pwait2_fault(const struct timespec *ts)
{
    enum fault f = COUNTED() ? at_call(FN_EPOLL_PWAIT2, FINE_WAIT_MASK)
                             : F_NONE;

    if (fails(f) || (f == F_SIGNAL && fine_wait_blocks(ts)))
        return f;
    return F_NONE;
}
# endif

# ifdef EXPLORE_PWAIT2
typedef int (*epoll_pwait2_fn)(int, struct epoll_event *, int,
                               const struct timespec *, const sigset_t *);
static epoll_pwait2_fn real_epoll_pwait2;

int
epoll_pwait2(int epfd, struct epoll_event *ev, int max,
             const struct timespec *ts, const sigset_t *sigmask)
{
    int r;

    RESOLVE(real_epoll_pwait2, "epoll_pwait2");
    if (pwait2_fault(ts) != F_NONE) {
        errno = EINTR;
        return -1;
    }
    depth++;
    r = real_epoll_pwait2(epfd, ev, max, ts, sigmask);
    depth--;
    return r;
}
# endif
#endif /* HAVE_SYS_EPOLL_H */

#ifdef HAVE_SYS_EVENTFD_H
typedef int (*eventfd_fn)(unsigned int, int);
static eventfd_fn real_eventfd;

int
eventfd(unsigned int initval, int flags)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_eventfd, "eventfd");
    if (COUNTED())
        f = at_call(FN_EVENTFD, DESCRIPTOR_MASK);
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_eventfd(initval, flags);
    depth--;
    return r;
}
#endif /* HAVE_SYS_EVENTFD_H */

/* Declared here: a build through libkqueue does not put <sys/event.h> on
 * this program's include path, and the wrappers only pass the changes
 * and events on. */
struct kevent;
int kqueue(void);
int kevent(int kq, const struct kevent *changes, int nchanges,
           struct kevent *events, int nevents, const struct timespec *timeout);
typedef int (*kevent_fn)(int, const struct kevent *, int, struct kevent *,
                         int, const struct timespec *);
static kevent_fn real_kevent;

static bool
adds_knote(const struct kevent *changes, int nchanges)
{
#ifdef HAVE_KEVENT_FLAGS
    for (int i = 0; i < nchanges; i++)
        if (changes[i].flags & EV_ADD)
            return true;
    return false;
#else
    (void)changes;
    return nchanges > 0;
#endif
}

int
kqueue(void)
{
    enum fault f = F_NONE;
    int r;

    RESOLVE(real_kqueue, "kqueue");
    if (!real_kqueue) {
        errno = ENOSYS;
        return -1;
    }
    if (COUNTED())
        f = at_call(FN_KQUEUE, DESCRIPTOR_MASK);
    if (fails(f)) {
        errno = fault_errno[f];
        return -1;
    }
    depth++;
    r = real_kqueue();
    depth--;
    return r;
}

int
kevent(int kq, const struct kevent *changes, int nchanges,
       struct kevent *events, int nevents, const struct timespec *timeout)
{
    enum fault f = F_NONE;
    bool blocking = nevents > 0
                    && (timeout == NULL || timeout->tv_sec != 0
                        || timeout->tv_nsec != 0);
    int r;

    RESOLVE(real_kevent, "kevent");
    if (!real_kevent) {
        errno = ENOSYS;
        return -1;
    }
    /* A kevent() that asks for events is a wait; one that adds a knote
     * may find no memory for it. */
    if (COUNTED()) {
        f = at_call(FN_KEVENT, M(F_EINTR) | ASYNC
                    | (adds_knote(changes, nchanges) ? M(F_ENOMEM) : 0));
        last_kevent_waits = nevents > 0;
    }
    if (fails(f) || (f == F_SIGNAL && blocking)) {
        errno = f == F_SIGNAL ? EINTR : fault_errno[f];
        return -1;
    }
    depth++;
    r = real_kevent(kq, changes, nchanges, events, nevents, timeout);
    depth--;
    return r;
}

/* ==== what each API call may return (doc/man3) ==== */

static const int listed_poll_new[] = { EINVAL, ENOMEM, EMFILE, ENFILE,
                                       ENOSPC, 0 };
static const int listed_register[] = { EINVAL, EBADF, EEXIST, EPERM, ENOTSUP,
                                       EPIPE, ENOMEM, 0 };
static const int listed_reregister[] = { EINVAL, EBADF, ENOENT, EPERM,
                                         ENOTSUP, EPIPE, ENOMEM, 0 };
static const int listed_deregister[] = { EINVAL, EBADF, ENOENT, ENOMEM, 0 };
static const int listed_waker_new[] = { EINVAL, ENOMEM, 0 };
static const int listed_wake[] = { EINVAL, 0 };
static const int listed_wait[] = { EINVAL, EBUSY, EINTR, ENOMEM, 0 };
static const int listed_none[] = { 0 };

static const int *const listed[A_NAPI] = {
    listed_poll_new, listed_register, listed_reregister, listed_deregister,
    listed_waker_new, listed_wake, listed_wait, listed_none, listed_none
};

/* Where a page says that the kernel's own error comes back as it is: the
 * registration calls ("any other error the kernel reports when the
 * registration is added or changed"), the wait ("any other failure of the
 * underlying system call") and the wake (the signal's refusal). */
static bool
passes_kernel_error(enum api a, enum fn fn)
{
    switch (a) {
    case A_REGISTER:
    case A_REREGISTER:
    case A_DEREGISTER:
        return fn == FN_EPOLL_CTL || fn == FN_KEVENT || fn == FN_FCNTL
               || fn == FN_FSTAT;
    case A_WAIT:
        return fn == FN_EPOLL_WAIT || fn == FN_POLL || fn == FN_KEVENT
               || fn == FN_EPOLL_PWAIT2 || fn == FN_PPOLL;
    case A_WAKE:
        return fn == FN_WRITE || fn == FN_SYS_WRITE || fn == FN_KEVENT;
    default:
        return false;
    }
}

static bool
rc_allowed(enum api a, long rc)
{
    if (rc >= 0)
        return a == A_WAIT || rc == 0;
    for (const int *e = listed[a]; *e; e++)
        if (-rc == *e)
            return true;
    return injected && injected_at.seq == cur_seq
           && fault_errno[target_fault] == -rc
           && passes_kernel_error(a, (enum fn)injected_at.fn);
}

/* ==== the scenario ==== */

#define ERRNO_MARK 7919
#define NPIPE 16            /* pipes registered: the table grows */
#define HI_FD 70            /* one more, far up: it grows again */
#define NWAKER 32           /* 33 with the fresh one: the table grows twice */
#define NW (NWAKER + 1)     /* the last one is the fresh one of the end */
#define CAP 8
#define SHORT_MS 10
static const struct timespec fine_timeout = { 0, 500000 };

#define TOKEN_PIPE(i) ((mw_token)0x100 + (mw_token)(i))
#define TOKEN_HI ((mw_token)0x1FF)
#define TOKEN_SOCK ((mw_token)0x200)
#define TOKEN_SOCK2 ((mw_token)0x201)
#define TOKEN_WAKER(j, gen) ((mw_token)0x1000 * (mw_token)((gen) + 1) \
                             + (mw_token)(j))

enum stage { ST_BODY, ST_CHECK, ST_RELEASE, ST_DONE };

struct sc {
    mw_poll *p;
    mw_waker *w[NW];
    mw_token wtok[NW];
    int wgen[NW];
    bool due[NW];               /* woken: its event must come */
    int pr[NPIPE], pw[NPIPE];
    bool preg[NPIPE], pdue[NPIPE];
    int hi_r, hi_w;
    bool hireg, hidue;
    int sv[2];
    bool sreg;
    mw_token stok;
    bool probe_due;             /* the socket's byte must come, readable */
    enum stage stage;
    int done_fd;                /* written when the thread ends */
};

/* The scenario's objects, while a run goes on. */
static struct sc *running;

#ifdef WRAP_FCNTL_FSTAT
/* A descriptor of the caller's: the only kind whose fcntl() or fstat()
 * can fail with EBADF or EOVERFLOW where the library calls them. */
static bool
is_callers_fd(int fd)
{
    const struct sc *s = running;

    if (!s || fd < 0)
        return false;
    for (int i = 0; i < NPIPE; i++)
        if (fd == s->pr[i] || fd == s->pw[i])
            return true;
    return fd == s->hi_r || fd == s->hi_w || fd == s->sv[0]
           || fd == s->sv[1];
}
#endif

static _Atomic(mw_waker *) sig_waker;
static atomic_int sig_runs;
static atomic_int sig_bad_wakes;

static void
on_sigusr1(int sig)
{
    mw_waker *w = atomic_load(&sig_waker);

    (void)sig;
    atomic_fetch_add(&sig_runs, 1);
    if (w) {
        int mark = errno;
        int rc = mw_waker_wake(w);

        /* A handler's wake keeps errno too, and works. */
        if (errno != mark || rc != 0)
            atomic_fetch_add(&sig_bad_wakes, 1);
        errno = mark;
    }
}

/* A request that the call it was made in did not act on is acted on here,
 * before the next API call, once the scenario has taken note of what that
 * call returned. */
static void
sink(void)
{
    if (cancel_injected && !cancel_acted) {
        in_sink = true;
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        pthread_testcancel();
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    }
}

static void
api_begin(enum api a, const char *label)
{
    sink();
    cur_api = a;
    cur_label = label;
    cur_seq++;
    /* Not in the cleanup handler: musl acts on the same request again
     * once a handler turns cancellation back on, and has no handler left
     * to run by then. */
    if (!cancel_acted)
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    errno = ERRNO_MARK;
    inside = 1;
}

static long
api_end(long rc)
{
    int e = errno;

    inside = 0;
    if (!cancel_acted)
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    if (e != ERRNO_MARK)
        broke("%s (%s) changed errno to %d", api_name[cur_api], cur_label, e);
    if (!rc_allowed(cur_api, rc))
        broke("%s (%s) returned %s, which its man page does not list",
              api_name[cur_api], cur_label, tap_errno_name(rc));
    if (cur_api == A_WAIT && rc > CAP)
        broke("mw_poll_wait returned %ld events for a capacity of %d", rc,
              CAP);
    if (cur_api == A_WAIT && rc == -EBUSY && !said_busy++)
        broke("mw_poll_wait (%s) said -EBUSY with no other waiter",
              cur_label);
    return rc;
}

#define API(a, label, expr) (api_begin((a), (label)), api_end((long)(expr)))

static int
call_waker_free(mw_waker *w)
{
    mw_waker_free(w);
    return 0;
}

static int
call_poll_free(mw_poll *p)
{
    mw_poll_free(p);
    return 0;
}

static char waker_labels[NW][24];
static char pipe_labels[NPIPE][16];

static void
make_labels(void)
{
    for (int j = 0; j < NWAKER; j++)
        snprintf(waker_labels[j], sizeof waker_labels[j], "waker %d", j);
    snprintf(waker_labels[NWAKER], sizeof waker_labels[NWAKER],
             "the fresh waker");
    for (int i = 0; i < NPIPE; i++)
        snprintf(pipe_labels[i], sizeof pipe_labels[i], "pipe %d", i);
}

static bool
make_poll(struct sc *s)
{
    mw_poll *p = (mw_poll *)&p;
    long rc = API(A_POLL_NEW, "the poll", mw_poll_new(&p));

    if (rc < 0) {
        if (p != NULL)
            broke("a failed mw_poll_new left *out set");
        p = (mw_poll *)&p;
        rc = API(A_POLL_NEW, "the poll, again", mw_poll_new(&p));
        if (rc < 0) {
            broke("mw_poll_new failed again (%s) after a failure",
                  tap_errno_name(rc));
            return false;
        }
    }
    s->p = p;
    return true;
}

static bool
make_waker(struct sc *s, int j)
{
    mw_waker *w = (mw_waker *)&w;
    mw_token tok = TOKEN_WAKER(j, s->wgen[j]);
    long rc = API(A_WAKER_NEW, waker_labels[j], mw_waker_new(&w, s->p, tok));

    if (rc < 0) {
        if (w != NULL)
            broke("a failed mw_waker_new (%s) left *out set",
                  waker_labels[j]);
        w = (mw_waker *)&w;
        rc = API(A_WAKER_NEW, waker_labels[j], mw_waker_new(&w, s->p, tok));
        if (rc < 0) {
            broke("mw_waker_new (%s) failed again (%s) after a failure",
                  waker_labels[j], tap_errno_name(rc));
            return false;
        }
    }
    s->w[j] = w;
    s->wtok[j] = tok;
    s->due[j] = false;
    return true;
}

static void
free_waker(struct sc *s, int j)
{
    mw_waker *w = s->w[j];

    if (!w)
        return;
    sink();
    if (atomic_load(&sig_waker) == w)
        atomic_store(&sig_waker, NULL);
    s->w[j] = NULL;
    s->due[j] = false;
    s->wgen[j]++;
    (void)API(A_WAKER_FREE, waker_labels[j], call_waker_free(w));
}

static bool
do_wake(struct sc *s, int j)
{
    long rc = API(A_WAKE, waker_labels[j], mw_waker_wake(s->w[j]));

    if (rc < 0) {
        /* No event comes for a failed wake, and the waker is not left
         * pending: the next wake signals again. */
        rc = API(A_WAKE, waker_labels[j], mw_waker_wake(s->w[j]));
        if (rc < 0) {
            broke("mw_waker_wake (%s) failed again (%s) after a failure",
                  waker_labels[j], tap_errno_name(rc));
            return false;
        }
    }
    s->due[j] = true;
    return true;
}

static bool
do_register(struct sc *s, int fd, mw_token tok, unsigned interest,
            const char *label, bool *registered)
{
    long rc = API(A_REGISTER, label, mw_poll_register(s->p, fd, tok,
                                                      interest));

    if (rc < 0) {
        long d = API(A_DEREGISTER, label, mw_poll_deregister(s->p, fd));

        if (d != -ENOENT)
            broke("after a failed mw_poll_register (%s) the descriptor is "
                  "registered: deregistering gives %s", label,
                  tap_errno_name(d));
        rc = API(A_REGISTER, label, mw_poll_register(s->p, fd, tok,
                                                     interest));
        if (rc < 0) {
            broke("mw_poll_register (%s) failed again (%s) after a failure",
                  label, tap_errno_name(rc));
            return false;
        }
    }
    *registered = true;
    return true;
}

static void collect(struct sc *s, int timeout_ms,
                    const struct timespec *fine, const char *label);
static void test_write(int fd);

/* After a failed reregistration the old one is still in force: a byte
 * written to the peer comes under the old token, readable. */
static void
probe_old(struct sc *s, int fd, int peer)
{
    test_write(peer);
    if (fd == s->sv[0])
        s->probe_due = true;
    for (int i = 0; i < NPIPE; i++)
        if (fd == s->pr[i])
            s->pdue[i] = true;
    collect(s, 0, NULL, "the wait after a failed reregistration");
}

static bool
do_reregister(struct sc *s, int fd, int peer, mw_token tok,
              unsigned interest, const char *label)
{
    long rc = API(A_REREGISTER, label,
                  mw_poll_reregister(s->p, fd, tok, interest));

    if (rc < 0) {
        probe_old(s, fd, peer);
        rc = API(A_REREGISTER, label,
                 mw_poll_reregister(s->p, fd, tok, interest));
        if (rc < 0) {
            broke("after a failed mw_poll_reregister (%s) it fails again "
                  "(%s): the registration is gone", label,
                  tap_errno_name(rc));
            return false;
        }
    }
    return true;
}

static bool
do_deregister(struct sc *s, int fd, const char *label, bool *registered)
{
    long rc = API(A_DEREGISTER, label, mw_poll_deregister(s->p, fd));

    if (rc < 0) {
        rc = API(A_DEREGISTER, label, mw_poll_deregister(s->p, fd));
        if (rc < 0) {
            broke("after a failed mw_poll_deregister (%s) it fails again "
                  "(%s)", label, tap_errno_name(rc));
            return false;
        }
    }
    *registered = false;
    return true;
}

static void
test_write(int fd)
{
    char c = 'x';

    if (write(fd, &c, 1) != 1)
        bail_out("cannot write to the test's pipe: %s", strerror(errno));
}

static int
pending_count(const struct sc *s)
{
    int n = s->hidue + s->probe_due;

    for (int j = 0; j < NW; j++)
        n += s->due[j];
    for (int i = 0; i < NPIPE; i++)
        n += s->pdue[i];
    return n;
}

/* Wait until every due event has come: first with timeout_ms, or with
 * mw_poll_wait_ts() and *fine where fine is not NULL, then, for what a
 * broken library may have lost, a few short waits.  Tokens of nothing
 * live are strays. */
static void
collect(struct sc *s, int timeout_ms, const struct timespec *fine,
        const char *label)
{
    struct mw_event ev[CAP];

    for (int round = 0; round < 9 && pending_count(s) > 0; round++) {
        int t = round < 6 ? timeout_ms : SHORT_MS;
        static const unsigned char untouched[sizeof ev] = { 0 };
        long n;

        memset(ev, 0, sizeof ev);
        if (fine && round < 6)
            n = API(A_WAIT, label, mw_poll_wait_ts(s->p, ev, CAP, fine));
        else
            n = API(A_WAIT, label, mw_poll_wait(s->p, ev, CAP, t));
        if (n < 0 && memcmp(ev, untouched, sizeof ev) != 0)
            broke("%s failed (%s) but wrote into the events", label,
                  tap_errno_name(n));

        if (n == 0 && round >= 6)
            break;
        for (long k = 0; k < n; k++) {
            mw_token tok = ev[k].token;
            bool known = false;

            if (tok == s->stok && s->sreg) {
                if (s->probe_due && (ev[k].flags & MW_EV_READABLE)) {
                    util_drain(s->sv[0]);
                    s->probe_due = false;
                }
                continue;
            }
            if (tok == TOKEN_HI && s->hireg) {
                util_drain(s->hi_r);
                s->hidue = false;
                continue;
            }
            for (int i = 0; i < NPIPE && !known; i++)
                if (tok == TOKEN_PIPE(i) && s->preg[i]) {
                    util_drain(s->pr[i]);
                    s->pdue[i] = false;
                    known = true;
                }
            for (int j = 0; j < NW && !known; j++)
                if (s->w[j] && tok == s->wtok[j]) {
                    if (ev[k].flags != MW_EV_READABLE)
                        broke("%s's event has flags %s", waker_labels[j],
                              util_flags_str(ev[k].flags));
                    s->due[j] = false;
                    known = true;
                }
            if (!known)
                broke("%s reported token %#lx, which nothing live has",
                      label, (unsigned long)tok);
        }
    }
    for (int j = 0; j < NW; j++)
        if (s->due[j]) {
            broke("%s: the wake of %s never came", label, waker_labels[j]);
            s->due[j] = false;
        }
    for (int i = 0; i < NPIPE; i++)
        if (s->pdue[i]) {
            broke("%s: %s never came readable", label, pipe_labels[i]);
            s->pdue[i] = false;
        }
    if (s->hidue) {
        broke("%s: the far pipe never came readable", label);
        s->hidue = false;
    }
    if (s->probe_due) {
        broke("%s: the socket's old registration reported nothing", label);
        s->probe_due = false;
    }
}

static void
fork_child_frees(struct sc *s)
{
    pid_t pid = util_fork();
    int st;

    if (pid == 0) {
        in_child = 1;
        atomic_store(&sig_waker, NULL);
        for (int j = 0; j < NW; j++)
            mw_waker_free(s->w[j]);
        mw_poll_free(s->p);
        util_child_exit(0);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        broke("the fork() child freeing its copies did not exit cleanly "
              "(status %#x)", (unsigned)st);
}

/* The script.  Each step that fails is checked for "nothing changed" and
 * done again, so that the rest runs on the same objects; a step that
 * cannot be done again ends the script (the end still runs). */
static void
body(struct sc *s)
{
    if (!make_poll(s))
        return;
    for (int i = 0; i < NPIPE; i++)
        if (!do_register(s, s->pr[i], TOKEN_PIPE(i), MW_READABLE,
                         pipe_labels[i], &s->preg[i]))
            return;
    s->stok = TOKEN_SOCK;
    if (!do_register(s, s->sv[0], TOKEN_SOCK, MW_READABLE | MW_WRITABLE,
                     "the socket", &s->sreg)
        || !do_register(s, s->hi_r, TOKEN_HI, MW_READABLE, "the far pipe",
                        &s->hireg))
        return;
    for (int j = 0; j < NWAKER; j++)
        if (!make_waker(s, j))
            return;
    atomic_store(&sig_waker, s->w[0]);

    /* Everything ready at once; some wakes merge into pending ones. */
    for (int j = 0; j < NWAKER; j++)
        if (!do_wake(s, j))
            return;
    for (int j = 0; j < NWAKER; j += 4)
        if (!do_wake(s, j))
            return;
    for (int i = 0; i < NPIPE; i += 3) {
        test_write(s->pw[i]);
        s->pdue[i] = true;
    }
    test_write(s->hi_w);
    s->hidue = true;
    collect(s, 0, NULL, "the wait after the wakes (timeout 0)");

    if (!do_wake(s, 1))
        return;
    test_write(s->pw[1]);
    s->pdue[1] = true;
    collect(s, SHORT_MS, NULL, "the wait with a timeout");

    /* Half a millisecond: the poller's finer call, where it has one. */
    if (!do_wake(s, 2))
        return;
    test_write(s->pw[2]);
    s->pdue[2] = true;
    collect(s, 0, &fine_timeout, "the wait with a timeout finer than 1 ms");

    if (!do_reregister(s, s->sv[0], s->sv[1], TOKEN_SOCK2, MW_WRITABLE,
                       "the socket"))
        return;
    s->stok = TOKEN_SOCK2;
    for (int i = 0; i < NPIPE; i += 4)
        if (!do_reregister(s, s->pr[i], s->pw[i], TOKEN_PIPE(i), MW_READABLE,
                           pipe_labels[i]))
            return;
    for (int i = 1; i < NPIPE; i += 2)
        if (!do_deregister(s, s->pr[i], pipe_labels[i], &s->preg[i]))
            return;

    fork_child_frees(s);
    for (int j = 0; j < NWAKER; j += 3)
        if (!do_wake(s, j))
            return;
    test_write(s->pw[0]);
    s->pdue[0] = true;
    collect(s, 0, NULL, "the wait after fork()");

    /* Churn: slots and descriptors freed and taken again, twice, so that
     * a slot's generation moves on past a reuse. */
    for (int round = 0; round < 2; round++) {
        for (int j = 1 + round; j < NWAKER; j += 2 + round)
            free_waker(s, j);
        for (int j = 1 + round; j < NWAKER; j += 2 + round)
            if (!make_waker(s, j))
                return;
        for (int j = 1 + round; j < NWAKER; j += 4)
            if (!do_wake(s, j))
                return;
        collect(s, 0, NULL, round == 0 ? "the wait after new wakers"
                                       : "the wait after newer wakers");
    }
}

/* The end: every live waker and a fresh one woken, each event comes. */
static void
check_end(struct sc *s)
{
    s->stage = ST_CHECK;
    if (held != 0) {
        broke("%ld lock(s) of the library still held", held);
        return;
    }
    if (!s->p && !make_poll(s))
        return;
    if (!s->w[NWAKER] && !make_waker(s, NWAKER))
        return;
    for (int j = 0; j < NW; j++)
        if (s->w[j] && !do_wake(s, j))
            return;
    collect(s, 0, NULL, "the last wait");
}

/* Everything freed; half the wakers outlive the poll, and are woken
 * after it is gone (which is no error, and delivers nothing). */
static void
release(struct sc *s)
{
    mw_poll *p;

    s->stage = ST_RELEASE;
    if (held != 0)
        return;                 /* any call would deadlock */
    for (int i = 0; i < NPIPE && s->p; i++)
        if (s->preg[i])
            (void)do_deregister(s, s->pr[i], pipe_labels[i], &s->preg[i]);
    if (s->sreg && s->p)
        (void)do_deregister(s, s->sv[0], "the socket", &s->sreg);
    if (s->hireg && s->p)
        (void)do_deregister(s, s->hi_r, "the far pipe", &s->hireg);
    for (int j = 0; j < NW; j += 2)
        free_waker(s, j);
    sink();
    p = s->p;
    s->p = NULL;
    if (p)
        (void)API(A_POLL_FREE, "the poll", call_poll_free(p));
    for (int j = 1; j < NW; j += 2)
        if (s->w[j])
            (void)API(A_WAKE, "a waker that outlived its poll",
                      mw_waker_wake(s->w[j]));
    for (int j = 1; j < NW; j += 2)
        free_waker(s, j);
}

static void
thread_done(struct sc *s)
{
    char c = 'd';

    s->stage = ST_DONE;
    if (write(s->done_fd, &c, 1) != 1)
        abort();
}

static void
on_cancel(void *arg)
{
    struct sc *s = arg;

    bool in_call = depth > 0;

    inside = 0;
    depth = 0;
    cancel_acted = true;
    /* A wait may be cancelled (whether libkqueue survives it is for the
     * rest of the run to show); a change or a kqueue() may not. */
    if (in_call && util_caps()->emulated
        && ((last_fn == FN_KEVENT && !last_kevent_waits)
            || last_fn == FN_KQUEUE)) {
        broke("%s (%s) acted on a cancellation inside libkqueue's %s, "
              "which may hold its locks from now on", api_name[cur_api],
              cur_label, fn_name[last_fn]);
        poisoned = true;
        thread_done(s);
        return;
    }
    if (!in_sink && cur_api != A_WAIT)
        broke("%s (%s) acted on a cancellation: only mw_poll_wait may",
              api_name[cur_api], cur_label);
    if (s->stage <= ST_CHECK)
        check_end(s);
    release(s);
    thread_done(s);
}

static void *
scenario(void *arg)
{
    struct sc *s = arg;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
    pthread_cleanup_push(on_cancel, s);
    body(s);
    check_end(s);
    release(s);
    sink();                     /* a request made in the last call */
    pthread_cleanup_pop(0);
    thread_done(s);
    return NULL;
}

/* ==== the driver ==== */

/* A run takes milliseconds; one that takes this long is stuck.  Both
 * bounds grow with MW_TEST_TIMEOUT_FACTOR, as the watchdog does. */
#define RUN_MS (5000 * timeout_factor)
#define SETTLE_MS (250 * timeout_factor)
static int timeout_factor = 1;

static int done_pipe[2];
static struct util_fds fds_before, fds_after, fds_clean;
static bool abandoned;          /* a run hung: nothing more can be run */

static void
open_test_fds(struct sc *s)
{
    int p[2];

    for (int i = 0; i < NPIPE; i++) {
        util_pipe(p);
        s->pr[i] = p[0];
        s->pw[i] = p[1];
    }
    util_pipe(p);
    s->hi_r = fcntl(p[0], F_DUPFD_CLOEXEC, HI_FD);
    if (s->hi_r < 0)
        bail_out("F_DUPFD_CLOEXEC: %s", strerror(errno));
    util_close(p[0]);
    s->hi_w = p[1];
    util_socketpair(s->sv);
}

static void
close_test_fds(struct sc *s)
{
    for (int i = 0; i < NPIPE; i++) {
        util_close(s->pr[i]);
        util_close(s->pw[i]);
    }
    util_close(s->hi_r);
    util_close(s->hi_w);
    util_close(s->sv[0]);
    util_close(s->sv[1]);
}

/* " (anon_inode:[eventfd])", say, where /proc tells; else "". */
static const char *
fd_what(int fd)
{
    static char what[96];
    char path[64], link[80];
    ssize_t len;

    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    len = readlink(path, link, sizeof link - 1);
    if (len <= 0)
        return "";
    link[len] = '\0';
    snprintf(what, sizeof what, " (%s)", link);
    return what;
}

/* util_fds_settled(), but waiting only SETTLE_MS for libkqueue's thread
 * to close what a freed kqueue held: it takes milliseconds when it does,
 * and a point where it never does must not cost the full bound. */
static bool
fds_settled(int *first)
{
    int64_t end = util_now_ms() + SETTLE_MS;

    for (;;) {
        util_settle();
        util_fds_take(&fds_after);
        if (util_fds_equal(&fds_before, &fds_after, first))
            return true;
        if (!util_caps()->emulated || util_now_ms() > end)
            return false;
        util_sleep_ms(5);
    }
}

/* One run, with `fault` at call `at` (-1: none).  What broke is left in
 * nbroken and broken_msg. */
static void
run(long at, enum fault fault)
{
    static struct sc s;
    pthread_t t;
    struct pollfd pfd;
    int first = -1;
    char c;

    ncalls = 0;
    target = at;
    target_fault = fault;
    reached = injected = false;
    diverged = false;
    held = 0;
    cancel_injected = cancel_acted = in_sink = false;
    cur_seq = 0;
    cur_label = "";
    diverged_msg[0] = '\0';
    nbroken = 0;
    said_busy = 0;
    broken_msg[0] = '\0';
    own_reset();
    memset(&s, 0, sizeof s);
    s.done_fd = done_pipe[1];

    util_settle();
    util_fds_take(&fds_before);
    if (recording)
        fds_clean = fds_before;
    dirty = !util_fds_equal(&fds_clean, &fds_before, NULL);
    open_test_fds(&s);
    running = &s;
    util_thread_start(&t, scenario, &s);
    pfd = (struct pollfd){ .fd = done_pipe[0], .events = POLLIN };
    while (poll(&pfd, 1, RUN_MS) < 0)
        if (errno != EINTR)
            bail_out("poll: %s", strerror(errno));
    if (!(pfd.revents & POLLIN)) {
        broke("the run hung for %d s", RUN_MS / 1000);
        abandoned = true;
        return;
    }
    if (read(done_pipe[0], &c, 1) != 1)
        bail_out("read: %s", strerror(errno));
    util_thread_join(t);
    running = NULL;
    if (poisoned) {
        abandoned = true;
        return;
    }
    close_test_fds(&s);
    if (!fds_settled(&first)) {
        int leaked[64];
        int nleaked = util_fds_new(&fds_before, &fds_after, leaked, 64);

        broke("descriptor %d%s %s after everything was freed", first,
              fd_what(first),
              fds_after.open[first] ? "is left open" : "was closed");
        /* So that the next run starts with the same table; but not
         * behind libkqueue's back, which keeps its own table of them. */
        for (int k = 0; k < nleaked && k < 64 && !util_caps()->emulated; k++)
            (void)close(leaked[k]);
    }
    if (own_live != 0)
        broke("%ld block(s) the library allocated are still live",
              own_live);
    if (atomic_exchange(&sig_bad_wakes, 0) != 0)
        broke("mw_waker_wake in the signal handler failed or changed "
              "errno");
    if (held != 0 && !strstr(broken_msg, "lock"))
        broke("%ld lock(s) of the library still held", held);
    if (fault != F_NONE && !reached) {
        snprintf(diverged_msg, sizeof diverged_msg,
                 "the run made only %ld calls", ncalls);
        diverged = true;
    }
}

/* ---- tallies ---- */

#define MAX_DETAILS 20
#define MAX_KINDS 64

static long points[A_NAPI + 1][F_NFAULT];
static long failures[A_NAPI + 1][F_NFAULT];
static long per_fault[F_NFAULT];
static long total_points, total_failures, total_diverged, total_shifted;
static long cancels_acted;
static long injected_points[F_NFAULT];

/* Failing points alike but for their index: counted once each. */
static struct {
    enum fn fn;
    enum fault fault;
    enum api api;
    char msg[sizeof broken_msg];
    long count;
    long first;
} kinds[MAX_KINDS];
static int nkinds;

static long detailed;

static void
note_failure(long i, enum fault f, const struct callrec *r)
{
    int k;

    for (k = 0; k < nkinds; k++)
        if (kinds[k].fn == (enum fn)r->fn && kinds[k].fault == f
            && kinds[k].api == (enum api)r->api)
            break;
    if (k == nkinds && nkinds < MAX_KINDS) {
        kinds[k].fn = (enum fn)r->fn;
        kinds[k].fault = f;
        kinds[k].api = (enum api)r->api;
        snprintf(kinds[k].msg, sizeof kinds[k].msg, "%s", broken_msg);
        kinds[k].count = 0;
        kinds[k].first = i;
        nkinds++;
    }
    /* The first few of each kind, so that one kind does not hide the
     * others. */
    if (detailed < MAX_DETAILS && (k == MAX_KINDS || kinds[k].count < 3)) {
        detailed++;
        diag("not ok at call %ld (%s) with %s, in %s (%s): %s", i,
             fn_name[r->fn], fault_name[f], api_name[r->api], r->label,
             broken_msg);
    }
    if (k < MAX_KINDS)
        kinds[k].count++;
}

/* Every point of the faults in `mask`. */
static void
explore(long n, unsigned mask)
{
    for (long i = 0; i < n && !abandoned; i++) {
        struct callrec r = rec[i], at;

        for (int f = 1; f < F_NFAULT && !abandoned; f++) {
            if (!(r.mask & mask & M(f)))
                continue;
            run(i, (enum fault)f);
            /* Where a leak shifted the calls, the call that got it. */
            at = injected ? injected_at : r;
            points[at.api][f]++;
            per_fault[f]++;
            total_points++;
            if (diverged && !dirty) {
                total_diverged++;
                if (total_diverged <= 5)
                    diag("call %ld with %s: the calls before it were not "
                         "the same as without a fault: %s", i,
                         fault_name[f], diverged_msg);
            } else if (diverged) {
                total_shifted++;
            }
            cancels_acted += cancel_acted;
            injected_points[f] += injected;
            if (nbroken > 0) {
                failures[at.api][f]++;
                total_failures++;
                note_failure(i, (enum fault)f, &at);
            }
            if (abandoned)
                diag("call %ld with %s: no more points can be run", i,
                     fault_name[f]);
        }
    }
}

/* MW_EXPLORE_POINT=INDEX:FAULT (as a report names them, "183:cancel")
 * runs that one point alone, to look at it under a debugger. */
static void
replay(const char *point)
{
    char *end;
    long i = strtol(point, &end, 10);
    int f;

    for (f = 1; f < F_NFAULT; f++)
        if (*end == ':' && strcmp(end + 1, fault_name[f]) == 0)
            break;
    if (end == point || f == F_NFAULT)
        bail_out("MW_EXPLORE_POINT=%s: not INDEX:FAULT", point);
    run(i, (enum fault)f);
    ok(nbroken == 0, "call %ld with %s: %s", i, fault_name[f],
       nbroken ? broken_msg : "nothing broke");
}

/* ---- set-up ---- */

static void
require_interposition(void)
{
    void *volatile x;

    if (util_under_valgrind())
        plan_skip_all("valgrind replaces the allocator this test "
                      "interposes");
    if (!ready || !real_read || !real_write || !real_close)
        plan_skip_all("no dlsym(RTLD_NEXT) to forward to (a static "
                      "build?)");
    x = malloc(1);
    free(x);
}

/* A small table, so that snapshots of it are quick. */
static void
lower_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0
        && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 256)) {
        rl.rlim_cur = 256;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Acting on a cancellation loads the unwinder the first time: not in a
 * run. */
static void *
cancel_self(void *arg)
{
    (void)arg;
    pthread_cancel(pthread_self());
    pthread_testcancel();
    return NULL;
}

static void
warm_up(void)
{
    struct sigaction sa;
    pthread_t t;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;            /* no SA_RESTART */
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bail_out("sigaction: %s", strerror(errno));
    if (pthread_create(&t, NULL, cancel_self, NULL) != 0)
        bail_out("pthread_create failed");
    pthread_join(t, NULL);
    if (pipe(done_pipe) != 0)
        bail_out("pipe: %s", strerror(errno));
    run(-1, F_NONE);
}

int
main(void)
{
    long n;
    int64_t t0;

    const char *factor = getenv("MW_TEST_TIMEOUT_FACTOR");

    tap_watchdog(300);
    if (factor && atoi(factor) > 1 && atoi(factor) < 1000)
        timeout_factor = atoi(factor);
    require_interposition();
    diag("backend %s", mw_backend());
    lower_nofile();
    make_labels();
    /* libkqueue's thread frees while the scenario forks: a child must not
     * inherit the table's lock taken. */
    if (pthread_atfork(own_lock_take, own_lock_give, own_lock_give) != 0)
        bail_out("pthread_atfork failed");
    t0 = util_now_ms();
    warm_up();

    recording = true;
    run(-1, F_NONE);
    recording = false;
    n = ncalls;
    if (n == 0)
        plan_skip_all("the wrappers see none of the library's calls");
    if (n > MAX_CALLS)
        bail_out("%ld calls: more than the %d recorded", n, MAX_CALLS);
    if (!ok(nbroken == 0, "the scenario runs clean with no fault (%ld "
            "calls)", n))
        diag("%s", broken_msg);

    if (getenv("MW_EXPLORE_POINT")) {
        replay(getenv("MW_EXPLORE_POINT"));
        return done_testing();
    }
    /* Cancellations last: one acted on inside libkqueue may leave its
     * locks held, and every later run would hang. */
    explore(n, ~M(F_CANCEL));
    explore(n, M(F_CANCEL));

    for (int a = 0; a < A_NAPI; a++)
        for (int f = 1; f < F_NFAULT; f++)
            if (points[a][f] > 0)
                is_int(failures[a][f], 0, "%s under %s: %ld point(s)",
                       api_name[a], fault_name[f], points[a][f]);
    ok(!abandoned, "every point was run (no run hung or left libkqueue "
       "unusable)");
    is_int(atomic_load(&sig_runs), injected_points[F_SIGNAL], "control: "
           "the handler ran at every signal point");
    is_int(cancels_acted, injected_points[F_CANCEL], "control: every "
           "cancellation point ended the scenario's thread");
    is_int(total_diverged, 0, "every faulted run made the same calls "
           "as the clean one up to its fault");
    if (total_shifted > 0)
        diag("%ld point(s) ran after a leak had shifted the descriptor "
             "numbers: their calls were not the clean run's", total_shifted);
    for (int k = 0; k < nkinds; k++)
        diag("%ld point(s) like call %ld (%s) with %s in %s: %s",
             kinds[k].count, kinds[k].first, fn_name[kinds[k].fn],
             fault_name[kinds[k].fault], api_name[kinds[k].api],
             kinds[k].msg);
    for (int f = 1; f < F_NFAULT; f++)
        if (per_fault[f] > 0)
            diag("%s: %ld point(s)", fault_name[f], per_fault[f]);
    diag("%ld point(s) in all over %ld calls, %ld failing, in %.1f s",
         total_points, n, total_failures,
         (double)(util_now_ms() - t0) / 1000.0);
    if (abandoned) {
        /* The stuck thread may hold locks that exit() would need. */
        int rc = done_testing();

        fflush(stdout);
        _exit(rc);
    }
    return done_testing();
}

#endif /* !EXPLORE_OFF */
