//! Running code at EL0: entering a μprocess's saved context and coming back
//! to the kernel when it traps (system call, fault, interrupt).
//!
//! [`run_user`] saves the kernel's callee-saved registers on the kernel
//! stack, loads the whole user context (general registers, SP_EL0, PC,
//! PSTATE, TPIDR_EL0, FP/SIMD state) and `eret`s. Any exception from EL0
//! lands in the lower-EL vectors, which store the user context back, restore
//! the kernel's registers and return from `run_user` with the [`Trap`].
//! The kernel thus handles every trap in ordinary Rust code, then calls
//! `run_user` again.

use core::arch::global_asm;

/// A μprocess's saved user-mode state. The layout is shared with the
/// assembly below: change both together.
#[repr(C, align(16))]
#[derive(Debug, Clone)]
pub struct UserContext {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP_EL0.
    pub sp: u64,
    /// The PC to resume at (ELR_EL1).
    pub pc: u64,
    /// PSTATE to resume with (SPSR_EL1); EL0t with interrupts unmasked.
    pub pstate: u64,
    /// TPIDR_EL0, the thread pointer.
    pub tpidr: u64,
    /// ESR_EL1 of the last trap.
    pub esr: u64,
    /// FAR_EL1 of the last trap.
    pub far: u64,
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
    /// Kernel SP while the user runs (written by `run_user`).
    kernel_sp: u64,
    /// v0..v31.
    pub v: [u128; 32],
}

impl UserContext {
    /// A fresh context that starts at `pc` with stack pointer `sp`, at EL0
    /// with interrupts unmasked and all other registers zero.
    pub fn new(pc: u64, sp: u64) -> UserContext {
        UserContext {
            x: [0; 31],
            sp,
            pc,
            pstate: 0,
            tpidr: 0,
            esr: 0,
            far: 0,
            fpcr: 0,
            fpsr: 0,
            kernel_sp: 0,
            v: [0; 32],
        }
    }
}

/// Why the μprocess stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// A synchronous exception: system call, fault, undefined instruction
    /// (ESR and FAR in the context tell which).
    Synchronous,
    /// An interrupt arrived; the kernel handles it and resumes.
    Irq,
    /// An SError or FIQ.
    Other,
}

/// ESR exception classes the kernel distinguishes for EL0 traps.
pub mod exception_class {
    /// SVC from AArch64.
    pub const SVC64: u8 = 0x15;
    /// Instruction abort from a lower EL.
    pub const INSTRUCTION_ABORT_LOWER: u8 = 0x20;
    /// PC alignment fault.
    pub const PC_ALIGNMENT: u8 = 0x22;
    /// Data abort from a lower EL.
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    /// SP alignment fault.
    pub const SP_ALIGNMENT: u8 = 0x26;
    /// Unknown reason (undefined instruction).
    pub const UNKNOWN: u8 = 0x00;
    /// BRK instruction.
    pub const BRK: u8 = 0x3c;
    /// Trapped floating-point exception.
    pub const FP: u8 = 0x2c;
}

/// Runs the μprocess until it traps.
///
/// # Safety
/// The current TTBR0 view must be the μprocess's, and `context.pc`/`sp`
/// must only reach memory that view allows EL0 to reach; IRQs must be
/// masked (they are unmasked at EL0 by the saved PSTATE and taken through
/// the lower-EL vectors).
pub unsafe fn run_user(context: &mut UserContext) -> Trap {
    // On Morello the resume address must be a tagged capability in CELR.
    let capabilities = crate::cpu::features().capabilities;
    if capabilities {
        crate::morello::insn::write_celr_from_ddc(context.pc);
    }
    let kind: u64;
    // SAFETY: the assembly saves and restores every callee-saved general
    // register and the kernel SP (the FP/SIMD ones it replaces are declared
    // clobbered), and touches only `context`; the caller vouches for the
    // user view.
    unsafe {
        core::arch::asm!(
            "bl __user_enter",
            inout("x0") context as *mut UserContext => kind,
            inout("x2") u64::from(capabilities) => _,
            // The μprocess's v8..v15 replace the kernel's: the C ABI keeps
            // their low halves across calls, this call does not.
            out("v8") _,
            out("v9") _,
            out("v10") _,
            out("v11") _,
            out("v12") _,
            out("v13") _,
            out("v14") _,
            out("v15") _,
            clobber_abi("C"),
        );
    }
    match kind {
        0 => Trap::Synchronous,
        1 => Trap::Irq,
        _ => Trap::Other,
    }
}

const X_OFFSET: usize = core::mem::offset_of!(UserContext, x);
const SP_OFFSET: usize = core::mem::offset_of!(UserContext, sp);
const PC_OFFSET: usize = core::mem::offset_of!(UserContext, pc);
const PSTATE_OFFSET: usize = core::mem::offset_of!(UserContext, pstate);
const TPIDR_OFFSET: usize = core::mem::offset_of!(UserContext, tpidr);
const ESR_OFFSET: usize = core::mem::offset_of!(UserContext, esr);
const FAR_OFFSET: usize = core::mem::offset_of!(UserContext, far);
const FPCR_OFFSET: usize = core::mem::offset_of!(UserContext, fpcr);
const FPSR_OFFSET: usize = core::mem::offset_of!(UserContext, fpsr);
const KERNEL_SP_OFFSET: usize = core::mem::offset_of!(UserContext, kernel_sp);
const V_OFFSET: usize = core::mem::offset_of!(UserContext, v);

