/* exec.c: fork+exec+wait of a small static program (fork_exec_wait): fork,
 * the child execs /bench/true (true.c, statically linked like every
 * benchmark), the parent waits; timed in the parent from before fork to
 * after waitpid. */
#include "bench.h"

#include <sys/wait.h>

/* Where both systems' images hold the program. */
#define TRUE_PROGRAM "/bench/true"

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    struct loop l = loop_new(200, 10, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    char *const child_argv[] = { TRUE_PROGRAM, NULL };
    char *const child_envp[] = { NULL };
    fflush(stdout);
    while (loop_more(&l)) {
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            execve(TRUE_PROGRAM, child_argv, child_envp);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid)
            die("waitpid: %s", strerror(errno));
        uint64_t t1 = now_ns();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("%s ended with status %#x (127: execve failed)", TRUE_PROGRAM, status);
        if (loop_recording(&l))
            samples_add(&s, us(t0, t1));
    }
    report("fork_exec_wait", "us", &s);
    return 0;
}
