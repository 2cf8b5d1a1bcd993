//! The machine description read from device trees QEMU produced
//! (`-M virt,...,dumpdtb=`, compacted with dtc): GICv2 with boot arguments
//! and a 16-byte initrd,
//! GICv3 started at EL2 (SMC conduit).

use kernel::machine::{InterruptController, Machine};
use kernel::memory::PhysRange;

const GICV2: &[u8] = include_bytes!("data/virt-gicv2.dtb");
const GICV3_EL2: &[u8] = include_bytes!("data/virt-gicv3-el2.dtb");

#[test]
fn reads_virt_with_gicv2() {
    let m = Machine::from_device_tree(GICV2).expect("a valid machine");
    assert_eq!(m.memory, [PhysRange::new(0x4000_0000, 1024 << 20)]);
    assert_eq!(m.cpus, 2);
    assert_eq!(m.cpu_ids, [0, 1]);
    assert_eq!(m.uart.regs, PhysRange::new(0x0900_0000, 0x1000));
    assert_eq!(m.uart.intid, Some(33));
    assert!(matches!(
        m.interrupt_controller,
        InterruptController::GicV2 { distributor, cpu_interface }
            if distributor.start == 0x0800_0000 && cpu_interface.start == 0x0801_0000
    ));
    assert_eq!(m.virtual_timer_intid, 27);
    assert_eq!(m.psci_method.as_deref(), Some("hvc"));
    assert_eq!(m.rtc.map(|d| d.regs.start), Some(0x0901_0000));
    assert_eq!(m.virtio_mmio.len(), 32);
    assert!(m.virtio_mmio.windows(2).all(|w| w[0].regs.start < w[1].regs.start));
    assert_eq!(m.initrd, Some(PhysRange::new(0x4800_0000, 16)));
    assert_eq!(m.bootargs, "morsel.mode=test morsel.log=debug");
    assert_eq!(m.boot_arg("morsel.log"), Some("debug"));
    assert_eq!(m.boot_arg("morsel.exit"), None);
}

#[test]
fn reads_virt_with_gicv3_at_el2() {
    let m = Machine::from_device_tree(GICV3_EL2).expect("a valid machine");
    assert_eq!(m.memory, [PhysRange::new(0x4000_0000, 2048 << 20)]);
    assert!(matches!(
        m.interrupt_controller,
        InterruptController::GicV3 { distributor, redistributors }
            if distributor.start == 0x0800_0000 && redistributors.start == 0x080a_0000
    ));
    assert_eq!(m.psci_method.as_deref(), Some("smc"));
    assert_eq!(m.cpu_ids, [0]);
    assert_eq!(m.initrd, None);
}

#[test]
fn rejects_what_is_not_a_device_tree() {
    assert!(Machine::from_device_tree(b"not a device tree at all, not at all").is_err());
    let mut header = [0u8; 8];
    header.copy_from_slice(&GICV2[..8]);
    assert_eq!(Machine::blob_size(&header), Some(GICV2.len()));
    assert_eq!(Machine::blob_size(b"\x7fELF\0\0\0\0"), None);
    let truncated = &GICV2[..GICV2.len() / 2];
    assert!(Machine::from_device_tree(truncated).is_err());
}
