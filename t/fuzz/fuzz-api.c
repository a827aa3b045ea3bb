/* SPDX-License-Identifier: MIT */
/*
 * A coverage-guided fuzzer (libFuzzer) for the edges of the contract
 * where a wake can be lost or stranded: descriptor numbers that are
 * closed, dup2'd over and reused between the caller's descriptors and the
 * wakers' own, registrations left stale, and timeout-0 waits.  `make
 * fuzz` builds it with clang and the library's sources compiled in
 * (t/fuzz/fuzz.mk); t/fuzz-replay feeds it every file of t/fuzz/corpus/ in
 * `make check`.  t/fuzz/README says how to read and add inputs.
 *
 * An input is a sequence of operations, one thread, each an opcode byte
 * followed by the argument bytes it needs (0 once the input runs out).
 * Every result is checked against a small model of the contract (the man
 * pages in doc/); the first disagreement prints what was expected, what
 * came back and the last operations, then aborts.
 *
 * The model knows, for each descriptor number near the ones open at the
 * start: who opened it (this input, a waker, the library), which file it
 * refers to, and the caller's registration on it (token, and whether the
 * number was closed or dup2'd over since).  Each registration and each
 * waker gets a fresh token from its own range, so an event with an old
 * token is recognisable.
 *
 * Where the contract lets backends differ, the model accepts the
 * documented set and says so at that place; everything else is strict.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
# include <sys/eventfd.h>
#endif

#include <miowake.h>

#include "caps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The interest bits the contract knows; everything else is invalid. */
#define KNOWN_INTEREST (MW_READABLE | MW_WRITABLE | MW_PRIORITY)
#define ALL_EV_FLAGS (MW_EV_READABLE | MW_EV_WRITABLE | MW_EV_PRIORITY \
                      | MW_EV_ERROR | MW_EV_READ_CLOSED | MW_EV_WRITE_CLOSED)

/* Descriptor numbers the input plays with: the lowest SPAN numbers above
 * the ones open at the start, so that numbers are reused all the time. */
#define SPAN 64
/* The table covers this many numbers above the base (the library's own
 * descriptors may land above the span). */
#define TABLE 128
#define MAX_USER_FDS 40
#define MAX_WAKERS 6
#define MAX_FILES 1024
#define MAX_GHOSTS 8
#define TRACE 48

/* Token ranges: descriptors and wakers never share a token. */
#define DTOK_BASE ((mw_token)0x10000000u)
#define WTOK_BASE ((mw_token)0x20000000u)
#define TOK_RANGE ((mw_token)0x10000000u)

enum owner {
    O_NONE,     /* not open (as far as the model knows) */
    O_FOREIGN,  /* open before the input began: never touched */
    O_USER,     /* opened by this input */
    O_WAKER,    /* a live waker's own registered descriptor */
    O_LIB       /* the library's (poll, waker write end, libkqueue) */
};

struct num {
    enum owner owner;
    int file;               /* O_USER: the file it refers to */
    int waker;              /* O_WAKER: index into wakers[] */
    /* The caller's registration on this number in the current poll. */
    bool reg;
    bool reg_moved;         /* closed or dup2'd over since registering */
    mw_token token;
    /* Files that may sit in the kernel's set under this number: a file
     * registered here lives on through a dup after the number was closed
     * (epoll keys its set by file and number). */
    int ghost[MAX_GHOSTS];
    int nghost;             /* -1: too many to track */
};

enum file_kind { F_PIPE_R, F_PIPE_W, F_SOCK, F_EVENTFD };

struct file {
    enum file_kind kind;
    int refs;               /* numbers of this input referring to it */
};

struct waker {
    bool live;
    bool attached;          /* its poll has not been freed */
    bool woken;             /* woken, event not yet handed out */
    mw_waker *w;
    mw_token token;
    int rfd;                /* its registered descriptor, or -1 */
    int lib[4];             /* the other numbers it opened */
    int nlib;
};

static struct {
    const uint8_t *p;
    size_t left;
    int lo;                 /* the first number above the process's own */
    int base;               /* first number of the span */
    int limit;              /* lo + TABLE */
    struct num n[TABLE];        /* indexed by number - lo */
    struct file files[MAX_FILES];
    int nfiles;
    struct waker wakers[MAX_WAKERS];
    mw_poll *poll;
    mw_token next_dtok, next_wtok;
    int user_fds;
    unsigned char start_open[TABLE];
    char trace[TRACE][112];
    unsigned ntrace;
    unsigned ops;
    const char *backend;
    bool kqueue, pollbk, eventfd_waker, pipe_waker, emulated;
    /* Under libkqueue: a registered number was closed or dup2'd over
     * while its file lives on, a ghost (below).  The emulation keeps the
     * ghost in its epoll set under state that it frees, or gives to the
     * next user of the number, and may then swallow any waker's events
     * or, waiting, read a knote it freed and crash, as the heap happens
     * to be laid out (mw_poll_register(3), kqueue backends): the input
     * ends there, and its objects are freed without a last wait. */
    bool haunted;
} S;

