//! The kernel's side of /proc and /sys: a [`ProcProvider`] over the machine
//! (memory, CPUs, timer, real-time clock) and over the process table, whose
//! per-process data comes from functions installed at boot ([`install`]),
//! and the mounting of both filesystems on the VFS ([`mount`]).
//!
//! The provider is called during path lookups and opens made by the
//! calling μprocess, while the kernel holds that μprocess: the installed
//! functions must not lock it again (the caller's own data must come from
//! where the syscall path can read it without a second lock).

use alloc::sync::Arc;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::procfs::{CpuDescription, CpuTimes, ProcFs, ProcProvider, ProcessInfo, SysFs, SystemInfo, USER_HZ};
use posix_shim::vfs::{Credentials, Vfs};
use spin::Once;

/// One process's data, or `None` if there is no such pid.
pub type ProcessLookup = dyn Fn(u32) -> Option<ProcessInfo> + Send + Sync;
/// The live pids, ascending.
pub type ProcessList = dyn Fn() -> Vec<u32> + Send + Sync;
/// The pid of the μprocess making the current system call.
pub type CurrentPid = dyn Fn() -> u32 + Send + Sync;

/// Where the per-process data comes from (supplied by the process layer).
pub struct Sources {
    /// One process.
    pub process: &'static ProcessLookup,
    /// Every pid.
    pub processes: &'static ProcessList,
    /// The caller.
    pub current_pid: &'static CurrentPid,
}

impl core::fmt::Debug for Sources {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sources")
    }
}

static SOURCES: Once<Sources> = Once::new();

/// Installs the process layer's functions (once, at boot; later calls are
/// ignored). Until then /proc shows no processes and `/proc/self` names 1.
pub fn install(sources: Sources) {
    SOURCES.call_once(|| sources);
}

/// The hwcap names AT_HWCAP advertises (`process::HWCAP`: FP, ASIMD,
/// EVTSTRM, CPUID), in Linux's `hwcap_str` order.
const FEATURES: [&str; 4] = ["fp", "asimd", "evtstrm", "cpuid"];

/// The release `uname` reports (`syscall::info::RELEASE`).
const RELEASE: &str = "6.1.0-morsel";

/// The largest pid plus one (Linux's default on small machines).
const PID_MAX: u32 = 32768;

/// The kernel's provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelProc;

fn ticks(ns: u64) -> u64 {
    ns / (1_000_000_000 / USER_HZ)
}

impl ProcProvider for KernelProc {
    fn processes(&self) -> Vec<u32> {
        SOURCES.get().map_or_else(Vec::new, |s| (s.processes)())
    }

    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        SOURCES.get().and_then(|s| (s.process)(pid))
    }

    fn current_pid(&self) -> u32 {
        SOURCES.get().map_or(1, |s| (s.current_pid)())
    }

    fn system(&self) -> SystemInfo {
        let platform = crate::platform::platform();
        let uptime_ns = arch_morello::timer::uptime_ns();
        let mem_total: u64 = platform.machine.memory.iter().map(|r| r.end - r.start).sum();
        let mem_free = crate::frames::free_bytes();
        let tmpfs = crate::files::vfs().stats();
        let shmem = tmpfs.blocks.saturating_sub(tmpfs.blocks_free) * tmpfs.block_size;
        let bogomips = CpuDescription::bogomips_for_timer(arch_morello::timer::frequency());
        let cpu_count = platform.machine.cpus.max(1);
        // No per-CPU time accounting yet: the boot CPU's time is all idle
        // as far as /proc/stat can tell, the others have not run.
        let cpus = (0..cpu_count)
            .map(|i| CpuDescription {
                features: FEATURES.to_vec(),
                bogomips_centi: bogomips,
                times: CpuTimes { idle: if i == 0 { ticks(uptime_ns) } else { 0 }, ..CpuTimes::default() },
                ..CpuDescription::from_midr(platform.features.midr)
            })
            .collect();
        let pids = self.processes();
        let last_pid = pids.iter().copied().max().unwrap_or(1);
        SystemInfo {
            uptime_ns,
            idle_ns: 0,
            boot_time_s: platform.realtime_at_boot_ns / 1_000_000_000,
            mem_total,
            mem_free,
            mem_available: mem_free,
            shmem,
            anon: mem_total.saturating_sub(mem_free).saturating_sub(platform.heap.len()).saturating_sub(shmem),
            kernel_heap: platform.heap.len(),
            cpus,
            loadavg: [0, 0, 0],
            running: 1,
            threads: u32::try_from(pids.len()).unwrap_or(u32::MAX).max(1),
            last_pid,
            interrupts: crate::platform::ticks(),
            context_switches: 0,
            forks: u64::from(last_pid),
            blocked: 0,
            os_release: RELEASE.as_bytes().to_vec(),
            pid_max: PID_MAX,
        }
    }
}

/// Mounts /proc and /sys on the VFS's `/proc` and `/sys` directories.
pub fn mount(vfs: &Vfs) -> Result<(), Errno> {
    let provider: Arc<dyn ProcProvider> = Arc::new(KernelProc);
    let root = Credentials::root();
    let proc_dir = vfs.lookup(&vfs.root(), b"/proc", true, &root)?;
    vfs.mount(&proc_dir, Arc::new(ProcFs::new(provider.clone())))?;
    let sys_dir = vfs.lookup(&vfs.root(), b"/sys", true, &root)?;
    vfs.mount(&sys_dir, Arc::new(SysFs::new(provider)))
}
