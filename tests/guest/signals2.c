/* signals2.c: more of signal delivery: the alternate signal stack, handlers
 * that change the interrupted context, the siginfo of kill, tgkill,
 * sigqueue, faults, SIGCHLD and undefined instructions, synchronous waits
 * (sigtimedwait, sigwaitinfo), alarm and interval timers, real-time signal
 * queueing, stopping and continuing a child, and what cannot be caught or
 * blocked. Children report only through exit statuses; only the parent
 * prints. */
#define _GNU_SOURCE
#include "check.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* The last siginfo an SA_SIGINFO handler saw, and how many it saw. */
static siginfo_t last_info;
static volatile sig_atomic_t info_count;

static void on_info(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    last_info = *info;
    info_count++;
}

static void handle(int sig, void (*handler)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa = { 0 };
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static void unblock(int sig)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void block(int sig)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* --- The alternate signal stack --- */

static char altstack[65536] __attribute__((aligned(16)));
static volatile uintptr_t handler_local;
static volatile int handler_onstack_flag, handler_change_errno;

static void on_altstack(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)info;
    (void)context;
    volatile char local = 0;
    handler_local = (uintptr_t)&local;
    stack_t now;
    handler_onstack_flag = sigaltstack(NULL, &now) == 0 && (now.ss_flags & SS_ONSTACK);
    stack_t other = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    errno = 0;
    handler_change_errno = sigaltstack(&other, NULL) == -1 ? errno : 0;
}

static int on_altstack_range(uintptr_t address)
{
    return address >= (uintptr_t)altstack && address < (uintptr_t)altstack + sizeof altstack;
}

static void check_altstack(void)
{
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    int installed = sigaltstack(&ss, NULL);
    handle(SIGUSR1, on_altstack, SA_ONSTACK);
    raise(SIGUSR1);
    check(installed == 0 && on_altstack_range(handler_local),
          "an SA_ONSTACK handler runs on the alternate stack sigaltstack installed", "it does not");
    check(handler_onstack_flag, "sigaltstack reports SS_ONSTACK inside the handler", "it does not");
    check(handler_change_errno == EPERM, "changing the alternate stack while on it gives EPERM", "got %s",
          errno_name(handler_change_errno));
    stack_t now;
    sigaltstack(NULL, &now);
    check(now.ss_sp == altstack && now.ss_size == sizeof altstack && now.ss_flags == 0,
          "outside the handler sigaltstack reports the stack with no flags", "flags %#x", now.ss_flags);
    handle(SIGUSR1, on_altstack, 0);
    raise(SIGUSR1);
    int normal = !on_altstack_range(handler_local);

    stack_t small = { .ss_sp = altstack, .ss_size = 1024, .ss_flags = 0 };
    expect_errno(sigaltstack(&small, NULL), ENOMEM, "an alternate stack below MINSIGSTKSZ gives ENOMEM");
    stack_t bad = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0x1234 };
    expect_errno(sigaltstack(&bad, NULL), EINVAL, "sigaltstack with unknown flags gives EINVAL");
    stack_t off = { .ss_flags = SS_DISABLE };
    sigaltstack(&off, NULL);
    handle(SIGUSR1, on_altstack, SA_ONSTACK);
    raise(SIGUSR1);
    sigaltstack(NULL, &now);
    check(normal && !on_altstack_range(handler_local) && (now.ss_flags & SS_DISABLE),
          "without SA_ONSTACK, or with the stack disabled (SS_DISABLE), a handler runs on the normal stack",
          "it does not");
}

/* --- Handlers that change the interrupted context --- */

static volatile uintptr_t ill_addr;
static volatile int ill_code;

static void on_ill_skip(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    ucontext_t *uc = context;
    ill_addr = (uintptr_t)info->si_addr;
    ill_code = info->si_code;
    if (uc->uc_mcontext.pc == (uintptr_t)info->si_addr)
        uc->uc_mcontext.regs[9] = 42;
    uc->uc_mcontext.pc += 4;
}

