//! GICv2: distributor and CPU interface, both memory-mapped.

use super::write_byte_field;
use crate::mmio::Mmio;

const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;

/// A GICv2.
#[derive(Debug)]
pub struct GicV2 {
    distributor: Mmio,
    cpu_interface: Mmio,
}

impl GicV2 {
    /// Drives the GIC with these register windows.
    pub fn new(distributor: Mmio, cpu_interface: Mmio) -> GicV2 {
        GicV2 { distributor, cpu_interface }
    }

    pub(super) fn init(&self) {
        self.distributor.write(GICD_CTLR, 1);
        self.cpu_interface.write(GICC_PMR, 0xff);
        self.cpu_interface.write(GICC_CTLR, 1);
    }

    pub(super) fn enable(&self, intid: u32) {
        write_byte_field(&self.distributor, GICD_IPRIORITYR, intid, 0x80);
        if intid >= 32 {
            write_byte_field(&self.distributor, GICD_ITARGETSR, intid, 0x01);
        }
        self.distributor
            .write(GICD_ISENABLER + 4 * (intid as usize / 32), 1 << (intid % 32));
    }

    pub(super) fn acknowledge(&self) -> u32 {
        self.cpu_interface.read(GICC_IAR) & 0x3ff
    }

    pub(super) fn end_of_interrupt(&self, intid: u32) {
        self.cpu_interface.write(GICC_EOIR, intid);
    }
}
