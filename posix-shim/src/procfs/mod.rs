//! `/proc` and `/sys`: synthetic filesystems ([`ProcFs`], [`SysFs`]) whose
//! content comes from the kernel through [`ProcProvider`], in Linux's exact
//! formats (Linux 6.1, arm64).
//!
//! The kernel implements [`ProcProvider`] over its process table and its
//! machine, and mounts the two filesystems with
//! [`Vfs::mount`](crate::vfs::Vfs::mount):
//!
//! - `/proc/self` (a symlink to the caller's pid), `/proc/PID/` with `exe`,
//!   `cwd`, `root` (symlinks), `fd/` (symlinks), `task/PID/`, `cmdline`,
//!   `comm`, `environ`, `stat`, `statm`, `status`, `maps`, `smaps`,
//!   `mounts`;
//! - `cpuinfo`, `meminfo`, `stat`, `uptime`, `loadavg`, `mounts`,
//!   `filesystems`, and `sys/` (`kernel/ngroups_max`, `kernel/pid_max`,
//!   `kernel/osrelease`, `kernel/ostype`, `vm/overcommit_memory`,
//!   `vm/max_map_count`, `net/core/somaxconn`, `fs/pipe-max-size`);
//! - `/sys/devices/system/cpu/{online,possible,present}`,
//!   `/sys/devices/system/clocksource/clocksource0/current_clocksource`,
//!   `/sys/kernel/mm/transparent_hugepage/{enabled,defrag}`.
//!
//! Times are in clock ticks of [`USER_HZ`] unless a field says otherwise;
//! sizes are in bytes.

mod format;
mod tree;

#[cfg(test)]
pub(crate) mod tests;

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Errno;
use crate::vfs::{DevNumber, FileType, MountEntry, SynthStat, SyntheticFs};

pub use format::{cpu_list, cpuinfo, loadavg, maps, meminfo, mounts, proc_stat, process_stat, smaps, statm, status, uptime};

/// Clock ticks per second as user space sees them (`sysconf(_SC_CLK_TCK)`).
pub const USER_HZ: u64 = 100;
/// `PROC_SUPER_MAGIC`.
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
/// `SYSFS_MAGIC`.
pub const SYSFS_MAGIC: u64 = 0x6265_6572;
/// `st_dev` of /proc (an anonymous device, as Linux's 0:20 style).
pub const PROC_DEV: DevNumber = DevNumber::new(0, 20);
/// `st_dev` of /sys.
pub const SYSFS_DEV: DevNumber = DevNumber::new(0, 21);

/// What the kernel tells /proc and /sys. Called during path lookups and
/// opens of the calling μprocess: implementations must not take locks the
/// caller may hold (the caller's own process state in particular).
pub trait ProcProvider: Send + Sync {
    /// The pids of the live processes, ascending.
    fn processes(&self) -> Vec<u32>;
    /// One process, or `None` if there is none with that pid.
    fn process(&self, pid: u32) -> Option<ProcessInfo>;
    /// The pid of the process making the call (`/proc/self`).
    fn current_pid(&self) -> u32;
    /// The machine and the kernel's counters.
    fn system(&self) -> SystemInfo;
}

/// A process's scheduling state (the `State:` line and `stat`'s third field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskState {
    /// `R (running)`.
    #[default]
    Running,
    /// `S (sleeping)`: waiting, interruptibly.
    Sleeping,
    /// `D (disk sleep)`.
    DiskSleep,
    /// `T (stopped)`.
    Stopped,
    /// `Z (zombie)`: exited, not yet reaped.
    Zombie,
}

impl TaskState {
    /// The letter.
    pub const fn letter(self) -> u8 {
        match self {
            TaskState::Running => b'R',
            TaskState::Sleeping => b'S',
            TaskState::DiskSleep => b'D',
            TaskState::Stopped => b'T',
            TaskState::Zombie => b'Z',
        }
    }

    /// The `State:` text.
    pub const fn description(self) -> &'static str {
        match self {
            TaskState::Running => "R (running)",
            TaskState::Sleeping => "S (sleeping)",
            TaskState::DiskSleep => "D (disk sleep)",
            TaskState::Stopped => "T (stopped)",
            TaskState::Zombie => "Z (zombie)",
        }
    }
}

