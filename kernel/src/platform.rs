//! The glue between the machine and the kernel: bring-up in order (console,
//! exceptions, memory map, heap, interrupts, timer), the other cores' start
//! and bring-up, what the kernel keeps per core (whether it is up, its timer
//! ticks, its wake-up interrupts), the console with its receive buffer, the
//! logger, interrupt dispatch on every core, wake-up interrupts between
//! cores, and power-off with a status.
//!
//! Every core takes its own timer tick (the virtual timer is per core);
//! [`ticks`] counts the boot core's, so it advances at [`TICK_HZ`] however
//! many cores run. Device interrupts (the console's) are routed to the boot
//! core only.

use crate::machine::{InterruptController, Machine};
use crate::memory::{PhysRange, RangeAllocator};
use alloc::collections::VecDeque;
use arch_morello::exception::{self, ExceptionHooks, FaultReport};
use arch_morello::gic::{Gic, GicV2, GicV3};
use arch_morello::mmio::Mmio;
use arch_morello::mmu::{self, KernelMapping, TranslationTables};
use arch_morello::pl011::Pl011;
use arch_morello::cpu::MAX_CORES;
use arch_morello::{PhysAddr, boot, cpu, psci, semihosting, timer};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::{Mutex, Once};

/// Timer interrupts per second, on each core.
pub const TICK_HZ: u64 = 100;
/// The software-generated interrupt that wakes a core ([`send_wakeup_ipi`]).
pub const WAKEUP_SGI: u32 = 1;
/// Each secondary core's stack (also its exception stack), from the heap.
const CORE_STACK_SIZE: usize = 256 * 1024;
/// How long the boot core waits for a started core to report itself up.
const CORE_START_TIMEOUT_S: u64 = 5;
/// Physical address where QEMU places the device tree for ELF kernels.
const DEFAULT_DTB: u64 = 0x4000_0000;
/// The largest kernel heap (it is a quarter of RAM below that).
const HEAP_MAX: u64 = 1024 * 1024 * 1024;
/// The smallest kernel heap bring-up accepts.
const HEAP_MIN: u64 = 16 * 1024 * 1024;

/// Console input held until a μprocess reads it (what Linux's tty buffer
/// holds, 4 KiB, times four).
const CONSOLE_INPUT_BYTES: usize = 16 * 1024;

/// The one serial console, shared by the kernel and μprocesses.
///
/// μprocess output goes out as it is. Kernel output (banner, log, test
/// lines, fault reports) is framed as an APC string, `ESC _ M` ... `ESC \`,
/// which terminals ignore and the xtask routes to its stderr, so that a
/// program's output can be captured byte for byte.
#[derive(Debug)]
pub struct Console {
    uart: Pl011,
    received: Mutex<VecDeque<u8>>,
}

/// Opens a frame of kernel output.
pub const KERNEL_FRAME_START: &[u8] = b"\x1b_M";
/// Closes a frame of kernel output.
pub const KERNEL_FRAME_END: &[u8] = b"\x1b\\";

impl Console {
    /// Writes a μprocess's bytes as they are.
    pub fn write_user(&self, bytes: &[u8]) {
        cpu::with_irqs_masked(|| {
            let _guard = CONSOLE_WRITE.lock();
            self.uart.write_bytes(bytes);
        });
    }

    /// Writes kernel text as one frame.
    pub fn write_kernel(&self, text: &str) {
        self.write_fmt(format_args!("{text}"));
    }

    /// Writes formatted kernel text as one frame, without allocating (it may
    /// run in an interrupt handler).
    pub fn write_fmt(&self, args: core::fmt::Arguments<'_>) {
        cpu::with_irqs_masked(|| {
            let _guard = CONSOLE_WRITE.lock();
            write_kernel_frame(&self.uart, args);
        });
    }

