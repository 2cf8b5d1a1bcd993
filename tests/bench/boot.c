/* boot.c: boot to the first instruction of init (boot_to_init), where the
 * program is the first process (Morsel's first μprocess): CLOCK_BOOTTIME at
 * the start of main. On Morsel that clock is the generic timer's counter,
 * which QEMU starts with the machine, so it counts from power-on as the
 * counter that Linux's init (init.c) reads does. One sample per boot. */
#include "bench.h"

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    bench_init(argc, argv);
    double ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    printf("metric boot_to_init unit ms samples 1 median %.3f p99 %.3f min %.3f max %.3f\n", ms, ms, ms, ms);
    printf("info page_size %ld\n", sysconf(_SC_PAGESIZE));
    return 0;
}
