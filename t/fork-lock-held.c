/* SPDX-License-Identifier: MIT */
/*
 * Promise (miowake(3), Fork and exec; mw_waker_new(3)): after fork(2) "the
 * child may free inherited objects, because freeing only closes
 * descriptors and never touches the kernel set the parent may share";
 * registration calls "are safe to call from any thread".  So a child
 * forked while another thread of the parent is inside a registration call
 * can free its copies of the wakers and the poll, in either order or
 * only one of them, and exit: it must not hang.  The parent's thread then
 * finishes its call, and the parent's poll works.
 *
 * The test makes the interleaving certain: it wraps the system call the
 * backend makes while a registration holds the poll's lock (epoll_ctl on
 * epoll backends, kevent on kqueue backends; on the poll(2) backend the
 * fcntl(F_GETFD) that checks the descriptor first, under the same lock),
 * forwards it with
 * dlsym(RTLD_NEXT), and blocks a thread in it until every child has been
 * seen to exit, or has been killed after a bound that only turns a hang
 * into a failure.
 *
 * Not hanging is not enough: destroying a mutex that is locked is
 * undefined (POSIX), and glibc, for one, just returns EBUSY, so a child
 * that destroyed the poll's lock held by the parent's thread would exit
 * as if nothing were wrong.  The test therefore also wraps
 * pthread_mutex_destroy: in a child it first tries the mutex, and a
 * mutex found locked is counted and left alone; the child's exit status
 * says so.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <miowake.h>

#include "tap.h"
#include "util.h"
#include "wrap.h"

#define T_W1 ((mw_token)1)
#define T_W2 ((mw_token)2)
#define T_REG ((mw_token)3)

/* ---- blocking the registering thread inside the backend's call ---- */

enum ctl_call { CTL_EPOLL, CTL_KEVENT, CTL_FCNTL };
static const char *const ctl_call_name[] = { "epoll_ctl", "kevent", "fcntl" };
static enum ctl_call blocked_call;

static _Thread_local bool is_registering_thread;
static atomic_int armed;
static atomic_int inside;
static int release_pipe[2];

