//! GICv3: memory-mapped distributor and redistributors (one per core, found
//! by its affinity), system-register CPU interface (ICC_*_EL1). Affinity
//! routing on; all interrupts in group 1.

use super::{Targets, write_byte_field};
use crate::mmio::Mmio;

const GICD_CTLR: usize = 0x0000;
const GICD_IGROUPR: usize = 0x0080;
const GICD_ISENABLER: usize = 0x0100;
const GICD_IPRIORITYR: usize = 0x0400;
const GICD_IROUTER: usize = 0x6000;
const GICD_CTLR_RWP: u32 = 1 << 31;
const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;

const GICR_TYPER: usize = 0x0008;
const GICR_WAKER: usize = 0x0014;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// Offset of a redistributor's SGI/PPI frame.
const SGI_BASE: usize = 0x1_0000;
const GICR_IGROUPR0: usize = SGI_BASE + 0x080;
const GICR_ISENABLER0: usize = SGI_BASE + 0x100;
const GICR_IPRIORITYR: usize = SGI_BASE + 0x400;

/// A GICv3.
#[derive(Debug)]
pub struct GicV3 {
    distributor: Mmio,
    redistributors: Mmio,
    redistributors_len: usize,
    /// Each core's MPIDR affinity, for SGIs.
    pub(super) targets: Targets,
}

impl GicV3 {
    /// Drives the GIC with these register windows.
    pub fn new(distributor: Mmio, redistributors: Mmio, redistributors_len: usize) -> GicV3 {
        GicV3 { distributor, redistributors, redistributors_len, targets: Targets::new() }
    }

    /// This core's redistributor frame offset within the window.
    fn my_redistributor(&self) -> usize {
        let affinity = crate::cpu::core_affinity();
        let me = (affinity & 0xff_ffff) | ((affinity >> 32) << 24);
        let mut offset = 0;
        while offset < self.redistributors_len {
            let typer = self.redistributors.read64(offset + GICR_TYPER);
            if typer >> 32 == me {
                return offset;
            }
            if typer & GICR_TYPER_LAST != 0 {
                break;
            }
            offset += if typer & GICR_TYPER_VLPIS != 0 { 0x4_0000 } else { 0x2_0000 };
        }
        panic!("GICv3: no redistributor for affinity {affinity:#x}");
    }

    fn wait_for_distributor(&self) {
        while self.distributor.read(GICD_CTLR) & GICD_CTLR_RWP != 0 {
            core::hint::spin_loop();
        }
    }

    pub(super) fn init_distributor(&self) {
        self.distributor.write(GICD_CTLR, 0);
        self.wait_for_distributor();
        self.distributor
            .write(GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1 | GICD_CTLR_ENABLE_GRP0);
        self.wait_for_distributor();
    }

    pub(super) fn init_redistributor_and_cpu_interface(&self) {
        let rd = self.my_redistributor();
        let waker = self.redistributors.read(rd + GICR_WAKER);
        self.redistributors.write(rd + GICR_WAKER, waker & !GICR_WAKER_PROCESSOR_SLEEP);
        while self.redistributors.read(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        self.redistributors.write(rd + GICR_IGROUPR0, u32::MAX);

        // SAFETY: the CPU interface registers only configure interrupt
        // delivery to this core.
        unsafe {
            core::arch::asm!(
                "mrs {t}, icc_sre_el1",
                "orr {t}, {t}, #1",
                "msr icc_sre_el1, {t}",
                "isb",
                "msr icc_pmr_el1, {pmr}",
                "msr icc_bpr1_el1, xzr",
                "msr icc_igrpen1_el1, {one}",
                "isb",
                t = out(reg) _,
                pmr = in(reg) 0xffu64,
                one = in(reg) 1u64,
                options(nostack),
            );
        }
        self.targets.set_mine(crate::cpu::core_affinity());
    }

    pub(super) fn enable(&self, intid: u32) {
        if intid < 32 {
            let rd = self.my_redistributor();
            write_byte_field(&self.redistributors, rd + GICR_IPRIORITYR, intid, 0x80);
            self.redistributors.write(rd + GICR_ISENABLER0, 1 << intid);
        } else {
            let word = 4 * (intid as usize / 32);
            let groups = self.distributor.read(GICD_IGROUPR + word);
            self.distributor.write(GICD_IGROUPR + word, groups | 1 << (intid % 32));
            write_byte_field(&self.distributor, GICD_IPRIORITYR, intid, 0x80);
            let router = GICD_IROUTER + 8 * intid as usize;
            let affinity = crate::cpu::core_affinity();
            self.distributor.write(router, affinity as u32);
            self.distributor.write(router + 4, (affinity >> 32) as u32);
            self.distributor.write(GICD_ISENABLER + word, 1 << (intid % 32));
        }
    }
}

pub(super) fn acknowledge() -> u32 {
    let intid: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges the pending interrupt, which
    // the caller then handles and ends.
    unsafe { core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) intid, options(nomem, nostack)) };
    (intid & 0xff_ffff) as u32
}

pub(super) fn end_of_interrupt(intid: u32) {
    // SAFETY: ends an interrupt this core acknowledged.
    unsafe { core::arch::asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(intid), options(nomem, nostack)) };
}

/// Sends `sgi` (group 1) to the one core with MPIDR affinity `affinity`
/// through ICC_SGI1R_EL1: Aff3.Aff2.Aff1 name the cluster, target list bit
/// Aff0 % 16 in range Aff0 / 16 the core (a range above 0, for Aff0 of 16
/// or more, needs a GIC with range selector support, ICC_CTLR_EL1.RSS).
pub(super) fn send_sgi(sgi: u32, affinity: u64) {
    let aff0 = affinity & 0xff;
    let aff1 = (affinity >> 8) & 0xff;
    let aff2 = (affinity >> 16) & 0xff;
    let aff3 = (affinity >> 32) & 0xff;
    let value = (aff3 << 48) | ((aff0 >> 4) << 44) | (aff2 << 32) | (u64::from(sgi) << 24) | (aff1 << 16) | (1 << (aff0 & 0xf));
    // SAFETY: writing ICC_SGI1R_EL1 only raises an interrupt at the core named.
    unsafe { core::arch::asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nomem, nostack)) };
}
