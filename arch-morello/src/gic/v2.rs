//! GICv2: distributor and CPU interface, both memory-mapped (the CPU
//! interface and the SGI/PPI registers of the distributor are banked: each
//! core sees its own at the same address).

use super::{Targets, write_byte_field};
use crate::mmio::Mmio;

const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_SGIR: usize = 0xf00;
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;

/// A GICv2.
#[derive(Debug)]
pub struct GicV2 {
    distributor: Mmio,
    cpu_interface: Mmio,
    /// Each core's CPU interface mask (its bit in GICD_ITARGETSR).
    pub(super) targets: Targets,
}

impl GicV2 {
    /// Drives the GIC with these register windows.
    pub fn new(distributor: Mmio, cpu_interface: Mmio) -> GicV2 {
        GicV2 { distributor, cpu_interface, targets: Targets::new() }
    }

    pub(super) fn init_distributor(&self) {
        self.distributor.write(GICD_CTLR, 1);
    }

    pub(super) fn init_cpu_interface(&self) {
        self.cpu_interface.write(GICC_PMR, 0xff);
        self.cpu_interface.write(GICC_CTLR, 1);
        self.targets.set_mine(u64::from(self.my_interface_mask()));
    }

    /// This core's CPU interface mask: the banked GICD_ITARGETSR0..7 read
    /// as it (as Linux finds it, from the first word that is not zero; a
    /// uniprocessor GIC reads zero there, and its one interface is bit 0).
    fn my_interface_mask(&self) -> u8 {
        (0..8)
            .map(|word| self.distributor.read(GICD_ITARGETSR + 4 * word))
            .map(|targets| targets.to_le_bytes().iter().fold(0, |mask, byte| mask | byte))
            .find(|&mask| mask != 0)
            .unwrap_or(1)
    }

    pub(super) fn enable(&self, intid: u32) {
        write_byte_field(&self.distributor, GICD_IPRIORITYR, intid, 0x80);
        if intid >= 32 {
            write_byte_field(&self.distributor, GICD_ITARGETSR, intid, self.my_interface_mask());
        }
        self.distributor
            .write(GICD_ISENABLER + 4 * (intid as usize / 32), 1 << (intid % 32));
    }

    /// GICC_IAR: the interrupt ID, and for an SGI its source core (bits 12:10).
    pub(super) fn acknowledge(&self) -> u32 {
        self.cpu_interface.read(GICC_IAR) & 0x1fff
    }

    pub(super) fn end_of_interrupt(&self, iar: u32) {
        self.cpu_interface.write(GICC_EOIR, iar);
    }

    /// Sends `sgi` to the CPU interfaces in `mask` (GICD_SGIR target list).
    pub(super) fn send_sgi(&self, sgi: u32, mask: u64) {
        self.distributor.write(GICD_SGIR, ((mask as u32 & 0xff) << 16) | sgi);
    }
}
