/* identity.c: process and user ids, uname, sysinfo, resource limits,
 * getrandom, CPU affinity, prctl, and the auxiliary vector the kernel hands a
 * new program. Ids are compared with each other, never printed. */
#define _GNU_SOURCE
#include "check.h"

#include <asm/hwcap.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

static void test_ids(void)
{
    long pid = syscall(SYS_getpid);
    check(pid > 0, "getpid is positive", "it is %ld", pid);
    expect_eq(getpid(), pid, "the libc getpid agrees with the system call");
    expect_eq(syscall(SYS_gettid), pid, "gettid equals getpid in a single-threaded process");
    long ppid = syscall(SYS_getppid);
    check(ppid >= 0 && ppid != pid, "getppid is another process (or 0)", "it is %s",
          ppid == pid ? "the process itself" : "negative");
    expect_eq(syscall(SYS_set_tid_address, NULL), pid, "set_tid_address returns the thread id");

    uid_t r, e, s;
    gid_t gr, ge, gs;
    expect_ok(getresuid(&r, &e, &s), "getresuid");
    check(r == getuid() && e == geteuid() && s == e, "getresuid agrees with getuid and geteuid", "it does not");
    expect_ok(getresgid(&gr, &ge, &gs), "getresgid");
    check(gr == getgid() && ge == getegid() && gs == ge, "getresgid agrees with getgid and getegid", "it does not");
    expect_ok(setuid(getuid()), "setuid to the current uid");
    expect_ok(setgid(getgid()), "setgid to the current gid");
    expect_ok(setresuid(-1, -1, -1), "setresuid(-1, -1, -1) changes nothing");
    expect_eq(getuid(), r, "the uid is unchanged");
    int n = getgroups(0, NULL);
    check(n >= 0, "getgroups(0) counts the supplementary groups", "failed with %s", errno_name(errno));
    gid_t groups[256];
    expect_eq(getgroups(256, groups), n, "getgroups fills as many groups as it counted");
    expect_errno(syscall(SYS_getgroups, -1, groups), EINVAL, "getgroups with a negative size gives EINVAL");
}

static void test_uname(void)
{
    struct utsname u;
    expect_ok(uname(&u), "uname");
    check(strcmp(u.sysname, "Linux") == 0, "uname sysname is Linux", "it is \"%s\"", u.sysname);
    check(strcmp(u.machine, "aarch64") == 0, "uname machine is aarch64", "it is \"%s\"", u.machine);
    int major = 0, minor = 0;
    check(sscanf(u.release, "%d.%d", &major, &minor) == 2 && major >= 3,
          "uname release is a version glibc accepts (N.N..., at least 3)", "it is \"%s\"", u.release);
    check(u.nodename[0] && u.version[0], "uname nodename and version are not empty", "one is empty");
}

static void test_sysinfo(void)
{
    struct sysinfo si;
    expect_ok(sysinfo(&si), "sysinfo");
    check(si.uptime >= 1, "sysinfo uptime is at least 1 s (Linux rounds up)", "it is %ld", si.uptime);
    check(si.mem_unit >= 1 && si.totalram > 0 && si.freeram <= si.totalram,
          "sysinfo gives total and free memory", "mem_unit %u total %lu free %lu", si.mem_unit, si.totalram,
          si.freeram);
    check(si.procs >= 1, "sysinfo counts at least one process", "it counts %u", si.procs);
}

static void test_limits(void)
{
    struct rlimit lim, got;
    expect_ok(getrlimit(RLIMIT_NOFILE, &lim), "getrlimit RLIMIT_NOFILE");
    check(lim.rlim_cur > 0 && lim.rlim_cur <= lim.rlim_max, "the descriptor limit is positive and within its maximum",
          "cur %lu max %lu", (unsigned long)lim.rlim_cur, (unsigned long)lim.rlim_max);
    struct rlimit lower = {64, lim.rlim_max};
    expect_ok(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lower, &got), "prlimit64 lowers RLIMIT_NOFILE");
    check(got.rlim_cur == lim.rlim_cur && got.rlim_max == lim.rlim_max, "prlimit64 returns the old limit",
          "it does not");
    getrlimit(RLIMIT_NOFILE, &got);
    expect_eq(got.rlim_cur, 64, "getrlimit sees the new limit");
    expect_errno(dup2(1, 64), EBADF, "a descriptor at the limit gives EBADF");
    expect_ok(setrlimit(RLIMIT_NOFILE, &lim), "setrlimit restores RLIMIT_NOFILE");
    struct rlimit inverted = {lim.rlim_max, lim.rlim_max - 1};
    expect_errno(setrlimit(RLIMIT_NOFILE, &inverted), EINVAL, "a soft limit above the hard limit gives EINVAL");
    expect_errno(syscall(SYS_prlimit64, 0, 1000, NULL, &got), EINVAL, "prlimit64 of an unknown resource gives EINVAL");
    expect_ok(getrlimit(RLIMIT_STACK, &got), "getrlimit RLIMIT_STACK");
    check(got.rlim_cur >= 65536, "the stack limit is at least 64 KiB", "it is %lu", (unsigned long)got.rlim_cur);
    expect_ok(syscall(SYS_prlimit64, syscall(SYS_getpid), RLIMIT_CORE, NULL, &got), "prlimit64 of the own pid");
    expect_errno(syscall(SYS_prlimit64, 0x3fffffff, RLIMIT_CORE, NULL, &got), ESRCH,
                 "prlimit64 of a missing process gives ESRCH");
}

