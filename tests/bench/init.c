/* init.c: the init of the Linux baseline's initramfs (/init).
 *
 * First thing, it reads the generic timer's virtual counter (CNTVCT_EL0,
 * which QEMU starts with the machine and Linux lets user space read) and
 * prints boot_to_init: the time from power-on to the first instruction of
 * init, as Morsel's first μprocess measures it (boot.c). Then it mounts
 * /proc and /sys, prints what the table's footer needs (kernel release,
 * page size, transparent huge pages), runs /bench/NAME MODE for each NAME
 * in its arguments, one after the other, and powers off.
 *
 * Its arguments come from the kernel command line after "--":
 *   MODE NAME...      MODE is "quick" or "full", passed on to each program
 *   boot-only         only the boot_to_init line (so is anything without a
 *                     MODE)
 * Linux puts the command-line words it does not know ("nokaslr") before
 * them, so the arguments start at the first MODE word.
 * The line "done" says that every program ran; a program that fails gets
 * an "error" line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t counter(void)
{
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
    return v;
}

static uint64_t counter_frequency(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}

/* Linux opens /dev/console for init; if that failed, mount devtmpfs and
 * open it ourselves. */
static void console(void)
{
    if (fcntl(1, F_GETFD) != -1)
        return;
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int fd = open("/dev/console", O_RDWR);
    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
}

/* The first line of FILE, or "?". */
static void first_line(const char *file, char *out, size_t size)
{
    snprintf(out, size, "?");
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = 0;
    fclose(f);
}

static void power_off(void)
{
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    /* Never here; init must not exit (the kernel would panic). */
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    uint64_t ticks = counter();
    struct timespec boottime;
    clock_gettime(CLOCK_BOOTTIME, &boottime);
    console();
    setvbuf(stdout, NULL, _IOLBF, 0);
    double ms = (double)ticks * 1e3 / (double)counter_frequency();
    printf("metric boot_to_init unit ms samples 1 median %.3f p99 %.3f min %.3f max %.3f\n", ms, ms, ms, ms);
    printf("info linux_clock_boottime_at_init_ms %.3f\n",
           (double)boottime.tv_sec * 1e3 + (double)boottime.tv_nsec / 1e6);
    /* Linux hands init the command-line words it does not know
     * ("nokaslr") before those after "--": the arguments start at the mode. */
    int first = 1;
    while (first < argc && strcmp(argv[first], "quick") != 0 && strcmp(argv[first], "full") != 0)
        first++;
    if (first == argc) {
        printf("done\n");
        power_off();
    }

    if (mount("proc", "/proc", "proc", 0, NULL) != 0)
        printf("error mounting /proc: %s\n", strerror(errno));
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
        printf("error mounting /sys: %s\n", strerror(errno));
    struct utsname u;
    if (uname(&u) == 0)
        printf("info kernel %s %s\n", u.sysname, u.release);
    char line[256];
    first_line("/sys/kernel/mm/transparent_hugepage/enabled", line, sizeof line);
    printf("info transparent_hugepage %s\n", line);
    first_line("/proc/cmdline", line, sizeof line);
    printf("info cmdline %s\n", line);
    printf("info page_size %ld\n", sysconf(_SC_PAGESIZE));

    const char *mode = argv[first];
    for (int i = first + 1; i < argc; i++) {
        char path[256];
        snprintf(path, sizeof path, "/bench/%s", argv[i]);
        printf("info running %s\n", argv[i]);
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            printf("error %s: fork: %s\n", argv[i], strerror(errno));
            continue;
        }
        if (pid == 0) {
            char *const child_argv[] = { path, (char *)mode, NULL };
            char *const child_envp[] = { "PATH=/bench", NULL };
            execve(path, child_argv, child_envp);
            printf("error %s: execve: %s\n", path, strerror(errno));
            fflush(stdout);
            _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) != pid)
            if (errno != EINTR) {
                status = -1;
                break;
            }
        if (status != 0)
            printf("error %s ended with status %#x\n", argv[i], status);
    }
    printf("done\n");
    power_off();
}
