//! The text of /proc files, byte for byte as Linux 6.1 (arm64) prints them
//! (`fs/proc/array.c`, `task_mmu.c`, `meminfo.c`, `stat.c`,
//! `arch/arm64/kernel/cpuinfo.c`).

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{FdInfo, MemoryArea, ProcessInfo, SystemInfo, TaskState};
use crate::vfs::{DevNumber, MountEntry};

const PAGE: u64 = 4096;
/// `CAP_LAST_CAP` 40: every capability.
const FULL_CAPS: u64 = (1 << 41) - 1;
/// `RLIM_INFINITY`.
const RLIM_INFINITY: u64 = u64::MAX;
/// `SIGCHLD`: what a child sends its parent on exit.
const SIGCHLD: u32 = 17;
/// `PF_RANDOMIZE`: the flags of a process that exec'd with ASLR.
const PF_RANDOMIZE: u32 = 0x0040_0000;
/// arm64 with 48-bit virtual addresses.
const VMALLOC_TOTAL_KB: u64 = 133_141_626_880;

/// A byte buffer `write!` can print into.
struct Out(Vec<u8>);

impl Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Out {
    fn new() -> Out {
        Out(Vec::new())
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
}

// Writing into a Vec cannot fail; `w!` drops the `fmt::Result`.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = write!($out, $($arg)*);
    };
}

/// `comm` as Linux keeps it: at most `TASK_COMM_LEN - 1` (15) bytes.
pub fn comm(name: &[u8]) -> &[u8] {
    &name[..name.len().min(15)]
}

/// A CPU list as sysfs and `Cpus_allowed_list` print it (`0-3,5`).
pub fn cpu_list(cpus: &[u32]) -> Vec<u8> {
    let mut out = Out::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        if !out.0.is_empty() {
            out.bytes(b",");
        }
        if start == end {
            w!(out, "{start}");
        } else {
            w!(out, "{start}-{end}");
        }
        i += 1;
    }
    out.0
}

/// A bitmap as `%*pb` prints it: hex in 32-bit groups, most significant
/// first, separated by commas, over `bits` bits.
fn bitmap(set: u64, bits: u32) -> Vec<u8> {
    let mut out = Out::new();
    let groups = bits.div_ceil(32).max(1);
    for g in (0..groups).rev() {
        let word = if g < 2 { (set >> (32 * g)) & 0xffff_ffff } else { 0 };
        let width = if g == groups - 1 { (bits - 32 * g).min(32).div_ceil(4) as usize } else { 8 };
        if g != groups - 1 {
            out.bytes(b",");
        }
        w!(out, "{word:0width$x}");
    }
    out.0
}

/// `/proc/cpuinfo`.
pub fn cpuinfo(sys: &SystemInfo) -> Vec<u8> {
    let mut out = Out::new();
    for (i, cpu) in sys.cpus.iter().enumerate() {
        w!(out, "processor\t: {i}\n");
        w!(out, "BogoMIPS\t: {}.{:02}\n", cpu.bogomips_centi / 100, cpu.bogomips_centi % 100);
        out.bytes(b"Features\t:");
        for f in &cpu.features {
            w!(out, " {f}");
        }
        out.bytes(b"\n");
        w!(out, "CPU implementer\t: 0x{:02x}\n", cpu.implementer);
        out.bytes(b"CPU architecture: 8\n");
        w!(out, "CPU variant\t: 0x{:x}\n", cpu.variant);
        w!(out, "CPU part\t: 0x{:03x}\n", cpu.part);
        w!(out, "CPU revision\t: {}\n\n", cpu.revision);
    }
    out.0
}