    /// Takes up to `buf.len()` received bytes.
    pub fn read_received(&self, buf: &mut [u8]) -> usize {
        // The receive interrupt takes the same lock.
        cpu::with_irqs_masked(|| {
            let mut rx = self.received.lock();
            let n = buf.len().min(rx.len());
            for (slot, byte) in buf.iter_mut().zip(rx.drain(..n)) {
                *slot = byte;
            }
            // Room again: what waits in the FIFO comes in, and the
            // interrupts with it.
            self.receive(&mut rx);
            n
        })
    }

    fn receive_interrupt(&self) {
        let mut rx = self.received.lock();
        self.receive(&mut rx);
    }

    /// Moves what the UART received into `rx`, within the room reserved
    /// at boot (an interrupt handler must not allocate: the code it
    /// interrupted may hold the heap's lock). When `rx` is full, the
    /// receive interrupts go off and the bytes wait in the FIFO, which
    /// holds the sender back, until a read makes room.
    fn receive(&self, rx: &mut VecDeque<u8>) {
        // Cleared before draining: a byte that arrives after the last read
        // raises the interrupt again (cleared after, it would stay unread,
        // and QEMU's PL011 raises no more interrupts while bytes wait).
        self.uart.clear_receive_interrupts();
        while rx.len() < rx.capacity() {
            let Some(byte) = self.uart.read_byte() else { break };
            rx.push_back(byte);
        }
        self.uart.enable_receive_interrupts(rx.len() < rx.capacity());
    }
}

static CONSOLE_WRITE: Mutex<()> = Mutex::new(());

/// Writes one frame of kernel text to `uart`.
fn write_kernel_frame(uart: &Pl011, args: core::fmt::Arguments<'_>) {
    struct Uart<'a>(&'a Pl011);
    impl Write for Uart<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.write_bytes(s.as_bytes());
            Ok(())
        }
    }
    uart.write_bytes(KERNEL_FRAME_START);
    let _ = Uart(uart).write_fmt(args);
    uart.write_bytes(KERNEL_FRAME_END);
}

/// Everything brought up at boot.
#[derive(Debug)]
pub struct Platform {
    /// The machine description.
    pub machine: Machine,
    /// The console.
    pub console: Console,
    /// The interrupt controller.
    pub gic: Gic,
    /// PSCI conduit.
    pub psci: Option<psci::Conduit>,
    /// Whether runs end through semihosting (so the status reaches the host).
    pub semihosting_exit: bool,
    /// CPU features.
    pub features: cpu::Features,
    /// The exception level the loader started the kernel at (1 or 2).
    pub entry_el: u8,
    /// Free physical memory.
    pub frames: Mutex<RangeAllocator>,
    /// The kernel heap's physical range.
    pub heap: PhysRange,
    /// The kernel image's physical range.
    pub image: PhysRange,
    /// Where the device tree blob lies.
    pub device_tree: PhysRange,
    /// Real time (ns since the epoch) when the counter read zero, from the RTC.
    pub realtime_at_boot_ns: u64,
    /// The kernel's translation tables (TTBR1), which every core installs.
    kernel_tables: TranslationTables,
}

static PLATFORM: Once<Platform> = Once::new();
static EXITING: AtomicBool = AtomicBool::new(false);

/// What the kernel keeps for one core, by core number
/// ([`arch_morello::cpu::core_id`]).
struct CoreState {
    /// The core's MPIDR affinity, written by the core itself once it can
    /// take interrupts; [`CoreState::DOWN`] before.
    affinity: AtomicU64,
    /// Timer interrupts this core took.
    ticks: AtomicU64,
    /// Wake-up SGIs this core took.
    wakeups: AtomicU64,
}

impl CoreState {
    const DOWN: u64 = u64::MAX;
}

static CORES: [CoreState; MAX_CORES] = [const {
    CoreState { affinity: AtomicU64::new(CoreState::DOWN), ticks: AtomicU64::new(0), wakeups: AtomicU64::new(0) }
}; MAX_CORES];
/// Cores up: they are numbered 0..CORES_UP.
static CORES_UP: AtomicUsize = AtomicUsize::new(0);

