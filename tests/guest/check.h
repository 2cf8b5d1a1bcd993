/* check.h: the output format every guest test shares.
 *
 * One line per check, "ok - WHAT" or "not ok - WHAT: DETAILS", and a last
 * line "N passed, N failed"; the exit status is 0 iff nothing failed. The
 * lines name what was checked and never print pids, times or addresses, so
 * that the output on Morsel can be compared byte for byte with the output on
 * Linux. Each test program defines _GNU_SOURCE before including this. */
#ifndef MORSEL_GUEST_CHECK_H
#define MORSEL_GUEST_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int checks_passed;
static int checks_failed;

/* Line-buffered stdout: every finished line is out even if the program is
 * killed later. */
__attribute__((constructor)) static void check_line_buffered_stdout(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* The symbolic name of an errno value ("ENOENT"). */
static const char *errno_name(int err)
{
    const char *name = strerrorname_np(err);
    return name ? name : "an unknown errno";
}

/* Records one check. DETAILS_FORMAT says what went wrong; it is printed only
 * when OK is false. */
__attribute__((format(printf, 3, 4))) static void check(int ok, const char *what, const char *details_format, ...)
{
    if (ok) {
        checks_passed++;
        printf("ok - %s\n", what);
        return;
    }
    checks_failed++;
    char details[256];
    va_list args;
    va_start(args, details_format);
    vsnprintf(details, sizeof details, details_format, args);
    va_end(args);
    printf("not ok - %s: %s\n", what, details);
}

/* A call that must succeed (not return -1). Returns RET. */
__attribute__((unused)) static long expect_ok(long ret, const char *what)
{
    int err = errno;
    check(ret != -1, what, "failed with %s", errno_name(err));
    return ret;
}

/* A call that must fail with errno ERR. */
__attribute__((unused)) static void expect_errno(long ret, int err, const char *what)
{
    int got = errno;
    if (ret != -1)
        check(0, what, "returned %ld, expected %s", ret, errno_name(err));
    else
        check(got == err, what, "failed with %s, expected %s", errno_name(got), errno_name(err));
}

/* A value that must equal WANT. */
__attribute__((unused)) static void expect_eq(long got, long want, const char *what)
{
    check(got == want, what, "got %ld, expected %ld", got, want);
}

/* Prints the summary line; returns the exit status. */
static int finish(void)
{
    printf("%d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif
