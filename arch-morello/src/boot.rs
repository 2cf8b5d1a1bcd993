//! The first instructions on every core: from the loader's (or PSCI's)
//! hand-off to Rust with the MMU on.
//!
//! The image starts with an arm64 Image header. QEMU loads the flat image
//! (or the ELF at its physical load addresses) and jumps to `_start` with the
//! MMU off, at EL2 or EL1, with the device tree's address in x0. This code drops to EL1, turns on FP/SIMD (and the capability
//! instructions where the CPU has them), maps RAM twice with 1 GiB blocks (an
//! identity map in TTBR0, the linear map in TTBR1, sharing one table because
//! their low 48 bits agree), turns the MMU on, jumps to the image's upper-half
//! link address, clears .bss and calls the kernel's `morsel_start(dtb_hint, entry_el)`.
//! The kernel then replaces these tables with exact ones ([`crate::mmu`]).
//!
//! The other cores are started by [`start_secondary`] (PSCI CPU_ON) at
//! `__secondary_entry`, also with the MMU off at EL2 or EL1. They take the
//! same steps with the same boot tables (which stay in .data, unchanged),
//! then, at the upper-half address, take the stack and core number the
//! kernel gave them and call the kernel's `morsel_secondary_start()`.
//!
//! Each core's number ([`crate::cpu::core_id`]) is written to CONTEXTIDR_EL1
//! here, before any Rust code runs on that core.
//!
//! Until the jump only PC-relative instructions and literal-pool loads are
//! used: the code runs at its physical address, not its link address.

use crate::PhysAddr;
use crate::psci::Conduit;
use core::arch::global_asm;

/// How many 1 GiB blocks the boot map covers from physical 0 (devices in the
/// first, RAM from the second on `virt`).
pub const BOOT_MAP_GIB: u64 = 64;