/// The platform, once brought up.
pub fn platform() -> &'static Platform {
    PLATFORM.get().expect("platform used before bring-up")
}

/// Timer interrupts the boot core took so far: [`TICK_HZ`] a second,
/// whatever the number of cores.
pub fn ticks() -> u64 {
    core_ticks(0)
}

/// Timer interrupts core number `core` took so far.
pub fn core_ticks(core: usize) -> u64 {
    CORES.get(core).map_or(0, |c| c.ticks.load(Ordering::Relaxed))
}

/// Wake-up interrupts ([`send_wakeup_ipi`]) core number `core` took so far.
pub fn core_wakeups(core: usize) -> u64 {
    CORES.get(core).map_or(0, |c| c.wakeups.load(Ordering::Relaxed))
}

/// How many cores run the kernel: they are numbered `0..cores_up()`.
pub fn cores_up() -> usize {
    CORES_UP.load(Ordering::Acquire)
}

/// The MPIDR affinity core number `core` read on itself, once it is up.
pub fn core_affinity(core: usize) -> Option<u64> {
    let affinity = CORES.get(core)?.affinity.load(Ordering::Acquire);
    (affinity != CoreState::DOWN).then_some(affinity)
}

fn linker_symbol(symbol: *const u8) -> u64 {
    symbol.addr() as u64
}

/// The kernel image's sections, as link addresses.
struct ImageLayout {
    start: u64,
    text_end: u64,
    rodata_end: u64,
    end: u64,
}

fn image_layout() -> ImageLayout {
    unsafe extern "C" {
        static __kernel_start: u8;
        static __text_end: u8;
        static __rodata_end: u8;
        static __kernel_end: u8;
    }
    ImageLayout {
        start: linker_symbol(&raw const __kernel_start),
        text_end: linker_symbol(&raw const __text_end),
        rodata_end: linker_symbol(&raw const __rodata_end),
        end: linker_symbol(&raw const __kernel_end),
    }
}

/// A bump allocator over one window of free RAM, for memory needed before
/// the heap exists (the heap itself and the kernel's translation tables).
struct EarlyFrames {
    start: u64,
    next: u64,
    end: u64,
}

/// Room the early allocator keeps beyond the heap, for translation tables.
const EARLY_TABLE_ROOM: u64 = 16 * 1024 * 1024;

impl EarlyFrames {
    /// The first window of `bank` above `above` that holds `size` bytes
    /// (2 MiB-aligned) and overlaps none of `reserved`.
    fn window(bank: PhysRange, above: u64, size: u64, reserved: &[PhysRange]) -> Option<EarlyFrames> {
        let mut start = above.max(bank.start).next_multiple_of(mmu::BLOCK_2M);
        loop {
            let end = start.checked_add(size)?;
            if end > bank.end {
                return None;
            }
            match reserved.iter().find(|r| r.start < end && start < r.end) {
                Some(r) => start = r.end.next_multiple_of(mmu::BLOCK_2M),
                None => return Some(EarlyFrames { start, next: start, end }),
            }
        }
    }

    /// What has been taken so far.
    fn used(&self) -> PhysRange {
        PhysRange { start: self.start, end: self.next }
    }

    fn take(&mut self, size: u64, align: u64) -> Option<PhysRange> {
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        (end <= self.end).then(|| {
            self.next = end;
            PhysRange { start, end }
        })
    }

    fn zeroed_frame(&mut self) -> Option<PhysAddr> {
        let frame = self.take(mmu::PAGE_SIZE, mmu::PAGE_SIZE)?;
        zero_physical(frame);
        Some(PhysAddr(frame.start))
    }
}

/// Zeroes RAM through the linear map.
fn zero_physical(range: PhysRange) {
    let start: *mut u8 = core::ptr::with_exposed_provenance_mut(PhysAddr(range.start).to_virt() as usize);
    // SAFETY: the range is free RAM owned by the caller, mapped by the linear map.
    unsafe { core::ptr::write_bytes(start, 0, range.len() as usize) };
}

