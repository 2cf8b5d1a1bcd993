/* signals.c: signal handling as programs use it: handlers run with the
 * signal number and siginfo, the mask is blocked during the handler and
 * restored after, blocked signals stay pending, sigsuspend, SA_RESETHAND,
 * SA_RESTART against EINTR on a blocking read, SIGCHLD at a child's end,
 * SIGPIPE ignored gives EPIPE, and a SIGSEGV handler that recovers with
 * siglongjmp. */
#define _GNU_SOURCE
#include "check.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count, last_signal, info_signo, mask_had_usr1, chld_count, alarm_count;
static sigjmp_buf recover;
static volatile uintptr_t fault_address = 16;

static void on_usr1(int sig)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    mask_had_usr1 = sigismember(&now, SIGUSR1);
    usr1_count++;
    last_signal = sig;
}

static void on_info(int sig, siginfo_t *info, void *context)
{
    (void)context;
    info_signo = info->si_signo == sig ? sig : -1;
}

static void on_chld(int sig)
{
    (void)sig;
    chld_count++;
}

static void on_segv(int sig)
{
    siglongjmp(recover, sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    alarm_count++;
}

int main(void)
{
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    expect_ok(sigaction(SIGUSR1, &sa, NULL), "install a SIGUSR1 handler");
    raise(SIGUSR1);
    check(usr1_count == 1 && last_signal == SIGUSR1, "the handler runs with the signal number", "count %d",
          (int)usr1_count);
    check(mask_had_usr1, "the signal is blocked while its handler runs", "it was not");
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(!sigismember(&now, SIGUSR1), "the mask is restored after the handler", "SIGUSR1 still blocked");

    struct sigaction info = { 0 };
    info.sa_sigaction = on_info;
    info.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &info, NULL);
    kill(getpid(), SIGUSR2);
    check(info_signo == SIGUSR2, "an SA_SIGINFO handler gets si_signo", "got %d", (int)info_signo);

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    check(sigismember(&pending, SIGUSR1) && usr1_count == 1, "a blocked signal stays pending", "it did not");
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGUSR1);
    int r = sigsuspend(&wait_mask);
    check(r == -1 && errno == EINTR && usr1_count == 2, "sigsuspend runs the pending handler and gives EINTR",
          "returned %d, count %d", r, (int)usr1_count);
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(sigismember(&now, SIGUSR1), "sigsuspend restores the mask it replaced", "SIGUSR1 is unblocked");
    sigprocmask(SIG_SETMASK, &old, NULL);

    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    struct sigaction now_action;
    sigaction(SIGUSR1, NULL, &now_action);
    check(now_action.sa_handler == SIG_DFL, "SA_RESETHAND resets the handler", "it did not");

    /* EINTR without SA_RESTART, completion with it: a child signals us while we read. */
    struct sigaction alarm_action = { 0 };
    alarm_action.sa_handler = on_alarm;
    sigaction(SIGUSR2, &alarm_action, NULL);
    int fds[2];
    expect_ok(pipe(fds), "pipe");
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        kill(parent, SIGUSR2);
        _exit(0);
    }
    char c;
    errno = 0;
    ssize_t n = read(fds[0], &c, 1);
    check(n == -1 && errno == EINTR && alarm_count == 1, "a handled signal interrupts read with EINTR",
          "read %zd, errno %s", n, errno_name(errno));
    waitpid(child, NULL, 0);
    alarm_action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &alarm_action, NULL);
    child = fork();
    if (child == 0) {
        usleep(100000);
        kill(parent, SIGUSR2);
        usleep(100000);
        ssize_t w = write(fds[1], "z", 1);
        _exit(w == 1 ? 0 : 1);
    }
    n = read(fds[0], &c, 1);
    check(n == 1 && c == 'z' && alarm_count == 2, "with SA_RESTART the read completes after the handler",
          "read %zd, count %d", n, (int)alarm_count);
    waitpid(child, NULL, 0);

    struct sigaction chld = { 0 };
    chld.sa_handler = on_chld;
    sigaction(SIGCHLD, &chld, NULL);
    child = fork();
    if (child == 0) {
        _exit(0);
    }
    waitpid(child, NULL, 0);
    check(chld_count >= 1, "SIGCHLD arrives when a child ends", "it did not");

    signal(SIGPIPE, SIG_IGN);
    int p2[2];
    pipe(p2);
    close(p2[0]);
    errno = 0;
    check(write(p2[1], "x", 1) == -1 && errno == EPIPE, "with SIGPIPE ignored a write without readers gives EPIPE",
          "errno %s", errno_name(errno));

    struct sigaction segv = { 0 };
    segv.sa_handler = on_segv;
    sigaction(SIGSEGV, &segv, NULL);
    int got = sigsetjmp(recover, 1);
    if (got == 0) {
        *(volatile int *)fault_address = 1;
    }
    check(got == SIGSEGV, "a SIGSEGV handler recovers with siglongjmp", "got %d", got);

    return finish();
}
