//! What the machine is, as the device tree describes it: memory, cores,
//! console, interrupt controller, timer, PSCI conduit, RTC, virtio-mmio
//! slots, initrd, boot arguments. Parsed once at boot with the `fdt` crate.

use crate::memory::PhysRange;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use fdt::Fdt;
use fdt::node::FdtNode;

/// A device: its register window and its interrupt ID, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    /// Registers.
    pub regs: PhysRange,
    /// GIC interrupt ID (SPIs from 32, PPIs from 16).
    pub intid: Option<u32>,
}

/// The interrupt controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptController {
    /// GICv2: distributor and CPU interface.
    GicV2 {
        /// Distributor registers.
        distributor: PhysRange,
        /// CPU interface registers.
        cpu_interface: PhysRange,
    },
    /// GICv3: distributor and redistributors.
    GicV3 {
        /// Distributor registers.
        distributor: PhysRange,
        /// All redistributor frames.
        redistributors: PhysRange,
    },
}

/// Why the device tree could not describe a machine Morsel can run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineError {
    /// Not a device tree blob.
    BadBlob,
    /// A required node or property is absent.
    Missing(&'static str),
}

/// The machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `/model`.
    pub model: String,
    /// RAM banks.
    pub memory: Vec<PhysRange>,
    /// Number of CPU nodes.
    pub cpus: usize,
    /// The cores' MPIDR affinities (each CPU node's `reg`), in device-tree
    /// order: what PSCI CPU_ON and the GIC name a core by.
    pub cpu_ids: Vec<u64>,
    /// The PL011 console.
    pub uart: Device,
    /// The interrupt controller.
    pub interrupt_controller: InterruptController,
    /// Interrupt ID of the EL1 virtual timer.
    pub virtual_timer_intid: u32,
    /// The PSCI conduit (`hvc` or `smc`), if PSCI is described.
    pub psci_method: Option<String>,
    /// The PL031 real-time clock.
    pub rtc: Option<Device>,
    /// virtio-mmio transport slots.
    pub virtio_mmio: Vec<Device>,
    /// The initrd QEMU loaded, if any.
    pub initrd: Option<PhysRange>,
    /// `/chosen/bootargs`.
    pub bootargs: String,
    /// Entropy the firmware passed (`/chosen/rng-seed`, `kaslr-seed`).
    pub rng_seed: Vec<u8>,
}

fn regs(node: FdtNode<'_, '_>) -> Vec<PhysRange> {
    node.reg()
        .into_iter()
        .flatten()
        .map(|r| PhysRange::new(r.starting_address.addr() as u64, r.size.unwrap_or(0) as u64))
        .collect()
}

fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// GIC interrupt IDs from a three-cell `interrupts` property.
fn gic_intids(node: FdtNode<'_, '_>) -> Vec<u32> {
    let Some(prop) = node.property("interrupts") else {
        return Vec::new();
    };
    let cells: Vec<u32> = cells(prop.value).collect();
    cells
        .chunks_exact(3)
        .map(|c| if c[0] == 1 { 16 + c[1] } else { 32 + c[1] })
        .collect()
}