fn device_window(range: PhysRange) -> Mmio {
    // SAFETY: `map_kernel` maps every device range of the machine as device
    // memory at its linear-map address before any window is used.
    unsafe { Mmio::new(PhysAddr(range.start).to_virt() as usize, range.len() as usize) }
}

/// Reads the device tree the loader left at `dtb_hint` (or at the start of
/// RAM) through the boot map.
fn read_device_tree(dtb_hint: u64) -> &'static [u8] {
    for candidate in [dtb_hint, DEFAULT_DTB] {
        if candidate == 0 || candidate % 8 != 0 {
            continue;
        }
        let base: *const u8 = core::ptr::with_exposed_provenance(PhysAddr(candidate).to_virt() as usize);
        // SAFETY: the boot map covers RAM from 1 GiB up; 8 bytes of header are read.
        let header = unsafe { &*base.cast::<[u8; 8]>() };
        if let Some(size) = Machine::blob_size(header) {
            // SAFETY: the header says the blob is `size` bytes, all in RAM,
            // which nothing writes while the kernel runs (it is reserved).
            return unsafe { core::slice::from_raw_parts(base, size) };
        }
    }
    early_fail("no device tree found");
}

/// Reports a failure before the console exists and powers off through PSCI
/// (HVC, the conduit of `virt` without EL2) or semihosting.
fn early_fail(why: &str) -> ! {
    let uart = Pl011::new(device_window(PhysRange::new(0x0900_0000, 0x1000)));
    write_kernel_frame(&uart, format_args!("morsel: early boot failure: {why}\n"));
    semihosting::exit(3);
}

/// Builds the kernel's exact upper-half map: RAM RW and non-executable, the
/// image's text RX and read-only data RO, every device as device memory.
fn map_kernel(machine: &Machine, early: &mut EarlyFrames) -> TranslationTables {
    let layout = image_layout();
    let mut alloc = || early.zeroed_frame();
    let mut tables = TranslationTables::new(&mut alloc).unwrap_or_else(|_| early_fail("no frame for tables"));
    let image_phys = PhysRange {
        start: PhysAddr::from_virt(layout.start).0,
        end: PhysAddr::from_virt(layout.end).0,
    };
    let mut map = |range: PhysRange, kind: KernelMapping, alloc: &mut dyn FnMut() -> Option<PhysAddr>| {
        let start = range.start & !(mmu::PAGE_SIZE - 1);
        let end = range.end.next_multiple_of(mmu::PAGE_SIZE);
        if start < end {
            tables
                .map(PhysAddr(start).to_virt(), PhysAddr(start), end - start, kind, alloc)
                .unwrap_or_else(|_| early_fail("kernel map"));
        }
    };
    for bank in &machine.memory {
        // RAM around the image, then the image's three parts.
        map(PhysRange { start: bank.start, end: image_phys.start.clamp(bank.start, bank.end) }, KernelMapping::ReadWrite, &mut alloc);
        map(PhysRange { start: image_phys.end.clamp(bank.start, bank.end), end: bank.end }, KernelMapping::ReadWrite, &mut alloc);
    }
    let phys = |va: u64| PhysAddr::from_virt(va).0;
    map(PhysRange { start: phys(layout.start), end: phys(layout.text_end) }, KernelMapping::Text, &mut alloc);
    map(PhysRange { start: phys(layout.text_end), end: phys(layout.rodata_end) }, KernelMapping::ReadOnly, &mut alloc);
    map(PhysRange { start: phys(layout.rodata_end), end: phys(layout.end) }, KernelMapping::ReadWrite, &mut alloc);
    let mut devices = alloc::vec![machine.uart.regs];
    match machine.interrupt_controller {
        InterruptController::GicV2 { distributor, cpu_interface } => devices.extend([distributor, cpu_interface]),
        InterruptController::GicV3 { distributor, redistributors } => devices.extend([distributor, redistributors]),
    }
    devices.extend(machine.rtc.map(|d| d.regs));
    devices.extend(machine.virtio_mmio.iter().map(|d| d.regs));
    for device in devices {
        map(device, KernelMapping::Device, &mut alloc);
    }
    tables
}