static void check_context(void)
{
    handle(SIGILL, on_ill_skip, 0);
    uintptr_t insn, x9;
    /* x9 is 1 before the undefined instruction; the handler sets it to 42
     * in the saved context and moves the pc past the instruction. */
    __asm__ volatile("mov x9, #1\n"
                     "adr %0, 1f\n"
                     "1: .inst 0x00000000\n"
                     "mov %1, x9\n"
                     : "=&r"(insn), "=r"(x9)
                     :
                     : "x9", "memory");
    /* Linux gives si_code ILL_ILLOPC here; qemu-user gives ILL_ILLOPN, so
     * the code is not checked. */
    check(ill_addr == insn, "an undefined instruction raises SIGILL with si_addr at the instruction",
          "si_code %d", ill_code);
    check(x9 == 42,
          "a handler that sets x9 in uc_mcontext.regs and moves pc past the instruction resumes there with x9 set",
          "x9 is %lu", (unsigned long)x9);
    signal(SIGILL, SIG_DFL);
}

/* --- siginfo --- */

static sigjmp_buf recover;
static siginfo_t fault_info;

static void on_fault(int sig, siginfo_t *info, void *context)
{
    (void)context;
    fault_info = *info;
    siglongjmp(recover, sig);
}

static volatile sig_atomic_t chld_seen;
static siginfo_t chld_info;

static void on_chld(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    chld_info = *info;
    chld_seen++;
}

static void check_siginfo(void)
{
    handle(SIGUSR2, on_info, 0);
    kill(getpid(), SIGUSR2);
    check(info_count == 1 && last_info.si_signo == SIGUSR2 && last_info.si_code == SI_USER &&
              last_info.si_pid == getpid() && last_info.si_uid == getuid(),
          "kill gives si_code SI_USER with the sender's pid and uid", "code %d", last_info.si_code);
    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
    check(info_count == 2 && last_info.si_code == SI_TKILL && last_info.si_pid == getpid(),
          "tgkill gives si_code SI_TKILL with the sender's pid", "code %d", last_info.si_code);
    union sigval value = { .sival_int = 1234 };
    sigqueue(getpid(), SIGUSR2, value);
    check(info_count == 3 && last_info.si_code == SI_QUEUE && last_info.si_value.sival_int == 1234 &&
              last_info.si_pid == getpid(),
          "sigqueue gives si_code SI_QUEUE with the value", "code %d, value %d", last_info.si_code,
          last_info.si_value.sival_int);

    /* A child may not send a siginfo that claims to come from the kernel
     * (si_code >= 0) to another process. */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        siginfo_t si = { 0 };
        si.si_signo = SIGUSR2;
        si.si_code = SI_USER;
        long r = syscall(SYS_rt_sigqueueinfo, parent, SIGUSR2, &si);
        _exit(r == -1 ? errno : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == EPERM,
          "rt_sigqueueinfo with si_code SI_USER to another process gives EPERM", "child status %#x", status);

    /* Faults: SEGV_MAPERR at an unmapped address, SEGV_ACCERR for a write
     * to a read-only page; si_addr is the faulting address. */
    handle(SIGSEGV, on_fault, SA_NODEFER);
    long page = sysconf(_SC_PAGESIZE);
    char *gone = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, page);
    volatile char *target = gone + 24;
    if (sigsetjmp(recover, 1) == 0)
        (void)*target;
    check(fault_info.si_signo == SIGSEGV && fault_info.si_code == SEGV_MAPERR && fault_info.si_addr == gone + 24,
          "a read of an unmapped page gives SEGV_MAPERR with si_addr the address", "code %d", fault_info.si_code);
    char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    target = ro + 100;
    memset(&fault_info, 0, sizeof fault_info);
    if (sigsetjmp(recover, 1) == 0)
        *target = 1;
    check(fault_info.si_signo == SIGSEGV && fault_info.si_code == SEGV_ACCERR && fault_info.si_addr == ro + 100,
          "a write to a read-only page gives SEGV_ACCERR with si_addr the address", "code %d",
          fault_info.si_code);
    munmap(ro, page);
    signal(SIGSEGV, SIG_DFL);

    /* SIGCHLD's siginfo: CLD_EXITED, the child's pid and exit code. */
    block(SIGCHLD);
    handle(SIGCHLD, on_chld, 0);
    pid = fork();
    if (pid == 0)
        _exit(5);
    sigset_t wait_mask;
    sigprocmask(SIG_BLOCK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGCHLD);
    while (!chld_seen)
        sigsuspend(&wait_mask);
    check(chld_info.si_signo == SIGCHLD && chld_info.si_code == CLD_EXITED && chld_info.si_pid == pid &&
              chld_info.si_status == 5,
          "a SIGCHLD handler gets CLD_EXITED, the child's pid and its exit code", "code %d, status %d",
          chld_info.si_code, chld_info.si_status);
    waitpid(pid, NULL, 0);
    unblock(SIGCHLD);
    signal(SIGCHLD, SIG_DFL);
}

