/* pipe.c: pipe round trip between parent and child (pipe_roundtrip): the
 * parent writes one byte into one pipe, the child reads it and writes it
 * back through another, the parent reads it; timed in the parent from
 * before its write to after its read. */
#include "bench.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0)
        die("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        char c;
        while (read(down[0], &c, 1) == 1)
            if (write(up[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    struct loop l = loop_new(2000, 100, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    while (loop_more(&l)) {
        char c = 'x';
        uint64_t t0 = now_ns();
        if (write(down[1], &c, 1) != 1 || read(up[0], &c, 1) != 1)
            die("round trip: %s", strerror(errno));
        uint64_t t1 = now_ns();
        if (loop_recording(&l))
            samples_add(&s, us(t0, t1));
    }
    close(down[1]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the echoing child failed (status %#x)", status);
    report("pipe_roundtrip", "us", &s);
    return 0;
}