/// One open descriptor, for `/proc/PID/fd/N`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdInfo {
    /// The descriptor number.
    pub fd: u32,
    /// What the link reads: an absolute path, `pipe:[INO]`, `socket:[INO]`,
    /// `anon_inode:[eventfd]`.
    pub target: Vec<u8>,
    /// Open for reading (the link's `r-x` bits).
    pub readable: bool,
    /// Open for writing (the link's `-wx` bits).
    pub writable: bool,
    /// The file offset (`fdinfo`'s `pos`).
    pub position: u64,
    /// The open flags as `fdinfo` shows them (O_CLOEXEC for a close-on-exec
    /// descriptor).
    pub flags: u32,
    /// The inode number.
    pub ino: u64,
}

/// How much of a mapping is in memory, in bytes (the `smaps` figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AreaUsage {
    /// Resident.
    pub rss: u64,
    /// Proportional share (resident pages divided by their sharers).
    pub pss: u64,
    /// Resident, also mapped elsewhere, unmodified.
    pub shared_clean: u64,
    /// Resident, also mapped elsewhere, modified.
    pub shared_dirty: u64,
    /// Resident, only here, unmodified.
    pub private_clean: u64,
    /// Resident, only here, modified.
    pub private_dirty: u64,
    /// Resident and not backed by a file (including copies of file pages).
    pub anonymous: u64,
}

impl AreaUsage {
    /// A mapping nobody else shares: `rss` resident bytes, of which `dirty`
    /// were written and `anonymous` are not file pages.
    pub const fn private(rss: u64, dirty: u64, anonymous: u64) -> AreaUsage {
        AreaUsage { rss, pss: rss, shared_clean: 0, shared_dirty: 0, private_clean: rss - dirty, private_dirty: dirty, anonymous }
    }
}

/// One mapping (a line of `/proc/PID/maps`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryArea {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `r`/`-`, `w`/`-`, `x`/`-`, then `p` (private) or `s` (shared).
    pub perms: [u8; 4],
    /// Offset in the file (0 for anonymous memory).
    pub offset: u64,
    /// The file's device (0:0 for anonymous memory).
    pub dev: DevNumber,
    /// The file's inode number (0 for anonymous memory).
    pub inode: u64,
    /// The file's path, `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, or empty.
    pub path: Vec<u8>,
    /// Memory use.
    pub usage: AreaUsage,
}

impl MemoryArea {
    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    fn readable(&self) -> bool {
        self.perms[0] == b'r'
    }

    fn writable(&self) -> bool {
        self.perms[1] == b'w'
    }

    fn executable(&self) -> bool {
        self.perms[2] == b'x'
    }

    fn shared(&self) -> bool {
        self.perms[3] == b's'
    }

    fn is_stack(&self) -> bool {
        self.path == b"[stack]"
    }

    fn is_file(&self) -> bool {
        self.path.first() == Some(&b'/')
    }
}

/// Where a process's segments are (`stat` fields 26–28 and 45–51, and
/// `VmExe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressLayout {
    /// Start of the main program's text.
    pub start_code: u64,
    /// End of the main program's text.
    pub end_code: u64,
    /// Start of its data.
    pub start_data: u64,
    /// End of its data.
    pub end_data: u64,
    /// Where the heap starts (`brk` at exec).
    pub start_brk: u64,
    /// The initial stack pointer's page (bottom of the stack).
    pub start_stack: u64,
    /// Where argv's strings start.
    pub arg_start: u64,
    /// Where they end.
    pub arg_end: u64,
    /// Where the environment strings start.
    pub env_start: u64,
    /// Where they end.
    pub env_end: u64,
}

/// Signal sets (bit `n - 1` is signal `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalMasks {
    /// Pending for the process.
    pub pending: u64,
    /// Blocked.
    pub blocked: u64,
    /// Ignored (`SIG_IGN`).
    pub ignored: u64,
    /// With a handler.
    pub caught: u64,
}

