//! Morello instructions stock LLVM cannot assemble, as `.inst` words.
//!
//! Each function is one `asm!` block that declares every register it touches
//! (capability register cN aliases xN, so a compiler write to xN between two
//! blocks would destroy cN: no capability lives across blocks). The mnemonic
//! stands beside each word. Encodings: `shared/morello/NOTES.md` and the
//! Morello encoding tables (Rd in bits 4:0, Rn in 9:5, Rm in 20:16); each one
//! used here is exercised by the Morello ktests on CHERI QEMU.
//!
//! Results leave a block as integers: the capability's high half (CFHI), its
//! value, tag, base, length, permissions, object type and flags.
//!
//! Blocks that hold capabilities in registers run with IRQs masked: an
//! exception saves and restores only the X halves of the registers, which
//! would strip a capability held across it of its tag.

/// What the GC* family (and CFHI) report about capability register c0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// CFHI: bits 127..64 (permissions, object type, bounds).
    pub pesbt: u64,
    /// GCVALUE: the address (bits 63..0, flags included).
    pub value: u64,
    /// GCTAG.
    pub tag: bool,
    /// GCBASE.
    pub base: u64,
    /// GCLEN (saturates at 2^64 - 1).
    pub length: u64,
    /// GCPERM.
    pub permissions: u64,
    /// GCTYPE.
    pub object_type: u64,
    /// GCFLGS.
    pub flags: u64,
}

/// Runs `$body` (instructions that leave a capability in c0), then reads c0
/// out with CFHI and the GC* family into x1..x8, and returns [`Observed`].
macro_rules! observe_c0 {
    ($($body:literal,)* ; $($operands:tt)*) => {{
        // SAFETY: capability instructions are enabled (CPACR_EL1.CEN) on every
        // path that reaches here (callers check `cpu::features().capabilities`);
        // the block only derives capabilities in registers it declares and
        // reads memory the caller passes in declared registers.
        let (pesbt, value, tag, base, length, permissions, object_type, flags) = crate::cpu::with_irqs_masked(|| unsafe {
            let (pesbt, value, tag, base, length, permissions, object_type, flags): (u64, u64, u64, u64, u64, u64, u64, u64);
            core::arch::asm!(
                $($body,)*
                ".inst 0xc2c15001", // cfhi    x1, c0
                ".inst 0xc2c05002", // gcvalue x2, c0
                ".inst 0xc2c09003", // gctag   x3, c0
                ".inst 0xc2c01004", // gcbase  x4, c0
                ".inst 0xc2c03005", // gclen   x5, c0
                ".inst 0xc2c0d006", // gcperm  x6, c0
                ".inst 0xc2c0f007", // gctype  x7, c0
                ".inst 0xc2c13008", // gcflgs  x8, c0
                out("x0") _,
                out("x1") pesbt,
                out("x2") value,
                out("x3") tag,
                out("x4") base,
                out("x5") length,
                out("x6") permissions,
                out("x7") object_type,
                out("x8") flags,
                $($operands)*
                options(nostack),
            );
            (pesbt, value, tag, base, length, permissions, object_type, flags)
        });
        Observed { pesbt, value, tag: tag & 1 != 0, base, length, permissions, object_type, flags }
    }};
}

/// The granule at `address` loaded as a capability (LDR Cn) and read back.
///
/// # Safety
/// `address` must be 16-byte aligned, mapped readable with capability loads
/// allowed, and readable by the caller.
pub unsafe fn load_capability(address: u64) -> Observed {
    observe_c0!(
        ".inst 0xc2400120", // ldr     c0, [x9]
        ;
        in("x9") address,
    )
}

/// The 128 bits `pesbt:value` loaded as an (untagged) capability and read back.
pub fn decode_bits(pesbt: u64, value: u64) -> Observed {
    #[repr(C, align(16))]
    struct Granule([u64; 2]);
    // Plain stores: the granule's tag is clear.
    let granule = Granule([value, pesbt]);
    // SAFETY: the granule is a live, aligned local in the kernel's RW map.
    unsafe { load_capability((&raw const granule).addr() as u64) }
}

