/* badptr.c: bad pointers handed to system calls, and faults the program
 * takes itself.
 *
 * Without arguments: every system call below gets each bad pointer in turn
 * (NULL, 1, a kernel address, an address above the user range, an unmapped
 * page, a PROT_NONE page, and a read-only page where the kernel would write)
 * and must fail with EFAULT; the program must survive all of it.
 *
 * With one argument, a crash mode: the program faults on purpose and must be
 * killed by the signal named here. It prints nothing on the way; if it is
 * still alive afterwards it prints a "not ok" line and exits with 1. The
 * runner (tools/xtask/src/guest.rs) checks the status as a shell reports it:
 * 128 + the signal number.
 *   null-jump       branch to address 0                     SIGSEGV
 *   kernel-write    store to 0xffff000000000000             SIGSEGV
 *   kernel-jump     branch to 0xffff000000001000            SIGSEGV
 *   text-write      store into the program's own code       SIGSEGV
 *   undefined-insn  execute .inst 0x00000000 (UDF #0)       SIGILL */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <linux/stat.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int zero_fd, file_fd, dir_fd, pipe_r, pipe_w;
static char scratch[4096];
static struct stat scratch_stat;
static struct statx scratch_statx;
static struct statfs scratch_statfs;
static void *scratch_page;

/* IN: the kernel only reads through the pointer. OUT: it writes through it,
 * so a read-only page is bad too. NO_NULL: NULL is not tried, because it is
 * meaningful for that argument (e.g. "no old value wanted") or because
 * qemu-user, the reference, accepts it where Linux gives EFAULT (sysinfo).
 * sendfile's offset is read and written, but is marked IN: with a read-only
 * offset Linux sends the data and only then fails to store the new offset.
 * Not here because qemu-user 7.2 differs from Linux: clock_getres (ignores a
 * bad result pointer) and nanosleep (reads garbage and gives EINVAL). */
enum { IN = 1, OUT = 2, NO_NULL = 4 };