global_asm!(
    r#"
    // Runs the rest at EL1 (AArch64, timers reachable, no FP trap) if
    // entered at EL2. Clobbers x0.
    .macro  morsel_enter_el1
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.ne    1f
    mov     x0, #(1 << 31)          // HCR_EL2.RW
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #3              // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #0x33ff             // CPTR_EL2: RES1 bits, no FP/SIMD trap
    msr     cptr_el2, x0
    mov     x0, #0x3c5              // SPSR: EL1h, DAIF masked
    msr     spsr_el2, x0
    adr     x0, 1f
    msr     elr_el2, x0
    eret
1:
    .endm

    // FP/SIMD on (CPACR_EL1.FPEN); capability instructions too
    // (CPACR_EL1.CEN) when ID_AA64PFR1_EL1.CE says the CPU has them.
    // Clobbers x0, x1.
    .macro  morsel_enable_fp
    mrs     x0, id_aa64pfr1_el1
    ubfx    x0, x0, #20, #4
    mov     x1, #(3 << 20)
    cbz     x0, 1f
    orr     x1, x1, #(3 << 18)
1:  msr     cpacr_el1, x1
    isb
    .endm

    // Attributes, translation control and the boot tables in both TTBRs,
    // then the MMU on. Clobbers x0..x2.
    .macro  morsel_enable_mmu
    ldr     x0, ={mair}
    msr     mair_el1, x0
    ldr     x0, ={tcr}
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #0xf            // PARange, capped at 48 bits
    mov     x2, #5
    cmp     x1, x2
    csel    x1, x1, x2, ls
    bfi     x0, x1, #32, #3         // TCR_EL1.IPS
    msr     tcr_el1, x0
    adrp    x0, __boot_l0
    msr     ttbr0_el1, x0
    msr     ttbr1_el1, x0
    dsb     ish
    tlbi    vmalle1
    dsb     ish
    isb
    ldr     x0, ={sctlr}
    msr     sctlr_el1, x0
    isb
    .endm

    .section .text.boot, "ax"
    .global _start
_start:
    // The arm64 Image header, so that loaders boot the flat image as Linux
    // (QEMU then passes the device tree in x0 and loads the initrd).
    b       __boot_entry            // code0
    .long   0                       // code1
    .quad   {text_offset}           // text_offset from a 2 MiB-aligned RAM base
    .quad   __kernel_image_size     // image_size, .bss included
    .quad   2                       // flags: little-endian, 4 KiB pages, fixed placement
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5: no PE header

__boot_entry:
    mov     x19, x0                 // the DTB address, if the loader passed one
    mrs     x0, CurrentEL
    lsr     x20, x0, #2             // the exception level the loader started us at
    morsel_enter_el1
    morsel_enable_fp

    // The boot tables: L0[0] -> L1; L1[0] = devices, L1[1..] = RAM.
    adrp    x0, __boot_l0
    adrp    x1, __boot_l1
    orr     x2, x1, #3
    str     x2, [x0]
    ldr     x2, =0x0060000000000401  // block, AttrIndx 0 (device), AF, PXN, UXN
    str     x2, [x1]
    mov     x3, #1
    ldr     x4, =0x0000000000000705  // block, AttrIndx 1 (normal WB), inner shareable, AF
3:  lsl     x2, x3, #30
    orr     x2, x2, x4
    str     x2, [x1, x3, lsl #3]
    add     x3, x3, #1
    cmp     x3, #{gib}
    b.lo    3b

    morsel_enable_mmu
    msr     contextidr_el1, xzr     // this is core 0
    ldr     x0, =__boot_high
    br      x0

__boot_high:
    ldr     x0, =__boot_stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
4:  cmp     x0, x1
    b.hs    5f
    str     xzr, [x0], #8
    b       4b
5:  mov     x0, x19
    mov     x1, x20
    bl      morsel_start
6:  wfe
    b       6b

    // A secondary core, from PSCI CPU_ON: x0 is the linear-map address of
    // its start record (see `start_secondary`), which is also its initial
    // stack pointer. The boot tables are already written.
    .global __secondary_entry
__secondary_entry:
    mov     x19, x0
    morsel_enter_el1
    morsel_enable_fp
    morsel_enable_mmu
    ldr     x0, =__secondary_high
    br      x0

__secondary_high:
    mov     sp, x19
    ldr     x0, [x19]               // the core number
    msr     contextidr_el1, x0
    isb
    bl      morsel_secondary_start
7:  wfe
    b       7b

    .section .data.boot_tables, "aw"
    .balign 4096
__boot_l0:
    .space  4096
__boot_l1:
    .space  4096

    .section .bss.boot_stack, "aw", @nobits
    .balign 16
    .space  {stack}
    .global __boot_stack_top
__boot_stack_top:
"#,
    gib = const BOOT_MAP_GIB,
    text_offset = const KERNEL_TEXT_OFFSET,
    mair = const crate::mmu::MAIR_VALUE,
    tcr = const crate::mmu::TCR_VALUE,
    sctlr = const crate::mmu::SCTLR_VALUE,
    stack = const BOOT_STACK_SIZE,
);

/// Where the image sits above the 2 MiB-aligned start of RAM (its physical
/// load address is the RAM base plus this; kernel/link.ld agrees).
pub const KERNEL_TEXT_OFFSET: u64 = 0x20_0000;

/// Size of the boot CPU's stack, which is also its exception stack.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

/// Starts the core whose MPIDR affinity is `mpidr` through PSCI CPU_ON, as
/// core number `core` (see [`crate::cpu::core_id`]), on `stack`, which
/// becomes that core's for good (it is also its exception stack).
///
/// The core runs `__secondary_entry` and calls the kernel's
/// `extern "C" fn morsel_secondary_start() -> !` at EL1 with the MMU on
/// through the boot tables (the kernel's own are not installed yet), IRQs
/// masked, no vector table, and `core_id() == core`.
///
/// The start record is the stack's top 16 bytes: the core number, as a
/// `u64`. Its address goes to the core in x0 and becomes its stack pointer,
/// so the record stays above everything the core pushes.
///
/// Returns PSCI's error code if the firmware refused.
pub fn start_secondary(conduit: Conduit, mpidr: u64, core: usize, stack: &'static mut [u128]) -> Result<(), i64> {
    assert!(core != 0 && core < crate::cpu::MAX_CORES, "core number {core} out of range");
    let record = stack.last_mut().expect("an empty stack");
    *record = core as u128;
    let context = (&raw mut *record).addr() as u64;
    unsafe extern "C" {
        static __secondary_entry: u8;
    }
    // Only the address of the entry is taken; it is never read as data.
    let entry = PhysAddr::from_virt((&raw const __secondary_entry).addr() as u64);
    match conduit.cpu_on(mpidr, entry.0, context) {
        0 => Ok(()),
        error => Err(error),
    }
}