#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Brings the machine up. Called once, by `morsel_start`, with the MMU on
/// (boot map) and interrupts masked.
pub fn bring_up(dtb_hint: u64, entry_el: u8) -> &'static Platform {
    let blob = read_device_tree(dtb_hint);
    let features = cpu::features();
    let layout = image_layout();
    let image = PhysRange { start: PhysAddr::from_virt(layout.start).0, end: PhysAddr::from_virt(layout.end).0 };

    // Memory banks, the initrd and the device tree, without the heap: read
    // straight from the blob.
    let fdt = fdt::Fdt::new(blob).unwrap_or_else(|_| early_fail("bad device tree"));
    let device_tree = PhysRange::new(PhysAddr::from_virt(blob.as_ptr().addr() as u64).0, blob.len() as u64);
    let initrd = crate::machine::initrd_of(&fdt);
    let reserved = [image, device_tree, initrd.unwrap_or(image)];
    let bank = fdt
        .memory()
        .regions()
        .map(|r| PhysRange::new(r.starting_address.addr() as u64, r.size.unwrap_or(0) as u64))
        .find(|r| r.start <= image.start && image.end <= r.end)
        .unwrap_or_else(|| early_fail("the kernel image is not in a RAM bank"));
    // A quarter of the bank (file data and μprocess memory are frames, not
    // heap), less where the initrd leaves no room for that much.
    let (heap_size, mut early) = core::iter::successors(Some((bank.len() / 4).min(HEAP_MAX) & !(mmu::BLOCK_2M - 1)), |size| {
        Some(size / 2 & !(mmu::BLOCK_2M - 1)).filter(|&half| half >= HEAP_MIN)
    })
    .find_map(|size| Some((size, EarlyFrames::window(bank, image.end, size + EARLY_TABLE_ROOM, &reserved)?)))
    .unwrap_or_else(|| early_fail("no room for the heap"));
    let heap = early.take(heap_size, mmu::BLOCK_2M).unwrap_or_else(|| early_fail("no room for the heap"));
    let heap_start: *mut u8 = core::ptr::with_exposed_provenance_mut(PhysAddr(heap.start).to_virt() as usize);
    // SAFETY: `heap` is RAM nothing else uses, mapped by the boot map (and by
    // the kernel map that replaces it), handed to the allocator once.
    unsafe { HEAP.lock().init(heap_start, heap.len() as usize) };

    let machine = Machine::from_device_tree(blob).unwrap_or_else(|e| match e {
        crate::machine::MachineError::BadBlob => early_fail("bad device tree"),
        crate::machine::MachineError::Missing(what) => early_fail(what),
    });
    let kernel_tables = map_kernel(&machine, &mut early);
    // SAFETY: the new tables map the image, RAM (stacks, heap) and devices
    // at the addresses the boot map gave them; the Morello descriptor bits
    // are turned on only when the CPU reported capabilities
    // (ID_AA64PFR1_EL1.CE).
    unsafe { kernel_tables.activate_kernel(features.capabilities) };

    let mut frames = RangeAllocator::new();
    for bank in &machine.memory {
        // The banks are disjoint, so none can be a double free.
        let _ = frames.free(*bank);
    }
    for range in reserved {
        frames.reserve(range);
    }
    frames.reserve(early.used());

    let uart = Pl011::new(device_window(machine.uart.regs));
    let mut received = VecDeque::with_capacity(CONSOLE_INPUT_BYTES);
    uart.init(&mut |byte| received.push_back(byte));
    let gic = match machine.interrupt_controller {
        InterruptController::GicV2 { distributor, cpu_interface } => {
            Gic::V2(GicV2::new(device_window(distributor), device_window(cpu_interface)))
        }
        InterruptController::GicV3 { distributor, redistributors } => Gic::V3(GicV3::new(
            device_window(distributor),
            device_window(redistributors),
            redistributors.len() as usize,
        )),
    };
    let psci = machine.psci_method.as_deref().and_then(psci::Conduit::from_method);
    crate::random::seed(&machine.rng_seed);
    let realtime_at_boot_ns = machine
        .rtc
        .map(|rtc| u64::from(device_window(rtc.regs).read(0)) * 1_000_000_000)
        .unwrap_or(0)
        .saturating_sub(timer::uptime_ns());
    let semihosting_exit = machine.boot_arg("morsel.exit") == Some("semihosting");
    let platform = PLATFORM.call_once(|| Platform {
        machine,
        console: Console { uart, received: Mutex::new(received) },
        gic,
        psci,
        semihosting_exit,
        features,
        entry_el,
        frames: Mutex::new(frames),
        heap,
        image,
        device_tree,
        realtime_at_boot_ns,
        kernel_tables,
    });
    exception::install(ExceptionHooks { irq: handle_irq, fatal: kernel_fault });
    crate::logger::init(platform.machine.boot_arg("morsel.log"));

    platform.gic.init();
    // Device interrupts go to this core only.
    if let Some(intid) = platform.machine.uart.intid {
        platform.gic.enable(intid);
    }
    start_interrupts_on_this_core(platform);
    CORES_UP.store(1, Ordering::Release);
    platform
}

