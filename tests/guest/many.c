/* many.c: many μprocesses alive at once.
 *
 * `many [N]` (N defaults to 2000) builds a chain of N processes, each
 * forking the next, so that all of them are alive at the same time; each
 * reports through a pipe once its child exists. When all N have reported,
 * the first closes the last write end of a second pipe: every process sees
 * EOF there, waits for its child and exits with its depth (mod 256) once
 * its child's status was right, so the chain exits in order, deepest
 * first, and the first process learns whether every link held. */
#define _GNU_SOURCE
#include "check.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The status a process at `depth` exits with when its subtree is right. */
static int status_of(long depth)
{
    return (int)(depth % 200) + 1;
}

/* Runs the chain from `depth` down; returns the exit status. */
static int link_of_chain(long depth, long count, int ready, int go_read, int go_write)
{
    pid_t child = -1;
    if (depth + 1 < count) {
        child = fork();
        if (child == 0)
            return link_of_chain(depth + 1, count, ready, go_read, go_write);
        if (child < 0)
            return 255;
    }
    close(go_write);
    if (write(ready, "x", 1) != 1)
        return 254;
    char byte;
    while (read(go_read, &byte, 1) > 0) {
    }
    if (child > 0) {
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != status_of(depth + 1))
            return 253;
    }
    return status_of(depth);
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 2000;
    int ready[2], go[2];
    expect_ok(pipe(ready), "pipe for the reports");
    expect_ok(pipe(go), "pipe for the start signal");
    pid_t first = fork();
    if (first == 0) {
        close(ready[0]);
        _exit(link_of_chain(0, count, ready[1], go[0], go[1]));
    }
    expect_ok(first, "fork the first of the chain");
    close(ready[1]);
    close(go[0]);
    long reported = 0;
    char buffer[512];
    ssize_t n;
    while (reported < count && (n = read(ready[0], buffer, sizeof buffer)) > 0)
        reported += n;
    check(reported == count, "every process of the chain is alive at once", "%ld of %ld reported", reported, count);
    close(go[1]);
    int status;
    expect_eq(waitpid(first, &status, 0), first, "wait for the first of the chain");
    check(WIFEXITED(status) && WEXITSTATUS(status) == status_of(0), "the chain exits in order, each process reaping its child",
          "status %#x", status);
    expect_eq(read(ready[0], buffer, 1), 0, "no process is left writing reports");
    return finish();
}