/// Stores at `address` the capability with bits `pesbt:value`, rebuilt with
/// its tag from DDC (BUILD, which yields it unsealed) and sealed again with
/// `object_type` (sentry and load-(pair-)branch forms by SEAL's immediate
/// form, ordinary types by SEAL under DDC moved to the type). Returns whether
/// the stored granule is tagged (false when DDC cannot authorise the bits).
///
/// # Safety
/// `address` must be 16-byte aligned, mapped writable with capability stores
/// allowed, and owned by the caller.
pub unsafe fn store_built_capability(address: u64, pesbt: u64, value: u64, object_type: u64) -> bool {
    #[repr(C, align(16))]
    struct Granule([u64; 2]);
    let granule = Granule([value, pesbt]);
    // SAFETY: as in `observe_c0!`; the block reads the local granule and
    // writes the caller's granule, through registers it declares.
    let tag = crate::cpu::with_irqs_masked(|| unsafe {
        let tag: u64;
        core::arch::asm!(
            ".inst 0xc2400121", // ldr     c1, [x9]
            ".inst 0xc29b4122", // mrs     c2, DDC
            ".inst 0xc2c20421", // build   c1, c1, c2
            "cbz    x4, 5f",
            "cmp    x4, #1",
            "b.ne   2f",
            ".inst 0xc2c33021", // seal    c1, c1, rb
            "b      5f",
            "2:",
            "cmp    x4, #2",
            "b.ne   3f",
            ".inst 0xc2c35021", // seal    c1, c1, lpb
            "b      5f",
            "3:",
            "cmp    x4, #3",
            "b.ne   4f",
            ".inst 0xc2c37021", // seal    c1, c1, lb
            "b      5f",
            "4:",
            ".inst 0xc2c44042", // scvalue c2, c2, x4
            ".inst 0xc2c20821", // seal    c1, c1, c2
            "5:",
            ".inst 0xc2000141", // str     c1, [x10]
            ".inst 0xc2c09023", // gctag   x3, c1
            in("x9") (&raw const granule).addr() as u64,
            in("x10") address,
            in("x4") object_type,
            out("x1") _,
            out("x2") _,
            out("x3") tag,
            options(nostack),
        );
        tag
    });
    tag & 1 != 0
}

/// Copies `granules` 16-byte granules with their tags (LDR/STR Cn), from the
/// last one down when `backwards` (for overlapping ranges, destination above
/// source).
///
/// # Safety
/// Both ranges must be 16-byte aligned, mapped with capability loads and
/// stores allowed, the source readable and the destination owned by the caller.
pub unsafe fn copy_granules(source: u64, destination: u64, granules: u64, backwards: bool) {
    if granules == 0 {
        return;
    }
    let step: u64 = if backwards { 16u64.wrapping_neg() } else { 16 };
    let (from, to) = if backwards {
        (source + 16 * (granules - 1), destination + 16 * (granules - 1))
    } else {
        (source, destination)
    };
    // SAFETY: as in `observe_c0!`; the loop touches only the two ranges the
    // caller vouches for, through registers it declares.
    crate::cpu::with_irqs_masked(|| unsafe {
        core::arch::asm!(
            "2:",
            ".inst 0xc2400120", // ldr     c0, [x9]
            ".inst 0xc2000140", // str     c0, [x10]
            "add    x9, x9, x12",
            "add    x10, x10, x12",
            "subs   x11, x11, #1",
            "b.ne   2b",
            inout("x9") from => _,
            inout("x10") to => _,
            inout("x11") granules => _,
            in("x12") step,
            out("x0") _,
            options(nostack),
        );
    });
}

/// The index of the first tagged granule among `granules` granules from
/// `start`, or `granules` when none is tagged (LDR Cn + GCTAG per granule).
///
/// # Safety
/// The range must be 16-byte aligned, mapped readable with capability loads
/// allowed, and readable by the caller.
pub unsafe fn first_tagged_granule(start: u64, granules: u64) -> u64 {
    // SAFETY: as in `observe_c0!`; reads only the caller's range.
    crate::cpu::with_irqs_masked(|| unsafe {
        let index: u64;
        core::arch::asm!(
            "mov    x12, #0",
            "2:",
            "cmp    x12, x11",
            "b.hs   3f",
            ".inst 0xc2400120", // ldr     c0, [x9]
            ".inst 0xc2c09003", // gctag   x3, c0
            "cbnz   x3, 3f",
            "add    x9, x9, #16",
            "add    x12, x12, #1",
            "b      2b",
            "3:",
            inout("x9") start => _,
            in("x11") granules,
            out("x12") index,
            out("x0") _,
            out("x3") _,
            options(nostack, readonly),
        );
        index
    })
}