fn number(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The initrd range `/chosen` names, if any. Needs no heap, so bring-up can
/// keep the heap clear of it.
pub fn initrd_of(fdt: &Fdt<'_>) -> Option<PhysRange> {
    let chosen = fdt.find_node("/chosen")?;
    let start = number(chosen.property("linux,initrd-start")?.value)?;
    let end = number(chosen.property("linux,initrd-end")?.value)?;
    (end > start).then_some(PhysRange { start, end })
}

/// The first `reg` value of every CPU node, read with `/cpus`'
/// `#address-cells` (1 or 2; 2 when absent). Nodes without one are left out.
fn cpu_ids(fdt: &Fdt<'_>) -> Vec<u64> {
    let cells = fdt
        .find_node("/cpus")
        .and_then(|cpus| cpus.property("#address-cells"))
        .and_then(|p| number(p.value))
        .unwrap_or(2) as usize;
    fdt.cpus()
        .filter_map(|cpu| number(cpu.property("reg")?.value.get(..4 * cells)?))
        .collect()
}

fn has_compatible(node: &FdtNode<'_, '_>, wanted: &str) -> bool {
    node.compatible().is_some_and(|c| c.all().any(|s| s == wanted))
}

impl Machine {
    /// Reads the machine from a device tree blob.
    pub fn from_device_tree(blob: &[u8]) -> Result<Machine, MachineError> {
        let fdt = Fdt::new(blob).map_err(|_| MachineError::BadBlob)?;
        let memory: Vec<PhysRange> = fdt
            .memory()
            .regions()
            .map(|r| PhysRange::new(r.starting_address.addr() as u64, r.size.unwrap_or(0) as u64))
            .filter(|r| !r.is_empty())
            .collect();
        if memory.is_empty() {
            return Err(MachineError::Missing("memory"));
        }
        let uart_node = fdt
            .chosen()
            .stdout()
            .filter(|n| has_compatible(n, "arm,pl011"))
            .or_else(|| fdt.find_compatible(&["arm,pl011"]))
            .ok_or(MachineError::Missing("arm,pl011 UART"))?;
        let uart = Device {
            regs: *regs(uart_node).first().ok_or(MachineError::Missing("UART reg"))?,
            intid: gic_intids(uart_node).first().copied(),
        };
        let interrupt_controller = if let Some(gic) = fdt.find_compatible(&["arm,gic-v3"]) {
            let r = regs(gic);
            InterruptController::GicV3 {
                distributor: *r.first().ok_or(MachineError::Missing("GICv3 distributor"))?,
                redistributors: *r.get(1).ok_or(MachineError::Missing("GICv3 redistributors"))?,
            }
        } else if let Some(gic) = fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"]) {
            let r = regs(gic);
            InterruptController::GicV2 {
                distributor: *r.first().ok_or(MachineError::Missing("GICv2 distributor"))?,
                cpu_interface: *r.get(1).ok_or(MachineError::Missing("GICv2 CPU interface"))?,
            }
        } else {
            return Err(MachineError::Missing("interrupt controller"));
        };
        let timer = fdt
            .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
            .ok_or(MachineError::Missing("timer"))?;
        // Order: secure physical, non-secure physical, virtual, hypervisor.
        let virtual_timer_intid =
            *gic_intids(timer).get(2).ok_or(MachineError::Missing("virtual timer interrupt"))?;
        let psci_method = fdt
            .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
            .and_then(|n| n.property("method"))
            .and_then(|p| p.as_str())
            .map(ToString::to_string);
        let rtc = fdt.find_compatible(&["arm,pl031"]).and_then(|n| {
            Some(Device { regs: *regs(n).first()?, intid: gic_intids(n).first().copied() })
        });
        let mut virtio_mmio: Vec<Device> = fdt
            .all_nodes()
            .filter(|n| has_compatible(n, "virtio,mmio"))
            .filter_map(|n| Some(Device { regs: *regs(n).first()?, intid: gic_intids(n).first().copied() }))
            .collect();
        virtio_mmio.sort_by_key(|d| d.regs.start);
        let initrd = initrd_of(&fdt);
        Ok(Machine {
            model: fdt
                .find_node("/")
                .and_then(|root| root.property("model"))
                .and_then(|p| p.as_str())
                .unwrap_or("unnamed machine")
                .to_string(),
            memory,
            cpus: fdt.cpus().count(),
            cpu_ids: cpu_ids(&fdt),
            uart,
            interrupt_controller,
            virtual_timer_intid,
            psci_method,
            rtc,
            virtio_mmio,
            initrd,
            bootargs: fdt.chosen().bootargs().unwrap_or("").to_string(),
            rng_seed: ["rng-seed", "kaslr-seed"]
                .iter()
                .filter_map(|name| fdt.find_node("/chosen")?.property(name))
                .flat_map(|p| p.value.iter().copied())
                .collect(),
        })
    }

    /// The value of `key=value` in the boot arguments.
    pub fn boot_arg(&self, key: &str) -> Option<&str> {
        self.bootargs.split_whitespace().find_map(|word| {
            let (k, v) = word.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    /// The size of a device tree blob, from its header, if it is one.
    pub fn blob_size(header: &[u8; 8]) -> Option<usize> {
        let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        (magic == 0xd00d_feed).then_some(size as usize)
    }
}