/// `/proc/meminfo`.
pub fn meminfo(sys: &SystemInfo) -> Vec<u8> {
    let kb = |bytes: u64| bytes / 1024;
    let lines: [(&str, u64); 42] = [
        ("MemTotal:", kb(sys.mem_total)),
        ("MemFree:", kb(sys.mem_free)),
        ("MemAvailable:", kb(sys.mem_available)),
        ("Buffers:", 0),
        ("Cached:", kb(sys.shmem)),
        ("SwapCached:", 0),
        ("Active:", kb(sys.anon)),
        ("Inactive:", kb(sys.shmem)),
        ("Active(anon):", kb(sys.anon)),
        ("Inactive(anon):", kb(sys.shmem)),
        ("Active(file):", 0),
        ("Inactive(file):", 0),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
        ("Zswap:", 0),
        ("Zswapped:", 0),
        ("Dirty:", 0),
        ("Writeback:", 0),
        ("AnonPages:", kb(sys.anon)),
        ("Mapped:", 0),
        ("Shmem:", kb(sys.shmem)),
        ("KReclaimable:", 0),
        ("Slab:", kb(sys.kernel_heap)),
        ("SReclaimable:", 0),
        ("SUnreclaim:", kb(sys.kernel_heap)),
        ("KernelStack:", 0),
        ("PageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("CommitLimit:", kb(sys.mem_total / 2)),
        ("Committed_AS:", kb(sys.anon)),
        ("VmallocTotal:", VMALLOC_TOTAL_KB),
        ("VmallocUsed:", 0),
        ("VmallocChunk:", 0),
        ("Percpu:", 0),
        ("AnonHugePages:", 0),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
    ];
    let mut out = Out::new();
    for (label, value) in lines {
        w!(out, "{label:<16}{value:>8} kB\n");
    }
    w!(out, "{:<16}{:>8} kB\n", "FilePmdMapped:", 0);
    out.bytes(b"HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n");
    out.bytes(b"Hugepagesize:       2048 kB\nHugetlb:               0 kB\n");
    out.0
}

/// `/proc/stat`.
pub fn proc_stat(sys: &SystemInfo) -> Vec<u8> {
    let mut out = Out::new();
    let mut total = super::CpuTimes::default();
    for cpu in &sys.cpus {
        total.add(&cpu.times);
    }
    let row = |out: &mut Out, t: &super::CpuTimes| {
        for v in [t.user, t.nice, t.system, t.idle, t.iowait, t.irq, t.softirq, t.steal, t.guest, t.guest_nice] {
            w!(out, " {v}");
        }
        out.bytes(b"\n");
    };
    out.bytes(b"cpu ");
    row(&mut out, &total);
    for (i, cpu) in sys.cpus.iter().enumerate() {
        w!(out, "cpu{i}");
        row(&mut out, &cpu.times);
    }
    w!(out, "intr {}\n", sys.interrupts);
    w!(out, "ctxt {}\n", sys.context_switches);
    w!(out, "btime {}\n", sys.boot_time_s);
    w!(out, "processes {}\n", sys.forks);
    w!(out, "procs_running {}\n", sys.running.max(1));
    w!(out, "procs_blocked {}\n", sys.blocked);
    out.bytes(b"softirq 0 0 0 0 0 0 0 0 0 0 0\n");
    out.0
}

fn centis(ns: u64) -> (u64, u64) {
    (ns / 1_000_000_000, ns % 1_000_000_000 / 10_000_000)
}

/// `/proc/PID/fdinfo/N`, as Linux's seq_show prints it (mount id 1 for
/// every file: Morsel does not number its mounts).
pub fn fdinfo(fd: &FdInfo) -> Vec<u8> {
    format!("pos:\t{}\nflags:\t0{:o}\nmnt_id:\t1\nino:\t{}\n", fd.position, fd.flags, fd.ino).into_bytes()
}

/// `/proc/PID/limits`, as Linux's proc_pid_limits prints it.
pub fn limits(info: &ProcessInfo) -> Vec<u8> {
    const ROWS: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let mut out = format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    let value = |v: u64| if v == u64::MAX { "unlimited".to_string() } else { v.to_string() };
    for ((name, unit), [soft, hard]) in ROWS.iter().zip(info.limits) {
        out += &format!("{name:<25} {:<20} {:<20} ", value(soft), value(hard));
        if unit.is_empty() {
            out.push('\n');
        } else {
            out += &format!("{unit:<10}\n");
        }
    }
    out.into_bytes()
}

/// `/proc/version`: the release uname reports, in Linux's format.
pub fn version(sys: &SystemInfo) -> Vec<u8> {
    let mut out = b"Linux version ".to_vec();
    out.extend_from_slice(&sys.os_release);
    out.extend_from_slice(b" (morsel@morsel) (rustc) #1 SMP Morsel\n");
    out
}

/// `/proc/uptime`.
pub fn uptime(sys: &SystemInfo) -> Vec<u8> {
    let (us, uc) = centis(sys.uptime_ns);
    let (is, ic) = centis(sys.idle_ns);
    let mut out = Out::new();
    w!(out, "{us}.{uc:02} {is}.{ic:02}\n");
    out.0
}

/// `/proc/loadavg`.
pub fn loadavg(sys: &SystemInfo) -> Vec<u8> {
    let mut out = Out::new();
    for l in sys.loadavg {
        w!(out, "{}.{:02} ", l / 100, l % 100);
    }
    w!(out, "{}/{} {}\n", sys.running.max(1), sys.threads.max(1), sys.last_pid);
    out.0
}

/// `/proc/mounts`: `source path type options 0 0`.
pub fn mounts(table: &[MountEntry]) -> Vec<u8> {
    let mut out = Out::new();
    for m in table {
        for (i, field) in [&m.source, &m.path, &m.fs_type, &m.options].into_iter().enumerate() {
            if i > 0 {
                out.bytes(b" ");
            }
            // Spaces, tabs, newlines and backslashes are octal-escaped.
            for &b in field {
                if matches!(b, b' ' | b'\t' | b'\n' | b'\\') {
                    w!(out, "\\{b:03o}");
                } else {
                    out.0.push(b);
                }
            }
        }
        out.bytes(b" 0 0\n");
    }
    out.0
}

/// Memory totals of a process, in bytes.
#[derive(Debug, Default, Clone, Copy)]
struct VmTotals {
    size: u64,
    rss: u64,
    anon: u64,
    file: u64,
    shmem: u64,
    data: u64,
    stack: u64,
    exe: u64,
    lib: u64,
    pte: u64,
}

fn totals(info: &ProcessInfo) -> VmTotals {
    let mut t = VmTotals::default();
    let mut exec = 0;
    let mut regions = 0;
    for a in &info.areas {
        t.size += a.size();
        t.rss += a.usage.rss;
        t.anon += a.usage.anonymous;
        let file_rss = a.usage.rss.saturating_sub(a.usage.anonymous);
        if a.shared() && !a.is_file() {
            t.shmem += a.usage.rss;
        } else {
            t.file += file_rss;
        }
        if a.is_stack() {
            t.stack += a.size();
        } else if a.writable() && !a.shared() {
            t.data += a.size();
        }
        if a.executable() && !a.writable() && !a.is_stack() {
            exec += a.size();
        }
        // Last-level page tables: one 4 KiB table per 2 MiB region touched.
        if a.end > a.start {
            regions += ((a.end - 1) >> 21) - (a.start >> 21) + 1;
        }
    }
    let l = &info.layout;
    t.exe = (l.end_code.next_multiple_of(PAGE)).saturating_sub(l.start_code & !(PAGE - 1));
    t.lib = exec.saturating_sub(t.exe);
    t.pte = regions * PAGE;
    t
}

/// `/proc/PID/stat`: the 52 fields.
pub fn process_stat(info: &ProcessInfo) -> Vec<u8> {
    let t = totals(info);
    let l = &info.layout;
    let s = &info.signals;
    let mask = |v: u64| v & 0x7fff_ffff;
    let (tty_nr, tpgid) = match info.tty {
        Some(d) => (encode_dev(d), i64::from(info.pgrp)),
        None => (0, -1),
    };
    let wchan = u32::from(info.state != TaskState::Running);
    let mut out = Out::new();
    w!(out, "{} (", info.pid);
    out.bytes(comm(&info.comm));
    w!(out, ") {} {} {} {} {} {} {}", char::from(info.state.letter()), info.ppid, info.pgrp, info.session, tty_nr, tpgid, PF_RANDOMIZE);
    w!(out, " {} 0 {} 0", info.minor_faults, info.major_faults);
    w!(out, " {} {} {} {}", info.utime_ticks, info.stime_ticks, info.cutime_ticks, info.cstime_ticks);
    w!(out, " {} {} {} 0 {}", 20 + i32::from(info.nice), info.nice, info.threads.max(1), info.start_ticks);
    w!(out, " {} {} {}", t.size, t.rss / PAGE, RLIM_INFINITY);
    w!(out, " {} {} {} 0 0", l.start_code, l.end_code, l.start_stack);
    w!(out, " {} {} {} {}", mask(s.pending), mask(s.blocked), mask(s.ignored), mask(s.caught));
    w!(out, " {wchan} 0 0 {SIGCHLD} {} 0 0 0 0 0", info.cpu);
    w!(out, " {} {} {} {} {} {} {} 0\n", l.start_data, l.end_data, l.start_brk, l.arg_start, l.arg_end, l.env_start, l.env_end);
    out.0
}

/// `/proc/PID/statm`: sizes in pages.
pub fn statm(info: &ProcessInfo) -> Vec<u8> {
    let t = totals(info);
    let mut out = Out::new();
    w!(out, "{} {} {} {} 0 {} 0\n", t.size / PAGE, t.rss / PAGE, (t.file + t.shmem) / PAGE, t.exe / PAGE, (t.data + t.stack) / PAGE);
    out.0
}

/// `new_encode_dev`, as `stat`'s `tty_nr` shows a device.
fn encode_dev(d: DevNumber) -> u32 {
    (d.minor & 0xff) | (d.major << 8) | ((d.minor & !0xff) << 12)
}

/// `/proc/PID/status`.
pub fn status(info: &ProcessInfo, sys: &SystemInfo) -> Vec<u8> {
    let t = totals(info);
    let mut out = Out::new();
    out.bytes(b"Name:\t");
    for &b in comm(&info.comm) {
        match b {
            b'\n' => out.bytes(b"\\n"),
            b'\\' => out.bytes(b"\\\\"),
            _ => out.0.push(b),
        }
    }
    w!(out, "\nUmask:\t{:04o}\n", info.umask & 0o777);
    w!(out, "State:\t{}\n", info.state.description());
    w!(out, "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n", info.pid, info.pid, info.ppid);
    let [a, b, c, d] = info.uids;
    w!(out, "Uid:\t{a}\t{b}\t{c}\t{d}\n");
    let [a, b, c, d] = info.gids;
    w!(out, "Gid:\t{a}\t{b}\t{c}\t{d}\n");
    let max_fd = info.fds.iter().map(|f| f.fd + 1).max().unwrap_or(0);
    w!(out, "FDSize:\t{}\n", max_fd.max(64).next_power_of_two());
    out.bytes(b"Groups:\t");
    for (i, g) in info.groups.iter().enumerate() {
        w!(out, "{}{g}", if i == 0 { "" } else { " " });
    }
    out.bytes(b" \n");
    w!(out, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\n", info.pid, info.pid, info.pgrp, info.session);
    let kb = |bytes: u64| bytes / 1024;
    for (label, value) in [
        ("VmPeak", t.size),
        ("VmSize", t.size),
        ("VmLck", 0),
        ("VmPin", 0),
        ("VmHWM", t.rss),
        ("VmRSS", t.rss),
        ("RssAnon", t.anon),
        ("RssFile", t.file),
        ("RssShmem", t.shmem),
        ("VmData", t.data),
        ("VmStk", t.stack),
        ("VmExe", t.exe),
        ("VmLib", t.lib),
        ("VmPTE", t.pte),
        ("VmSwap", 0),
    ] {
        w!(out, "{label}:\t{:>8} kB\n", kb(value));
    }
    w!(out, "HugetlbPages:\t{:>8} kB\n", 0);
    out.bytes(b"CoreDumping:\t0\nTHP_enabled:\t0\n");
    w!(out, "Threads:\t{}\n", info.threads.max(1));
    // RLIMIT_SIGPENDING defaults to max_threads / 2 (max_threads: RAM / 128 KiB).
    w!(out, "SigQ:\t0/{}\n", sys.mem_total / (32 * PAGE) / 2);
    let s = &info.signals;
    for (label, v) in [("SigPnd", s.pending), ("ShdPnd", s.pending), ("SigBlk", s.blocked), ("SigIgn", s.ignored), ("SigCgt", s.caught)] {
        w!(out, "{label}:\t{v:016x}\n");
    }
    let caps = if info.uids[1] == 0 { FULL_CAPS } else { 0 };
    for (label, v) in [("CapInh", 0), ("CapPrm", caps), ("CapEff", caps), ("CapBnd", FULL_CAPS), ("CapAmb", 0)] {
        w!(out, "{label}:\t{v:016x}\n");
    }
    out.bytes(b"NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n");
    out.bytes(b"Speculation_Store_Bypass:\tnot vulnerable\nSpeculationIndirectBranch:\tunknown\n");
    let n = u32::try_from(sys.cpus.len()).unwrap_or(1).max(1);
    let cpus: Vec<u32> = (0..n).collect();
    let set = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    out.bytes(b"Cpus_allowed:\t");
    out.bytes(&bitmap(set, n));
    out.bytes(b"\nCpus_allowed_list:\t");
    out.bytes(&cpu_list(&cpus));
    out.bytes(b"\nMems_allowed:\t");
    out.bytes(&bitmap(1, 64));
    out.bytes(b"\nMems_allowed_list:\t0\n");
    w!(out, "voluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n", info.voluntary_switches, info.involuntary_switches);
    out.0
}

/// The line of `maps` (and the first line of each `smaps` entry).
fn map_line(out: &mut Out, a: &MemoryArea) {
    let start = out.0.len();
    w!(out, "{:08x}-{:08x} ", a.start, a.end);
    out.bytes(&a.perms);
    w!(out, " {:08x} {:02x}:{:02x} {} ", a.offset, a.dev.major, a.dev.minor, a.inode);
    if !a.path.is_empty() {
        // seq_pad: to column 73 (25 + 6 * sizeof(void *) - 1, then one space).
        while out.0.len() - start < 72 {
            out.0.push(b' ');
        }
        out.bytes(b" ");
        out.bytes(&a.path);
    }
    out.bytes(b"\n");
}

/// `/proc/PID/maps`.
pub fn maps(info: &ProcessInfo) -> Vec<u8> {
    let mut out = Out::new();
    for a in &info.areas {
        map_line(&mut out, a);
    }
    out.0
}

/// `/proc/PID/smaps`.
pub fn smaps(info: &ProcessInfo) -> Vec<u8> {
    let mut out = Out::new();
    for a in &info.areas {
        map_line(&mut out, a);
        let u = &a.usage;
        let kb = |bytes: u64| bytes / 1024;
        for (label, value) in [
            ("Size:", a.size()),
            ("KernelPageSize:", PAGE),
            ("MMUPageSize:", PAGE),
            ("Rss:", u.rss),
            ("Pss:", u.pss),
            ("Pss_Dirty:", u.shared_dirty.min(u.pss) + u.private_dirty.min(u.pss)),
            ("Shared_Clean:", u.shared_clean),
            ("Shared_Dirty:", u.shared_dirty),
            ("Private_Clean:", u.private_clean),
            ("Private_Dirty:", u.private_dirty),
            ("Referenced:", u.rss),
            ("Anonymous:", u.anonymous),
            ("LazyFree:", 0),
            ("AnonHugePages:", 0),
            ("ShmemPmdMapped:", 0),
            ("FilePmdMapped:", 0),
        ] {
            w!(out, "{label:<16}{:>8} kB\n", kb(value));
        }
        w!(out, "Shared_Hugetlb: {:>8} kB\nPrivate_Hugetlb: {:>7} kB\n", 0, 0);
        for label in ["Swap:", "SwapPss:", "Locked:"] {
            w!(out, "{label:<16}{:>8} kB\n", 0);
        }
        w!(out, "THPeligible:    {:>8}\n", 0);
        out.bytes(b"VmFlags:");
        let flags = [
            (a.readable(), "rd"),
            (a.writable(), "wr"),
            (a.executable(), "ex"),
            (a.shared(), "sh"),
            (true, "mr"),
            (true, "mw"),
            (true, "me"),
            (a.shared(), "ms"),
            (a.is_stack(), "gd"),
            (a.writable() && !a.shared(), "ac"),
        ];
        for (on, name) in flags {
            if on {
                w!(out, " {name}");
            }
        }
        out.bytes(b" \n");
    }
    out.0
}