/* The calls: X(name, label, flags, the call with the bad pointer P). */
#define CALLS(X) \
    X(read_fd_bad_16, "read(fd, BAD, 16)", OUT, syscall(SYS_read, zero_fd, p, 16)) \
    X(pread64_fd_bad_16_0, "pread64(fd, BAD, 16, 0)", OUT, syscall(SYS_pread64, file_fd, p, 16, 0)) \
    X(readv_fd_bad_16_1, "readv(fd, [{BAD, 16}], 1)", OUT, syscall(SYS_readv, zero_fd, &(struct iovec){p, 16}, 1)) \
    X(readv_fd_bad_1, "readv(fd, BAD, 1)", IN, syscall(SYS_readv, zero_fd, p, 1)) \
    X(write_pipe_bad_16, "write(pipe, BAD, 16)", IN, syscall(SYS_write, pipe_w, p, 16)) \
    X(pwrite64_fd_bad_16_0, "pwrite64(fd, BAD, 16, 0)", IN, syscall(SYS_pwrite64, file_fd, p, 16, 0)) \
    X(writev_pipe_bad_16_1, "writev(pipe, [{BAD, 16}], 1)", IN, \
      syscall(SYS_writev, pipe_w, &(struct iovec){p, 16}, 1)) \
    X(writev_pipe_bad_1, "writev(pipe, BAD, 1)", IN, syscall(SYS_writev, pipe_w, p, 1)) \
    X(openat_at_fdcwd_bad_o_rdonly, "openat(AT_FDCWD, BAD, O_RDONLY)", IN, \
      syscall(SYS_openat, AT_FDCWD, p, O_RDONLY)) \
    X(newfstatat_at_fdcwd_bad_buf_0, "newfstatat(AT_FDCWD, BAD, buf, 0)", IN, \
      syscall(SYS_newfstatat, AT_FDCWD, p, &scratch_stat, 0)) \
    X(newfstatat_at_fdcwd_file_bad_0, "newfstatat(AT_FDCWD, \"file\", BAD, 0)", OUT, \
      syscall(SYS_newfstatat, AT_FDCWD, "file", p, 0)) \
    X(fstat_fd_bad, "fstat(fd, BAD)", OUT, syscall(SYS_fstat, file_fd, p)) \
    X(statx_at_fdcwd_bad_0_statx_basic_stats_buf, "statx(AT_FDCWD, BAD, 0, STATX_BASIC_STATS, buf)", IN, \
      syscall(SYS_statx, AT_FDCWD, p, 0, STATX_BASIC_STATS, &scratch_statx)) \
    X(statx_at_fdcwd_file_0_statx_basic_stats_bad, "statx(AT_FDCWD, \"file\", 0, STATX_BASIC_STATS, BAD)", OUT, \
      syscall(SYS_statx, AT_FDCWD, "file", 0, STATX_BASIC_STATS, p)) \
    X(getdents64_dirfd_bad_4096, "getdents64(dirfd, BAD, 4096)", OUT, syscall(SYS_getdents64, dir_fd, p, 4096)) \
    X(readlinkat_at_fdcwd_bad_buf_64, "readlinkat(AT_FDCWD, BAD, buf, 64)", IN, \
      syscall(SYS_readlinkat, AT_FDCWD, p, scratch, 64)) \
    X(readlinkat_at_fdcwd_link_bad_64, "readlinkat(AT_FDCWD, \"link\", BAD, 64)", OUT, \
      syscall(SYS_readlinkat, AT_FDCWD, "link", p, 64)) \
    X(faccessat_at_fdcwd_bad_f_ok, "faccessat(AT_FDCWD, BAD, F_OK)", IN, syscall(SYS_faccessat, AT_FDCWD, p, F_OK)) \
    X(mkdirat_at_fdcwd_bad_0755, "mkdirat(AT_FDCWD, BAD, 0755)", IN, syscall(SYS_mkdirat, AT_FDCWD, p, 0755)) \
    X(unlinkat_at_fdcwd_bad_0, "unlinkat(AT_FDCWD, BAD, 0)", IN, syscall(SYS_unlinkat, AT_FDCWD, p, 0)) \
    X(renameat2_at_fdcwd_bad_at_fdcwd_new_0, "renameat2(AT_FDCWD, BAD, AT_FDCWD, \"new\", 0)", IN, \
      syscall(SYS_renameat2, AT_FDCWD, p, AT_FDCWD, "new", 0)) \
    X(renameat2_at_fdcwd_file_at_fdcwd_bad_0, "renameat2(AT_FDCWD, \"file\", AT_FDCWD, BAD, 0)", IN, \
      syscall(SYS_renameat2, AT_FDCWD, "file", AT_FDCWD, p, 0)) \
    X(symlinkat_bad_at_fdcwd_new, "symlinkat(BAD, AT_FDCWD, \"new\")", IN, \
      syscall(SYS_symlinkat, p, AT_FDCWD, "new")) \
    X(symlinkat_file_at_fdcwd_bad, "symlinkat(\"file\", AT_FDCWD, BAD)", IN, \
      syscall(SYS_symlinkat, "file", AT_FDCWD, p)) \
    X(linkat_at_fdcwd_bad_at_fdcwd_new_0, "linkat(AT_FDCWD, BAD, AT_FDCWD, \"new\", 0)", IN, \
      syscall(SYS_linkat, AT_FDCWD, p, AT_FDCWD, "new", 0)) \
    X(fchmodat_at_fdcwd_bad_0644, "fchmodat(AT_FDCWD, BAD, 0644)", IN, syscall(SYS_fchmodat, AT_FDCWD, p, 0644)) \
    X(fchownat_at_fdcwd_bad_1_1_0, "fchownat(AT_FDCWD, BAD, -1, -1, 0)", IN, \
      syscall(SYS_fchownat, AT_FDCWD, p, -1, -1, 0)) \
    X(truncate_bad_0, "truncate(BAD, 0)", IN, syscall(SYS_truncate, p, 0)) \
    X(utimensat_at_fdcwd_file_bad_0, "utimensat(AT_FDCWD, \"file\", BAD, 0)", IN | NO_NULL, \
      syscall(SYS_utimensat, AT_FDCWD, "file", p, 0)) \
    X(chdir_bad, "chdir(BAD)", IN, syscall(SYS_chdir, p)) \
    X(getcwd_bad_4096, "getcwd(BAD, 4096)", OUT, syscall(SYS_getcwd, p, 4096)) \
    X(statfs_bad_buf, "statfs(BAD, buf)", IN, syscall(SYS_statfs, p, &scratch_statfs)) \
    X(statfs_bad, "statfs(\".\", BAD)", OUT, syscall(SYS_statfs, ".", p)) \
    X(fstatfs_fd_bad, "fstatfs(fd, BAD)", OUT, syscall(SYS_fstatfs, file_fd, p)) \
    X(sendfile_pipe_fd_bad_16, "sendfile(pipe, fd, BAD, 16)", IN | NO_NULL, \
      syscall(SYS_sendfile, pipe_w, file_fd, p, 16)) \
    X(ioctl_fd_fionbio_bad, "ioctl(fd, FIONBIO, BAD)", IN, syscall(SYS_ioctl, file_fd, FIONBIO, p)) \
    X(pipe2_bad_0, "pipe2(BAD, 0)", OUT, syscall(SYS_pipe2, p, 0)) \
    X(clock_gettime_clock_monotonic_bad, "clock_gettime(CLOCK_MONOTONIC, BAD)", OUT, \
      syscall(SYS_clock_gettime, CLOCK_MONOTONIC, p)) \
    X(clock_gettime_clock_realtime_bad, "clock_gettime(CLOCK_REALTIME, BAD)", OUT, \
      syscall(SYS_clock_gettime, CLOCK_REALTIME, p)) \
    X(gettimeofday_bad_null, "gettimeofday(BAD, NULL)", OUT | NO_NULL, syscall(SYS_gettimeofday, p, NULL)) \
    X(clock_nanosleep_clock_monotonic_0_bad_null, "clock_nanosleep(CLOCK_MONOTONIC, 0, BAD, NULL)", IN, \
      syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, p, NULL)) \
    X(times_bad, "times(BAD)", OUT | NO_NULL, syscall(SYS_times, p)) \
    X(uname_bad, "uname(BAD)", OUT, syscall(SYS_uname, p)) \
    X(sysinfo_bad, "sysinfo(BAD)", OUT | NO_NULL, syscall(SYS_sysinfo, p)) \
    X(getrlimit_rlimit_nofile_bad, "getrlimit(RLIMIT_NOFILE, BAD)", OUT, syscall(SYS_getrlimit, RLIMIT_NOFILE, p)) \
    X(prlimit64_0_rlimit_core_bad_null, "prlimit64(0, RLIMIT_CORE, BAD, NULL)", IN | NO_NULL, \
      syscall(SYS_prlimit64, 0, RLIMIT_CORE, p, NULL)) \
    X(prlimit64_0_rlimit_core_null_bad, "prlimit64(0, RLIMIT_CORE, NULL, BAD)", OUT | NO_NULL, \
      syscall(SYS_prlimit64, 0, RLIMIT_CORE, NULL, p)) \
    X(getrandom_bad_16_0, "getrandom(BAD, 16, 0)", OUT, syscall(SYS_getrandom, p, 16, 0)) \
    X(sched_getaffinity_0_128_bad, "sched_getaffinity(0, 128, BAD)", OUT, syscall(SYS_sched_getaffinity, 0, 128, p)) \
    X(getcpu_bad_null_null, "getcpu(BAD, NULL, NULL)", OUT | NO_NULL, syscall(SYS_getcpu, p, NULL, NULL)) \
    X(getresuid_bad_buf_buf, "getresuid(BAD, buf, buf)", OUT, syscall(SYS_getresuid, p, scratch, scratch + 8)) \
    X(prctl_pr_set_name_bad, "prctl(PR_SET_NAME, BAD)", IN, syscall(SYS_prctl, PR_SET_NAME, p)) \
    X(prctl_pr_get_name_bad, "prctl(PR_GET_NAME, BAD)", OUT, syscall(SYS_prctl, PR_GET_NAME, p)) \
    X(mincore_page_4096_bad, "mincore(page, 4096, BAD)", OUT, syscall(SYS_mincore, scratch_page, 4096, p))

#define DEFINE_CALL(name, label, flags, call)                                                            \
    static long call_##name(void *p)                                                                      \
    {                                                                                                     \
        return call;                                                                                      \
    }
CALLS(DEFINE_CALL)

static const struct bad_call {
    const char *label;
    int flags;
    long (*call)(void *p);
} bad_calls[] = {
#define TABLE_ENTRY(name, label, flags, call) {label, flags, call_##name},
    CALLS(TABLE_ENTRY)
};

struct bad_pointer {
    const char *name;
    void *pointer;
    int only_for; /* IN|OUT: both kinds of argument; OUT: only where the kernel writes */
};

/* Makes the fixtures in a fresh directory under /tmp and enters it. */
static int set_up(char *dir)
{
    if (!mkdtemp(dir) || chdir(dir) != 0)
        return -1;
    file_fd = open("file", O_RDWR | O_CREAT, 0644);
    memset(scratch, 'x', sizeof scratch);
    if (file_fd < 0 || write(file_fd, scratch, sizeof scratch) != sizeof scratch || symlink("file", "link") != 0)
        return -1;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pipe_r = fds[0];
    pipe_w = fds[1];
    zero_fd = open("/dev/zero", O_RDONLY);
    dir_fd = open(".", O_RDONLY | O_DIRECTORY);
    scratch_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return zero_fd < 0 || dir_fd < 0 || scratch_page == MAP_FAILED ? -1 : 0;
}

