//! The code of the vDSO every μprocess maps: `__kernel_clock_gettime`,
//! `__kernel_gettimeofday`, `__kernel_clock_getres` and
//! `__kernel_rt_sigreturn`, position-independent AArch64 that runs at EL0.
//! The kernel copies [`code`] to the start of a page of the vDSO image it
//! builds (the ELF header and dynamic symbols are the kernel's); the time
//! functions read the virtual counter (EL0 access enabled by
//! [`crate::timer::allow_el0_counter`]) and the data page two pages before
//! their own (`[vvar]`):
//!
//! - offset 0: `mult`, with nanoseconds since boot = (counter × mult) >> 32,
//!   exactly as [`crate::timer::uptime_ns`] computes them;
//! - offset 8: CLOCK_REALTIME at boot, in nanoseconds.
//!
//! Clocks they do not serve go to the system call.

use core::arch::global_asm;

/// Where the data page lies before the code page.
pub const DATA_BEFORE_CODE: u64 = 0x2000;

global_asm!(
    ".section .rodata.morsel_vdso, \"a\"",
    ".balign 16",
    ".global morsel_vdso_start",
    ".global morsel_vdso_end",
    ".global morsel_vdso_clock_gettime",
    ".global morsel_vdso_gettimeofday",
    ".global morsel_vdso_clock_getres",
    ".global morsel_vdso_rt_sigreturn",
    "morsel_vdso_start:",
    // x0 = clock, x1 = timespec. Served: REALTIME 0, MONOTONIC 1,
    // MONOTONIC_RAW 4, REALTIME_COARSE 5, MONOTONIC_COARSE 6, BOOTTIME 7.
    "morsel_vdso_clock_gettime:",
    "    cmp w0, #7",
    "    b.hi 9f",
    "    mov w2, #0xf3",
    "    lsr w2, w2, w0",
    "    tbz w2, #0, 9f",
    "    mov x10, x30",
    "    bl 20f",
    "    mov x30, x10",
    // REALTIME and REALTIME_COARSE add the time at boot.
    "    cmp w0, #0",
    "    b.eq 1f",
    "    cmp w0, #5",
    "    b.ne 2f",
    "1:  ldr x5, [x3, #8]",
    "    add x4, x4, x5",
    // The coarse clocks step by the 10 ms tick.
    "2:  cmp w0, #5",
    "    b.lo 3f",
    "    cmp w0, #6",
    "    b.hi 3f",
    "    movz x5, #0x9680",
    "    movk x5, #0x98, lsl #16",
    "    udiv x6, x4, x5",
    "    mul x4, x6, x5",
    "3:  movz x5, #0xca00",
    "    movk x5, #0x3b9a, lsl #16",
    "    udiv x6, x4, x5",
    "    msub x7, x6, x5, x4",
    "    stp x6, x7, [x1]",
    "    mov w0, #0",
    "    ret",
    "9:  mov x8, #113",
    "    svc #0",
    "    ret",
    // x0 = timeval, x1 = timezone (zeroed: UTC, no DST).
    "morsel_vdso_gettimeofday:",
    "    cbz x0, 1f",
    "    mov x10, x30",
    "    bl 20f",
    "    mov x30, x10",
    "    ldr x5, [x3, #8]",
    "    add x4, x4, x5",
    "    movz x5, #0xca00",
    "    movk x5, #0x3b9a, lsl #16",
    "    udiv x6, x4, x5",
    "    msub x7, x6, x5, x4",
    "    mov x5, #1000",
    "    udiv x7, x7, x5",
    "    stp x6, x7, [x0]",
    "1:  cbz x1, 2f",
    "    str xzr, [x1]",
    "2:  mov w0, #0",
    "    ret",
    // Nanoseconds since boot in x4, the data page's address in x3
    // (clobbers x5-x7).
    "20: adr x3, morsel_vdso_start",
    "    sub x3, x3, #{data_before_code}",
    "    isb",
    "    mrs x4, cntvct_el0",
    "    ldr x5, [x3]",
    "    mul x6, x4, x5",
    "    umulh x7, x4, x5",
    "    extr x4, x7, x6, #32",
    "    ret",
    "morsel_vdso_clock_getres:",
    "    mov x8, #114",
    "    svc #0",
    "    ret",
    // Handlers without SA_RESTORER return here. The nop before it is where
    // Linux's unwinders expect one.
    "    nop",
    "morsel_vdso_rt_sigreturn:",
    "    mov x8, #139",
    "    svc #0",
    "morsel_vdso_end:",
    ".text",
    data_before_code = const DATA_BEFORE_CODE,
);

unsafe extern "C" {
    static morsel_vdso_start: u8;
    static morsel_vdso_end: u8;
    static morsel_vdso_clock_gettime: u8;
    static morsel_vdso_gettimeofday: u8;
    static morsel_vdso_clock_getres: u8;
    static morsel_vdso_rt_sigreturn: u8;
}

/// The vDSO's functions: each name with its offset from the code's start.
pub fn functions() -> [(&'static str, u64); 4] {
    let start = &raw const morsel_vdso_start;
    let offset = |label: *const u8| label.addr().wrapping_sub(start.addr()) as u64;
    [
        ("__kernel_clock_gettime", offset(&raw const morsel_vdso_clock_gettime)),
        ("__kernel_gettimeofday", offset(&raw const morsel_vdso_gettimeofday)),
        ("__kernel_clock_getres", offset(&raw const morsel_vdso_clock_getres)),
        ("__kernel_rt_sigreturn", offset(&raw const morsel_vdso_rt_sigreturn)),
    ]
}

/// The code's bytes.
pub fn code() -> &'static [u8] {
    let start = &raw const morsel_vdso_start;
    let end = &raw const morsel_vdso_end;
    // SAFETY: the two labels bound the code emitted above, in a read-only
    // section of the kernel image that lives as long as the kernel.
    unsafe { core::slice::from_raw_parts(start, end.addr() - start.addr()) }
}
