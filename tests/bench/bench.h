/* bench.h: timing, statistics and the result lines every benchmark shares.
 *
 * Result lines (one line each; the xtask reads only these, see README.md):
 *
 *   metric NAME unit UNIT samples N median X p99 Y min A max B
 *   skip NAME REASON...
 *   info KEY VALUE...
 *
 * NAME and KEY are [a-z0-9_]; X, Y, A and B are decimal numbers in UNIT.
 * A "skip" line says that NAME could not be measured on this system and
 * why. Programs take one argument, "quick" (few iterations) or "full"
 * (the default), and exit with 0 unless something went wrong that is not a
 * "skip". Children always leave with _exit, and stdout is flushed before
 * every fork, so no line is ever printed twice. */
#ifndef MORSEL_BENCH_H
#define MORSEL_BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Not every program uses every helper. */
#define BENCH_HELPER static __attribute__((unused))

/* Whether this run is the short one (argument "quick"). */
static int bench_quick;

BENCH_HELPER void bench_init(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_quick = argc > 1 && strcmp(argv[1], "quick") == 0;
}

/* FULL iterations normally, QUICK with "quick". */
BENCH_HELPER long iterations(long full, long quick)
{
    return bench_quick ? quick : full;
}

/* CLOCK_MONOTONIC in nanoseconds. */
BENCH_HELPER uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Stops the program with a message on stdout (so that it is seen wherever
 * the result lines go) and status 1. */
__attribute__((format(printf, 1, 2), noreturn)) BENCH_HELPER void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("error ");
    vprintf(format, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
    exit(1);
}

/* Samples of one metric, in its unit. */
struct samples {
    double *values;
    long count;
    long capacity;
};

BENCH_HELPER struct samples samples_new(long capacity)
{
    struct samples s = { calloc((size_t)capacity, sizeof(double)), 0, capacity };
    if (!s.values)
        die("out of memory for %ld samples", capacity);
    return s;
}

BENCH_HELPER void samples_add(struct samples *s, double value)
{
    if (s->count < s->capacity)
        s->values[s->count++] = value;
}

BENCH_HELPER int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints the metric line for S (sorting it) and frees it. */
BENCH_HELPER void report(const char *name, const char *unit, struct samples *s)
{
    if (s->count == 0)
        die("%s: no samples", name);
    qsort(s->values, (size_t)s->count, sizeof(double), compare_doubles);
    long n = s->count;
    double median = n % 2 ? s->values[n / 2] : (s->values[n / 2 - 1] + s->values[n / 2]) / 2;
    /* Nearest rank: the smallest value with at least 99% at or below it. */
    long rank = (99 * n + 99) / 100;
    double p99 = s->values[rank - 1];
    printf("metric %s unit %s samples %ld median %.3f p99 %.3f min %.3f max %.3f\n", name, unit, n, median, p99,
           s->values[0], s->values[n - 1]);
    fflush(stdout);
    free(s->values);
    s->values = NULL;
}

/* Says that NAME is not measured here, and why. */
__attribute__((format(printf, 2, 3))) BENCH_HELPER void skip(const char *name, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("skip %s ", name);
    vprintf(format, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
}

/* The loop every latency metric runs: WARMUP unrecorded rounds, then up to
 * MAX recorded ones, stopping early once at least MIN are recorded and
 * BUDGET_S seconds have passed (a slow system gives fewer samples, never a
 * run that does not end). */
struct loop {
    long warmup, min, max, done;
    uint64_t started, budget_ns;
};

BENCH_HELPER struct loop loop_new(long max, long quick_max, double budget_s, double quick_budget_s)
{
    struct loop l;
    l.max = iterations(max, quick_max);
    l.min = l.max < 5 ? l.max : 5;
    l.warmup = l.max / 20 < 2 ? 2 : l.max / 20;
    l.done = 0;
    l.budget_ns = (uint64_t)((bench_quick ? quick_budget_s : budget_s) * 1e9);
    l.started = 0;
    return l;
}

/* Whether to run another round; the first WARMUP rounds are not recorded
 * (loop_recording says so). */
BENCH_HELPER int loop_more(struct loop *l)
{
    if (l->done == l->warmup)
        l->started = now_ns();
    long recorded = l->done - l->warmup;
    if (recorded >= l->max)
        return 0;
    if (recorded >= l->min && now_ns() - l->started > l->budget_ns)
        return 0;
    l->done++;
    return 1;
}

BENCH_HELPER int loop_recording(const struct loop *l)
{
    return l->done > l->warmup;
}

/* Microseconds between two now_ns readings. */
BENCH_HELPER double us(uint64_t start, uint64_t end)
{
    return (double)(end - start) / 1000.0;
}

#endif