static void tear_down(const char *dir)
{
    unlink("link");
    unlink("file");
    chdir("/");
    rmdir(dir);
}

static void test_bad_pointers(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(pages, page);
    mprotect(pages + page, page, PROT_NONE);
    mprotect(pages + 2 * page, page, PROT_READ);
    const struct bad_pointer bad[] = {
        {"NULL", NULL, IN | OUT},
        {"1", (void *)1, IN | OUT},
        {"a kernel address (0xffff000000000000)", (void *)0xffff000000000000ul, IN | OUT},
        {"an address above the user range (1 << 48)", (void *)(1ul << 48), IN | OUT},
        {"an unmapped page", pages, IN | OUT},
        {"a PROT_NONE page", pages + page, IN | OUT},
        {"a read-only page", pages + 2 * page, OUT},
    };
    char what[160];
    for (size_t c = 0; c < sizeof bad_calls / sizeof bad_calls[0]; c++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            if (!(bad_calls[c].flags & bad[b].only_for))
                continue;
            if (bad[b].pointer == NULL && (bad_calls[c].flags & NO_NULL))
                continue;
            snprintf(what, sizeof what, "%s with BAD = %s gives EFAULT", bad_calls[c].label, bad[b].name);
            expect_errno(bad_calls[c].call(bad[b].pointer), EFAULT, what);
        }
    }
    struct stat st;
    check(fstat(file_fd, &st) == 0 && st.st_size == 4096, "the test file is untouched afterwards", "it changed");
    fcntl(pipe_r, F_SETFL, O_NONBLOCK);
    char c;
    expect_errno(read(pipe_r, &c, 1), EAGAIN, "no byte of the failed writes reached the pipe");
    munmap(pages, 3 * page);
}

/* Faults as MODE says; returns only if the fault did not kill the program. */
int main(int argc, char **argv);

static int crash(const char *mode)
{
    /* No core file: qemu-user would write one into the working directory. */
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    if (strcmp(mode, "null-jump") == 0) {
        void (*volatile target)(void) = NULL;
        target();
    } else if (strcmp(mode, "kernel-write") == 0) {
        *(volatile int *)0xffff000000000000ul = 1;
    } else if (strcmp(mode, "kernel-jump") == 0) {
        void (*volatile target)(void) = (void (*)(void))0xffff000000001000ul;
        target();
    } else if (strcmp(mode, "text-write") == 0) {
        *(volatile unsigned char *)(uintptr_t)&main = 0;
    } else if (strcmp(mode, "undefined-insn") == 0) {
        __asm__ volatile(".inst 0x00000000");
    } else {
        fprintf(stderr, "usage: badptr [null-jump|kernel-write|kernel-jump|text-write|undefined-insn]\n");
        return 2;
    }
    check(0, mode, "the program is still running");
    return finish();
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return crash(argv[1]);
    char dir[] = "/tmp/morsel-badptr-XXXXXX";
    if (set_up(dir) != 0) {
        check(0, "set up the fixtures", "failed with %s", errno_name(errno));
        return finish();
    }
    test_bad_pointers();
    tear_down(dir);
    return finish();
}
