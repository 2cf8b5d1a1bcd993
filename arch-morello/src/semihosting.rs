//! Arm semihosting: how a run under QEMU (`-semihosting`) ends with a status.

/// SYS_EXIT.
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: a normal exit whose subcode is the status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends the emulation with `status` as QEMU's exit status.
///
/// Only call this when the machine offers semihosting: without it the `HLT`
/// is an undefined instruction.
pub fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: the semihosting call reads the two-word block and ends the run.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack, readonly)
        );
    }
    loop {
        aarch64_cpu::asm::wfe();
    }
}
