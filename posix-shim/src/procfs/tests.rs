use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use std::format;

use super::*;
use crate::vfs::tests::new_vfs;
use crate::vfs::{Credentials, NewNode, Vfs};

/// A provider with processes 1 and 42 (42 is the caller).
#[derive(Debug)]
pub(crate) struct FakeProvider;

pub(crate) fn process(pid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid: if pid == 1 { 0 } else { 1 },
        pgrp: pid,
        session: 1,
        tty: Some(DevNumber::CONSOLE),
        comm: b"redis-server-with-a-long-name".to_vec(),
        state: TaskState::Running,
        exe: b"/usr/bin/redis-server".to_vec(),
        cwd: b"/tmp".to_vec(),
        cmdline: b"redis-server\0--port\x006379\0".to_vec(),
        environ: b"HOME=/\0TERM=vt100\0".to_vec(),
        fds: vec![
            FdInfo { fd: 0, target: b"/dev/console".to_vec(), readable: true, writable: true, position: 0, flags: 0o100002, ino: 3 },
            FdInfo { fd: 1, target: b"pipe:[77]".to_vec(), readable: false, writable: true, position: 0, flags: 0o1, ino: 77 },
            FdInfo { fd: 5, target: b"/tmp/dump.rdb".to_vec(), readable: true, writable: false, position: 42, flags: 0o2100000, ino: 9 },
        ],
        areas: vec![
            MemoryArea {
                start: 0xaaaa_0000_0000,
                end: 0xaaaa_0001_0000,
                perms: *b"r-xp",
                offset: 0,
                dev: DevNumber::new(0, 1),
                inode: 1234,
                path: b"/usr/bin/redis-server".to_vec(),
                usage: AreaUsage::private(0x8000, 0, 0),
            },
            MemoryArea {
                start: 0xaaaa_0002_0000,
                end: 0xaaaa_0002_3000,
                perms: *b"rw-p",
                offset: 0x10000,
                dev: DevNumber::new(0, 1),
                inode: 1234,
                path: b"/usr/bin/redis-server".to_vec(),
                usage: AreaUsage::private(0x3000, 0x2000, 0x2000),
            },
            MemoryArea { start: 0xaaaa_0003_0000, end: 0xaaaa_0005_1000, perms: *b"rw-p", path: b"[heap]".to_vec(), usage: AreaUsage::private(0x1000, 0x1000, 0x1000), ..MemoryArea::default() },
            MemoryArea { start: 0xffff_f7f0_0000, end: 0xffff_f7f1_0000, perms: *b"rw-p", usage: AreaUsage::default(), ..MemoryArea::default() },
            MemoryArea { start: 0xffff_fffd_f000, end: 0xffff_ffff_f000, perms: *b"rw-p", path: b"[stack]".to_vec(), usage: AreaUsage::private(0x2000, 0x2000, 0x2000), ..MemoryArea::default() },
        ],
        layout: AddressLayout {
            start_code: 0xaaaa_0000_0000,
            end_code: 0xaaaa_0000_f123,
            start_data: 0xaaaa_0002_0000,
            end_data: 0xaaaa_0002_2000,
            start_brk: 0xaaaa_0003_0000,
            start_stack: 0xffff_fffe_e000,
            arg_start: 0xffff_fffe_f000,
            arg_end: 0xffff_fffe_f020,
            env_start: 0xffff_fffe_f020,
            env_end: 0xffff_fffe_f040,
        },
        uids: [0; 4],
        gids: [0; 4],
        groups: vec![],
        umask: 0o022,
        threads: if pid == 1 { 1 } else { 2 },
        tids: if pid == 1 { vec![] } else { vec![pid, 57] },
        start_ticks: 250,
        utime_ticks: 12,
        stime_ticks: 3,
        signals: SignalMasks { pending: 0, blocked: 1 << 12, ignored: 1 << 12, caught: (1 << 14) | (1 << 1) },
        voluntary_switches: 10,
        involuntary_switches: 2,
        ..ProcessInfo::default()
    }
}

