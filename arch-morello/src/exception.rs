//! Exception vectors, the saved register frame, and dispatch to the kernel's
//! handlers.
//!
//! Every current-EL vector saves the general registers into a [`TrapFrame`]
//! on the current stack, and the FP/SIMD registers below it, and calls
//! [`morsel_exception`]; lower-EL vectors go
//! to [`crate::user`], which returns the trap to the kernel code that ran
//! the μprocess. Interrupts go to the kernel's
//! IRQ hook; every other exception taken from EL1 is a kernel fault and goes to
//! the kernel's fatal hook with a [`FaultReport`], which never returns.

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};
use core::arch::global_asm;
use core::fmt;
use spin::Once;

/// The registers saved on exception entry, in the order the vectors store them.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL1: where the exception was taken.
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE.
    pub spsr: u64,
    /// The stack pointer before the exception.
    pub sp: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
/// What the vectors save of the FP/SIMD state below the [`TrapFrame`]:
/// FPCR and FPSR, then q0..q31.
const SIMD_FRAME_SIZE: usize = 32 * 16 + 16;

/// Which vector was taken: (source, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    /// Synchronous exception.
    Synchronous,
    /// IRQ.
    Irq,
    /// FIQ.
    Fiq,
    /// SError.
    SError,
}

/// Where the exception came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorSource {
    /// Current EL using SP_EL0.
    CurrentElSp0,
    /// Current EL using SP_ELx.
    CurrentElSpx,
    /// A lower EL in AArch64.
    LowerAarch64,
    /// A lower EL in AArch32.
    LowerAarch32,
}

/// Everything known about an exception the kernel did not expect.
#[derive(Debug, Clone)]
pub struct FaultReport {
    /// The vector taken.
    pub kind: VectorKind,
    /// Where it was taken from.
    pub source: VectorSource,
    /// ESR_EL1.
    pub esr: u64,
    /// FAR_EL1.
    pub far: u64,
    /// The saved registers.
    pub frame: TrapFrame,
}

impl FaultReport {
    /// ESR_EL1.EC, the exception class.
    pub fn exception_class(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }
}

