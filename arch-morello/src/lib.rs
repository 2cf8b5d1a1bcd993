//! The AArch64/Morello platform layer: everything that touches a system
//! register, a device register or an instruction the compiler does not emit.
//!
//! One image serves stock AArch64 and Morello: [`cpu::Features`] tells at run
//! time whether capabilities exist, and only then are they used. The kernel
//! above this crate talks to it through plain Rust types; it never writes a
//! system register itself.
#![no_std]
#![cfg(target_arch = "aarch64")]

extern crate alloc;

pub mod boot;
pub mod cpu;
pub mod exception;
pub mod gic;
pub mod mmio;
pub mod mmu;
pub mod morello;
pub mod pl011;
pub mod psci;
pub mod semihosting;
pub mod timer;
pub mod user;
pub mod vdso;

/// Virtual address at which physical address 0 appears in the kernel's
/// (TTBR1) linear map. The kernel image itself is linked inside this map.
pub const LINEAR_MAP_BASE: u64 = 0xffff_0000_0000_0000;

/// A physical address, as seen by devices and by the translation tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The address at which the kernel reaches this physical address through
    /// its linear map.
    pub const fn to_virt(self) -> u64 {
        self.0 + LINEAR_MAP_BASE
    }

    /// The physical address behind a linear-map (or kernel image) address.
    pub const fn from_virt(va: u64) -> Self {
        PhysAddr(va - LINEAR_MAP_BASE)
    }
}
