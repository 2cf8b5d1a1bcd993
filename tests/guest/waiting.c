/* waiting.c: waiting for children and for descriptors: waitid (P_PID,
 * P_PGID, P_ALL; WEXITED, WNOHANG, WNOWAIT; the siginfo it fills), wait4
 * on a process group and on the caller's group, ECHILD and EINVAL; eventfd
 * counters (plain, EFD_SEMAPHORE, EFD_NONBLOCK, short buffers, overflow);
 * select and pselect6 on pipes with timeouts and a signal mask; poll on a
 * pipe whose other end closes, and ppoll interrupted by a signal. Children
 * report only through exit statuses; only the parent prints. */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

/* A child that waits for EOF on the pipe GO, then exits with CODE. */
static pid_t child_waiting_on(const int go[2], int code)
{
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        ssize_t n = read(go[0], &c, 1);
        (void)n;
        _exit(code);
    }
    return pid;
}

static void check_waitid_errors(void)
{
    siginfo_t si;
    errno = 0;
    expect_errno(waitid(P_ALL, 0, &si, WEXITED), ECHILD, "waitid without children gives ECHILD");
    expect_errno(waitid(P_PID, 1, &si, WEXITED), ECHILD, "waitid for a process that is not a child gives ECHILD");
    expect_errno(waitid(P_ALL, 0, &si, 0), EINVAL, "waitid without a state to wait for gives EINVAL");
    expect_errno(syscall(SYS_waitid, 42, 0, &si, WEXITED, NULL), EINVAL, "waitid with an unknown idtype gives EINVAL");
}

static void check_waitid(void)
{
    int go[2];
    pipe(go);
    pid_t pid = child_waiting_on(go, 7);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, pid, &si, WEXITED | WNOHANG);
    check(r == 0 && si.si_pid == 0, "waitid with WNOHANG returns 0 and si_pid 0 while the child runs",
          "returned %d", r);
    close(go[1]);
    close(go[0]);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    check(r == 0 && si.si_pid == pid && si.si_code == CLD_EXITED && si.si_status == 7,
          "waitid with WNOWAIT reports the exited child", "returned %d, code %d, status %d", r, si.si_code,
          si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED);
    check(r == 0 && si.si_pid == pid, "after WNOWAIT the child can still be waited for", "returned %d", r);
    check(si.si_signo == SIGCHLD && si.si_code == CLD_EXITED && si.si_status == 7 && si.si_uid == getuid(),
          "waitid fills si_signo SIGCHLD, si_code CLD_EXITED, the exit code in si_status and si_uid",
          "signo %d, code %d, status %d", si.si_signo, si.si_code, si.si_status);

    /* A killed child: CLD_KILLED with the signal. */
    pipe(go);
    pid = child_waiting_on(go, 0);
    kill(pid, SIGKILL);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED);
    check(r == 0 && si.si_pid == pid && si.si_code == CLD_KILLED && si.si_status == SIGKILL,
          "a child killed by SIGKILL reports CLD_KILLED and SIGKILL", "code %d, status %d", si.si_code,
          si.si_status);
    close(go[0]);
    close(go[1]);

    /* A child that aborts: CLD_DUMPED if a core was written (the system's
     * choice), CLD_KILLED otherwise; the wait status agrees. */
    pid = fork();
    if (pid == 0)
        abort();
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    int status = 0;
    waitpid(pid, &status, 0);
    check(r == 0 && si.si_status == SIGABRT && (si.si_code == CLD_DUMPED || si.si_code == CLD_KILLED),
          "a child that aborts reports SIGABRT, with CLD_DUMPED or CLD_KILLED", "code %d, status %d", si.si_code,
          si.si_status);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && (si.si_code == CLD_DUMPED) == !!WCOREDUMP(status),
          "CLD_DUMPED agrees with the core flag of the wait status", "status %#x, code %d", status, si.si_code);

    /* P_ALL takes any child. */
    pid = fork();
    if (pid == 0)
        _exit(3);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    check(r == 0 && si.si_pid == pid && si.si_status == 3, "waitid with P_ALL reaps the child", "returned %d", r);
}

/* Children in a new process group G and one in ours: waitid(P_PGID) and
 * wait4(-G) take only G's, wait4(0) only ours. */