/* The model of descriptor number fd (S.lo <= fd < S.limit). */
#define N(fd) (S.n[(fd) - S.lo])

/* ---- reporting -------------------------------------------------------- */

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
trace(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(S.trace[S.ntrace % TRACE], sizeof S.trace[0], fmt, ap);
    va_end(ap);
    S.ntrace++;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
fail(const char *fmt, ...)
{
    va_list ap;
    unsigned first = S.ntrace > TRACE ? S.ntrace - TRACE : 0;

    fflush(stdout);
    fprintf(stderr, "fuzz-api: CONTRACT VIOLATION on %s (operation %u): ",
            S.backend, S.ops);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nfuzz-api: descriptor numbers are shown relative to "
            "the first free one (+0 = %d); the last operations:\n", S.base);
    for (unsigned i = first; i < S.ntrace; i++)
        fprintf(stderr, "  %s\n", S.trace[i % TRACE]);
    fflush(stderr);
    abort();
}

static const char *
ename(int rc)
{
    static char buf[4][24];
    static unsigned k;
    char *b = buf[k++ % 4];

    switch (rc) {
    case 0: return "0";
    case -EBADF: return "-EBADF";
    case -EINVAL: return "-EINVAL";
    case -EEXIST: return "-EEXIST";
    case -ENOENT: return "-ENOENT";
    case -ENOTSUP: return "-ENOTSUP";
    case -EPERM: return "-EPERM";
    case -ENOMEM: return "-ENOMEM";
    default:
        snprintf(b, sizeof buf[0], "%d", rc);
        return b;
    }
}

/* A descriptor number as the trace shows it: relative to the base. */
static const char *
fdname(int fd)
{
    static char buf[4][24];
    static unsigned k;
    char *b = buf[k++ % 4];

    if (fd >= S.base && fd < S.limit)
        snprintf(b, sizeof buf[0], "+%d", fd - S.base);
    else
        snprintf(b, sizeof buf[0], "%d", fd);
    return b;
}

/* ---- input ------------------------------------------------------------ */

static uint8_t
byte(void)
{
    if (!S.left)
        return 0;
    S.left--;
    return *S.p++;
}

/* ---- descriptors ------------------------------------------------------ */

static bool
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static struct num *
num(int fd)
{
    return fd >= S.lo && fd < S.limit ? &N(fd) : NULL;
}

static void
ghost_drop_file(int file)
{
    for (int i = S.lo; i < S.limit; i++) {
        struct num *m = &N(i);

        for (int g = 0; g < m->nghost; g++)
            if (m->ghost[g] == file) {
                m->ghost[g] = m->ghost[--m->nghost];
                g--;
            }
    }
}

static bool
ghost_has(const struct num *m, int file)
{
    if (m->nghost < 0)
        return true;
    for (int g = 0; g < m->nghost; g++)
        if (m->ghost[g] == file)
            return true;
    return false;
}

static void
ghost_add(struct num *m, int file)
{
    if (m->nghost < 0 || ghost_has(m, file))
        return;
    if (m->nghost == MAX_GHOSTS)
        m->nghost = -1;
    else
        m->ghost[m->nghost++] = file;
}

/* The number stops referring to what it referred to (close or dup2 over
 * it); the registration, if any, stays: the poll knows numbers. */
static void
num_release(int fd)
{
    struct num *m = num(fd);

    if (!m)
        return;
    if (m->owner == O_USER) {
        int f = m->file;

        if (--S.files[f].refs == 0)
            ghost_drop_file(f);
        else if (m->reg && S.emulated)
            S.haunted = true;
        /* libkqueue's own eventfd for an EVFILT_USER waker may take the
         * number of a registered eventfd closed here, and an eventfd has
         * no identity of its own to tell the two apart by: the limit
         * mw_poll_register(3) gives for libkqueue. */
        if (m->reg && S.emulated && S.files[f].kind == F_EVENTFD)
            S.haunted = true;
        S.user_fds--;
    }
    m->owner = O_NONE;
    m->file = -1;
    if (m->reg)
        m->reg_moved = true;
}

static void
num_take_user(int fd, int file)
{
    struct num *m = num(fd);

    m->owner = O_USER;
    m->file = file;
    S.files[file].refs++;
    S.user_fds++;
    if (m->reg)
        m->reg_moved = true;
}

static int
new_file(enum file_kind kind)
{
    if (S.nfiles == MAX_FILES)
        return -1;
    S.files[S.nfiles].kind = kind;
    S.files[S.nfiles].refs = 0;
    return S.nfiles++;
}