pub(crate) fn system() -> SystemInfo {
    let cpu = |user| CpuDescription {
        features: vec!["fp", "asimd", "evtstrm", "cpuid"],
        bogomips_centi: CpuDescription::bogomips_for_timer(62_500_000),
        times: CpuTimes { user, system: 5, idle: 1000, ..CpuTimes::default() },
        ..CpuDescription::from_midr(0x413f_d0c1)
    };
    SystemInfo {
        uptime_ns: 12_345_678_901,
        idle_ns: 20_010_000_000,
        boot_time_s: 1_700_000_000,
        mem_total: 2 << 30,
        mem_free: 1 << 30,
        mem_available: (1 << 30) + (4 << 20),
        shmem: 4 << 20,
        anon: 8 << 20,
        kernel_heap: 16 << 20,
        cpus: vec![cpu(100), cpu(50)],
        loadavg: [5, 112, 1000],
        running: 1,
        threads: 2,
        last_pid: 42,
        interrupts: 9876,
        context_switches: 555,
        forks: 43,
        blocked: 0,
        os_release: b"6.1.0-morsel".to_vec(),
        pid_max: 32768,
    }
}

impl ProcProvider for FakeProvider {
    fn processes(&self) -> Vec<u32> {
        vec![1, 42]
    }
    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        [1, 42].contains(&pid).then(|| process(pid))
    }
    fn current_pid(&self) -> u32 {
        42
    }
    fn system(&self) -> SystemInfo {
        system()
    }
}

/// A tmpfs with /proc and /sys mounted on it, and /tmp.
pub(crate) fn mount_all(v: &Vfs) {
    let root = Credentials::root();
    let provider: Arc<dyn ProcProvider> = Arc::new(FakeProvider);
    for (name, perm) in [(&b"proc"[..], 0o555), (b"sys", 0o555), (b"tmp", 0o1777)] {
        v.create(&v.root(), name, NewNode::Directory, perm, &root).unwrap();
    }
    let proc_dir = v.lookup(&v.root(), b"/proc", true, &root).unwrap();
    v.mount(&proc_dir, Arc::new(ProcFs::new(provider.clone()))).unwrap();
    let sys_dir = v.lookup(&v.root(), b"/sys", true, &root).unwrap();
    v.mount(&sys_dir, Arc::new(SysFs::new(provider))).unwrap();
}

fn world() -> Vfs {
    let v = new_vfs();
    mount_all(&v);
    v
}

fn read(v: &Vfs, path: &str) -> Result<Vec<u8>, Errno> {
    let inode = v.lookup(&v.root(), path.as_bytes(), true, &Credentials::root())?;
    inode.generate()
}

fn text(v: &Vfs, path: &str) -> String {
    String::from_utf8(read(v, path).unwrap()).unwrap()
}

fn names(v: &Vfs, path: &str) -> Vec<String> {
    let dir = v.lookup(&v.root(), path.as_bytes(), true, &Credentials::root()).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(e) = dir.dir_entry_at(pos).unwrap() {
        out.push(String::from_utf8(e.name).unwrap());
        pos = e.next;
    }
    out
}

#[test]
fn cpuinfo_is_arm64s_format() {
    let v = world();
    let one = "BogoMIPS\t: 125.00\nFeatures\t: fp asimd evtstrm cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n";
    assert_eq!(text(&v, "/proc/cpuinfo"), format!("processor\t: 0\n{one}processor\t: 1\n{one}"));
}

#[test]
fn meminfo_lines() {
    let v = world();
    let t = text(&v, "/proc/meminfo");
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "MemTotal:        2097152 kB");
    assert_eq!(lines[1], "MemFree:         1048576 kB");
    assert_eq!(lines[2], "MemAvailable:    1052672 kB");
    assert_eq!(lines[3], "Buffers:               0 kB");
    assert_eq!(lines[4], "Cached:             4096 kB");
    assert_eq!(lines[5], "SwapCached:            0 kB");
    assert_eq!(lines[9], "Inactive(anon):     4096 kB");
    assert!(lines.contains(&"Shmem:              4096 kB"));
    assert!(lines.contains(&"VmallocTotal:   133141626880 kB"));
    assert!(lines.contains(&"HugePages_Total:       0"));
    assert_eq!(lines[lines.len() - 2], "Hugepagesize:       2048 kB");
    assert_eq!(*lines.last().unwrap(), "Hugetlb:               0 kB");
    assert!(lines.len() > 40);
    for l in &lines[..lines.len() - 6] {
        assert!(l.ends_with(" kB") && l.len() >= 27 && l.as_bytes()[15] == b' ' || l.starts_with("VmallocTotal"), "{l:?}");
    }
}