/* --- Synchronous waits --- */

static void check_waits(void)
{
    block(SIGUSR1);
    block(SIGUSR2);
    union sigval value = { .sival_int = 77 };
    sigqueue(getpid(), SIGUSR2, value);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct timespec ts = { 1, 0 };
    int got = sigtimedwait(&set, &si, &ts);
    sigset_t pending;
    sigpending(&pending);
    check(got == SIGUSR2 && si.si_code == SI_QUEUE && si.si_value.sival_int == 77 && !sigismember(&pending, SIGUSR2),
          "sigtimedwait takes a pending blocked signal with its siginfo", "returned %d, code %d", got, si.si_code);
    ts = (struct timespec){ 0, 20000000 };
    expect_errno(sigtimedwait(&set, &si, &ts), EAGAIN, "sigtimedwait without a signal times out with EAGAIN");
    ts = (struct timespec){ 0, 0 };
    errno = 0;
    int none = sigtimedwait(&set, &si, &ts);
    int err = errno;
    /* kill, not raise: the reference's kernel reports a signal sent with
     * tgkill (as raise does) and taken by sigtimedwait as SI_USER. */
    kill(getpid(), SIGUSR2);
    memset(&si, 0, sizeof si);
    got = sigtimedwait(&set, &si, &ts);
    check(none == -1 && err == EAGAIN && got == SIGUSR2 && si.si_code == SI_USER,
          "sigtimedwait with a zero timeout polls: EAGAIN, or the pending signal", "got %s, then %d", errno_name(err),
          got);
    ts = (struct timespec){ 0, 1000000000 };
    expect_errno(sigtimedwait(&set, &si, &ts), EINVAL, "sigtimedwait with tv_nsec of a second gives EINVAL");

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    kill(getpid(), SIGUSR1);
    memset(&si, 0, sizeof si);
    got = sigwaitinfo(&set, &si);
    check(got == SIGUSR1 && si.si_signo == SIGUSR1 && si.si_code == SI_USER && si.si_pid == getpid(),
          "sigwaitinfo returns the pending signal with its siginfo", "returned %d", got);
    unblock(SIGUSR1);
    unblock(SIGUSR2);
}

/* --- alarm and interval timers --- */

static volatile sig_atomic_t alrm_count, vtalrm_count, prof_count;

static void on_alrm(int sig)
{
    (void)sig;
    alrm_count++;
}

static void on_vtalrm(int sig)
{
    (void)sig;
    vtalrm_count++;
}

static void on_prof(int sig)
{
    (void)sig;
    prof_count++;
}

/* Spins until COUNT is non-zero or about 20 s of CPU went by. */
static void spin_until(volatile sig_atomic_t *count)
{
    volatile unsigned long n = 0;
    time_t start = time(NULL);
    while (!*count && time(NULL) - start < 20)
        n++;
}

