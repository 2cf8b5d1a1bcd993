/* forkbomb.c: a fork bomb under a memory limit (Morsel only: run it in a
 * machine with little memory, never on a host).
 *
 * `forkbomb run` first starts an unrelated worker that answers requests
 * through pipes, then forks children that each touch 256 KiB and wait,
 * until fork fails. Fork must fail with ENOMEM or EAGAIN (a child may also
 * be killed when no page is left for it); the worker must still answer
 * while memory is short, and this program's output must still reach the
 * console. Then the children are killed and reaped, and fork works again.
 * Without the `run` argument it only says so and passes, so that running
 * every guest program somewhere else does no harm. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_BYTES (256 * 1024)
#define MAX_CHILDREN 100000

/* Doubles each number it reads, until its request pipe closes. */
static void worker(int requests, int answers)
{
    long n;
    while (read(requests, &n, sizeof n) == sizeof n) {
        n *= 2;
        if (write(answers, &n, sizeof n) != sizeof n)
            _exit(1);
    }
    _exit(0);
}

/* Asks the worker to double `n`; the answer, or -1. */
static long ask(int requests, int answers, long n)
{
    long answer = -1;
    if (write(requests, &n, sizeof n) != sizeof n || read(answers, &answer, sizeof answer) != sizeof answer)
        return -1;
    return answer;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        check(1, "not run (give the argument `run` in a machine with little memory)", "-");
        return finish();
    }
    static pid_t children[MAX_CHILDREN];
    int to_worker[2], from_worker[2];
    expect_ok(pipe(to_worker), "pipe to the worker");
    expect_ok(pipe(from_worker), "pipe from the worker");
    pid_t helper = fork();
    if (helper == 0) {
        close(to_worker[1]);
        close(from_worker[0]);
        worker(to_worker[0], from_worker[1]);
    }
    expect_ok(helper, "fork the unrelated worker");
    expect_eq(ask(to_worker[1], from_worker[0], 21), 42, "the worker answers before the bomb");

    long forked = 0;
    int fork_errno = 0;
    while (forked < MAX_CHILDREN) {
        pid_t child = fork();
        if (child == 0) {
            char *memory = malloc(CHILD_BYTES);
            if (memory)
                memset(memory, 0x5a, CHILD_BYTES);
            for (;;)
                pause();
        }
        if (child < 0) {
            fork_errno = errno;
            break;
        }
        children[forked++] = child;
    }
    check(forked > 0 && forked < MAX_CHILDREN, "the bomb forks until fork fails", "%ld children", forked);
    check(fork_errno == ENOMEM || fork_errno == EAGAIN, "fork fails with ENOMEM or EAGAIN", "%s", errno_name(fork_errno));
    expect_eq(ask(to_worker[1], from_worker[0], 100), 200, "the worker still answers while memory is short");
    check(1, "the console still takes output while memory is short", "-");

    long killed = 0;
    for (long i = 0; i < forked; i++)
        killed += kill(children[i], SIGKILL) == 0;
    long reaped = 0;
    for (long i = 0; i < forked; i++) {
        int status;
        if (waitpid(children[i], &status, 0) == children[i] && WIFSIGNALED(status))
            reaped++;
    }
    check(reaped == forked, "every child of the bomb ends by a signal and is reaped", "%ld of %ld", reaped, forked);
    (void)killed;

    pid_t after = fork();
    if (after == 0)
        _exit(7);
    int status = 0;
    check(after > 0 && waitpid(after, &status, 0) == after && WIFEXITED(status) && WEXITSTATUS(status) == 7,
          "fork works again once the bomb is gone", "fork gave %d, status %#x", (int)after, status);
    expect_eq(ask(to_worker[1], from_worker[0], -8), -16, "the worker still answers after the bomb");
    close(to_worker[1]);
    expect_eq(waitpid(helper, &status, 0), helper, "the worker ends when its pipe closes");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the worker exits cleanly", "status %#x", status);
    return finish();
}
