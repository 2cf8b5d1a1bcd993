/* time.c: clock_gettime on every clock, clock_getres, gettimeofday,
 * nanosleep, clock_nanosleep and times, with their error cases. The libc
 * wrappers may answer from the vDSO, so each clock is also read through the
 * system call itself. */
#define _GNU_SOURCE
#include "check.h"

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

/* 2020-01-01T00:00:00Z: any real clock is later. */
#define YEAR_2020 1577836800L

static int64_t ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_ns(clockid_t clock)
{
    struct timespec t = {0, 0};
    syscall(SYS_clock_gettime, clock, &t);
    return ns(t);
}

static void busy_loop(int64_t duration_ns)
{
    int64_t end = now_ns(CLOCK_MONOTONIC) + duration_ns;
    while (now_ns(CLOCK_MONOTONIC) < end)
        ;
}

static void test_clocks(void)
{
    static const struct {
        clockid_t id;
        const char *name;
    } clocks[] = {
        {CLOCK_REALTIME, "CLOCK_REALTIME"},
        {CLOCK_MONOTONIC, "CLOCK_MONOTONIC"},
        {CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID"},
        {CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID"},
        {CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW"},
        {CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE"},
        {CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE"},
        {CLOCK_BOOTTIME, "CLOCK_BOOTTIME"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec t = {-1, -1}, libc = {-1, -1}, res = {-1, -1};
        snprintf(what, sizeof what, "clock_gettime %s", clocks[i].name);
        expect_ok(syscall(SYS_clock_gettime, clocks[i].id, &t), what);
        snprintf(what, sizeof what, "%s gives a valid time", clocks[i].name);
        check(t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000, what, "%ld s %ld ns", (long)t.tv_sec,
              t.tv_nsec);
        snprintf(what, sizeof what, "the libc clock_gettime %s does not go backwards", clocks[i].name);
        check(clock_gettime(clocks[i].id, &libc) == 0 && ns(libc) >= ns(t), what, "it does");
        snprintf(what, sizeof what, "clock_getres %s", clocks[i].name);
        expect_ok(syscall(SYS_clock_getres, clocks[i].id, &res), what);
        snprintf(what, sizeof what, "%s has a resolution between 1 ns and 10 ms", clocks[i].name);
        check(ns(res) >= 1 && ns(res) <= 10000000, what, "%ld ns", (long)ns(res));
    }

    int monotonic_ok = 1;
    int64_t last = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < 1000; i++) {
        int64_t t = now_ns(CLOCK_MONOTONIC);
        monotonic_ok &= t >= last;
        last = t;
    }
    check(monotonic_ok, "1000 CLOCK_MONOTONIC readings never go backwards", "one did");
    int64_t mono = now_ns(CLOCK_MONOTONIC);
    check(now_ns(CLOCK_BOOTTIME) >= mono, "CLOCK_BOOTTIME is not behind CLOCK_MONOTONIC", "it is");
    int64_t real = now_ns(CLOCK_REALTIME);
    check(real / 1000000000 > YEAR_2020, "CLOCK_REALTIME is after 2020", "it says %ld s", (long)(real / 1000000000));
    int64_t coarse = now_ns(CLOCK_REALTIME_COARSE);
    check(coarse > real - 1000000000 && coarse < real + 1000000000, "CLOCK_REALTIME_COARSE is within 1 s of CLOCK_REALTIME",
          "it is %ld ms away", (long)((coarse - real) / 1000000));

    int64_t cpu_before = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t thread_before = now_ns(CLOCK_THREAD_CPUTIME_ID);
    busy_loop(50000000);
    check(now_ns(CLOCK_PROCESS_CPUTIME_ID) > cpu_before, "process CPU time grows during a busy loop", "it did not");
    check(now_ns(CLOCK_THREAD_CPUTIME_ID) > thread_before, "thread CPU time grows during a busy loop", "it did not");

    struct timespec t;
    expect_errno(syscall(SYS_clock_gettime, 12345, &t), EINVAL, "clock_gettime of an unknown clock gives EINVAL");
    expect_errno(syscall(SYS_clock_getres, 12345, &t), EINVAL, "clock_getres of an unknown clock gives EINVAL");
    expect_ok(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL), "clock_getres with a NULL result");
}

static void test_gettimeofday(void)
{
    struct timeval tv = {-1, -1};
    expect_ok(syscall(SYS_gettimeofday, &tv, NULL), "gettimeofday");
    int64_t real = now_ns(CLOCK_REALTIME);
    check(tv.tv_sec > YEAR_2020 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday gives a plausible time",
          "%ld s %ld us", (long)tv.tv_sec, (long)tv.tv_usec);
    int64_t tv_ns = (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
    check(tv_ns <= real && real - tv_ns < 1000000000, "gettimeofday agrees with CLOCK_REALTIME", "%ld ms apart",
          (long)((real - tv_ns) / 1000000));
    struct timeval libc;
    check(gettimeofday(&libc, NULL) == 0 && libc.tv_sec >= tv.tv_sec, "the libc gettimeofday agrees",
          "it does not");
    expect_ok(syscall(SYS_gettimeofday, NULL, NULL), "gettimeofday with NULL arguments");
}

static void test_sleep(void)
{
    struct timespec req = {0, 20000000}, rem = {-1, -1};
    int64_t before = now_ns(CLOCK_MONOTONIC);
    expect_ok(syscall(SYS_nanosleep, &req, &rem), "nanosleep 20 ms");
    int64_t slept = now_ns(CLOCK_MONOTONIC) - before;
    check(slept >= 20000000, "nanosleep sleeps at least 20 ms", "slept %ld us", (long)(slept / 1000));
    check(slept < 2000000000, "nanosleep 20 ms returns within 2 s", "slept %ld ms", (long)(slept / 1000000));
    req.tv_nsec = 1000000000;
    expect_errno(syscall(SYS_nanosleep, &req, NULL), EINVAL, "nanosleep with tv_nsec of 10^9 gives EINVAL");
    req.tv_sec = -1;
    req.tv_nsec = 0;
    expect_errno(syscall(SYS_nanosleep, &req, NULL), EINVAL, "nanosleep with a negative time gives EINVAL");
    req.tv_sec = 0;
    expect_ok(syscall(SYS_nanosleep, &req, NULL), "nanosleep of 0 succeeds");

    req.tv_nsec = 10000000;
    before = now_ns(CLOCK_MONOTONIC);
    expect_ok(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, NULL), "clock_nanosleep 10 ms on CLOCK_MONOTONIC");
    check(now_ns(CLOCK_MONOTONIC) - before >= 10000000, "clock_nanosleep sleeps at least 10 ms", "it did not");
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10000000;
    struct timespec abs = {deadline / 1000000000, deadline % 1000000000};
    expect_ok(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL),
              "clock_nanosleep TIMER_ABSTIME");
    check(now_ns(CLOCK_MONOTONIC) >= deadline, "TIMER_ABSTIME sleeps until the deadline", "it woke early");
    int64_t real_deadline = now_ns(CLOCK_REALTIME) + 10000000;
    struct timespec real_abs = {real_deadline / 1000000000, real_deadline % 1000000000};
    expect_ok(syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &real_abs, NULL),
              "clock_nanosleep TIMER_ABSTIME on CLOCK_REALTIME");
    check(now_ns(CLOCK_REALTIME) >= real_deadline, "it sleeps until the CLOCK_REALTIME deadline", "it woke early");
    abs.tv_sec = 0;
    expect_ok(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL),
              "clock_nanosleep to a past deadline succeeds");
    expect_errno(syscall(SYS_clock_nanosleep, 12345, 0, &req, NULL), EINVAL,
                 "clock_nanosleep on an unknown clock gives EINVAL");
    req.tv_nsec = -1;
    expect_errno(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, NULL), EINVAL,
                 "clock_nanosleep with a negative tv_nsec gives EINVAL");
}

static void test_times(void)
{
    expect_eq(sysconf(_SC_CLK_TCK), 100, "the clock tick (AT_CLKTCK) is 100 Hz");
    struct tms before, after;
    long start = syscall(SYS_times, &before);
    check(start != -1, "times", "failed with %s", errno_name(errno));
    busy_loop(50000000);
    struct timespec req = {0, 50000000};
    nanosleep(&req, NULL);
    long end = syscall(SYS_times, &after);
    check(end - start >= 9, "times' return value advances with the elapsed time (100 ms = 10 ticks)",
          "it advanced %ld ticks", end - start);
    check(after.tms_utime + after.tms_stime >= before.tms_utime + before.tms_stime && after.tms_utime >= 0 &&
              after.tms_stime >= 0 && after.tms_cutime == 0 && after.tms_cstime == 0,
          "times gives non-decreasing CPU times and none for children", "it does not");
    check(after.tms_utime + after.tms_stime > before.tms_utime + before.tms_stime,
          "a 50 ms busy loop adds CPU time to times", "it added none");
    expect_ok(syscall(SYS_times, NULL), "times with a NULL buffer");
}

int main(void)
{
    test_clocks();
    test_gettimeofday();
    test_sleep();
    test_times();
    return finish();
}