static void check_timers(void)
{
    signal(SIGALRM, on_alrm);
    block(SIGALRM);
    sigset_t wait_mask;
    sigprocmask(SIG_BLOCK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGALRM);

    unsigned first = alarm(5);
    unsigned remaining = alarm(3);
    unsigned cancelled = alarm(0);
    check(first == 0 && remaining == 5 && cancelled == 3, "alarm returns the seconds left of the previous alarm",
          "got %u, %u and %u", first, remaining, cancelled);
    alarm(1);
    while (!alrm_count)
        sigsuspend(&wait_mask);
    check(alrm_count == 1, "SIGALRM arrives when the alarm expires", "count %d", (int)alrm_count);

    struct itimerval every = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
    alrm_count = 0;
    int set = setitimer(ITIMER_REAL, &every, NULL);
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    check(set == 0 && now.it_interval.tv_sec == 0 && now.it_interval.tv_usec == 20000 && now.it_value.tv_sec == 0 &&
              now.it_value.tv_usec > 0 && now.it_value.tv_usec <= 20000,
          "getitimer gives the interval and what is left of the value", "interval %ld us",
          (long)now.it_interval.tv_usec);
    while (alrm_count < 3)
        sigsuspend(&wait_mask);
    struct itimerval zero = { 0 }, old;
    setitimer(ITIMER_REAL, &zero, &old);
    check(alrm_count == 3, "an interval timer fires again and again", "count %d", (int)alrm_count);
    getitimer(ITIMER_REAL, &now);
    check(old.it_interval.tv_usec == 20000 && now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0,
          "setitimer with a zero it_value disarms the timer and returns the old one", "old interval %ld us",
          (long)old.it_interval.tv_usec);
    unblock(SIGALRM);
    struct itimerval bad = { .it_value = { 0, 1000000 } };
    errno = 0;
    int unknown = setitimer(42, &zero, NULL) == -1 && errno == EINVAL;
    errno = 0;
    int too_long = setitimer(ITIMER_REAL, &bad, NULL) == -1 && errno == EINVAL;
    check(unknown && too_long, "setitimer with an unknown timer or tv_usec of a second gives EINVAL",
          "unknown timer %s, tv_usec %s", unknown ? "EINVAL" : "no EINVAL", too_long ? "EINVAL" : "no EINVAL");

    /* CPU-time timers fire while the program computes. */
    signal(SIGVTALRM, on_vtalrm);
    signal(SIGPROF, on_prof);
    struct itimerval once = { .it_value = { 0, 50000 } };
    setitimer(ITIMER_VIRTUAL, &once, NULL);
    spin_until(&vtalrm_count);
    check(vtalrm_count == 1, "ITIMER_VIRTUAL sends SIGVTALRM to a busy loop", "count %d", (int)vtalrm_count);
    setitimer(ITIMER_PROF, &once, NULL);
    spin_until(&prof_count);
    check(prof_count == 1, "ITIMER_PROF sends SIGPROF to a busy loop", "count %d", (int)prof_count);
}

/* --- Real-time signal queueing --- */

static int rt_values[8];
static volatile sig_atomic_t rt_count, usr1_count;

static void on_rt(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    if (rt_count < 8)
        rt_values[rt_count] = info->si_value.sival_int;
    rt_count++;
}

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

static void check_queueing(void)
{
    handle(SIGRTMIN, on_rt, 0);
    signal(SIGUSR1, on_usr1);
    block(SIGRTMIN);
    block(SIGUSR1);
    for (int i = 1; i <= 4; i++) {
        union sigval value = { .sival_int = i * 10 };
        sigqueue(getpid(), SIGRTMIN, value);
        raise(SIGUSR1);
    }
    unblock(SIGRTMIN);
    unblock(SIGUSR1);
    check(rt_count == 4 && rt_values[0] == 10 && rt_values[1] == 20 && rt_values[2] == 30 && rt_values[3] == 40,
          "four queued SIGRTMIN are all delivered, in order", "%d delivered", (int)rt_count);
    check(usr1_count == 1, "four SIGUSR1 sent while blocked are delivered once", "%d delivered", (int)usr1_count);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGRTMIN, SIG_DFL);
}

/* --- Stopping and continuing --- */