/* Numbers a new object got must lie in the span and be free in the
 * model; else the operation is undone (closed) and skipped. */
static bool
fresh_ok(const int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        struct num *m = num(fds[i]);

        if (!m || fds[i] >= S.base + SPAN)
            return false;
        if (m->owner == O_FOREIGN || m->owner == O_USER
            || m->owner == O_WAKER)
            fail("the kernel gave number %s, which the model holds as open",
                 fdname(fds[i]));
    }
    return true;
}

static void
set_flags(int fd)
{
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void
op_create(unsigned what)
{
    int fds[2] = { -1, -1 }, n = 2, rc;
    enum file_kind k0, k1;

    if (S.user_fds + 2 > MAX_USER_FDS) {
        trace("create: too many descriptors, skipped");
        return;
    }
    switch (what % 3) {
    case 0:
        rc = pipe(fds);
        k0 = F_PIPE_R;
        k1 = F_PIPE_W;
        break;
    case 1:
        rc = socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
        k0 = k1 = F_SOCK;
        break;
    default:
#ifdef HAVE_SYS_EVENTFD_H
        fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rc = fds[0] < 0 ? -1 : 0;
        k0 = k1 = F_EVENTFD;
        n = 1;
#else
        rc = pipe(fds);
        k0 = F_PIPE_R;
        k1 = F_PIPE_W;
#endif
        break;
    }
    if (rc < 0)
        fail("creating a descriptor failed: %s", strerror(errno));
    if (!fresh_ok(fds, n)) {
        for (int i = 0; i < n; i++)
            close(fds[i]);
        trace("create: number above the span, skipped");
        return;
    }
    for (int i = 0; i < n; i++) {
        int f = new_file(i == 0 ? k0 : k1);

        if (f < 0) {
            for (int j = 0; j < n; j++)
                close(fds[j]);
            for (int j = 0; j < i; j++)
                num_release(fds[j]);
            trace("create: file table full, skipped");
            return;
        }
        set_flags(fds[i]);
        num_take_user(fds[i], f);
    }
    if (n == 2)
        trace("%s -> %s %s", what % 3 == 1 ? "socketpair" : "pipe",
              fdname(fds[0]), fdname(fds[1]));
    else
        trace("eventfd -> %s", fdname(fds[0]));
}

/* Candidates for a descriptor argument: every number of the span, and a
 * few that are never open or are invalid. */
static int
pick_fd(uint8_t b)
{
    static const int special[] = { -1, INT_MIN, -2, INT_MAX, 1 << 20 };

    if (b >= 0xf8) {
        unsigned i = b - 0xf8u;

        if (i < sizeof special / sizeof special[0])
            return special[i];
        return S.base + SPAN + (int)i;      /* never opened */
    }
    return S.base + b % SPAN;
}

static void
op_close(uint8_t b)
{
    int fd = pick_fd(b);
    struct num *m = num(fd);

    if (!m || m->owner != O_USER) {
        trace("close %s: not ours, skipped", fdname(fd));
        return;
    }
    if (close(fd) < 0)
        fail("close(%s): %s", fdname(fd), strerror(errno));
    num_release(fd);
    trace("close %s", fdname(fd));
}

static void
op_dup2(uint8_t a, uint8_t b)
{
    int src = pick_fd(a), dst = pick_fd(b);
    struct num *ms = num(src), *md = num(dst);

    if (!ms || !md || ms->owner != O_USER || md->owner != O_USER
        || src == dst) {
        trace("dup2 %s %s: skipped", fdname(src), fdname(dst));
        return;
    }
    if (dup2(src, dst) < 0)
        fail("dup2(%s, %s): %s", fdname(src), fdname(dst), strerror(errno));
    (void)fcntl(dst, F_SETFD, FD_CLOEXEC);
    {
        int f = ms->file;

        /* Take the new reference first, so that a file reached through
         * src is not counted dead in between. */
        S.files[f].refs++;
        num_release(dst);
        S.files[f].refs--;
        num_take_user(dst, f);
    }
    trace("dup2 %s onto %s", fdname(src), fdname(dst));
}

static void
op_write(uint8_t b)
{
    int fd = pick_fd(b);
    struct num *m = num(fd);
    ssize_t rc;

    if (!m || m->owner != O_USER) {
        trace("write %s: not ours, skipped", fdname(fd));
        return;
    }
    if (S.files[m->file].kind == F_EVENTFD) {
        uint64_t one = 1;

        rc = write(fd, &one, sizeof one);
    } else {
        rc = write(fd, "x", 1);
    }
    trace("write %s: %zd", fdname(fd), rc);
}

static void
op_drain(uint8_t b)
{
    int fd = pick_fd(b);
    struct num *m = num(fd);
    char buf[512];
    int rounds = 0;

    if (!m || m->owner != O_USER) {
        trace("drain %s: not ours, skipped", fdname(fd));
        return;
    }
    while (rounds < 64 && read(fd, buf, sizeof buf) > 0)
        rounds++;
    trace("drain %s", fdname(fd));
}

/* ---- registrations ---------------------------------------------------- */

static unsigned
pick_interest(uint8_t b)
{
    static const unsigned bits[] = { MW_READABLE, MW_WRITABLE, MW_PRIORITY };
    unsigned interest = 0, unknown = 1;

    for (int i = 0; i < 3; i++)
        if (b & (1u << i))
            interest |= bits[i];
    /* The lowest bit the contract does not know, whatever its values. */
    while (unknown & KNOWN_INTEREST)
        unknown <<= 1;
    if ((b & 0x18) == 0x08)
        interest |= unknown;
    else if ((b & 0x18) == 0x10)
        interest |= (1u << 31) & ~KNOWN_INTEREST;
    else if ((b & 0x18) == 0x18 && (b & 0x20))
        interest = ~0u;
    return interest;
}

static bool
interest_valid(unsigned interest)
{
    return interest != 0 && !(interest & ~KNOWN_INTEREST);
}

/* kqueue without EVFILT_EXCEPT (libkqueue, for one) refuses MW_PRIORITY
 * with -ENOTSUP (mw_poll_register(3), kqueue backends). */
static bool
notsup_ok(unsigned interest, int rc)
{
    return S.kqueue && (interest & MW_PRIORITY) && rc == -ENOTSUP;
}

static void
op_register(uint8_t a, uint8_t b)
{
    int fd = pick_fd(a);
    unsigned interest = pick_interest(b);
    mw_token tok = DTOK_BASE + S.next_dtok++ % TOK_RANGE;
    struct num *m = num(fd);
    int want, rc;
    bool also_eexist = false;

    if (!S.poll)
        return;
    /* The library's own descriptors are not the caller's to register. */
    if (m && (m->owner == O_LIB || m->owner == O_FOREIGN)) {
        trace("register %s: the library's, skipped", fdname(fd));
        return;
    }
    if (fd < 0)
        want = -EBADF;
    else if (!interest_valid(interest))
        want = -EINVAL;
    else if (m && m->reg)
        want = -EEXIST;         /* even if closed since */
    else if (m && m->owner == O_WAKER)
        want = -EEXIST;         /* a waker's own descriptor */
    else if (!m || m->owner == O_NONE)
        want = -EBADF;
    else {
        want = 0;
        /* A file registered under this number before, closed there and
         * still alive through a dup, is still in an epoll set under the
         * number; the kernel's -EEXIST is returned as it is
         * (mw_poll_register(3): "that can no longer be undone"). */
        also_eexist = ghost_has(m, m->file);
    }
    rc = mw_poll_register(S.poll, fd, tok, interest);
    trace("register %s tok %#lx interest %#x -> %s", fdname(fd),
          (unsigned long)tok, interest, ename(rc));
    /* -ENOTSUP is the kernel's answer, and kqueue gives it before
     * asking whether the number is open: the man page lists it apart
     * from the argument checks, so it may come instead of -EBADF for a
     * number that is not open (a finding reported, not a violation). */
    if (rc != want
        && !((want == 0 || (want == -EBADF && fd >= 0))
             && notsup_ok(interest, rc))
        && !(also_eexist && rc == -EEXIST))
        fail("mw_poll_register(%s, interest %#x) returned %s, expected %s",
             fdname(fd), interest, ename(rc), ename(want));
    if (rc == 0 && m) {
        m->reg = true;
        m->reg_moved = false;
        m->token = tok;
        ghost_add(m, m->file);
    }
}

static void
op_reregister(uint8_t a, uint8_t b)
{
    int fd = pick_fd(a);
    unsigned interest = pick_interest(b);
    mw_token tok = DTOK_BASE + S.next_dtok++ % TOK_RANGE;
    struct num *m = num(fd);
    int want, rc;
    bool lenient = false;

    if (!S.poll)
        return;
    if (m && m->owner == O_FOREIGN)
        return;
    if (fd < 0)
        want = -EBADF;
    else if (!interest_valid(interest))
        want = -EINVAL;
    else if (!m || !m->reg)
        want = -ENOENT;         /* also a registration a waker released */
    else {
        want = 0;
        /* A number closed or dup2'd over since it was registered: 0,
         * -ENOENT or -EBADF depending on the backend (epoll's MOD sees
         * the new file, which is not in the set; poll(2) and kqueue ask
         * fcntl() whether the number is open, and take the new file). */
        lenient = m->reg_moved;
    }
    rc = mw_poll_reregister(S.poll, fd, tok, interest);
    trace("reregister %s tok %#lx interest %#x -> %s", fdname(fd),
          (unsigned long)tok, interest, ename(rc));
    if (rc != want && !(want == 0 && notsup_ok(interest, rc))
        && !(lenient && (rc == 0 || rc == -ENOENT || rc == -EBADF)))
        fail("mw_poll_reregister(%s, interest %#x) returned %s, expected %s%s",
             fdname(fd), interest, ename(rc), ename(want),
             lenient ? " (or -ENOENT, -EBADF: closed since)" : "");
    if (rc == 0 && m) {
        m->token = tok;
        if (m->owner == O_USER)
            ghost_add(m, m->file);
    }
}

static void
op_deregister(uint8_t a)
{
    int fd = pick_fd(a);
    struct num *m = num(fd);
    int want, rc;

    if (!S.poll)
        return;
    if (m && m->owner == O_FOREIGN)
        return;
    if (fd < 0)
        want = -EBADF;
    else if (!m || !m->reg)
        want = -ENOENT;
    else
        want = 0;               /* even if closed or dup2'd over since */
    rc = mw_poll_deregister(S.poll, fd);
    trace("deregister %s -> %s", fdname(fd), ename(rc));
    if (rc != want)
        fail("mw_poll_deregister(%s) returned %s, expected %s",
             fdname(fd), ename(rc), ename(want));
    if (rc == 0 && m) {
        m->reg = false;
        /* The kernel's entry for the file the number refers to now, if
         * any, is gone; one for a file it referred to before stays. */
        if (m->owner == O_USER && m->nghost > 0)
            for (int g = 0; g < m->nghost; g++)
                if (m->ghost[g] == m->file)
                    m->ghost[g] = m->ghost[--m->nghost];
    }
}

/* ---- wakers ----------------------------------------------------------- */

static void
snapshot(unsigned char *open)
{
    for (int fd = S.lo; fd < S.limit; fd++)
        open[fd - S.lo] = fd_open(fd);
}

static void
op_waker_new(void)
{
    unsigned char before[TABLE], after[TABLE];
    struct waker *wk = NULL;
    int news[8], nnew = 0, rc;

    if (!S.poll)
        return;
    for (int i = 0; i < MAX_WAKERS; i++)
        if (!S.wakers[i].live) {
            wk = &S.wakers[i];
            break;
        }
    if (!wk) {
        trace("waker_new: too many wakers, skipped");
        return;
    }
    memset(wk, 0, sizeof *wk);
    wk->token = WTOK_BASE + S.next_wtok++ % TOK_RANGE;
    wk->rfd = -1;
    snapshot(before);
    rc = mw_waker_new(&wk->w, S.poll, wk->token);
    if (rc != 0) {
        trace("waker_new tok %#lx -> %s", (unsigned long)wk->token,
              ename(rc));
        fail("mw_waker_new returned %s (%s)", ename(rc), strerror(-rc));
    }
    snapshot(after);
    for (int fd = S.lo; fd < S.limit; fd++)
        if (after[fd - S.lo] && !before[fd - S.lo] && nnew < 8)
            news[nnew++] = fd;
    /* A waker has no descriptor: every waker of a poll shares the poll's
     * kernel object, opened by mw_poll_new. */
    if (nnew != 0)
        fail("mw_waker_new opened %d descriptor(s) (%s first); a waker "
             "has none of its own", nnew, fdname(news[0]));
    wk->live = true;
    wk->attached = true;
    trace("waker_new #%d tok %#lx own fd %s (%d new)", (int)(wk - S.wakers),
          (unsigned long)wk->token, fdname(wk->rfd), nnew);
}

static struct waker *
pick_waker(uint8_t b)
{
    struct waker *w = &S.wakers[b % MAX_WAKERS];

    return w->live ? w : NULL;
}

static void
op_wake(uint8_t b)
{
    struct waker *w = pick_waker(b);
    int rc;

    if (!w)
        return;
    rc = mw_waker_wake(w->w);
    trace("wake #%d -> %s", (int)(w - S.wakers), ename(rc));
    if (rc != 0)
        fail("mw_waker_wake returned %s", ename(rc));
    if (w->attached)
        w->woken = true;
}

static void
waker_gone(struct waker *w)
{
    if (w->rfd >= 0) {
        N(w->rfd).owner = O_NONE;
        N(w->rfd).waker = -1;
    }
    for (int i = 0; i < w->nlib; i++)
        if (N(w->lib[i]).owner == O_LIB)
            N(w->lib[i]).owner = O_NONE;
    w->live = false;
    w->w = NULL;
}

static void
op_waker_free(uint8_t b)
{
    struct waker *w = pick_waker(b);

    if (!w)
        return;
    mw_waker_free(w->w);
    trace("waker_free #%d", (int)(w - S.wakers));
    waker_gone(w);
}

/* ---- waits ------------------------------------------------------------ */

static struct num *
registered_with(mw_token tok)
{
    for (int fd = S.lo; fd < S.limit; fd++)
        if (N(fd).reg && N(fd).token == tok)
            return &N(fd);
    return NULL;
}

/* One wait that does not wait for anything to happen, made as `how`
 * says (the bits of an argument byte the capacity left unused):
 *   0: mw_poll_wait, timeout 0;
 *   1: mw_poll_wait_ts, {0, 0};
 *   2: mw_poll_wait_ts, a timeout of k * 10 us (k from the byte's top
 *      bits): with nothing ready it sleeps that long and returns 0, so
 *      the model's checks are those of timeout 0;
 *   3: first a timespec that is no timeout (tv_nsec of a second or
 *      more), which must be -EINVAL and leave the array alone, then 1.
 * Every event is checked; returns its count. */
static int
wait_once_how(size_t cap, uint8_t how)
{
    struct mw_event ev[64];
    struct timespec ts = { 0, 0 };
    int n;

    switch (how & 3) {
    case 0:
        n = mw_poll_wait(S.poll, ev, cap, 0);
        break;
    case 2:
        ts.tv_nsec = (long)(how >> 2) * 10000;
        n = mw_poll_wait_ts(S.poll, ev, cap, &ts);
        break;
    case 3: {
        struct timespec bad = { 0, 1000000000L + (long)(how >> 2) };

        ev[0].token = 0x5a5a;
        n = mw_poll_wait_ts(S.poll, ev, cap, &bad);
        if (n != -EINVAL || ev[0].token != 0x5a5a)
            fail("mw_poll_wait_ts(tv_nsec %ld) returned %s, not -EINVAL "
                 "with the array untouched", bad.tv_nsec, ename(n));
    }
        /* fall through */
    default:
        n = mw_poll_wait_ts(S.poll, ev, cap, &ts);
        break;
    }
    if (n < 0 || (size_t)n > cap)
        fail("mw_poll_wait%s(capacity %zu, timeout %ld ns) returned %s",
             (how & 3) ? "_ts" : "", cap, ts.tv_nsec, ename(n));
    for (int i = 0; i < n; i++) {
        mw_token t = ev[i].token;
        uint32_t f = ev[i].flags;

        trace("  event tok %#lx flags %#x", (unsigned long)t, (unsigned)f);
        if (t >= WTOK_BASE && t - WTOK_BASE < TOK_RANGE) {
            struct waker *w = NULL;

            for (int k = 0; k < MAX_WAKERS; k++)
                if (S.wakers[k].live && S.wakers[k].attached
                    && S.wakers[k].token == t)
                    w = &S.wakers[k];
            if (!w)
                fail("an event carries token %#lx of a waker that was freed "
                     "(or never attached to this poll)", (unsigned long)t);
            if (!w->woken)
                fail("an event carries token %#lx of waker #%d, which was "
                     "not woken since its last event (never woken, or the "
                     "event came twice)", (unsigned long)t,
                     (int)(w - S.wakers));
            if (f != MW_EV_READABLE)
                fail("waker #%d's event has flags %#x, not exactly "
                     "MW_EV_READABLE", (int)(w - S.wakers), (unsigned)f);
            w->woken = false;
        } else if (t >= DTOK_BASE && t - DTOK_BASE < TOK_RANGE) {
            /* Readiness of descriptors is not modelled: edge-triggered
             * on epoll and kqueue, level-triggered on poll(2), closed
             * numbers reported as MW_EV_ERROR there, and a file that
             * lives on through a dup may be reported under the token of
             * a new registration of its old number (mw_poll_wait(3)).
             * What is strict: the token is that of a registration in
             * place now (not deregistered, not released by a waker). */
            if (!registered_with(t))
                fail("an event carries token %#lx, which is no registration "
                     "in place (deregistered, reregistered, or released "
                     "when a waker took its number)", (unsigned long)t);
            if (f == 0 || (f & ~ALL_EV_FLAGS))
                fail("a descriptor's event has flags %#x", (unsigned)f);
        } else {
            fail("an event carries token %#lx, which was never given",
                 (unsigned long)t);
        }
    }
    if (n == 0)
        for (int k = 0; k < MAX_WAKERS; k++)
            if (S.wakers[k].live && S.wakers[k].attached
                && S.wakers[k].woken)
                fail("mw_poll_wait(capacity %zu, timeout 0) returned 0 while "
                     "waker #%d (token %#lx) was woken and its event not "
                     "handed out: a lost or stranded wake", cap, k,
                     (unsigned long)S.wakers[k].token);
    return n;
}

static size_t
pick_cap(uint8_t b)
{
    static const size_t caps[] = { 1, 1, 2, 3, 4, 8, 16, 64 };

    return caps[b % 8];
}

static void
op_wait(uint8_t b)
{
    size_t cap = pick_cap(b);
    int n;

    if (!S.poll)
        return;
    trace("wait cap %zu how %d", cap, b >> 3);
    n = wait_once_how(cap, (uint8_t)(b >> 3));
    trace("wait cap %zu -> %d", cap, n);
}

/* Timeout-0 waits until one returns 0: every woken waker's event must
 * have come out exactly once by then. */
static void
op_drain_wait(uint8_t b)
{
    size_t cap = pick_cap(b);
    int entries = 8, rounds;

    if (!S.poll)
        return;
    for (int fd = S.lo; fd < S.limit; fd++)
        entries += N(fd).reg + (N(fd).nghost < 0 ? 8 : N(fd).nghost);
    entries += MAX_WAKERS;
    trace("drain-wait cap %zu how %d", cap, b >> 3);
    for (rounds = 0; rounds < 4 * entries + 64; rounds++)
        if (wait_once_how(cap, (uint8_t)(b >> 3)) == 0)
            return;
    /* poll(2) is level-triggered: a ready descriptor (or a closed one,
     * MW_EV_ERROR) is reported by every wait, so the waits need not run
     * dry.  Each scan starts where the last stopped, so every woken
     * waker must have come out by now all the same. */
    for (int k = 0; k < MAX_WAKERS; k++)
        if (S.wakers[k].live && S.wakers[k].attached && S.wakers[k].woken)
            fail("%d timeout-0 waits of capacity %zu never handed out waker "
                 "#%d's event", rounds, cap, k);
    /* libkqueue too reports a descriptor reregistered from reading and
     * writing to writing alone as writable by every wait
     * (mw_poll_register(3), kqueue backends). */
    if (!S.pollbk && !S.emulated)
        fail("%d timeout-0 waits of capacity %zu never returned 0 on an "
             "edge-triggered backend", rounds, cap);
}

/* ---- the poll's life -------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
/* libkqueue releases a closed kqueue's descriptors from a thread of its
 * own; its Linux build exports this to wait for that. */
void libkqueue_drain_pending_close(void) __attribute__((weak));
#endif

static void
settle(void)
{
#if defined(__GNUC__) || defined(__clang__)
    if (S.kqueue && libkqueue_drain_pending_close)
        libkqueue_drain_pending_close();
#endif
}

/* Every open number must be one the model knows as open: the start's,
 * this input's, or (when the poll or its wakers live) the library's. */
static void
check_fds(const char *when)
{
    for (int tries = 0;; tries++) {
        int bad = -1;

        settle();
        for (int fd = S.lo; fd < S.limit && bad < 0; fd++) {
            bool open = fd_open(fd);
            enum owner o = N(fd).owner;

            if (open && o == O_NONE && !S.start_open[fd - S.lo])
                bad = fd;
            if (!open && (o == O_USER || o == O_FOREIGN))
                bad = fd;
        }
        if (bad < 0)
            return;
        if (!S.kqueue || tries == 200)
            fail("%s: descriptor %s is %s, but the model says %s", when,
                 fdname(bad), fd_open(bad) ? "open" : "closed",
                 N(bad).owner == O_NONE ? "closed" : "open");
        usleep(1000);
    }
}

static void
poll_new(void)
{
    unsigned char before[TABLE], after[TABLE];
    int rc;

    snapshot(before);
    rc = mw_poll_new(&S.poll);
    if (rc != 0)
        fail("mw_poll_new returned %s", ename(rc));
    snapshot(after);
    for (int fd = S.lo; fd < S.limit; fd++)
        if (after[fd - S.lo] && !before[fd - S.lo]) {
            if (N(fd).owner != O_NONE && N(fd).owner != O_LIB)
                fail("mw_poll_new opened %s, which the model holds as open",
                     fdname(fd));
            N(fd).owner = O_LIB;
        }
}

/* Free the wakers and the poll, in either order; with the poll first,
 * the orphaned wakers must still wake (0, no effect) and free. */
static void
poll_free_all(bool poll_first)
{
    if (poll_first) {
        mw_poll_free(S.poll);
        S.poll = NULL;
        for (int k = 0; k < MAX_WAKERS; k++)
            if (S.wakers[k].live) {
                int rc = mw_waker_wake(S.wakers[k].w);

                if (rc != 0)
                    fail("mw_waker_wake after mw_poll_free returned %s",
                         ename(rc));
            }
    }
    for (int k = 0; k < MAX_WAKERS; k++)
        if (S.wakers[k].live) {
            mw_waker_free(S.wakers[k].w);
            waker_gone(&S.wakers[k]);
        }
    if (!poll_first) {
        mw_poll_free(S.poll);
        S.poll = NULL;
    }
    for (int fd = S.lo; fd < S.limit; fd++) {
        struct num *m = &N(fd);

        if (m->owner == O_LIB || m->owner == O_WAKER)
            m->owner = O_NONE;
        m->reg = false;
        m->reg_moved = false;
        m->nghost = 0;
    }
    trace("poll and wakers freed (%s first)", poll_first ? "poll" : "wakers");
}

static void
op_recreate(uint8_t b)
{
    poll_free_all(b & 1);
    check_fds("after freeing the poll and its wakers");
    poll_new();
    trace("poll re-created");
}

/* ---- one input -------------------------------------------------------- */

/* Set once: every number below it is open for the life of the process
 * (the holes among the descriptors open at the first input are filled
 * with /dev/null), so that an input's descriptors come in order from
 * there, and an input does the same wherever it runs. */
static int lo_numbers;

static void
begin(const uint8_t *data, size_t size)
{
    unsigned char before[TABLE];
    int highest, rc;
    const char *be = mw_backend();

    memset(&S, 0, sizeof S);
    S.p = data;
    S.left = size;
    S.backend = be;
    S.kqueue = util_caps()->set_call == UTIL_SET_KEVENT;
    S.pollbk = !util_caps()->kernel_keeps_set;
    S.emulated = util_caps()->emulated;
    S.eventfd_waker = util_caps()->waker_eventfd;
    S.pipe_waker = util_caps()->waker_pipe;
    S.lo = lo_numbers;
    S.limit = S.lo + TABLE;
    settle();
    snapshot(before);
    /* The poll comes first and the span begins above its descriptors,
     * so that an input's numbers mean the same on every backend. */
    rc = mw_poll_new(&S.poll);
    if (rc != 0)
        fail("mw_poll_new returned %s", ename(rc));
    highest = S.lo - 1;
    for (int fd = S.lo; fd < S.limit; fd++)
        if (fd_open(fd))
            highest = fd;
    S.base = highest + 1;
    if (S.base + SPAN + 16 > S.limit)
        fail("too many descriptors open at the start (up to %d)", highest);
    for (int fd = S.lo; fd < S.limit; fd++) {
        S.start_open[fd - S.lo] = before[fd - S.lo];
        N(fd).owner = before[fd - S.lo] ? O_FOREIGN
                             : fd_open(fd) ? O_LIB : O_NONE;
        N(fd).file = -1;
        N(fd).waker = -1;
    }
    trace("begin: %s, base %d", be, S.base);
}

static void
end(void)
{
    poll_free_all(S.ops & 1);
    for (int fd = S.lo; fd < S.limit; fd++)
        if (N(fd).owner == O_USER) {
            close(fd);
            num_release(fd);
        }
    check_fds("at the end of the input");
}

/* The first input on a kqueue build makes libkqueue set up what it keeps
 * for the life of the process (its monitoring thread's descriptors), so
 * that they count as open at the start of every input. */
static void
warm_up(void)
{
    static bool done;
    mw_poll *p;
    mw_waker *w;

    int highest = -1;

    if (done)
        return;
    done = true;
    /* Writing to a pipe or socket whose reader is gone must fail with
     * EPIPE, not end the process. */
    signal(SIGPIPE, SIG_IGN);
    for (int fd = 0; fd < 1024; fd++)
        if (fd_open(fd))
            highest = fd;
    for (int fd = 0; fd < highest; fd++)
        if (!fd_open(fd) && open("/dev/null", O_RDONLY | O_CLOEXEC) != fd)
            abort();
    lo_numbers = highest + 1;
    if (mw_poll_new(&p) != 0)
        return;
    if (mw_waker_new(&w, p, 1) == 0)
        mw_waker_free(w);
    mw_poll_free(p);
    S.kqueue = util_caps()->set_call == UTIL_SET_KEVENT;
    settle();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    warm_up();
    begin(data, size);
    while (S.left && !S.haunted) {
        uint8_t op = byte();

        S.ops++;
        switch (op % 16) {
        case 0: op_create(0); break;                    /* pipe */
        case 1: op_create(1); break;                    /* socketpair */
        case 2: op_create(2); break;                    /* eventfd */
        case 3: op_close(byte()); break;
        case 4: { uint8_t a = byte(); op_dup2(a, byte()); } break;
        case 5: op_write(byte()); break;
        case 6: op_drain(byte()); break;
        case 7: { uint8_t a = byte(); op_register(a, byte()); } break;
        case 8: { uint8_t a = byte(); op_reregister(a, byte()); } break;
        case 9: op_deregister(byte()); break;
        case 10: op_waker_new(); break;
        case 11: op_wake(byte()); break;
        case 12: op_waker_free(byte()); break;
        case 13: op_wait(byte()); break;
        case 14: op_drain_wait(byte()); break;
        default: op_recreate(byte()); break;
        }
    }
    /* Before freeing: whatever was woken must come out. */
    if (!S.haunted)
        op_drain_wait(0);
    end();
    return 0;
}
