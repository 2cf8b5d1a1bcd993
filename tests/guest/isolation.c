/* isolation.c: processes do not see each other's memory or state. A page
 * the parent maps after fork is not there in the child (reading its address
 * kills the child with SIGSEGV, and the child can map memory of its own at
 * that address); copy-on-write pages (data, heap, stack, private mappings)
 * change for one process only, shared mappings for both; descriptors, the
 * working directory and signal actions are per process, while an inherited
 * descriptor shares its file offset; kernel addresses cannot be read,
 * written, executed, mapped or handed to system calls. Children report
 * through exit statuses; only the parent prints. process_vm_readv is not
 * checked: Linux lets a process read its child (same uid), qemu-user gives
 * ENOSYS. */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int global_value = 1;

/* Kernel addresses (in variables, so the compiler cannot see the fault). */
static volatile uintptr_t kernel_addresses[] = {
    0xffff000000000000ul,
    0xffff800008000000ul,
    0xfffffffffffff000ul,
};

/* Waits for PID; returns its exit code, or 128 + the signal that killed it. */
static int wait_status(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

static int read_exact(int fd, void *buffer, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)buffer + got, size - got);
        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    return 1;
}

/* A page the parent maps after fork: the child gets its address through a
 * pipe. MODE 0: the child reads it; MODE 1: the child maps its own page
 * there (MAP_FIXED_NOREPLACE), writes it and exits 0 if that worked. */
static void check_new_mapping(void)
{
    long page = sysconf(_SC_PAGESIZE);
    for (int mode = 0; mode < 2; mode++) {
        int fds[2];
        pipe(fds);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[1]);
            volatile uint64_t *address;
            if (!read_exact(fds[0], &address, sizeof address))
                _exit(2);
            if (mode == 0)
                _exit(*address == 0x5ec12e7 ? 3 : 4);
            void *mine = mmap((void *)address, page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (mine != (void *)address)
                _exit(5);
            *address = 77;
            _exit(*address == 77 ? 0 : 6);
        }
        close(fds[0]);
        volatile uint64_t *secret =
            mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *secret = 0x5ec12e7;
        write(fds[1], &secret, sizeof secret);
        close(fds[1]);
        int status = wait_status(pid);
        if (mode == 0)
            check(status == 128 + SIGSEGV, "a child reading a page its parent mapped after fork gets SIGSEGV",
                  "status %d", status);
        else
            check(status == 0 && *secret == 0x5ec12e7,
                  "the child can map a page of its own at that address; the parent's is unchanged", "status %d",
                  status);
        munmap((void *)secret, page);
    }
}

/* Copy-on-write: a child's writes stay in the child, the parent's writes
 * after fork stay in the parent. */
static void check_copy_on_write(void)
{
    long page = sysconf(_SC_PAGESIZE);
    int *heap = malloc(sizeof *heap);
    volatile int stack_value = 3;
    volatile int *private_map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile int *shared_map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *heap = 2;
    *private_map = 4;
    *shared_map = 5;
    global_value = 1;

    /* The child writes; the parent looks after the child has ended. */
    pid_t pid = fork();
    if (pid == 0) {
        global_value = 10;
        *heap = 20;
        stack_value = 30;
        *private_map = 40;
        *shared_map = 50;
        int sees = global_value == 10 && *heap == 20 && stack_value == 30 && *private_map == 40;
        _exit(sees ? 0 : 1);
    }
    int status = wait_status(pid);
    check(status == 0, "a child sees its own writes to copied pages", "status %d", status);
    check(global_value == 1, "a child's write to a global variable leaves the parent's", "the parent sees %d",
          global_value);
    check(*heap == 2, "a child's write to the heap leaves the parent's", "the parent sees %d", *heap);
    check(stack_value == 3, "a child's write to the stack leaves the parent's", "the parent sees %d", stack_value);
    check(*private_map == 4, "a child's write to a private mapping leaves the parent's", "the parent sees %d",
          *private_map);
    check(*shared_map == 50, "a child's write to a shared mapping reaches the parent", "the parent sees %d",
          *shared_map);

    /* The parent writes while the child waits; the child looks. */
    int go[2];
    pipe(go);
    pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(9);
        int bits = (global_value == 1) | (*heap == 2) << 1 | (*private_map == 4) << 2 | (*shared_map == 500) << 3;
        _exit(bits);
    }
    close(go[0]);
    global_value = 100;
    *heap = 200;
    *private_map = 400;
    *shared_map = 500;
    write(go[1], "g", 1);
    close(go[1]);
    status = wait_status(pid);
    check(status >= 0 && status < 16 && (status & 7) == 7,
          "the parent's writes after fork leave the child's global, heap and private pages", "status %d", status);
    check(status >= 0 && status < 16 && (status & 8), "the parent's write to a shared mapping reaches the child",
          "status %d", status);
    free(heap);
    munmap((void *)private_map, page);
    munmap((void *)shared_map, page);
}