#[test]
fn proc_stat_uptime_loadavg() {
    let v = world();
    assert_eq!(
        text(&v, "/proc/stat"),
        "cpu  150 0 10 2000 0 0 0 0 0 0\ncpu0 100 0 5 1000 0 0 0 0 0 0\ncpu1 50 0 5 1000 0 0 0 0 0 0\n\
         intr 9876\nctxt 555\nbtime 1700000000\nprocesses 43\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
    );
    assert_eq!(text(&v, "/proc/uptime"), "12.34 20.01\n");
    assert_eq!(text(&v, "/proc/loadavg"), "0.05 1.12 10.00 1/2 42\n");
    assert_eq!(text(&v, "/proc/filesystems"), "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n");
}

#[test]
fn mounts_lists_the_table() {
    let v = world();
    let want = "tmpfs / tmpfs rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nsysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n";
    assert_eq!(text(&v, "/proc/mounts"), want);
    assert_eq!(text(&v, "/proc/self/mounts"), want);
}

#[test]
fn sysctls_and_sysfs() {
    let v = world();
    assert_eq!(text(&v, "/proc/sys/kernel/ngroups_max"), "65536\n");
    assert_eq!(text(&v, "/proc/sys/kernel/pid_max"), "32768\n");
    assert_eq!(text(&v, "/proc/sys/kernel/osrelease"), "6.1.0-morsel\n");
    assert_eq!(text(&v, "/proc/sys/vm/overcommit_memory"), "0\n");
    assert_eq!(text(&v, "/proc/sys/net/core/somaxconn"), "4096\n");
    assert_eq!(text(&v, "/proc/sys/fs/pipe-max-size"), "1048576\n");
    assert_eq!(text(&v, "/sys/devices/system/cpu/online"), "0-1\n");
    assert_eq!(text(&v, "/sys/devices/system/cpu/possible"), "0-1\n");
    assert_eq!(text(&v, "/sys/kernel/mm/transparent_hugepage/enabled"), "always madvise [never]\n");
    assert_eq!(text(&v, "/sys/devices/system/clocksource/clocksource0/current_clocksource"), "arch_sys_counter\n");
    assert_eq!(names(&v, "/proc/sys"), [".", "..", "fs", "kernel", "net", "vm"]);
    assert_eq!(names(&v, "/proc/sys/kernel"), [".", "..", "ngroups_max", "osrelease", "ostype", "pid_max"]);
    assert_eq!(names(&v, "/sys/kernel/mm/transparent_hugepage"), [".", "..", "defrag", "enabled"]);
    assert_eq!(read(&v, "/proc/sys/kernel/nope"), Err(Errno::ENOENT));
    assert_eq!(read(&v, "/sys/kernel/nope"), Err(Errno::ENOENT));
}

#[test]
fn cpu_lists() {
    assert_eq!(cpu_list(&[0]), b"0");
    assert_eq!(cpu_list(&[0, 1, 2, 3]), b"0-3");
    assert_eq!(cpu_list(&[0, 2, 3, 5]), b"0,2-3,5");
}

#[test]
fn self_resolves_per_caller() {
    let v = world();
    let root = Credentials::root();
    let link = v.lookup(&v.root(), b"/proc/self", false, &root).unwrap();
    assert_eq!(link.readlink().unwrap(), b"42");
    let dir = v.lookup(&v.root(), b"/proc/self", true, &root).unwrap();
    let direct = v.lookup(&v.root(), b"/proc/42", true, &root).unwrap();
    assert_eq!(dir.ino(), direct.ino());
    assert_eq!(v.path_of(&dir).unwrap(), b"/proc/42");
    assert_eq!(text(&v, "/proc/self/cmdline"), "redis-server\0--port\x006379\0");
    assert_eq!(text(&v, "/proc/self/comm"), "redis-server-wi\n");
    assert_eq!(text(&v, "/proc/1/environ"), "HOME=/\0TERM=vt100\0");
    assert_eq!(v.lookup(&v.root(), b"/proc/self/exe", false, &root).unwrap().readlink().unwrap(), b"/usr/bin/redis-server");
    assert_eq!(v.lookup(&v.root(), b"/proc/self/cwd", false, &root).unwrap().readlink().unwrap(), b"/tmp");
    // Following cwd lands in the tmpfs.
    let tmp = v.lookup(&v.root(), b"/tmp", true, &root).unwrap();
    assert!(Arc::ptr_eq(&v.lookup(&v.root(), b"/proc/self/cwd", true, &root).unwrap(), &tmp));
}

