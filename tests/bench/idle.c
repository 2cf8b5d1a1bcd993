/* idle.c: memory used by an idle forked child (idle_child_memory): MemFree
 * of /proc/meminfo is read, N children are forked that each tell the parent
 * they run and then block reading a pipe, MemFree is read again, and the
 * difference divided by N is one sample (KiB per child: what the kernel
 * allocated for a child, its page tables and the pages it copied by
 * touching its stack). Closing the pipe ends the children.
 *
 * On Linux, MemFree alone misses what a child takes from the per-CPU free
 * lists and lags behind by the per-CPU counter differences; free_kib()
 * corrects for both. On Morsel MemFree counts the frames (pages) that are
 * free; the kernel heap (a fixed region carved out at boot) is not in it. */
#include "bench.h"

#include <fcntl.h>
#include <sys/wait.h>

/* MemFree of /proc/meminfo in KiB. */
static long mem_free_kib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        die("/proc/meminfo: %s", strerror(errno));
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemFree: %ld kB", &kib) == 1)
            break;
    fclose(f);
    if (kib < 0)
        die("/proc/meminfo has no MemFree line");
    return kib;
}

/* Pages on Linux's per-CPU free lists ("count:" in the pagesets of
 * /proc/zoneinfo): free, but not counted in MemFree. 0 where there is no
 * /proc/zoneinfo (Morsel). */
static long per_cpu_free_pages(void)
{
    FILE *f = fopen("/proc/zoneinfo", "r");
    if (!f)
        return 0;
    char line[256];
    long total = 0, count;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, " count: %ld", &count) == 1)
            total += count;
    fclose(f);
    return total;
}

/* Free memory in KiB: MemFree, with Linux's per-CPU counter differences
 * folded in first (/proc/sys/vm/stat_refresh) and its per-CPU free lists
 * added, so that the pages a child takes from those lists count too. */
static long free_kib(void)
{
    int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) {
        }
        close(fd);
    }
    return mem_free_kib() + per_cpu_free_pages() * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    long children = iterations(64, 16);
    long rounds = iterations(5, 2);
    pid_t *pids = calloc((size_t)children, sizeof(pid_t));
    struct samples s = samples_new(rounds);
    if (!pids)
        die("out of memory");
    for (long round = 0; round < rounds + 1; round++) {
        int hold[2], ready[2];
        if (pipe(hold) != 0 || pipe(ready) != 0)
            die("pipe: %s", strerror(errno));
        fflush(stdout);
        long before = free_kib();
        for (long i = 0; i < children; i++) {
            pids[i] = fork();
            if (pids[i] < 0)
                die("fork of child %ld: %s", i, strerror(errno));
            if (pids[i] == 0) {
                close(hold[1]);
                char c = 'r';
                if (write(ready[1], &c, 1) != 1)
                    _exit(1);
                while (read(hold[0], &c, 1) > 0) {
                }
                _exit(0);
            }
        }
        for (long i = 0; i < children; i++) {
            char c;
            if (read(ready[0], &c, 1) != 1)
                die("a child did not start: %s", strerror(errno));
        }
        long after = free_kib();
        close(hold[1]);
        for (long i = 0; i < children; i++) {
            int status;
            if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("an idle child failed (status %#x)", status);
        }
        close(hold[0]);
        close(ready[0]);
        close(ready[1]);
        /* Let deferred frees (Linux's RCU) finish before the next "before". */
        usleep(200 * 1000);
        /* The first round warms up (the parent's own first-fork costs). */
        if (round > 0)
            samples_add(&s, (double)(before - after) / (double)children);
    }
    printf("info idle_children_per_round %ld\n", children);
    report("idle_child_memory", "KiB", &s);
    return 0;
}
