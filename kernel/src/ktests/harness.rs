//! Tests of the harness itself, compiled in only with the features the
//! xtask's self-test uses: one test that fails, one that takes a kernel fault.
//! The self-test checks that `qemu-test` then fails.

#[cfg(feature = "ktest-fail")]
crate::ktest!(fn deliberately_fails() {
    crate::check_eq!(1 + 1, 3);
    Ok(())
});

#[cfg(feature = "ktest-fault")]
crate::ktest!(fn deliberately_faults() {
    // SAFETY: not safe at all: this loads from an unmapped address on purpose,
    // to show that a kernel fault is reported and ends the run as a failure.
    let value: u64 = unsafe {
        let v: u64;
        core::arch::asm!("mov {tmp}, #0x18", "ldr {v}, [{tmp}]", tmp = out(reg) _, v = out(reg) v);
        v
    };
    crate::check_eq!(value, 0);
    Ok(())
});
