//! The shape of /proc and /sys: which paths exist, what they are, and which
//! generator produces each file.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

use super::format as fmt;
use super::{ProcProvider, ProcessInfo};
use crate::Errno;
use crate::vfs::{FileType, MountEntry, SynthStat};

/// A fixed tree given by its files' paths (`a/b/c`); directories are the
/// paths' prefixes.
#[derive(Debug)]
pub(crate) struct StaticTree {
    pub files: &'static [(&'static str, SynthStat)],
    pub dir: SynthStat,
}

fn split(path: &str) -> impl Iterator<Item = &[u8]> {
    path.split('/').map(str::as_bytes)
}

fn has_prefix(file: &str, prefix: &[Vec<u8>]) -> bool {
    let mut comps = split(file);
    prefix.iter().all(|p| comps.next() == Some(p.as_slice()))
}

impl StaticTree {
    pub fn node(&self, path: &[Vec<u8>]) -> Option<SynthStat> {
        for (file, st) in self.files {
            if split(file).count() == path.len() && has_prefix(file, path) {
                return Some(*st);
            }
        }
        self.files.iter().any(|(f, _)| split(f).count() > path.len() && has_prefix(f, path)).then_some(self.dir)
    }

    /// Children of the directory at `path`, sorted by name (as Linux's
    /// rbtree-ordered /proc and /sys directories list them).
    pub fn entries(&self, path: &[Vec<u8>]) -> Vec<(Vec<u8>, FileType)> {
        let mut names = BTreeMap::new();
        for (file, _) in self.files {
            if has_prefix(file, path) {
                let comps: Vec<&[u8]> = split(file).collect();
                if comps.len() > path.len() {
                    let ty = if comps.len() == path.len() + 1 { FileType::Regular } else { FileType::Directory };
                    names.insert(comps[path.len()].to_vec(), ty);
                }
            }
        }
        names.into_iter().collect()
    }
}

/// /sys.
pub(crate) static SYS_TREE: StaticTree = StaticTree {
    files: &[
        ("devices/system/cpu/online", SynthStat::FILE),
        ("devices/system/cpu/possible", SynthStat::FILE),
        ("devices/system/cpu/present", SynthStat::FILE),
        ("devices/system/clocksource/clocksource0/available_clocksource", SynthStat::FILE),
        ("devices/system/clocksource/clocksource0/current_clocksource", SynthStat::TUNABLE),
        ("kernel/mm/transparent_hugepage/enabled", SynthStat::TUNABLE),
        ("kernel/mm/transparent_hugepage/defrag", SynthStat::TUNABLE),
    ],
    dir: SynthStat::root_owned(FileType::Directory, 0o755),
};

/// /proc/sys.
static SYSCTL_TREE: StaticTree = StaticTree {
    files: &[
        ("fs/pipe-max-size", SynthStat::TUNABLE),
        ("kernel/ngroups_max", SynthStat::FILE),
        ("kernel/osrelease", SynthStat::FILE),
        ("kernel/ostype", SynthStat::FILE),
        ("kernel/pid_max", SynthStat::TUNABLE),
        ("net/core/somaxconn", SynthStat::TUNABLE),
        ("vm/max_map_count", SynthStat::TUNABLE),
        ("vm/overcommit_memory", SynthStat::TUNABLE),
    ],
    dir: SynthStat::DIR,
};

/// The files at the top of /proc (besides `self`, `sys` and the pids).
const TOP_FILES: &[&str] = &["cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "stat", "uptime", "version"];

/// The entries of /proc/PID, in Linux's order, with their types and
/// permissions.
const PID_ENTRIES: &[(&str, FileType, u32)] = &[
    ("task", FileType::Directory, 0o555),
    ("fd", FileType::Directory, 0o500),
    ("fdinfo", FileType::Directory, 0o555),
    ("environ", FileType::Regular, 0o400),
    ("status", FileType::Regular, 0o444),
    ("limits", FileType::Regular, 0o444),
    ("comm", FileType::Regular, 0o644),
    ("cmdline", FileType::Regular, 0o444),
    ("stat", FileType::Regular, 0o444),
    ("statm", FileType::Regular, 0o444),
    ("maps", FileType::Regular, 0o444),
    ("cwd", FileType::Symlink, 0o777),
    ("root", FileType::Symlink, 0o777),
    ("exe", FileType::Symlink, 0o777),
    ("mounts", FileType::Regular, 0o444),
    ("smaps", FileType::Regular, 0o444),
];

fn parse_u32(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(name).ok()?.parse().ok()
}

fn decimal(n: u32) -> Vec<u8> {
    format!("{n}").into_bytes()
}

/// The process's thread ids.
fn tids(info: &ProcessInfo) -> Vec<u32> {
    if info.tids.is_empty() { alloc::vec![info.pid] } else { info.tids.clone() }
}

/// `path` below /proc/PID/ with `task/TID/` collapsed (a thread shows what
/// its process shows).
fn pid_rest<'a>(info: &ProcessInfo, rest: &'a [Vec<u8>]) -> Option<&'a [Vec<u8>]> {
    match rest {
        [task, tid, more @ ..] if task == b"task" => {
            let known = parse_u32(tid).is_some_and(|tid| tids(info).contains(&tid));
            if !known || more.first().is_some_and(|m| m == b"task") {
                return None;
            }
            Some(more)
        }
        _ => Some(rest),
    }
}