/// The name of an ESR exception class.
pub fn exception_class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "trapped WFI/WFE",
        0x07 => "FP/SIMD access trap",
        0x0e => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x18 => "trapped system register access",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort from the same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort from the same EL",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ec = self.exception_class();
        writeln!(
            f,
            "Unhandled exception: {:?} from {:?}: class {:#04x} ({})",
            self.kind,
            self.source,
            ec,
            exception_class_name(ec)
        )?;
        writeln!(
            f,
            "  ESR {:#018x}  ELR {:#018x}  FAR {:#018x}  SPSR {:#010x}  SP {:#018x}",
            self.esr, self.frame.elr, self.far, self.frame.spsr, self.frame.sp
        )?;
        for (row, regs) in self.frame.x.chunks(4).enumerate() {
            write!(f, " ")?;
            for (col, value) in regs.iter().enumerate() {
                write!(f, " x{:<2} {:#018x}", row * 4 + col, value)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// What the kernel does with exceptions.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionHooks {
    /// Called for every IRQ, with interrupts masked.
    pub irq: fn(),
    /// Called for any exception the kernel did not expect; never returns.
    pub fatal: fn(&FaultReport) -> !,
}

static HOOKS: Once<ExceptionHooks> = Once::new();

/// Installs the kernel's hooks (once, for every core) and the vector table
/// on this core.
pub fn install(hooks: ExceptionHooks) {
    HOOKS.call_once(|| hooks);
    install_on_this_core();
}

/// Points this core's vector base at the vector table (each secondary core
/// does this once; the boot core through [`install`]).
pub fn install_on_this_core() {
    unsafe extern "C" {
        static __exception_vectors: [u8; 2048];
    }
    // Only the address of the table is taken; it is never read as data.
    let vectors = (&raw const __exception_vectors).addr() as u64;
    if crate::cpu::features().capabilities {
        crate::morello::set_vector_base(vectors);
    } else {
        VBAR_EL1.set(vectors);
    }
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Called by the vectors with the vector index (0..16) and the saved frame.
#[unsafe(no_mangle)]
extern "C" fn morsel_exception(index: u64, frame: &mut TrapFrame) {
    let kind = match index % 4 {
        0 => VectorKind::Synchronous,
        1 => VectorKind::Irq,
        2 => VectorKind::Fiq,
        _ => VectorKind::SError,
    };
    let source = match index / 4 {
        0 => VectorSource::CurrentElSp0,
        1 => VectorSource::CurrentElSpx,
        2 => VectorSource::LowerAarch64,
        _ => VectorSource::LowerAarch32,
    };
    let hooks = HOOKS.get();
    match (kind, hooks) {
        (VectorKind::Irq, Some(hooks)) => (hooks.irq)(),
        (_, hooks) => {
            let report = FaultReport {
                kind,
                source,
                esr: ESR_EL1.get(),
                far: FAR_EL1.get(),
                frame: frame.clone(),
            };
            match hooks {
                Some(hooks) => (hooks.fatal)(&report),
                None => loop {
                    aarch64_cpu::asm::wfe();
                },
            }
        }
    }
}

// Each vector saves x0/x1, puts its index in x0 and joins the common path,
// which saves the rest, calls `morsel_exception` and restores. ELR_EL1 and
// SPSR_EL1 are not written back: on Morello a plain write would untag CELR.
global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 2048
    .global __exception_vectors
__exception_vectors:
    // Current EL (SP_EL0 and SP_ELx): the kernel's own exceptions.
    .set vector_index, 0
    .rept 8
    .balign 128
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #vector_index
    b       __exception_common
    .set vector_index, vector_index + 1
    .endr
    // Lower EL (AArch64 and AArch32): a μprocess trapped; see crate::user.
    .rept 8
    .balign 128
    sub     sp, sp, #16
    stp     x0, x1, [sp, #0]
    mov     x0, #(vector_index % 4)
    b       __user_trap
    .set vector_index, vector_index + 1
    .endr

__exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, elr_el1
    stp     x30, x1, [sp, #240]
    mrs     x1, spsr_el1
    add     x2, sp, #{frame}
    stp     x1, x2, [sp, #256]
    mov     x1, sp
    // The FP/SIMD registers too: the interrupted kernel code may hold live
    // values in them (the compiler uses them for copies), and the handler
    // may use them as well.
    sub     sp, sp, #{simd}
    stp     q0, q1, [sp, #16]
    stp     q2, q3, [sp, #48]
    stp     q4, q5, [sp, #80]
    stp     q6, q7, [sp, #112]
    stp     q8, q9, [sp, #144]
    stp     q10, q11, [sp, #176]
    stp     q12, q13, [sp, #208]
    stp     q14, q15, [sp, #240]
    stp     q16, q17, [sp, #272]
    stp     q18, q19, [sp, #304]
    stp     q20, q21, [sp, #336]
    stp     q22, q23, [sp, #368]
    stp     q24, q25, [sp, #400]
    stp     q26, q27, [sp, #432]
    stp     q28, q29, [sp, #464]
    stp     q30, q31, [sp, #496]
    mrs     x2, fpcr
    mrs     x3, fpsr
    stp     x2, x3, [sp, #0]
    bl      morsel_exception
    ldp     x2, x3, [sp, #0]
    msr     fpcr, x2
    msr     fpsr, x3
    ldp     q0, q1, [sp, #16]
    ldp     q2, q3, [sp, #48]
    ldp     q4, q5, [sp, #80]
    ldp     q6, q7, [sp, #112]
    ldp     q8, q9, [sp, #144]
    ldp     q10, q11, [sp, #176]
    ldp     q12, q13, [sp, #208]
    ldp     q14, q15, [sp, #240]
    ldp     q16, q17, [sp, #272]
    ldp     q18, q19, [sp, #304]
    ldp     q20, q21, [sp, #336]
    ldp     q22, q23, [sp, #368]
    ldp     q24, q25, [sp, #400]
    ldp     q26, q27, [sp, #432]
    ldp     q28, q29, [sp, #464]
    ldp     q30, q31, [sp, #496]
    add     sp, sp, #{simd}
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
    simd = const SIMD_FRAME_SIZE,
);