/// This core's share of interrupts: the timer tick and the wake-up SGI
/// enabled, the tick armed, EL0 counter reads allowed (the vDSO reads the
/// counter), the core recorded as up, IRQs unmasked. The GIC interface of
/// this core must be on.
fn start_interrupts_on_this_core(platform: &Platform) {
    platform.gic.enable(platform.machine.virtual_timer_intid);
    platform.gic.enable(WAKEUP_SGI);
    timer::arm(timer::frequency() / TICK_HZ);
    timer::allow_el0_counter();
    CORES[cpu::core_id()].affinity.store(cpu::core_affinity(), Ordering::Release);
    cpu::enable_irqs();
}

/// Starts every core the device tree lists besides this (the boot) core,
/// one at a time through PSCI CPU_ON, each on a stack of its own from the
/// heap, numbered in that order, and waits for each to report itself up;
/// logs `cores: N (M started)` (M counts this core). A core the firmware
/// refuses to start is skipped. If a started core does not come up within
/// [`CORE_START_TIMEOUT_S`], no more are started: one that came up late
/// would share its number with the next.
pub fn start_secondary_cores() {
    let platform = platform();
    let me = cpu::core_affinity();
    let others = platform.machine.cpu_ids.iter().copied().filter(|&id| id != me);
    match platform.psci {
        Some(conduit) => {
            for mpidr in others {
                let core = cores_up();
                if core >= MAX_CORES {
                    log::warn!("cores: only {MAX_CORES} are supported; the others stay off");
                    break;
                }
                let mut stack = alloc::vec::Vec::new();
                if stack.try_reserve_exact(CORE_STACK_SIZE / 16).is_err() {
                    log::warn!("cores: no memory for core {core}'s stack");
                    break;
                }
                stack.resize(CORE_STACK_SIZE / 16, 0u128);
                if let Err(error) = boot::start_secondary(conduit, mpidr, core, stack.leak()) {
                    log::warn!("cores: PSCI CPU_ON {mpidr:#x} failed ({error})");
                    continue;
                }
                let deadline = timer::counter() + CORE_START_TIMEOUT_S * timer::frequency();
                while core_affinity(core).is_none() && timer::counter() < deadline {
                    core::hint::spin_loop();
                }
                if core_affinity(core).is_none() {
                    log::warn!("cores: core {mpidr:#x} started but did not come up within {CORE_START_TIMEOUT_S} s");
                    break;
                }
                CORES_UP.store(core + 1, Ordering::Release);
            }
        }
        None if platform.machine.cpus > 1 => log::warn!("cores: no PSCI to start the others with"),
        None => {}
    }
    log::info!("cores: {} ({} started)", platform.machine.cpus, cores_up());
}