fn pid_node(info: &ProcessInfo, rest: &[Vec<u8>]) -> Option<SynthStat> {
    let (uid, gid) = (info.uids[1], info.gids[1]);
    let owned = |file_type, perm| SynthStat { file_type, perm, uid, gid };
    if let [task] = rest
        && task == b"task"
    {
        return Some(owned(FileType::Directory, 0o555));
    }
    let rest = pid_rest(info, rest)?;
    match rest {
        [] => Some(owned(FileType::Directory, 0o555)),
        [fd, n] if fd == b"fd" => {
            let n = parse_u32(n)?;
            let f = info.fds.iter().find(|f| f.fd == n)?;
            let perm = if f.readable { 0o500 } else { 0 } | if f.writable { 0o300 } else { 0 };
            Some(owned(FileType::Symlink, perm))
        }
        [fdinfo, n] if fdinfo == b"fdinfo" => {
            let n = parse_u32(n)?;
            info.fds.iter().any(|f| f.fd == n).then(|| owned(FileType::Regular, 0o444))
        }
        [name] => PID_ENTRIES.iter().find(|(n, _, _)| n.as_bytes() == name.as_slice()).map(|&(_, t, p)| owned(t, p)),
        _ => None,
    }
}

/// The process a /proc path starts with, and the rest of the path.
fn process_of<'a>(p: &dyn ProcProvider, path: &'a [Vec<u8>]) -> Option<(ProcessInfo, &'a [Vec<u8>])> {
    let (first, rest) = path.split_first()?;
    let pid = parse_u32(first)?;
    Some((p.process(pid)?, rest))
}

pub(crate) fn proc_node(p: &dyn ProcProvider, path: &[Vec<u8>]) -> Option<SynthStat> {
    match path {
        [] => Some(SynthStat::DIR),
        [name] if name == b"self" => Some(SynthStat::LINK),
        [name] if TOP_FILES.iter().any(|f| f.as_bytes() == name.as_slice()) => Some(SynthStat::FILE),
        [sys, rest @ ..] if sys == b"sys" => SYSCTL_TREE.node(rest),
        _ => {
            let (info, rest) = process_of(p, path)?;
            pid_node(&info, rest)
        }
    }
}

pub(crate) fn proc_entries(p: &dyn ProcProvider, path: &[Vec<u8>]) -> Vec<(Vec<u8>, FileType)> {
    match path {
        [] => {
            let mut out: Vec<(Vec<u8>, FileType)> = Vec::new();
            let mut statics: Vec<(&str, FileType)> = TOP_FILES.iter().map(|f| (*f, FileType::Regular)).collect();
            statics.push(("self", FileType::Symlink));
            statics.push(("sys", FileType::Directory));
            statics.sort_by(|a, b| a.0.cmp(b.0));
            out.extend(statics.into_iter().map(|(n, t)| (n.as_bytes().to_vec(), t)));
            out.extend(p.processes().into_iter().map(|pid| (decimal(pid), FileType::Directory)));
            out
        }
        [sys, rest @ ..] if sys == b"sys" => SYSCTL_TREE.entries(rest),
        _ => {
            let Some((info, rest)) = process_of(p, path) else { return Vec::new() };
            if let [task] = rest
                && task == b"task"
            {
                return tids(&info).into_iter().map(|tid| (decimal(tid), FileType::Directory)).collect();
            }
            let in_task = rest.first().is_some_and(|t| t == b"task");
            match pid_rest(&info, rest) {
                Some([]) => PID_ENTRIES
                    .iter()
                    .filter(|(n, _, _)| !(in_task && *n == "task"))
                    .map(|(n, t, _)| (n.as_bytes().to_vec(), *t))
                    .collect(),
                Some([fd]) if fd == b"fd" => info.fds.iter().map(|f| (decimal(f.fd), FileType::Symlink)).collect(),
                Some([fdinfo]) if fdinfo == b"fdinfo" => info.fds.iter().map(|f| (decimal(f.fd), FileType::Regular)).collect(),
                _ => Vec::new(),
            }
        }
    }
}

fn line(value: impl core::fmt::Display) -> Vec<u8> {
    format!("{value}\n").into_bytes()
}