/// One process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessInfo {
    /// Process id (and thread-group id).
    pub pid: u32,
    /// Parent's pid (0 for the first process).
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub session: u32,
    /// The controlling terminal.
    pub tty: Option<DevNumber>,
    /// The command name (`comm`, at most 15 bytes are shown).
    pub comm: Vec<u8>,
    /// State.
    pub state: TaskState,
    /// The executable's path (`/proc/PID/exe`).
    pub exe: Vec<u8>,
    /// The working directory's path (`/proc/PID/cwd`).
    pub cwd: Vec<u8>,
    /// argv, each string NUL-terminated (`/proc/PID/cmdline`).
    pub cmdline: Vec<u8>,
    /// The environment, each string NUL-terminated.
    pub environ: Vec<u8>,
    /// Open descriptors, ascending.
    pub fds: Vec<FdInfo>,
    /// Mappings, ascending.
    pub areas: Vec<MemoryArea>,
    /// Segment addresses.
    pub layout: AddressLayout,
    /// Real, effective, saved and filesystem user ids.
    pub uids: [u32; 4],
    /// Real, effective, saved and filesystem group ids.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The file mode creation mask.
    pub umask: u32,
    /// Threads in the process (at least 1).
    pub threads: u32,
    /// The nice value (-20..=19).
    pub nice: i8,
    /// The threads' ids (`task/`); empty means the one thread whose id is
    /// the pid.
    pub tids: Vec<u32>,
    /// When it started, in ticks since boot.
    pub start_ticks: u64,
    /// Time in user mode, in ticks.
    pub utime_ticks: u64,
    /// Time in the kernel, in ticks.
    pub stime_ticks: u64,
    /// Waited-for children's user time.
    pub cutime_ticks: u64,
    /// Waited-for children's kernel time.
    pub cstime_ticks: u64,
    /// Faults that needed no I/O.
    pub minor_faults: u64,
    /// Faults that read a file.
    pub major_faults: u64,
    /// Signal sets.
    pub signals: SignalMasks,
    /// The CPU it last ran on.
    pub cpu: u32,
    /// Context switches by waiting.
    pub voluntary_switches: u64,
    /// Context switches by preemption.
    pub involuntary_switches: u64,
    /// Resource limits (soft, hard) by RLIMIT_* number; `u64::MAX` is
    /// unlimited.
    pub limits: [[u64; 2]; 16],
}

/// Time one CPU spent in each mode, in ticks (`/proc/stat`'s columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// User mode.
    pub user: u64,
    /// User mode at low priority.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Waiting for I/O.
    pub iowait: u64,
    /// Serving interrupts.
    pub irq: u64,
    /// Serving softirqs.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
    /// Running guests.
    pub guest: u64,
    /// Running low-priority guests.
    pub guest_nice: u64,
}

impl CpuTimes {
    fn add(&mut self, o: &CpuTimes) {
        self.user += o.user;
        self.nice += o.nice;
        self.system += o.system;
        self.idle += o.idle;
        self.iowait += o.iowait;
        self.irq += o.irq;
        self.softirq += o.softirq;
        self.steal += o.steal;
        self.guest += o.guest;
        self.guest_nice += o.guest_nice;
    }
}

/// One CPU, as `/proc/cpuinfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuDescription {
    /// MIDR_EL1.Implementer (`0x41` Arm).
    pub implementer: u8,
    /// MIDR_EL1.Variant.
    pub variant: u8,
    /// MIDR_EL1.PartNum (`0xd0c` Neoverse N1).
    pub part: u16,
    /// MIDR_EL1.Revision.
    pub revision: u8,
    /// The hwcap names it has, in Linux's order (`fp asimd evtstrm cpuid`).
    pub features: Vec<&'static str>,
    /// BogoMIPS in hundredths (Linux: twice the timer frequency in MHz).
    pub bogomips_centi: u64,
    /// Time spent in each mode.
    pub times: CpuTimes,
}

impl CpuDescription {
    /// The identification fields from MIDR_EL1.
    pub fn from_midr(midr: u64) -> CpuDescription {
        CpuDescription {
            implementer: ((midr >> 24) & 0xff) as u8,
            variant: ((midr >> 20) & 0xf) as u8,
            part: ((midr >> 4) & 0xfff) as u16,
            revision: (midr & 0xf) as u8,
            ..CpuDescription::default()
        }
    }

