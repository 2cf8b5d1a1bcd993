/* timing.h: clock and child-reaping helpers the thread and futex tests
 * share. Each test
 * program defines _GNU_SOURCE and includes check.h before this. */
#ifndef MORSEL_GUEST_TIMING_H
#define MORSEL_GUEST_TIMING_H

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* CLOCK's time in nanoseconds. */
__attribute__((unused)) static long long now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Milliseconds on CLOCK since START_NS. */
__attribute__((unused)) static long long ms_since(clockid_t clock, long long start_ns)
{
    return (now_ns(clock) - start_ns) / 1000000;
}

/* The absolute time MS milliseconds from now on CLOCK. */
__attribute__((unused)) static struct timespec deadline_in(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Sleeps MS milliseconds, through signal handlers. */
__attribute__((unused)) static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Waits for child PID, killing it with SIGKILL if it has not ended within
 * PATIENCE_MS; returns its wait status (-1 if waitpid fails). */
__attribute__((unused)) static int reap(pid_t pid, long long patience_ms)
{
    int status;
    if (pid <= 0)
        return -1;
    long long start = now_ns(CLOCK_MONOTONIC);
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0) {
        if (ms_since(CLOCK_MONOTONIC, start) > patience_ms) {
            kill(pid, SIGKILL);
            got = waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(1);
    }
    return got == pid ? status : -1;
}

/* Whether STATUS is a normal exit with CODE. */
__attribute__((unused)) static int exited_with(int status, int code)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

#endif