static void
maybe_block(enum ctl_call call)
{
    int saved = errno;
    char c;

    if (call != blocked_call || !is_registering_thread
        || !atomic_exchange(&armed, false))
        return;
    atomic_store(&inside, true);
    /* Until the main thread writes a byte: it holds the poll's lock all
     * that time. */
    while (read(release_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    errno = saved;
}

#ifdef WRAP_HAVE_EPOLL
/* The hook of t/lib/wrap.c's epoll_ctl: block, then let the call through. */
static int
before_epoll_ctl(int op, const struct epoll_event *event)
{
    (void)op;
    (void)event;
    maybe_block(CTL_EPOLL);
    return 0;
}
#endif

/* The hook of t/lib/wrap.c's kevent: a change (no events asked for) blocks,
 * then goes through. */
static int
before_kevent(const struct kevent *changes, int nchanges, int nevents)
{
    (void)changes;
    (void)nchanges;
    if (nevents == 0)
        maybe_block(CTL_KEVENT);
    return 0;
}

/* Only this test wraps fcntl, so the wrapper is here.  fcntl is variadic; its third argument, when there is one, is an int or
 * a pointer, and glibc's own fcntl reads it the same way. */
typedef int (*fcntl_fn)(int, int, ...);
static fcntl_fn real_fcntl;

int
fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (!real_fcntl) {
        errno = ENOSYS;
        return -1;
    }
    maybe_block(CTL_FCNTL);
    return real_fcntl(fd, cmd, arg);
}

/* ---- a mutex destroyed while locked, in a child ---- */

typedef int (*mutex_destroy_fn)(pthread_mutex_t *);
static mutex_destroy_fn real_mutex_destroy;
static pid_t parent_pid;
static bool destroyed_held;     /* in a child: its own copy */

/* Is the code at ret the library's: in libmiowake's shared object, or in
 * this program, which a static build links it into?  Another library's
 * fork handler (libkqueue's, say) may do as it likes with its own
 * mutexes. */
static bool
library_code(const void *ret)
{
    Dl_info caller, self;

    if (dladdr(ret, &caller) == 0 || dladdr(&parent_pid, &self) == 0)
        return true;
    return caller.dli_fbase == self.dli_fbase
           || (caller.dli_fname != NULL
               && strstr(caller.dli_fname, "libmiowake") != NULL);
}

int
pthread_mutex_destroy(pthread_mutex_t *m)
{
    if (getpid() != parent_pid
        && library_code(__builtin_return_address(0))) {
        if (pthread_mutex_trylock(m) != 0) {
            destroyed_held = true;
            return EBUSY;
        }
        pthread_mutex_unlock(m);
    }
    return real_mutex_destroy ? real_mutex_destroy(m) : 0;
}

/* The exit status of a child that destroyed a mutex it found locked. */
#define EXIT_DESTROYED_HELD 3

static bool
resolve_wrapped(void)
{
    void *sym;

    wrap_init();
    parent_pid = getpid();
    sym = wrap_next_symbol("pthread_mutex_destroy");
    if (sym)
        memcpy(&real_mutex_destroy, &sym, sizeof(real_mutex_destroy));
    else
        return false;
    sym = wrap_next_symbol("fcntl");
    if (sym)
        memcpy(&real_fcntl, &sym, sizeof(real_fcntl));
#ifdef WRAP_HAVE_EPOLL
    wrap_before_epoll_ctl_hook = before_epoll_ctl;
#endif
    wrap_before_kevent_hook = before_kevent;
    if (util_caps()->set_call == UTIL_SET_EPOLL_CTL) {
        blocked_call = CTL_EPOLL;
        return wrap_forwards(WRAP_EPOLL_CTL) && real_fcntl != NULL;
    }
    if (util_caps()->set_call == UTIL_SET_KEVENT) {
        blocked_call = CTL_KEVENT;
        return wrap_forwards(WRAP_KEVENT) && real_fcntl != NULL;
    }
    blocked_call = CTL_FCNTL;
    return real_fcntl != NULL;
}

/* ---- the registering thread ---- */

static mw_poll *the_poll;
static int reg_fds[2];
static atomic_int register_rc;

static void *
registering(void *arg)
{
    (void)arg;
    is_registering_thread = true;
    atomic_store(&register_rc,
                 mw_poll_register(the_poll, reg_fds[0], T_REG, MW_READABLE));
    return NULL;
}

/* ---- the children ---- */

static mw_waker *w1, *w2;

enum what { WAKERS_THEN_POLL, WAKER_ALONE, POLL_ALONE, POLL_THEN_WAKERS };

static const char *const what_name[] = {
    "frees the wakers, then the poll",
    "frees a waker alone",
    "frees the poll alone",
    "frees the poll, then the wakers",
};

/* Fork, let the child free what `what` says and exit, with 0 unless it
 * destroyed a locked mutex; true if it exited with 0 within the bound,
 * else false, with *hung set if it was killed and *held if it destroyed
 * a locked mutex. */
static bool
child_frees(enum what what, bool *hung, bool *held)
{
    int64_t end;
    pid_t pid, r;
    int status = 0;

    *hung = false;
    pid = util_fork();
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(60);
        switch (what) {
        case WAKERS_THEN_POLL:
            mw_waker_free(w1);
            mw_waker_free(w2);
            mw_poll_free(the_poll);
            break;
        case WAKER_ALONE:
            mw_waker_free(w1);
            break;
        case POLL_ALONE:
            mw_poll_free(the_poll);
            break;
        case POLL_THEN_WAKERS:
            mw_poll_free(the_poll);
            mw_waker_free(w1);
            mw_waker_free(w2);
            break;
        }
        util_child_exit(destroyed_held ? EXIT_DESTROYED_HELD : 0);
    }
    *held = false;
    end = util_now_ms() + (util_under_valgrind() ? 10 : 1) * UTIL_LONG_MS / 2;
    for (;;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
        if (util_now_ms() >= end) {
            *hung = true;
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return false;
        }
        util_sleep_ms(5);
    }
    *held = WIFEXITED(status) && WEXITSTATUS(status) == EXIT_DESTROYED_HELD;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Returns once a thread is inside mw_poll_register and stays there,
 * lock held. */
static void
start_a_registration_that_holds_the_lock(pthread_t *t)
{
    int64_t give_up;

    atomic_store(&armed, true);
    util_thread_start(t, registering, NULL);
    give_up = util_now_ms() + UTIL_LONG_MS;
    while (!atomic_load(&inside) && util_now_ms() < give_up)
        util_sleep_ms(1);
    if (!atomic_load(&inside))
        bail_out("the registering thread never reached %s",
                 ctl_call_name[blocked_call]);
    diag("%s: a thread is blocked in %s inside mw_poll_register",
         mw_backend(), ctl_call_name[blocked_call]);
}

static void
child_forked_under_the_lock_frees_and_exits(void)
{
    for (int what = WAKERS_THEN_POLL; what <= POLL_THEN_WAKERS; what++) {
        bool hung, held, good = child_frees((enum what)what, &hung, &held);

        ok(good, "a child forked while another thread is inside "
           "mw_poll_register %s and exits, destroying no mutex that was "
           "locked at the fork%s", what_name[what],
           hung ? " (it hung and was killed)"
           : held ? " (it destroyed a locked one: undefined)" : "");
    }
}

static void
parent_works_once_the_registration_finishes(pthread_t t)
{
    uint32_t flags;

    if (write(release_pipe[1], "", 1) != 1)
        bail_out("write: %s", strerror(errno));
    util_thread_join(t);
    is_errno(atomic_load(&register_rc), 0, "the parent's registration, "
             "blocked across the forks, then succeeds");
    is_int(mw_waker_wake(w1), 0, "the parent's waker wakes");
    is_int(util_wait_token(the_poll, T_W1, UTIL_LONG_MS, &flags, NULL), 1,
           "and its event is delivered");
    util_write_byte(reg_fds[1]);
    is_int(util_wait_token(the_poll, T_REG, UTIL_LONG_MS, &flags, NULL), 1,
           "the registration made across the forks reports its "
           "descriptor");
}

int
main(void)
{
    const char *backend = mw_backend();
    pthread_t t;

    tap_watchdog(120);
    if (pipe(release_pipe) != 0)
        bail_out("pipe: %s", strerror(errno));
    if (!resolve_wrapped())
        plan_skip_all("cannot wrap the call %s makes under its lock, "
                      "nor pthread_mutex_destroy (no dlsym(RTLD_NEXT) "
                      "here)", backend);
    plan(8);

    if (mw_poll_new(&the_poll) != 0
        || mw_waker_new(&w1, the_poll, T_W1) != 0
        || mw_waker_new(&w2, the_poll, T_W2) != 0)
        bail_out("cannot create a poll and two wakers");
    util_pipe(reg_fds);

    start_a_registration_that_holds_the_lock(&t);
    child_forked_under_the_lock_frees_and_exits();
    parent_works_once_the_registration_finishes(t);

    mw_poll_deregister(the_poll, reg_fds[0]);
    util_close(reg_fds[0]);
    util_close(reg_fds[1]);
    util_close(release_pipe[0]);
    util_close(release_pipe[1]);
    mw_waker_free(w1);
    mw_waker_free(w2);
    mw_poll_free(the_poll);
    return done_testing();
}
