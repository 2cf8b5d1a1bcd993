/* A freestanding AArch64 Linux program for the loader's tests: no libc, raw
 * syscalls. It has text, read-only data, initialised data and a bss that spans
 * several pages, so that every kind of PT_LOAD content is exercised. */
static long syscall3(long number, long a, long b, long c)
{
	register long x8 __asm__("x8") = number;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

static const char greeting[] = "hello from morsel\n";
char data_marker[32] = "MORSEL-DATA-SEGMENT";
char bss_buffer[3 * 4096];

void _start(void)
{
	long status = 0;
	for (unsigned long i = 0; i < sizeof bss_buffer; i++)
		status |= bss_buffer[i];
	syscall3(64 /* write */, 1, (long)greeting, sizeof greeting - 1);
	syscall3(64 /* write */, 1, (long)data_marker, 20);
	syscall3(93 /* exit */, status, 0, 0);
	for (;;)
		;
}