static pid_t idle_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void check_stop_continue(void)
{
    pid_t pid = idle_child();
    kill(pid, SIGSTOP);
    int status = 0;
    pid_t got = waitpid(pid, &status, WUNTRACED);
    check(got == pid && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
          "waitpid with WUNTRACED reports the child stopped by SIGSTOP", "status %#x", status);
    kill(pid, SIGCONT);
    got = waitpid(pid, &status, WCONTINUED);
    check(got == pid && WIFCONTINUED(status), "waitpid with WCONTINUED reports the child continued", "status %#x",
          status);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);

    /* The SIGCHLD siginfo of a stop and a continue, taken with sigtimedwait. */
    block(SIGCHLD);
    handle(SIGCHLD, on_info, 0);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    struct timespec ts = { 5, 0 };
    siginfo_t stopped = { 0 }, continued = { 0 }, ended = { 0 };
    pid = idle_child();
    kill(pid, SIGSTOP);
    waitpid(pid, &status, WUNTRACED);
    sigtimedwait(&chld, &stopped, &ts);
    kill(pid, SIGCONT);
    waitpid(pid, &status, WCONTINUED);
    sigtimedwait(&chld, &continued, &ts);
    check(stopped.si_code == CLD_STOPPED && stopped.si_status == SIGSTOP && stopped.si_pid == pid &&
              continued.si_code == CLD_CONTINUED && continued.si_status == SIGCONT && continued.si_pid == pid,
          "SIGCHLD reports CLD_STOPPED with SIGSTOP, then CLD_CONTINUED with SIGCONT", "codes %d and %d",
          stopped.si_code, continued.si_code);

    /* With SA_NOCLDSTOP the end of a child still sends SIGCHLD. (That stops
     * and continues then send none is not checked: qemu-user ignores
     * SA_NOCLDSTOP and sends them.) */
    handle(SIGCHLD, on_info, SA_NOCLDSTOP);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    sigtimedwait(&chld, &ended, &ts);
    check(ended.si_code == CLD_KILLED && ended.si_status == SIGKILL && ended.si_pid == pid,
          "with SA_NOCLDSTOP the end of a child still sends SIGCHLD (CLD_KILLED)", "code %d", ended.si_code);
    unblock(SIGCHLD);
    signal(SIGCHLD, SIG_DFL);
}

/* --- What cannot be caught or blocked --- */

static void check_uncatchable(void)
{
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = on_usr1;
    errno = 0;
    int kill_refused = sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL;
    errno = 0;
    int stop_refused = sigaction(SIGSTOP, &sa, NULL) == -1 && errno == EINVAL;
    check(kill_refused && stop_refused, "a handler for SIGKILL or SIGSTOP gives EINVAL", "SIGKILL %s, SIGSTOP %s",
          kill_refused ? "refused" : "accepted", stop_refused ? "refused" : "accepted");
    sa.sa_handler = SIG_IGN;
    expect_errno(sigaction(SIGKILL, &sa, NULL), EINVAL, "ignoring SIGKILL gives EINVAL");
    check(sigaction(SIGKILL, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "SIGKILL's action can be read: SIG_DFL",
          "it cannot");
    expect_errno(syscall(SYS_rt_sigaction, 65, NULL, NULL, 8), EINVAL, "sigaction of signal 65 gives EINVAL");
    sigset_t set, now;
    sigemptyset(&set);
    sigaddset(&set, SIGKILL);
    sigaddset(&set, SIGSTOP);
    sigaddset(&set, SIGUSR1);
    int r = sigprocmask(SIG_BLOCK, &set, NULL);
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(r == 0 && sigismember(&now, SIGUSR1) && !sigismember(&now, SIGKILL) && !sigismember(&now, SIGSTOP),
          "sigprocmask blocks SIGUSR1 but silently not SIGKILL or SIGSTOP", "the mask is wrong");
    unblock(SIGUSR1);
}

int main(void)
{
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    check_altstack();
    check_context();
    check_siginfo();
    check_waits();
    check_timers();
    check_queueing();
    check_stop_continue();
    check_uncatchable();
    return finish();
}