/* Descriptors, the working directory and signal actions are the child's
 * own; an inherited descriptor shares its offset. */
static void check_process_state(void)
{
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        int fd;
        if (!read_exact(fds[0], &fd, sizeof fd))
            _exit(2);
        _exit(fcntl(fd, F_GETFD) == -1 && errno == EBADF ? 0 : 1);
    }
    close(fds[0]);
    /* At a number the child has not used either. */
    int null = open("/dev/null", O_RDONLY);
    int late = dup2(null, 200);
    close(null);
    write(fds[1], &late, sizeof late);
    close(fds[1]);
    int status = wait_status(pid);
    check(status == 0, "a descriptor the parent opens after fork is not open in the child", "status %d", status);
    close(late);

    char path[] = "/tmp/morsel-isolation-XXXXXX";
    int fd = mkstemp(path);
    write(fd, "0123456789", 10);
    lseek(fd, 0, SEEK_SET);
    pid = fork();
    if (pid == 0) {
        lseek(fd, 4, SEEK_SET);
        close(fd);
        chdir("/");
        signal(SIGUSR1, SIG_IGN);
        _exit(0);
    }
    char cwd_before[256], cwd_after[256];
    wait_status(pid);
    check(fcntl(fd, F_GETFD) != -1, "a child closing an inherited descriptor leaves the parent's open",
          "it was closed");
    check(lseek(fd, 0, SEEK_CUR) == 4, "a child's lseek on an inherited descriptor moves the shared offset",
          "the offset is %ld", (long)lseek(fd, 0, SEEK_CUR));
    close(fd);
    unlink(path);

    if (chdir("/tmp") != 0 || !getcwd(cwd_before, sizeof cwd_before))
        cwd_before[0] = '\0';
    pid = fork();
    if (pid == 0) {
        _exit(chdir("/") == 0 ? 0 : 1);
    }
    wait_status(pid);
    check(getcwd(cwd_after, sizeof cwd_after) && strcmp(cwd_after, cwd_before) == 0 && strcmp(cwd_after, "/tmp") == 0,
          "a child's chdir leaves the parent's working directory", "it changed");
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    check(now.sa_handler == SIG_DFL, "a child's sigaction leaves the parent's", "the parent's changed");
    chdir("/");
}

/* Kernel addresses: reading, writing or jumping there kills the process;
 * system calls refuse them. */
static void check_kernel_addresses(void)
{
    int n = (int)(sizeof kernel_addresses / sizeof kernel_addresses[0]);
    int killed_reads = 0, killed_writes = 0;
    for (int i = 0; i < n; i++) {
        for (int write_it = 0; write_it < 2; write_it++) {
            pid_t pid = fork();
            if (pid == 0) {
                volatile uint64_t *p = (volatile uint64_t *)kernel_addresses[i];
                if (write_it)
                    *p = 1;
                else
                    (void)*p;
                _exit(0);
            }
            if (wait_status(pid) == 128 + SIGSEGV)
                *(write_it ? &killed_writes : &killed_reads) += 1;
        }
    }
    check(killed_reads == n, "reading kernel addresses gets SIGSEGV", "%d of %d", killed_reads, n);
    check(killed_writes == n, "writing kernel addresses gets SIGSEGV", "%d of %d", killed_writes, n);
    pid_t pid = fork();
    if (pid == 0) {
        ((void (*)(void))kernel_addresses[0])();
        _exit(0);
    }
    int status = wait_status(pid);
    check(status == 128 + SIGSEGV, "jumping to a kernel address gets SIGSEGV", "status %d", status);

    void *k = (void *)kernel_addresses[0];
    int fds[2];
    pipe(fds);
    expect_errno(write(fds[1], k, 8), EFAULT, "write from a kernel address gives EFAULT");
    write(fds[1], "x", 1);
    expect_errno(read(fds[0], k, 1), EFAULT, "read into a kernel address gives EFAULT");
    close(fds[0]);
    close(fds[1]);
    long page = sysconf(_SC_PAGESIZE);
    void *m = mmap(k, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(m == MAP_FAILED && errno == ENOMEM, "mmap with MAP_FIXED at a kernel address gives ENOMEM", "errno %s",
          errno_name(errno));
    expect_errno(munmap(k, page), EINVAL, "munmap of a kernel address gives EINVAL");
    expect_errno(mprotect(k, page, PROT_READ), ENOMEM, "mprotect of a kernel address gives ENOMEM");
}

int main(void)
{
    /* Children that crash must not leave core files. */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    check_new_mapping();
    check_copy_on_write();
    check_process_state();
    check_kernel_addresses();
    return finish();
}