/// Brings up the secondary core this runs on, started by
/// [`start_secondary_cores`]: the kernel's translation tables (as on the
/// boot core: TTBR1 the kernel map, TTBR0 walks off), the exception
/// vectors, its GIC interface, its timer tick and the wake-up SGI; then
/// records it as up and unmasks IRQs.
pub fn bring_up_this_core() {
    let platform = platform();
    // SAFETY: the kernel tables are the boot core's, which map the image,
    // all of RAM (this core's stack, from the heap, included) and the
    // devices at the addresses the boot map gave them; the capability bits
    // only where the CPU has them.
    unsafe { platform.kernel_tables.activate_kernel(platform.features.capabilities) };
    exception::install_on_this_core();
    platform.gic.init_this_core();
    start_interrupts_on_this_core(platform);
}

/// Makes core number `core` take an interrupt (SGI [`WAKEUP_SGI`]), which
/// ends a wait for an interrupt there; its handler does nothing else. Stores
/// made before are visible to that core when it wakes. Does nothing if no
/// such core is up.
pub fn send_wakeup_ipi(core: usize) {
    if core < cores_up() {
        platform().gic.send_sgi(WAKEUP_SGI, core);
    }
}

/// Handles every pending interrupt on this core (from the IRQ vector, or
/// from the process loop when a μprocess was interrupted).
pub fn handle_irq() {
    let platform = platform();
    let core = &CORES[cpu::core_id()];
    while let Some(interrupt) = platform.gic.acknowledge() {
        let intid = interrupt.intid;
        if intid == platform.machine.virtual_timer_intid {
            core.ticks.fetch_add(1, Ordering::Relaxed);
            timer::arm(timer::frequency() / TICK_HZ);
        } else if intid == WAKEUP_SGI {
            core.wakeups.fetch_add(1, Ordering::Relaxed);
        } else if Some(intid) == platform.machine.uart.intid {
            platform.console.receive_interrupt();
        } else {
            log::warn!("unexpected interrupt {intid}");
        }
        platform.gic.end_of_interrupt(interrupt);
    }
}

/// Status with which a run ends after a kernel fault.
pub const STATUS_KERNEL_FAULT: u32 = 3;
/// Status with which a run ends after a kernel panic.
pub const STATUS_KERNEL_PANIC: u32 = 2;

/// Writes to the UART without taking the console lock (for fault reports,
/// which may interrupt a writer holding it).
#[derive(Debug)]
pub struct EmergencyWriter;

impl Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        match PLATFORM.get() {
            Some(p) => write_kernel_frame(&p.console.uart, format_args!("{s}")),
            None => write_kernel_frame(&Pl011::new(device_window(PhysRange::new(0x0900_0000, 0x1000))), format_args!("{s}")),
        }
        Ok(())
    }
}

fn kernel_fault(report: &FaultReport) -> ! {
    let _ = write!(EmergencyWriter, "\nmorsel: kernel fault\n{report}");
    power_off(STATUS_KERNEL_FAULT);
}

/// Ends the run with `status`: through semihosting when the run was started
/// that way (the host sees the status), otherwise PSCI SYSTEM_OFF.
pub fn power_off(status: u32) -> ! {
    cpu::disable_irqs();
    if EXITING.swap(true, Ordering::SeqCst) {
        // A fault while powering off: do not recurse.
        semihosting::exit(status);
    }
    log::info!("powering off (status {status})");
    match PLATFORM.get() {
        Some(p) if p.semihosting_exit => semihosting::exit(status),
        Some(Platform { psci: Some(conduit), .. }) => conduit.system_off(),
        _ => semihosting::exit(status),
    }
}
