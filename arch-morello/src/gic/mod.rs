//! The Arm Generic Interrupt Controller, version 2 or 3, as the device tree
//! describes it.

mod v2;
mod v3;

pub use v2::GicV2;
pub use v3::GicV3;

/// The interrupt ID the CPU interface returns when nothing is pending.
pub const SPURIOUS: u32 = 1023;

/// Interrupt ID of shared peripheral interrupt `n`.
pub const fn spi(n: u32) -> u32 {
    32 + n
}

/// Interrupt ID of private peripheral interrupt `n`.
pub const fn ppi(n: u32) -> u32 {
    16 + n
}

/// The machine's interrupt controller.
#[derive(Debug)]
pub enum Gic {
    /// GICv2: memory-mapped distributor and CPU interface.
    V2(GicV2),
    /// GICv3: distributor, redistributors, system-register CPU interface.
    V3(GicV3),
}

impl Gic {
    /// The architecture version (2 or 3).
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    /// Turns on the distributor and this core's interface.
    pub fn init(&self) {
        match self {
            Gic::V2(g) => g.init(),
            Gic::V3(g) => g.init(),
        }
    }

    /// Lets interrupt `intid` reach this core.
    pub fn enable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.enable(intid),
            Gic::V3(g) => g.enable(intid),
        }
    }

    /// Acknowledges the highest-priority pending interrupt.
    pub fn acknowledge(&self) -> Option<u32> {
        let intid = match self {
            Gic::V2(g) => g.acknowledge(),
            Gic::V3(_) => v3::acknowledge(),
        };
        (intid < SPURIOUS).then_some(intid)
    }

    /// Signals the end of handling `intid`.
    pub fn end_of_interrupt(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.end_of_interrupt(intid),
            Gic::V3(_) => v3::end_of_interrupt(intid),
        }
    }
}

/// Sets the 8-bit field for `intid` in a byte-per-interrupt register array
/// that is only accessed as 32-bit words.
fn write_byte_field(regs: &crate::mmio::Mmio, array: usize, intid: u32, value: u8) {
    let word = array + (intid as usize & !3);
    let shift = (intid % 4) * 8;
    let old = regs.read(word);
    regs.write(word, (old & !(0xff << shift)) | (u32::from(value) << shift));
}
