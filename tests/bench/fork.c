/* fork.c: fork+exit+wait latency of a process that has touched 1, 16, 64
 * and 256 MiB of heap (fork_exit_wait_NNmib), and the cost of the child's
 * first write to 1 MiB after fork (child_first_write_1mib).
 *
 * One round of fork_exit_wait: fork, the child _exits at once, the parent
 * waits for it; timed in the parent from before fork to after waitpid. The
 * heap is one anonymous private mapping (what malloc gives for large
 * sizes), every byte written before the rounds start, and unmapped before
 * the next size.
 *
 * One round of child_first_write: the parent holds 1 MiB it has written;
 * after fork the child times a memset of all of it (each page is then
 * copied, or whatever the system does on the first write to memory shared
 * with its parent) and sends the time through a pipe. */
#include "bench.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define MIB (1024L * 1024L)

static unsigned char *touched(long bytes)
{
    unsigned char *p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %ld MiB: %s", bytes / MIB, strerror(errno));
    memset(p, 0x5a, (size_t)bytes);
    return p;
}

static void wait_for(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("a child ended with status %#x", status);
}

static void fork_exit_wait(long mib)
{
    long bytes = mib * MIB;
    unsigned char *heap = touched(bytes);
    struct loop l = loop_new(200, 10, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    fflush(stdout);
    while (loop_more(&l)) {
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0)
            die("fork with %ld MiB: %s", mib, strerror(errno));
        if (pid == 0)
            _exit(0);
        wait_for(pid);
        uint64_t t1 = now_ns();
        if (loop_recording(&l))
            samples_add(&s, us(t0, t1));
    }
    char name[64];
    snprintf(name, sizeof name, "fork_exit_wait_%ldmib", mib);
    report(name, "us", &s);
    munmap(heap, (size_t)bytes);
}

static void child_first_write(void)
{
    long bytes = 1 * MIB;
    unsigned char *heap = touched(bytes);
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    struct loop l = loop_new(200, 10, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    fflush(stdout);
    while (loop_more(&l)) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            uint64_t t0 = now_ns();
            memset(heap, 0xa5, (size_t)bytes);
            uint64_t t1 = now_ns();
            uint64_t elapsed = t1 - t0;
            _exit(write(fds[1], &elapsed, sizeof elapsed) == sizeof elapsed ? 0 : 1);
        }
        uint64_t elapsed;
        if (read(fds[0], &elapsed, sizeof elapsed) != sizeof elapsed)
            die("reading the child's time: %s", strerror(errno));
        wait_for(pid);
        if (heap[0] != 0x5a)
            die("the child's write reached the parent's memory");
        if (loop_recording(&l))
            samples_add(&s, (double)elapsed / 1000.0);
    }
    report("child_first_write_1mib", "us", &s);
    close(fds[0]);
    close(fds[1]);
    munmap(heap, (size_t)bytes);
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    printf("info page_size %ld\n", sysconf(_SC_PAGESIZE));
    static const long sizes[] = { 1, 16, 64, 256 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        fork_exit_wait(sizes[i]);
    child_first_write();
    return 0;
}
