/* SPDX-License-Identifier: MIT */
/*
 * Replays the fuzzer's corpus in `make check`: every file of
 * t/fuzz/corpus/ (or of the directories given as arguments) is fed to
 * LLVMFuzzerTestOneInput of t/fuzz/fuzz-api.c, built with the normal compiler
 * against the built library, one TAP result per file.  Each input runs in
 * a child process, because the fuzzer's model aborts on the first
 * disagreement; its message is in the log, above the result.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUTS 1024
#define MAX_INPUT_SIZE (1 << 20)

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole file; NULL (and a diagnostic) if it cannot be read. */
static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(MAX_INPUT_SIZE);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, MAX_INPUT_SIZE, f);
    fclose(f);
    *len = n;
    return buf;
}

static void
replay(const char *dir, const char *name)
{
    char path[4096];
    pid_t pid;
    int status;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    pid = util_fork();
    if (pid == 0) {
        size_t len = 0;
        uint8_t *data = slurp(path, &len);

        if (!data) {
            fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
            util_child_exit(3);
        }
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        util_child_exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bail_out("waitpid: %s", strerror(errno));
    if (WIFSIGNALED(status))
        ok(0, "%s (killed by signal %d: see the message above)", name,
           WTERMSIG(status));
    else
        ok(WEXITSTATUS(status) == 0, "%s (exit status %d)", name,
           WEXITSTATUS(status));
}

int
main(int argc, char **argv)
{
    char *names[MAX_INPUTS];
    char def[4096];
    const char *dirs[16];
    int ndirs = 0;

    tap_watchdog(util_under_valgrind() ? 1200 : 120);
    if (argc > 1) {
        for (int i = 1; i < argc && ndirs < 16; i++)
            dirs[ndirs++] = argv[i];
    } else {
        const char *top = getenv("top_srcdir");

        snprintf(def, sizeof def, "%s/t/fuzz/corpus", top ? top : ".");
        dirs[ndirs++] = def;
    }
    diag("backend %s", mw_backend());
    for (int d = 0; d < ndirs; d++) {
        DIR *dh = opendir(dirs[d]);
        struct dirent *de;
        int n = 0;

        if (!dh)
            bail_out("cannot open %s: %s", dirs[d], strerror(errno));
        while ((de = readdir(dh)) && n < MAX_INPUTS) {
            char path[4096];
            struct stat st;

            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", dirs[d], de->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                names[n++] = strdup(de->d_name);
        }
        closedir(dh);
        if (n == 0)
            bail_out("no inputs in %s", dirs[d]);
        qsort(names, (size_t)n, sizeof names[0], by_name);
        for (int i = 0; i < n; i++) {
            replay(dirs[d], names[i]);
            free(names[i]);
        }
    }
    return done_testing();
}
