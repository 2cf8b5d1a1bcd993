/* A stand-in for ld-linux-aarch64.so.1 in the loader's tests: a tiny ET_DYN
 * shared object with an entry point, text, data and bss. */
static long syscall1(long number, long a)
{
	register long x8 __asm__("x8") = number;
	register long x0 __asm__("x0") = a;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8) : "memory");
	return x0;
}

char interp_marker[32] = "MORSEL-INTERPRETER";
char interp_bss[4096];

void _start(void)
{
	syscall1(93 /* exit */, interp_marker[0] + interp_bss[100]);
	for (;;)
		;
}