static void test_getrandom(void)
{
    unsigned char a[48], b[48];
    expect_eq(getrandom(a, sizeof a, 0), sizeof a, "getrandom 48 bytes");
    expect_eq(getrandom(b, sizeof b, GRND_NONBLOCK), sizeof b, "getrandom GRND_NONBLOCK");
    check(memcmp(a, b, sizeof a) != 0, "two getrandom results differ", "they are equal");
    expect_eq(getrandom(a, 0, 0), 0, "getrandom of 0 bytes returns 0");
    expect_errno(getrandom(a, sizeof a, 0x100), EINVAL, "getrandom with unknown flags gives EINVAL");
}

static void test_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    check(n > 0 && n % sizeof(long) == 0, "sched_getaffinity returns the mask size in bytes", "returned %ld", n);
    check(CPU_COUNT(&set) >= 1, "the affinity mask holds at least one CPU", "it is empty");
    unsigned cpu = ~0u;
    expect_ok(syscall(SYS_getcpu, &cpu, NULL, NULL), "getcpu");
    check(cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set), "getcpu names a CPU in the affinity mask", "it does not");
    expect_errno(syscall(SYS_sched_getaffinity, 0, 1, &set), EINVAL,
                 "sched_getaffinity with a 1-byte mask gives EINVAL");
    expect_errno(syscall(SYS_sched_getaffinity, 0x3fffffff, sizeof set, &set), ESRCH,
                 "sched_getaffinity of a missing process gives ESRCH");
    expect_ok(sched_yield(), "sched_yield");
}

static void test_prctl(void)
{
    char name[32] = {0};
    expect_ok(prctl(PR_SET_NAME, "morsel-ident"), "PR_SET_NAME");
    expect_ok(prctl(PR_GET_NAME, name), "PR_GET_NAME");
    check(strcmp(name, "morsel-ident") == 0, "PR_GET_NAME returns the name set", "it returns \"%s\"", name);
    prctl(PR_SET_NAME, "a-name-longer-than-fifteen-bytes");
    prctl(PR_GET_NAME, name);
    check(strcmp(name, "a-name-longer-t") == 0, "PR_SET_NAME keeps the first 15 bytes", "it returns \"%s\"", name);
    expect_eq(prctl(PR_GET_DUMPABLE), 1, "PR_GET_DUMPABLE is 1");
    expect_ok(prctl(PR_SET_DUMPABLE, 0), "PR_SET_DUMPABLE 0");
    expect_eq(prctl(PR_GET_DUMPABLE), 0, "PR_GET_DUMPABLE follows it");
    prctl(PR_SET_DUMPABLE, 1);
    expect_errno(prctl(PR_SET_DUMPABLE, 5), EINVAL, "PR_SET_DUMPABLE 5 gives EINVAL");
    long cap = prctl(PR_CAPBSET_READ, CAP_CHOWN);
    check(cap == 0 || cap == 1, "PR_CAPBSET_READ CAP_CHOWN gives 0 or 1", "it gives %ld", cap);
    expect_errno(prctl(PR_CAPBSET_READ, 1000), EINVAL, "PR_CAPBSET_READ of an unknown capability gives EINVAL");
    expect_errno(prctl(0x7fff0000), EINVAL, "an unknown prctl option gives EINVAL");
}

static void test_auxv(void)
{
    expect_eq(getauxval(AT_PAGESZ), 4096, "AT_PAGESZ is 4096");
    check(getauxval(AT_PHDR) != 0 && getauxval(AT_PHENT) == 56 && getauxval(AT_PHNUM) > 0,
          "AT_PHDR, AT_PHENT (56) and AT_PHNUM describe the program headers", "they do not");
    check(getauxval(AT_ENTRY) != 0, "AT_ENTRY is set", "it is 0");
    check(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid() && getauxval(AT_GID) == getgid() &&
              getauxval(AT_EGID) == getegid(),
          "AT_UID, AT_EUID, AT_GID and AT_EGID match the ids", "they do not");
    expect_eq(getauxval(AT_SECURE), 0, "AT_SECURE is 0");
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; random && i < 16; i++)
        nonzero |= random[i];
    check(random && nonzero, "AT_RANDOM points at 16 bytes that are not all zero", "it does not");
    const char *platform = (const char *)getauxval(AT_PLATFORM);
    check(platform && strcmp(platform, "aarch64") == 0, "AT_PLATFORM is \"aarch64\"", "it is not");
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    check(execfn && execfn[0], "AT_EXECFN names the program", "it is missing or empty");
    unsigned long hwcap = getauxval(AT_HWCAP);
    check((hwcap & (HWCAP_FP | HWCAP_ASIMD)) == (HWCAP_FP | HWCAP_ASIMD), "AT_HWCAP has FP and ASIMD",
          "AT_HWCAP is %#lx", hwcap);
}

int main(void)
{
    test_ids();
    test_uname();
    test_sysinfo();
    test_limits();
    test_getrandom();
    test_cpus();
    test_prctl();
    test_auxv();
    return finish();
}
