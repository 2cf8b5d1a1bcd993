//! Morello instructions stock LLVM cannot assemble, as `.inst` words.
//!
//! Each function is one `asm!` block that declares every register it touches
//! (capability register cN aliases xN, so a compiler write to xN between two
//! blocks would destroy cN: no capability lives across blocks). The mnemonic
//! stands beside each word; encodings are checked on CHERI QEMU (see
//! `shared/morello/NOTES.md`).

/// CVBAR_EL1 := DDC with its address set to `address`.
pub fn write_cvbar_from_ddc(address: u64) {
    // SAFETY: only called with capabilities enabled (CPACR_EL1.CEN); the
    // sequence reads DDC, derives a capability and writes the vector base,
    // touching c0/x0 and c1/x1, both declared.
    unsafe {
        core::arch::asm!(
            ".inst 0xc29b4120", // mrs    c0, DDC
            ".inst 0xc2c14000", // scvalue c0, c0, x1
            ".inst 0xc288c000", // msr    CVBAR_EL1, c0
            "isb",
            out("x0") _,
            in("x1") address,
            options(nostack, nomem),
        );
    }
}
