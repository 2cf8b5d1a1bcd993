//! The kernel's entries from the boot code: on the boot core bring-up, the
//! banner, the other cores' start, then either the in-kernel tests
//! (`morsel.mode=test`) or the normal run, and power-off; on every other
//! core its bring-up and then what it runs ([`run_secondary`]).

use crate::platform::{self, Platform, power_off};
use crate::machine::InterruptController;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Called by `arch_morello::boot` with the DTB address the loader passed (or
/// 0) and the exception level the loader started the kernel at.
#[unsafe(no_mangle)]
extern "C" fn morsel_start(dtb_hint: u64, entry_el: u64) -> ! {
    let platform = platform::bring_up(dtb_hint, entry_el as u8);
    print_banner(platform);
    platform::start_secondary_cores();
    let status = match platform.machine.boot_arg("morsel.mode") {
        Some("test") => {
            let filter = platform.machine.boot_arg("morsel.test").unwrap_or("");
            let mut out = ConsoleWriter;
            let summary = crate::ktest::run_tests(crate::ktest::registered(), filter, &mut out);
            u32::from(summary.failed > 0)
        }
        _ => run_first_process(platform),
    };
    power_off(status);
}

/// Called by `arch_morello::boot` on each secondary core, once the MMU is
/// on, on the core's own stack, with IRQs masked.
#[unsafe(no_mangle)]
extern "C" fn morsel_secondary_start() -> ! {
    platform::bring_up_this_core();
    run_secondary(arch_morello::cpu::core_id())
}

/// What secondary core number `core` (1..) runs once it is up, with IRQs
/// unmasked: for now it only waits for interrupts (its timer tick, wake-up
/// IPIs), until the scheduler runs threads there.
fn run_secondary(core: usize) -> ! {
    log::info!("core {core} up");
    crate::process::scheduler::secondary_core(core)
}

/// The environment of the first μprocess: Linux gives init HOME and TERM;
/// PATH is what a user expects a program to find commands with.
const INIT_ENVIRONMENT: [&[u8]; 3] =
    [b"HOME=/", b"TERM=linux", b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/// Decodes `morsel.argv=HEX,HEX,...` (each argument's bytes in hex).
fn decode_argv(encoded: &str) -> Option<Vec<Vec<u8>>> {
    encoded
        .split(',')
        .map(|arg| {
            (0..arg.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(arg.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .collect()
}

/// Runs the program named on the command line (or the image's
/// `/etc/morsel/command`) from the initramfs as the first μprocess, and
/// returns the status the run ends with: its exit status, or 128 + the
/// signal that killed it; 127 when it cannot be started.
fn run_first_process(platform: &Platform) -> u32 {
    let Some(initrd) = platform.machine.initrd else {
        log::info!("no initramfs: nothing to run");
        return 0;
    };
    let base: *const u8 = core::ptr::with_exposed_provenance(arch_morello::PhysAddr(initrd.start).to_virt() as usize);
    // SAFETY: QEMU loaded the initrd there; bring-up reserved the range and
    // the linear map covers it; nothing writes it.
    let archive = unsafe { core::slice::from_raw_parts(base, initrd.len() as usize) };
    crate::process::info::install();
    if crate::files::unpack_initramfs(archive).is_err() {
        return 127;
    }
    let argv = match platform.machine.boot_arg("morsel.argv") {
        Some(encoded) => decode_argv(encoded),
        None => crate::files::read_file(b"/etc/morsel/command").ok().map(|text| {
            text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
        }),
    };
    let Some(argv) = argv.filter(|a| !a.is_empty()) else {
        log::error!("no program to run: give one after `--` or put /etc/morsel/command in the image");
        return 127;
    };
    let path = argv[0].clone();
    let exe = match crate::files::read_program(&path) {
        Ok(exe) => exe,
        Err(e) => {
            log::error!("{}: {e}", String::from_utf8_lossy(&path));
            return if e == posix_shim::Errno::ENOENT { 127 } else { 126 };
        }
    };
    let envp = INIT_ENVIRONMENT.iter().map(|v| v.to_vec()).collect();
    let files = match crate::files::FileState::with_console() {
        Ok(files) => files,
        Err(e) => {
            log::error!("cannot open /dev/console: {e}");
            return 127;
        }
    };
    let cwd = platform.machine.boot_arg("morsel.cwd").and_then(|hex| decode_argv(hex)).and_then(|mut v| v.pop());
    let files = match cwd {
        Some(dir) => match files.with_cwd(&dir) {
            Ok(files) => files,
            Err(e) => {
                log::error!("cannot change to {}: {e}", String::from_utf8_lossy(&dir));
                return 127;
            }
        },
        None => files,
    };
    let spawned = crate::process::Process::spawn(
        crate::process::next_pid(),
        &path,
        &exe,
        argv,
        envp,
        files,
        &mut crate::files::read_interpreter,
    );
    match spawned {
        Ok(process) => {
            let pid = process.pid;
            let exit = crate::process::scheduler::run(process);
            log::info!("pid {pid} ended: {exit:?}");
            exit.shell_status()
        }
        Err(e) => {
            log::error!("{}: cannot execute: {e}", String::from_utf8_lossy(&path));
            126
        }
    }
}

/// `fmt::Write` to the console.
#[derive(Debug)]
pub struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        platform::platform().console.write_kernel(s);
        Ok(())
    }
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

fn print_banner(p: &Platform) {
    let m = &p.machine;
    let mut out = String::new();
    let _ = writeln!(out, "Morsel {} on {}", env!("CARGO_PKG_VERSION"), m.model);
    let _ = writeln!(
        out,
        "  cpu: {} (MIDR {:#010x}), {} core(s) described, {}-bit physical addresses",
        p.features.cpu_name(),
        p.features.midr,
        m.cpus,
        p.features.physical_address_bits
    );
    let _ = writeln!(out, "  started at EL{}, running at EL1", p.entry_el);
    let _ = writeln!(
        out,
        "  capabilities: {}",
        if p.features.capabilities { "Morello (CHERI) capabilities present and enabled" } else { "none (stock AArch64)" }
    );
    for bank in &m.memory {
        let _ = writeln!(out, "  memory: {:#012x}..{:#012x} ({} MiB)", bank.start, bank.end, mib(bank.len()));
    }
    let _ = writeln!(out, "  kernel image: {:#012x}..{:#012x}", p.image.start, p.image.end);
    let _ = writeln!(out, "  kernel heap: {:#012x}..{:#012x} ({} MiB)", p.heap.start, p.heap.end, mib(p.heap.len()));
    let _ = writeln!(out, "  free for frames and regions: {} MiB", mib(p.frames.lock().free_bytes()));
    match m.interrupt_controller {
        InterruptController::GicV2 { distributor, cpu_interface } => {
            let _ = writeln!(out, "  interrupts: GICv2, distributor {:#x}, CPU interface {:#x}", distributor.start, cpu_interface.start);
        }
        InterruptController::GicV3 { distributor, redistributors } => {
            let _ = writeln!(out, "  interrupts: GICv3, distributor {:#x}, redistributors {:#x}", distributor.start, redistributors.start);
        }
    }
    let _ = writeln!(
        out,
        "  timer: {} Hz counter, virtual timer interrupt {}, tick {} Hz",
        arch_morello::timer::frequency(),
        m.virtual_timer_intid,
        platform::TICK_HZ
    );
    let _ = writeln!(out, "  console: PL011 at {:#x}, interrupt {:?}", m.uart.regs.start, m.uart.intid);
    if let Some(rtc) = m.rtc {
        let _ = writeln!(out, "  rtc: PL031 at {:#x}", rtc.regs.start);
    }
    let _ = writeln!(out, "  psci: {}", m.psci_method.as_deref().unwrap_or("absent"));
    let _ = writeln!(out, "  virtio-mmio: {} slots", m.virtio_mmio.len());
    if let Some(initrd) = m.initrd {
        let _ = writeln!(out, "  initrd: {:#x}..{:#x}", initrd.start, initrd.end);
    }
    let _ = writeln!(out, "  boot arguments: {}", m.bootargs);
    p.console.write_kernel(&out);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(platform::EmergencyWriter, "\nmorsel: kernel panic: {info}");
    power_off(platform::STATUS_KERNEL_PANIC);
}