/// DDC, the almighty capability the CPU starts with.
pub fn ddc() -> Observed {
    observe_c0!(
        ".inst 0xc29b4120", // mrs     c0, DDC
        ;
    )
}

/// DDC with its address set to `base`, then bounded to `length` rounding
/// outward (SCBNDS).
pub fn ddc_set_bounds(base: u64, length: u64) -> Observed {
    observe_c0!(
        ".inst 0xc29b4120", // mrs     c0, DDC
        ".inst 0xc2ca4000", // scvalue c0, c0, x10
        ".inst 0xc2cb0000", // scbnds  c0, c0, x11
        ;
        in("x10") base,
        in("x11") length,
    )
}

/// DDC with its address set to `base`, then bounded to `length` exactly
/// (SCBNDSE: the tag is cleared if the bounds are not exact).
pub fn ddc_set_bounds_exact(base: u64, length: u64) -> Observed {
    observe_c0!(
        ".inst 0xc29b4120", // mrs     c0, DDC
        ".inst 0xc2ca4000", // scvalue c0, c0, x10
        ".inst 0xc2cb2000", // scbndse c0, c0, x11
        ;
        in("x10") base,
        in("x11") length,
    )
}

/// DDC bounded as in [`ddc_set_bounds`], then moved to `address` (SCVALUE,
/// with the hardware's representability check).
pub fn ddc_bounds_then_address(base: u64, length: u64, address: u64) -> Observed {
    observe_c0!(
        ".inst 0xc29b4120", // mrs     c0, DDC
        ".inst 0xc2ca4000", // scvalue c0, c0, x10
        ".inst 0xc2cb0000", // scbnds  c0, c0, x11
        ".inst 0xc2cc4000", // scvalue c0, c0, x12
        ;
        in("x10") base,
        in("x11") length,
        in("x12") address,
    )
}

/// CRRL and CRAM of `length`: (representable length, alignment mask).
pub fn representable_length_and_mask(length: u64) -> (u64, u64) {
    let (rrlen, rrmask): (u64, u64);
    // SAFETY: as in `observe_c0!`; integer-only instructions.
    unsafe {
        core::arch::asm!(
            ".inst 0xc2c71141", // rrlen   x1, x10
            ".inst 0xc2c73142", // rrmask  x2, x10
            in("x10") length,
            out("x1") rrlen,
            out("x2") rrmask,
            options(nostack, nomem),
        );
    }
    (rrlen, rrmask)
}

/// CELR_EL1 := DDC with its address set to `address`: where `eret` resumes,
/// as a tagged capability (a plain `msr elr_el1` would untag it).
pub fn write_celr_from_ddc(address: u64) {
    // SAFETY: only called with capabilities enabled; the block derives a
    // capability from DDC and writes the exception link register, touching
    // c0/x0 and c1/x1, both declared.
    unsafe {
        core::arch::asm!(
            ".inst 0xc29b4120", // mrs     c0, DDC
            ".inst 0xc2c14000", // scvalue c0, c0, x1
            ".inst 0xc2884020", // msr     CELR_EL1, c0
            out("x0") _,
            in("x1") address,
            options(nostack, nomem),
        );
    }
}

/// CVBAR_EL1 := DDC with its address set to `address`.
pub fn write_cvbar_from_ddc(address: u64) {
    // SAFETY: only called with capabilities enabled (CPACR_EL1.CEN); the
    // sequence reads DDC, derives a capability and writes the vector base,
    // touching c0/x0 and c1/x1, both declared.
    unsafe {
        core::arch::asm!(
            ".inst 0xc29b4120", // mrs     c0, DDC
            ".inst 0xc2c14000", // scvalue c0, c0, x1
            ".inst 0xc288c000", // msr     CVBAR_EL1, c0
            "isb",
            out("x0") _,
            in("x1") address,
            options(nostack, nomem),
        );
    }
}