static void check_groups(void)
{
    int go[2];
    pipe(go);
    pid_t leader = child_waiting_on(go, 11);
    setpgid(leader, leader);
    pid_t member = child_waiting_on(go, 12);
    int joined = setpgid(member, leader);
    pid_t ours = child_waiting_on(go, 13);
    check(joined == 0 && getpgid(leader) == leader && getpgid(member) == leader && getpgid(ours) == getpgrp(),
          "two children in a new process group, one in ours", "setpgid gave %d", joined);
    close(go[0]);
    close(go[1]);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PGID, leader, &si, WEXITED);
    pid_t first = si.si_pid;
    check(r == 0 && (first == leader || first == member), "waitid with P_PGID reaps a child of that group",
          "returned %d", r);
    int status = 0;
    pid_t second = wait4(-leader, &status, 0, NULL);
    check(second == (first == leader ? member : leader) && WEXITSTATUS(status) == (second == leader ? 11 : 12),
          "wait4 of -pgid reaps the group's other child", "got a different one, status %#x", status);
    errno = 0;
    expect_errno(wait4(-leader, &status, WNOHANG, NULL), ECHILD, "wait4 of -pgid with no children left gives ECHILD");
    pid_t got = wait4(0, &status, 0, NULL);
    check(got == ours && WEXITSTATUS(status) == 13, "wait4 of 0 reaps the child in the caller's group",
          "status %#x", status);
    expect_errno(wait4(0, &status, 0, NULL), ECHILD, "wait4 of 0 with no children left gives ECHILD");
}

static void check_eventfd(void)
{
    uint64_t v = 0;
    int fd = eventfd(3, 0);
    check(fd >= 0 && read(fd, &v, 8) == 8 && v == 3, "reading an eventfd gives its initial count", "got %llu",
          (unsigned long long)v);
    uint64_t five = 5, two = 2;
    int w = write(fd, &five, 8) == 8 && write(fd, &two, 8) == 8;
    v = 0;
    check(w && read(fd, &v, 8) == 8 && v == 7, "writes add to the count and a read takes all of it", "got %llu",
          (unsigned long long)v);
    char small[4] = { 0 };
    errno = 0;
    ssize_t rn = read(fd, small, 4);
    int read_err = errno;
    errno = 0;
    ssize_t wn = write(fd, small, 4);
    check(rn == -1 && read_err == EINVAL && wn == -1 && errno == EINVAL,
          "reading or writing an eventfd with 4 bytes gives EINVAL", "read %zd (%s), write %zd (%s)", rn,
          errno_name(read_err), wn, errno_name(errno));
    uint64_t all = UINT64_MAX;
    expect_errno(write(fd, &all, 8), EINVAL, "writing 0xffffffffffffffff to an eventfd gives EINVAL");
    close(fd);

    fd = eventfd(0, EFD_NONBLOCK);
    expect_errno(read(fd, &v, 8), EAGAIN, "reading a zero EFD_NONBLOCK eventfd gives EAGAIN");
    uint64_t most = UINT64_MAX - 1, one = 1;
    errno = 0;
    w = write(fd, &most, 8) == 8 && write(fd, &one, 8) == -1 && errno == EAGAIN;
    check(w, "an eventfd holds up to 0xfffffffffffffffe; past that an EFD_NONBLOCK write gives EAGAIN",
          "errno %s", errno_name(errno));
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    check(poll(&p, 1, 0) == 1 && p.revents == POLLIN, "a full eventfd polls readable, not writable",
          "revents %#x", p.revents);
    close(fd);

    fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    uint64_t a = 0, b = 0;
    int reads = read(fd, &a, 8) == 8 && read(fd, &b, 8) == 8;
    check(reads && a == 1 && b == 1, "an EFD_SEMAPHORE eventfd gives 1 per read", "got %llu and %llu",
          (unsigned long long)a, (unsigned long long)b);
    expect_errno(read(fd, &v, 8), EAGAIN, "an EFD_SEMAPHORE eventfd at zero gives EAGAIN");
    close(fd);
    expect_errno(syscall(SYS_eventfd2, 0, 0x4), EINVAL, "eventfd2 with an unknown flag gives EINVAL");
}