pub(crate) fn proc_read(p: &dyn ProcProvider, path: &[Vec<u8>], mounts: &[MountEntry]) -> Result<Vec<u8>, Errno> {
    let name = |i: usize| path.get(i).map(Vec::as_slice);
    match path {
        [_] if !path[0].iter().all(u8::is_ascii_digit) => {
            let sys = || p.system();
            Ok(match name(0) {
                Some(b"cpuinfo") => fmt::cpuinfo(&sys()),
                Some(b"meminfo") => fmt::meminfo(&sys()),
                Some(b"stat") => fmt::proc_stat(&sys()),
                Some(b"uptime") => fmt::uptime(&sys()),
                Some(b"loadavg") => fmt::loadavg(&sys()),
                Some(b"mounts") => fmt::mounts(mounts),
                Some(b"filesystems") => b"nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n".to_vec(),
                Some(b"version") => fmt::version(&sys()),
                _ => return Err(Errno::ENOENT),
            })
        }
        [sys, rest @ ..] if sys == b"sys" => {
            let rest: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
            Ok(match rest.as_slice() {
                [b"kernel", b"ngroups_max"] => line(65536),
                [b"kernel", b"pid_max"] => line(p.system().pid_max),
                [b"kernel", b"osrelease"] => {
                    let mut v = p.system().os_release;
                    v.push(b'\n');
                    v
                }
                [b"kernel", b"ostype"] => b"Linux\n".to_vec(),
                [b"vm", b"overcommit_memory"] => line(0),
                [b"vm", b"max_map_count"] => line(65530),
                [b"net", b"core", b"somaxconn"] => line(4096),
                [b"fs", b"pipe-max-size"] => line(1_048_576),
                _ => return Err(Errno::ENOENT),
            })
        }
        _ => {
            let (info, rest) = process_of(p, path).ok_or(Errno::ENOENT)?;
            let rest = pid_rest(&info, rest).ok_or(Errno::ENOENT)?;
            if let [fdinfo, n] = rest
                && fdinfo == b"fdinfo"
            {
                let n = parse_u32(n).ok_or(Errno::ENOENT)?;
                return info.fds.iter().find(|f| f.fd == n).map(fmt::fdinfo).ok_or(Errno::ENOENT);
            }
            let [file] = rest else { return Err(Errno::ENOENT) };
            Ok(match file.as_slice() {
                b"cmdline" => info.cmdline,
                b"environ" => info.environ,
                b"comm" => {
                    let mut v = fmt::comm(&info.comm).to_vec();
                    v.push(b'\n');
                    v
                }
                b"stat" => fmt::process_stat(&info),
                b"statm" => fmt::statm(&info),
                b"limits" => fmt::limits(&info),
                b"status" => fmt::status(&info, &p.system()),
                b"maps" => fmt::maps(&info),
                b"smaps" => fmt::smaps(&info),
                b"mounts" => fmt::mounts(mounts),
                _ => return Err(Errno::ENOENT),
            })
        }
    }
}

pub(crate) fn proc_readlink(p: &dyn ProcProvider, path: &[Vec<u8>]) -> Result<Vec<u8>, Errno> {
    if let [name] = path
        && name == b"self"
    {
        return Ok(decimal(p.current_pid()));
    }
    let (info, rest) = process_of(p, path).ok_or(Errno::ENOENT)?;
    let rest = pid_rest(&info, rest).ok_or(Errno::ENOENT)?;
    let target = match rest {
        [name] if name == b"exe" => info.exe,
        [name] if name == b"cwd" => info.cwd,
        [name] if name == b"root" => b"/".to_vec(),
        [fd, n] if fd == b"fd" => {
            let n = parse_u32(n).ok_or(Errno::ENOENT)?;
            info.fds.into_iter().find(|f| f.fd == n).ok_or(Errno::ENOENT)?.target
        }
        _ => return Err(Errno::EINVAL),
    };
    if target.is_empty() { Err(Errno::ENOENT) } else { Ok(target) }
}

pub(crate) fn sys_read(p: &dyn ProcProvider, path: &[Vec<u8>]) -> Result<Vec<u8>, Errno> {
    let comps: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
    Ok(match comps.as_slice() {
        [b"devices", b"system", b"cpu", b"online" | b"possible" | b"present"] => {
            let n = u32::try_from(p.system().cpus.len()).unwrap_or(1).max(1);
            let mut v = fmt::cpu_list(&(0..n).collect::<Vec<_>>());
            v.push(b'\n');
            v
        }
        [b"devices", b"system", b"clocksource", b"clocksource0", b"current_clocksource" | b"available_clocksource"] => b"arch_sys_counter\n".to_vec(),
        // Morsel has no transparent huge pages.
        [b"kernel", b"mm", b"transparent_hugepage", b"enabled"] => b"always madvise [never]\n".to_vec(),
        [b"kernel", b"mm", b"transparent_hugepage", b"defrag"] => b"always defer defer+madvise madvise [never]\n".to_vec(),
        _ => return Err(Errno::ENOENT),
    })
}