// __user_enter(x0 = context, x2 = CELR already set): called (bl) from
// `run_user`, so x30 is the return address into Rust. The context pointer
// lives in TPIDR_EL1 while the μprocess runs. __user_trap is entered from
// the lower-EL vectors with the user's x0/x1 saved at [sp] and the trap kind
// in x0.
global_asm!(
    r#"
    .section .text.user, "ax"
    .global __user_enter
__user_enter:
    sub     sp, sp, #112
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    mov     x1, sp
    str     x1, [x0, #{kernel_sp}]
    msr     tpidr_el1, x0

    // x2 != 0: CELR already holds the resume address (Morello).
    cbnz    x2, 1f
    ldr     x1, [x0, #{pc}]
    msr     elr_el1, x1
1:  ldr     x1, [x0, #{sp}]
    msr     sp_el0, x1
    ldr     x1, [x0, #{pstate}]
    msr     spsr_el1, x1
    ldr     x1, [x0, #{tpidr}]
    msr     tpidr_el0, x1
    ldr     x1, [x0, #{fpcr}]
    msr     fpcr, x1
    ldr     x1, [x0, #{fpsr}]
    msr     fpsr, x1
    add     x1, x0, #{v}
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]

    ldp     x2, x3, [x0, #{x} + 16]
    ldp     x4, x5, [x0, #{x} + 32]
    ldp     x6, x7, [x0, #{x} + 48]
    ldp     x8, x9, [x0, #{x} + 64]
    ldp     x10, x11, [x0, #{x} + 80]
    ldp     x12, x13, [x0, #{x} + 96]
    ldp     x14, x15, [x0, #{x} + 112]
    ldp     x16, x17, [x0, #{x} + 128]
    ldp     x18, x19, [x0, #{x} + 144]
    ldp     x20, x21, [x0, #{x} + 160]
    ldp     x22, x23, [x0, #{x} + 176]
    ldp     x24, x25, [x0, #{x} + 192]
    ldp     x26, x27, [x0, #{x} + 208]
    ldp     x28, x29, [x0, #{x} + 224]
    ldr     x30, [x0, #{x} + 240]
    ldp     x0, x1, [x0, #{x}]
    eret

    // From the lower-EL vectors: [sp] holds the user's x0, x1; x0 = kind.
    .global __user_trap
__user_trap:
    mrs     x1, tpidr_el1
    stp     x2, x3, [x1, #{x} + 16]
    stp     x4, x5, [x1, #{x} + 32]
    stp     x6, x7, [x1, #{x} + 48]
    stp     x8, x9, [x1, #{x} + 64]
    stp     x10, x11, [x1, #{x} + 80]
    stp     x12, x13, [x1, #{x} + 96]
    stp     x14, x15, [x1, #{x} + 112]
    stp     x16, x17, [x1, #{x} + 128]
    stp     x18, x19, [x1, #{x} + 144]
    stp     x20, x21, [x1, #{x} + 160]
    stp     x22, x23, [x1, #{x} + 176]
    stp     x24, x25, [x1, #{x} + 192]
    stp     x26, x27, [x1, #{x} + 208]
    stp     x28, x29, [x1, #{x} + 224]
    str     x30, [x1, #{x} + 240]
    ldp     x2, x3, [sp]
    add     sp, sp, #16
    stp     x2, x3, [x1, #{x}]
    mrs     x2, sp_el0
    str     x2, [x1, #{sp}]
    mrs     x2, elr_el1
    str     x2, [x1, #{pc}]
    mrs     x2, spsr_el1
    str     x2, [x1, #{pstate}]
    mrs     x2, tpidr_el0
    str     x2, [x1, #{tpidr}]
    mrs     x2, esr_el1
    str     x2, [x1, #{esr}]
    mrs     x2, far_el1
    str     x2, [x1, #{far}]
    mrs     x2, fpcr
    str     x2, [x1, #{fpcr}]
    mrs     x2, fpsr
    str     x2, [x1, #{fpsr}]
    add     x2, x1, #{v}
    stp     q0, q1, [x2, #0]
    stp     q2, q3, [x2, #32]
    stp     q4, q5, [x2, #64]
    stp     q6, q7, [x2, #96]
    stp     q8, q9, [x2, #128]
    stp     q10, q11, [x2, #160]
    stp     q12, q13, [x2, #192]
    stp     q14, q15, [x2, #224]
    stp     q16, q17, [x2, #256]
    stp     q18, q19, [x2, #288]
    stp     q20, q21, [x2, #320]
    stp     q22, q23, [x2, #352]
    stp     q24, q25, [x2, #384]
    stp     q26, q27, [x2, #416]
    stp     q28, q29, [x2, #448]
    stp     q30, q31, [x2, #480]

    ldr     x2, [x1, #{kernel_sp}]
    mov     sp, x2
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #112
    ret
"#,
    x = const X_OFFSET,
    sp = const SP_OFFSET,
    pc = const PC_OFFSET,
    pstate = const PSTATE_OFFSET,
    tpidr = const TPIDR_OFFSET,
    esr = const ESR_OFFSET,
    far = const FAR_OFFSET,
    fpcr = const FPCR_OFFSET,
    fpsr = const FPSR_OFFSET,
    kernel_sp = const KERNEL_SP_OFFSET,
    v = const V_OFFSET,
);