static void check_select(void)
{
    int fds[2];
    pipe(fds);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(fds[0], &readable);
    struct timeval tv = { 0, 20000 };
    int r = select(fds[0] + 1, &readable, NULL, NULL, &tv);
    check(r == 0 && !FD_ISSET(fds[0], &readable) && tv.tv_sec == 0 && tv.tv_usec == 0,
          "select on an empty pipe times out with the set cleared and the timeout at zero", "returned %d", r);
    write(fds[1], "x", 1);
    FD_ZERO(&readable);
    FD_SET(fds[0], &readable);
    fd_set writable;
    FD_ZERO(&writable);
    FD_SET(fds[0], &writable);
    FD_SET(fds[1], &writable);
    tv = (struct timeval){ 1, 0 };
    r = select(fds[1] + 1, &readable, &writable, NULL, &tv);
    check(r == 2 && FD_ISSET(fds[0], &readable) && FD_ISSET(fds[1], &writable) && !FD_ISSET(fds[0], &writable),
          "select reports the read end readable and the write end writable", "returned %d", r);
    expect_errno(select(-1, NULL, NULL, NULL, &tv), EINVAL, "select with a negative count gives EINVAL");
    int closed = dup(fds[0]);
    close(closed);
    FD_ZERO(&readable);
    FD_SET(closed, &readable);
    expect_errno(select(closed + 1, &readable, NULL, NULL, &tv), EBADF, "select on a closed descriptor gives EBADF");

    /* pselect with a signal mask: a pending blocked signal interrupts a
     * pselect whose mask unblocks it, and the old mask is back after. */
    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1, old, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    raise(SIGUSR1);
    char c;
    read(fds[0], &c, 1);
    FD_ZERO(&readable);
    FD_SET(fds[0], &readable);
    struct timespec ts = { 0, 20000000 };
    r = pselect(fds[0] + 1, &readable, NULL, NULL, &ts, &usr1);
    check(r == 0 && usr1_count == 0, "pselect with the signal in its mask times out and leaves it pending",
          "returned %d, handler ran %d times", r, (int)usr1_count);
    ts = (struct timespec){ 5, 0 };
    FD_ZERO(&readable);
    FD_SET(fds[0], &readable);
    errno = 0;
    r = pselect(fds[0] + 1, &readable, NULL, NULL, &ts, &none);
    int err = errno;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(r == -1 && err == EINTR && usr1_count == 1 && sigismember(&now, SIGUSR1),
          "pselect whose mask unblocks a pending signal runs the handler, gives EINTR and restores the mask",
          "returned %d (%s), handler ran %d times", r, errno_name(err), (int)usr1_count);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[0]);
    close(fds[1]);
}

static void check_poll(void)
{
    /* The writer (a child) exits: the reader sees the byte and POLLHUP. */
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        usleep(50000);
        write(fds[1], "x", 1);
        _exit(0);
    }
    close(fds[1]);
    waitpid(pid, NULL, 0);
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    int r = poll(&p, 1, 5000);
    short with_data = p.revents;
    char c;
    read(fds[0], &c, 1);
    p.revents = 0;
    int r2 = poll(&p, 1, 5000);
    check(r == 1 && with_data == (POLLIN | POLLHUP) && r2 == 1 && p.revents == POLLHUP,
          "a pipe whose writer closed polls POLLIN|POLLHUP with data, POLLHUP alone once empty",
          "revents %#x, then %#x", with_data, p.revents);
    close(fds[0]);

    /* A child closes the write end while the parent waits in poll. */
    pipe(fds);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        usleep(50000);
        _exit(0);
    }
    close(fds[1]);
    p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
    r = poll(&p, 1, 5000);
    check(r == 1 && (p.revents & POLLHUP), "poll wakes up when the last writer goes away", "returned %d, revents %#x",
          r, p.revents);
    waitpid(pid, NULL, 0);
    close(fds[0]);

    pipe(fds);
    close(fds[0]);
    p = (struct pollfd){ .fd = fds[1], .events = POLLOUT };
    r = poll(&p, 1, 0);
    check(r == 1 && (p.revents & POLLERR), "a pipe write end without readers polls POLLERR", "revents %#x",
          p.revents);
    int closed = fds[1];
    close(fds[1]);
    p = (struct pollfd){ .fd = closed, .events = POLLIN };
    r = poll(&p, 1, 0);
    check(r == 1 && p.revents == POLLNVAL, "polling a closed descriptor gives POLLNVAL", "revents %#x", p.revents);

    /* ppoll: a signal from a child arrives while ppoll waits with it unblocked. */
    pipe(fds);
    sigset_t usr1, old, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    int before = usr1_count;
    pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
        usleep(50000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
    struct timespec ts = { 10, 0 };
    errno = 0;
    r = ppoll(&p, 1, &ts, &none);
    check(r == -1 && errno == EINTR && usr1_count == before + 1, "a signal arriving during ppoll gives EINTR",
          "returned %d (%s)", r, errno_name(errno));
    waitpid(pid, NULL, 0);
    ts = (struct timespec){ 0, 2000000000 };
    expect_errno(ppoll(&p, 1, &ts, NULL), EINVAL, "ppoll with tv_nsec over a second gives EINVAL");
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    /* The aborting child must not leave a core file. */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    check_waitid_errors();
    check_waitid();
    check_groups();
    check_eventfd();
    check_select();
    check_poll();
    return finish();
}