#[test]
fn missing_pids_are_enoent() {
    let v = world();
    let root = Credentials::root();
    for path in [&b"/proc/7"[..], b"/proc/7/stat", b"/proc/042", b"/proc/42/nope", b"/proc/42/fd/3", b"/proc/42/task/1", b"/proc/nope"] {
        assert_eq!(v.lookup(&v.root(), path, true, &root).err(), Some(Errno::ENOENT), "{path:?}");
    }
    assert_eq!(v.lookup(&v.root(), b"/proc/cpuinfo/x", true, &root).err(), Some(Errno::ENOTDIR));
}

#[test]
fn fd_directory_holds_symlinks() {
    let v = world();
    let root = Credentials::root();
    assert_eq!(names(&v, "/proc/self/fd"), [".", "..", "0", "1", "5"]);
    let l = |p: &[u8]| v.lookup(&v.root(), p, false, &root).unwrap();
    assert_eq!(l(b"/proc/42/fd/1").readlink().unwrap(), b"pipe:[77]");
    assert_eq!(l(b"/proc/42/fd/5").readlink().unwrap(), b"/tmp/dump.rdb");
    assert_eq!(l(b"/proc/42/fd/0").metadata().mode(), 0o120700);
    assert_eq!(l(b"/proc/42/fd/1").metadata().mode(), 0o120300);
    assert_eq!(l(b"/proc/42/fd/5").metadata().mode(), 0o120500);
    assert_eq!(l(b"/proc/42/fd").metadata().mode(), 0o040500);
    assert_eq!(read(&v, "/proc/42/fdinfo/5").unwrap(), b"pos:\t42\nflags:\t02100000\nmnt_id:\t1\nino:\t9\n");
    assert_eq!(l(b"/proc/42/fdinfo/5").metadata().mode(), 0o100444);
    assert_eq!(read(&v, "/proc/42/fdinfo/3").err(), Some(Errno::ENOENT));
    // A pipe cannot be followed (Linux would reopen it; Morsel names it only).
    assert_eq!(v.lookup(&v.root(), b"/proc/42/fd/1", true, &root).err(), Some(Errno::ENOENT));
}

