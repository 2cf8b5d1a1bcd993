/* process.c: process creation and ending through the libc calls programs
 * use: fork, vfork, wait4/waitpid (statuses, WNOHANG, ECHILD), getppid in
 * the child, pipes between parent and child (data, EOF when the writer
 * exits), and a child killed by a fault. No exec here: the Linux reference
 * (qemu-user) cannot exec another AArch64 binary without binfmt_misc. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* An address no program has mapped (in a variable, so the compiler cannot
 * see the fault coming). */
static volatile uintptr_t fault_address = 16;

int main(void)
{
    /* Children that crash must not leave core files (qemu-user writes them). */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    pid_t self = getpid();
    pid_t child = fork();
    if (child == 0) {
        _exit(getppid() == self ? 42 : 1);
    }
    check(child > 0, "fork returns the child's pid to the parent", "returned %d", (int)child);
    int status = 0;
    pid_t waited = waitpid(child, &status, 0);
    check(waited == child, "waitpid returns the child", "returned %d", (int)waited);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 42, "the child saw its parent and exited with 42",
          "status %#x", status);
    errno = 0;
    check(waitpid(-1, &status, 0) == -1 && errno == ECHILD, "no children left gives ECHILD", "errno %s",
          errno_name(errno));
    check(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD, "WNOHANG without children gives ECHILD",
          "errno %s", errno_name(errno));

    /* A pipe from child to parent: data arrives, then EOF when the child exits. */
    int fds[2];
    expect_ok(pipe(fds), "pipe");
    child = fork();
    if (child == 0) {
        close(fds[0]);
        const char message[] = "through the pipe";
        ssize_t n = write(fds[1], message, sizeof message - 1);
        _exit(n == (ssize_t)(sizeof message - 1) ? 0 : 3);
    }
    close(fds[1]);
    char buffer[64] = { 0 };
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fds[0], buffer + got, sizeof buffer - 1 - got);
        if (n <= 0) {
            check(n == 0, "the read end sees EOF after the writer exits", "read returned %zd", n);
            break;
        }
        got += (size_t)n;
    }
    check(strcmp(buffer, "through the pipe") == 0, "the child's bytes arrive", "got \"%s\"", buffer);
    close(fds[0]);
    check(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the writer child exited with 0", "status %#x", status);

    /* WNOHANG while the child still runs, then the real wait. */
    int hold[2];
    expect_ok(pipe(hold), "pipe");
    child = fork();
    if (child == 0) {
        char c;
        close(hold[1]);
        _exit(read(hold[0], &c, 1) == 1 ? 5 : 6);
    }
    close(hold[0]);
    check(waitpid(child, &status, WNOHANG) == 0, "WNOHANG returns 0 while the child runs", "it did not");
    check(write(hold[1], "x", 1) == 1, "wake the child", "write failed");
    check(waitpid(child, &status, 0) == child && WEXITSTATUS(status) == 5, "the woken child exited with 5",
          "status %#x", status);
    close(hold[1]);

    /* A child killed by a fault: the status says SIGSEGV. */
    child = fork();
    if (child == 0) {
        *(volatile int *)fault_address = 1;
        _exit(0);
    }
    check(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
          "a child that faults is killed by SIGSEGV", "status %#x", status);

    /* vfork: the child runs and exits before the parent goes on. */
    child = vfork();
    if (child == 0) {
        _exit(9);
    }
    check(waitpid(child, &status, 0) == child && WEXITSTATUS(status) == 9, "a vfork child exits with 9",
          "status %#x", status);

    /* Many children at once, reaped in any order. */
    for (int i = 0; i < 20; i++) {
        if (fork() == 0) {
            _exit(i);
        }
    }
    int sum = 0, reaped = 0;
    while ((waited = wait(&status)) > 0) {
        sum += WEXITSTATUS(status);
        reaped++;
    }
    check(reaped == 20 && sum == 190, "twenty children are reaped with their statuses", "%d reaped, sum %d",
          reaped, sum);

    return finish();
}
