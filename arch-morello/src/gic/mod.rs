//! The Arm Generic Interrupt Controller, version 2 or 3, as the device tree
//! describes it: the distributor (set up once, by the boot core), each
//! core's own interface (set up by that core), and software-generated
//! interrupts between cores.
//!
//! Each driver keeps a table, indexed by [`crate::cpu::core_id`], of how
//! an SGI reaches each core that set up its interface: the core's CPU
//! interface mask on GICv2, its MPIDR affinity on GICv3.

mod v2;
mod v3;

pub use v2::GicV2;
pub use v3::GicV3;

use crate::cpu::MAX_CORES;
use core::sync::atomic::{AtomicU64, Ordering};

/// The interrupt ID the CPU interface returns when nothing is pending.
pub const SPURIOUS: u32 = 1023;

/// The number of software-generated interrupts (IDs 0..16).
pub const SGI_COUNT: u32 = 16;

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

/// An interrupt this core acknowledged, to be ended with
/// [`Gic::end_of_interrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// The interrupt ID.
    pub intid: u32,
    /// What the acknowledge register read (on GICv2 it names an SGI's
    /// source core too, and the end-of-interrupt write must repeat it).
    raw: u32,
}

impl Gic {
    /// The architecture version (2 or 3).
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    /// Turns on the distributor and this core's interface. Called once, on
    /// the boot core, before any other core calls [`Gic::init_this_core`].
    pub fn init(&self) {
        match self {
            Gic::V2(g) => g.init_distributor(),
            Gic::V3(g) => g.init_distributor(),
        }
        self.init_this_core();
    }

    /// Turns on this core's interface (its redistributor on GICv3) and
    /// records how SGIs reach it. Once per core.
    pub fn init_this_core(&self) {
        match self {
            Gic::V2(g) => g.init_cpu_interface(),
            Gic::V3(g) => g.init_redistributor_and_cpu_interface(),
        }
    }

    /// Lets interrupt `intid` reach this core: an SGI or PPI on this core
    /// only, an SPI routed to this core. SPIs are configured from one core
    /// only (their registers are shared).
    pub fn enable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.enable(intid),
            Gic::V3(g) => g.enable(intid),
        }
    }

    /// Acknowledges the highest-priority pending interrupt.
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        let (raw, intid) = match self {
            Gic::V2(g) => {
                let iar = g.acknowledge();
                (iar, iar & 0x3ff)
            }
            Gic::V3(_) => {
                let intid = v3::acknowledge();
                (intid, intid)
            }
        };
        (intid < SPURIOUS).then_some(Acknowledged { intid, raw })
    }

    /// Signals the end of handling an acknowledged interrupt.
    pub fn end_of_interrupt(&self, interrupt: Acknowledged) {
        match self {
            Gic::V2(g) => g.end_of_interrupt(interrupt.raw),
            Gic::V3(_) => v3::end_of_interrupt(interrupt.raw),
        }
    }

    /// Sends software-generated interrupt `sgi` (below [`SGI_COUNT`]) to
    /// core number `core`; sends nothing if that core has not set up its
    /// interface. Stores made before are visible to the target core when it
    /// takes the interrupt.
    pub fn send_sgi(&self, sgi: u32, core: usize) {
        assert!(sgi < SGI_COUNT, "SGI {sgi} out of range");
        let Some(target) = self.targets().get(core) else {
            return;
        };
        aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISHST);
        match self {
            Gic::V2(g) => g.send_sgi(sgi, target),
            Gic::V3(_) => v3::send_sgi(sgi, target),
        }
    }

    fn targets(&self) -> &Targets {
        match self {
            Gic::V2(g) => &g.targets,
            Gic::V3(g) => &g.targets,
        }
    }
}

/// How SGIs reach each core, by core number: what the driver needs to name
/// the core, once the core recorded it.
#[derive(Debug)]
struct Targets([AtomicU64; MAX_CORES]);

impl Targets {
    /// Not recorded yet.
    const NONE: u64 = u64::MAX;

    const fn new() -> Targets {
        Targets([const { AtomicU64::new(Targets::NONE) }; MAX_CORES])
    }

    /// Records the running core's target.
    fn set_mine(&self, target: u64) {
        self.0[crate::cpu::core_id()].store(target, Ordering::Release);
    }

    fn get(&self, core: usize) -> Option<u64> {
        let target = self.0.get(core)?.load(Ordering::Acquire);
        (target != Targets::NONE).then_some(target)
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