    /// BogoMIPS in hundredths for a generic timer of `hz` (Linux arm64
    /// calibrates `loops_per_jiffy` from the timer: `2 * hz / 1e6`).
    pub const fn bogomips_for_timer(hz: u64) -> u64 {
        hz / 5000
    }
}

/// The machine and the kernel's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemInfo {
    /// Time since boot.
    pub uptime_ns: u64,
    /// Idle time summed over CPUs.
    pub idle_ns: u64,
    /// The Unix time of boot (`btime`).
    pub boot_time_s: u64,
    /// RAM the kernel manages.
    pub mem_total: u64,
    /// RAM not in use.
    pub mem_free: u64,
    /// RAM that could be had without swapping.
    pub mem_available: u64,
    /// File data of the tmpfs (`Shmem`, part of `Cached`).
    pub shmem: u64,
    /// Anonymous memory of processes (`AnonPages`).
    pub anon: u64,
    /// The kernel's own allocations (`Slab`).
    pub kernel_heap: u64,
    /// The CPUs, in order (their count gives the `online` lists).
    pub cpus: Vec<CpuDescription>,
    /// Load averages over 1, 5 and 15 minutes, in hundredths.
    pub loadavg: [u32; 3],
    /// Runnable threads now.
    pub running: u32,
    /// Threads now.
    pub threads: u32,
    /// The most recently assigned pid.
    pub last_pid: u32,
    /// Interrupts taken since boot.
    pub interrupts: u64,
    /// Context switches since boot.
    pub context_switches: u64,
    /// Processes created since boot.
    pub forks: u64,
    /// Threads waiting for I/O.
    pub blocked: u32,
    /// The release `uname` reports (`kernel/osrelease`).
    pub os_release: Vec<u8>,
    /// The largest pid plus one (`kernel/pid_max`).
    pub pid_max: u32,
}

/// The /proc filesystem.
pub struct ProcFs {
    provider: Arc<dyn ProcProvider>,
}

impl core::fmt::Debug for ProcFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ProcFs")
    }
}

impl ProcFs {
    /// /proc over `provider`.
    pub fn new(provider: Arc<dyn ProcProvider>) -> ProcFs {
        ProcFs { provider }
    }
}

/// The /sys filesystem (the few files programs read).
pub struct SysFs {
    provider: Arc<dyn ProcProvider>,
}

impl core::fmt::Debug for SysFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SysFs")
    }
}

impl SysFs {
    /// /sys over `provider`.
    pub fn new(provider: Arc<dyn ProcProvider>) -> SysFs {
        SysFs { provider }
    }
}

impl SyntheticFs for ProcFs {
    fn fs_type(&self) -> &'static str {
        "proc"
    }

    fn magic(&self) -> u64 {
        PROC_SUPER_MAGIC
    }

    fn dev(&self) -> DevNumber {
        PROC_DEV
    }

    fn node(&self, path: &[Vec<u8>]) -> Option<SynthStat> {
        tree::proc_node(&*self.provider, path)
    }

    fn entries(&self, path: &[Vec<u8>]) -> Vec<(Vec<u8>, FileType)> {
        tree::proc_entries(&*self.provider, path)
    }

    fn read(&self, path: &[Vec<u8>], mounts: &[MountEntry]) -> Result<Vec<u8>, Errno> {
        tree::proc_read(&*self.provider, path, mounts)
    }

    fn readlink(&self, path: &[Vec<u8>]) -> Result<Vec<u8>, Errno> {
        tree::proc_readlink(&*self.provider, path)
    }
}

impl SyntheticFs for SysFs {
    fn fs_type(&self) -> &'static str {
        "sysfs"
    }

    fn magic(&self) -> u64 {
        SYSFS_MAGIC
    }

    fn dev(&self) -> DevNumber {
        SYSFS_DEV
    }

    fn node(&self, path: &[Vec<u8>]) -> Option<SynthStat> {
        tree::SYS_TREE.node(path)
    }

    fn entries(&self, path: &[Vec<u8>]) -> Vec<(Vec<u8>, FileType)> {
        tree::SYS_TREE.entries(path)
    }

    fn read(&self, path: &[Vec<u8>], _mounts: &[MountEntry]) -> Result<Vec<u8>, Errno> {
        tree::sys_read(&*self.provider, path)
    }

    fn readlink(&self, _path: &[Vec<u8>]) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }
}