#[test]
fn listings() {
    let v = world();
    assert_eq!(names(&v, "/proc"), [".", "..", "cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "self", "stat", "sys", "uptime", "version", "1", "42"]);
    assert_eq!(
        names(&v, "/proc/42"),
        [".", "..", "task", "fd", "fdinfo", "environ", "status", "limits", "comm", "cmdline", "stat", "statm", "maps", "cwd", "root", "exe", "mounts", "smaps"]
    );
    assert_eq!(names(&v, "/proc/1/task"), [".", "..", "1"]);
    assert_eq!(names(&v, "/proc/42/task"), [".", "..", "42", "57"]);
    assert!(!names(&v, "/proc/42/task/42").contains(&String::from("task")));
    assert_eq!(text(&v, "/proc/42/task/42/comm"), "redis-server-wi\n");
    assert_eq!(text(&v, "/proc/42/task/57/comm"), "redis-server-wi\n");
    assert!(read(&v, "/proc/42/task/58/comm").is_err());
    let root_names = names(&v, "/");
    assert!(root_names.contains(&String::from("proc")) && root_names.contains(&String::from("sys")));
}

#[test]
fn dotdot_crosses_back_and_inode_kinds() {
    let v = world();
    let root = Credentials::root();
    let l = |p: &[u8]| v.lookup(&v.root(), p, true, &root).unwrap();
    assert!(Arc::ptr_eq(&l(b"/proc/.."), &v.root()));
    assert!(Arc::ptr_eq(&l(b"/proc/42/fd/../../../tmp"), &l(b"/tmp")));
    assert!(Arc::ptr_eq(&l(b"/sys/kernel/.."), &l(b"/sys/kernel/mm/..")) || l(b"/sys/kernel/..").ino() == 1);
    assert_eq!(l(b"/sys/kernel/..").ino(), l(b"/sys").ino());
    let proc_root = l(b"/proc");
    assert_eq!(proc_root.ino(), 1);
    assert_eq!(proc_root.fs_dev(), Some(PROC_DEV));
    assert_eq!(l(b"/sys").fs_dev(), Some(SYSFS_DEV));
    assert_eq!(proc_root.metadata().mode(), 0o040555);
    assert_eq!(l(b"/proc/cpuinfo").metadata().mode(), 0o100444);
    assert_eq!(l(b"/proc/cpuinfo").metadata().size, 0);
    assert_eq!(v.lookup(&v.root(), b"/proc/self", false, &root).unwrap().metadata().mode(), 0o120777);
    assert_eq!(l(b"/proc/42/environ").metadata().mode(), 0o100400);
    assert_eq!(v.path_of(&l(b"/proc/42/fd")).unwrap(), b"/proc/42/fd");
    assert_eq!(v.path_of(&l(b"/sys/devices/system")).unwrap(), b"/sys/devices/system");
    // `..` in a listing of the mounted root is the tmpfs root.
    let dotdot = l(b"/proc").dir_entry_at(1).unwrap().unwrap();
    assert_eq!(dotdot.ino, 1);
    assert_eq!(v.stats_of(&proc_root).fs_type, PROC_SUPER_MAGIC);
    assert_eq!(v.stats_of(&l(b"/sys")).fs_type, SYSFS_MAGIC);
}

#[test]
fn namespace_changes_are_refused() {
    let v = world();
    let root = Credentials::root();
    let l = |p: &[u8]| v.lookup(&v.root(), p, true, &root).unwrap();
    let proc_root = l(b"/proc");
    assert_eq!(v.create(&proc_root, b"x", NewNode::Regular, 0o644, &root).err(), Some(Errno::EACCES));
    assert_eq!(v.create(&proc_root, b"x", NewNode::Directory, 0o755, &root).err(), Some(Errno::EPERM));
    assert_eq!(v.create(&proc_root, b"cpuinfo", NewNode::Directory, 0o755, &root).err(), Some(Errno::EEXIST));
    assert_eq!(v.unlink(&proc_root, b"cpuinfo", &root), Err(Errno::EPERM));
    assert_eq!(v.rmdir(&proc_root, b"sys", &root), Err(Errno::EPERM));
    assert_eq!(v.rmdir(&v.root(), b"proc", &root), Err(Errno::EBUSY));
    let tmp = l(b"/tmp");
    assert_eq!(v.rename(&v.root(), b"proc", &tmp, b"p", crate::vfs::RenameFlags::empty(), &root), Err(Errno::EBUSY));
    assert_eq!(v.rename(&proc_root, b"cpuinfo", &tmp, b"c", crate::vfs::RenameFlags::empty(), &root), Err(Errno::EXDEV));
    assert_eq!(v.link(&tmp, b"c", &l(b"/proc/cpuinfo"), &root), Err(Errno::EXDEV));
    assert_eq!(v.chmod(&l(b"/proc/cpuinfo"), 0o777, &root), Err(Errno::EPERM));
    assert_eq!(v.mount(&proc_root, Arc::new(SysFs::new(Arc::new(FakeProvider)))), Err(Errno::EINVAL));
    let mountpoint_again = {
        // The tmpfs directory under /proc is still busy.
        let raw = v.root().child(b"proc").unwrap().unwrap();
        v.mount(&raw, Arc::new(SysFs::new(Arc::new(FakeProvider))))
    };
    assert_eq!(mountpoint_again, Err(Errno::EBUSY));
}

#[test]
fn process_stat_has_52_fields() {
    let v = world();
    let t = text(&v, "/proc/42/stat");
    assert_eq!(
        t,
        "42 (redis-server-wi) R 1 42 1 1281 42 4194304 0 0 0 0 12 3 0 0 20 0 2 0 250 \
         409600 14 18446744073709551615 187647121162240 187647121223971 281474976636928 0 0 \
         0 4096 4096 16386 0 0 0 17 0 0 0 0 0 0 \
         187647121293312 187647121301504 187647121358848 281474976641024 281474976641056 281474976641056 281474976641088 0\n"
    );
    let after_comm = t.rsplit_once(") ").unwrap().1;
    assert_eq!(after_comm.split(' ').count() + 2, 52);
    assert!(t.ends_with(" 0\n"));
}

#[test]
fn status_lines() {
    let v = world();
    let t = text(&v, "/proc/42/status");
    let want_prefix = "Name:\tredis-server-wi\nUmask:\t0022\nState:\tR (running)\nTgid:\t42\nNgid:\t0\nPid:\t42\nPPid:\t1\nTracerPid:\t0\n\
        Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \nNStgid:\t42\nNSpid:\t42\nNSpgid:\t42\nNSsid:\t1\n\
        VmPeak:\t     400 kB\nVmSize:\t     400 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t      56 kB\nVmRSS:\t      56 kB\n\
        RssAnon:\t      20 kB\nRssFile:\t      36 kB\nRssShmem:\t       0 kB\nVmData:\t     208 kB\nVmStk:\t     128 kB\n\
        VmExe:\t      64 kB\nVmLib:\t       0 kB\nVmPTE:\t      20 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\n\
        CoreDumping:\t0\nTHP_enabled:\t0\nThreads:\t2\n";
    assert!(t.starts_with(want_prefix), "{t}");
    assert!(t.contains("\nSigBlk:\t0000000000001000\nSigIgn:\t0000000000001000\nSigCgt:\t0000000000004002\n"));
    assert!(t.contains("\nCapEff:\t000001ffffffffff\n"));
    assert!(t.contains("\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\n"));
    assert!(t.ends_with("voluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t2\n"));
    assert_eq!(text(&v, "/proc/42/statm"), "100 14 9 16 0 84 0\n");
}

#[test]
fn maps_and_smaps() {
    let v = world();
    let maps = text(&v, "/proc/self/maps");
    let lines: Vec<&str> = maps.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], format!("aaaa00000000-aaaa00010000 r-xp 00000000 00:01 1234{}/usr/bin/redis-server", " ".repeat(23)));
    assert_eq!(lines[0].find('/'), Some(73));
    assert_eq!(lines[1], format!("aaaa00020000-aaaa00023000 rw-p 00010000 00:01 1234{}/usr/bin/redis-server", " ".repeat(23)));
    assert_eq!(lines[2], format!("aaaa00030000-aaaa00051000 rw-p 00000000 00:00 0{}[heap]", " ".repeat(26)));
    assert_eq!(lines[3], "fffff7f00000-fffff7f10000 rw-p 00000000 00:00 0 ");
    assert!(lines[4].ends_with(" [stack]"));
    let smaps = text(&v, "/proc/self/smaps");
    let block: Vec<&str> = smaps.lines().skip(24).take(24).collect();
    assert_eq!(block[0], lines[1]);
    let want = [
        "Size:                 12 kB",
        "KernelPageSize:        4 kB",
        "MMUPageSize:           4 kB",
        "Rss:                  12 kB",
        "Pss:                  12 kB",
        "Pss_Dirty:             8 kB",
        "Shared_Clean:          0 kB",
        "Shared_Dirty:          0 kB",
        "Private_Clean:         4 kB",
        "Private_Dirty:         8 kB",
        "Referenced:           12 kB",
        "Anonymous:             8 kB",
        "LazyFree:              0 kB",
        "AnonHugePages:         0 kB",
        "ShmemPmdMapped:        0 kB",
        "FilePmdMapped:         0 kB",
        "Shared_Hugetlb:        0 kB",
        "Private_Hugetlb:       0 kB",
        "Swap:                  0 kB",
        "SwapPss:               0 kB",
        "Locked:                0 kB",
        "THPeligible:           0",
        "VmFlags: rd wr mr mw me ac ",
    ];
    assert_eq!(&block[1..24], &want[..]);
    assert!(smaps.lines().any(|l| l == "VmFlags: rd wr mr mw me gd ac "));
    assert!(smaps.lines().any(|l| l == "VmFlags: rd ex mr mw me "));
    assert_eq!(smaps.lines().filter(|l| l.starts_with("Size:")).count(), 5);
}

#[test]
fn limits_print_as_linux_does() {
    let mut info = ProcessInfo { limits: [[u64::MAX; 2]; 16], ..ProcessInfo::default() };
    info.limits[7] = [1024, 1_048_576];
    info.limits[13] = [0, 0];
    let text = String::from_utf8(super::format::limits(&info)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 17);
    assert_eq!(lines[0], "Limit                     Soft Limit           Hard Limit           Units     ");
    assert_eq!(lines[8], "Max open files            1024                 1048576              files     ");
    assert_eq!(lines[14], "Max nice priority         0                    0                    ");
    assert_eq!(lines[1], "Max cpu time              unlimited            unlimited            seconds   ");
}
