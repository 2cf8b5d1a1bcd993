//! What this CPU is and what it can do, read once from the ID registers;
//! which core the code runs on ([`core_id`]); the interrupt mask.

use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, ID_AA64PFR1_EL1, MIDR_EL1, MPIDR_EL1, Readable};

/// Features the kernel decides on at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Morello capabilities (ID_AA64PFR1_EL1.CE != 0).
    pub capabilities: bool,
    /// MIDR_EL1.
    pub midr: u64,
    /// Physical address bits (from ID_AA64MMFR0_EL1.PARange).
    pub physical_address_bits: u8,
}

/// Reads the CPU's features.
pub fn features() -> Features {
    let pa_bits = match ID_AA64MMFR0_EL1.get() & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    };
    Features {
        capabilities: (ID_AA64PFR1_EL1.get() >> 20) & 0xf != 0,
        midr: MIDR_EL1.get(),
        physical_address_bits: pa_bits,
    }
}

impl Features {
    /// A human name for the CPU, from the implementer and part number.
    pub fn cpu_name(&self) -> &'static str {
        let implementer = (self.midr >> 24) & 0xff;
        let part = (self.midr >> 4) & 0xfff;
        match (implementer, part) {
            (0x41, 0xd03) => "Cortex-A53",
            (0x41, 0xd07) => "Cortex-A57",
            (0x41, 0xd08) => "Cortex-A72",
            (0x41, 0xd0c) => "Neoverse-N1",
            (0x41, 0xd0f) => "Morello (Rainier)",
            (0x41, 0xd40) => "Neoverse-V1",
            (0x41, _) => "Arm core",
            (0x00, 0x051) => "QEMU max",
            _ => "unknown core",
        }
    }
}

/// The affinity of the running core (MPIDR_EL1 Aff0..Aff3).
pub fn core_affinity() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// The most cores the kernel runs on: core numbers are below this.
pub const MAX_CORES: usize = 64;

/// The number of the core this runs on: 0 for the boot core, 1, 2, ... for
/// the others in the order they were started ([`crate::boot::start_secondary`]).
///
/// The number lives in CONTEXTIDR_EL1, which the boot code writes on each
/// core before any Rust code runs there. That register is per core, EL0 can
/// neither read nor write it, and nothing else in Morsel uses it (the
/// architecture only shows it to debug and trace hardware as a context ID,
/// which Morsel does not use). TPIDR_EL1, the usual choice, holds the
/// running μprocess's context ([`crate::user`]); TPIDRRO_EL0 is readable at
/// EL0.
pub fn core_id() -> usize {
    let id: u64;
    // SAFETY: reading CONTEXTIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, contextidr_el1", out(reg) id, options(nomem, nostack, preserves_flags)) };
    id as usize
}

/// Waits for an interrupt.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Unmasks IRQs on this core.
pub fn enable_irqs() {
    // SAFETY: clearing DAIF.I only lets pending IRQs be taken; the vectors are installed.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// Masks IRQs on this core.
pub fn disable_irqs() {
    // SAFETY: setting DAIF.I only defers interrupts.
    unsafe { core::arch::asm!("msr daifset, #2", options(nomem, nostack)) };
}

/// Runs `f` with IRQs masked on this core, restoring the previous mask after.
/// Locks that an interrupt handler also takes are held only inside this.
pub fn with_irqs_masked<T>(f: impl FnOnce() -> T) -> T {
    let daif: u64;
    // SAFETY: reading DAIF and masking IRQs only defers interrupts.
    unsafe { core::arch::asm!("mrs {}, daif", "msr daifset, #2", out(reg) daif, options(nomem, nostack)) };
    let result = f();
    // SAFETY: restores the interrupt mask read above.
    unsafe { core::arch::asm!("msr daif, {}", in(reg) daif, options(nomem, nostack)) };
    result
}

/// The exception level the kernel runs at now.
pub fn current_el() -> u8 {
    use aarch64_cpu::registers::CurrentEL;
    CurrentEL.read(CurrentEL::EL) as u8
}

/// Four words from RNDR where the CPU implements it (ID_AA64ISAR0_EL1.RNDR),
/// zeros elsewhere or when the hardware reports no entropy.
pub fn hardware_random_words() -> [u64; 4] {
    use aarch64_cpu::registers::ID_AA64ISAR0_EL1;
    let mut words = [0u64; 4];
    if (ID_AA64ISAR0_EL1.get() >> 60) & 0xf == 0 {
        return words;
    }
    for word in &mut words {
        let (value, ok): (u64, u64);
        // SAFETY: RNDR (s3_3_c2_c4_0) exists per ID_AA64ISAR0_EL1; reading
        // it has no side effects beyond NZCV.
        unsafe {
            core::arch::asm!("mrs {v}, s3_3_c2_c4_0", "cset {ok}, ne", v = out(reg) value, ok = out(reg) ok, options(nomem, nostack));
        }
        *word = if ok == 1 { value } else { 0 };
    }
    words
}

/// What EL0 sees when it reads an ID register (op0 = 3, op1 = 0, CRn = 0,
/// selected by CRm and op2), as Linux shows it when it emulates these reads
/// for HWCAP_CPUID: MIDR_EL1, REVIDR_EL1 and the instruction-set feature
/// registers as they are, MPIDR_EL1 as a uniprocessor affinity, the
/// processor feature register reduced to FP, AdvSIMD and AArch64-only
/// exception levels, everything else as zero.
pub fn id_register_for_el0(crm: u8, op2: u8) -> u64 {
    use aarch64_cpu::registers::{ID_AA64ISAR0_EL1, ID_AA64ISAR1_EL1, ID_AA64PFR0_EL1};
    match (crm, op2) {
        (0, 0) => MIDR_EL1.get(),
        (0, 5) => 0x8000_0000,
        (4, 0) => {
            // FP (19:16) and AdvSIMD (23:20) as implemented; EL0..EL3 AArch64 only.
            (ID_AA64PFR0_EL1.get() & (0xff << 16)) | 0x1111
        }
        (6, 0) => ID_AA64ISAR0_EL1.get(),
        (6, 1) => ID_AA64ISAR1_EL1.get(),
        _ => 0,
    }
}
