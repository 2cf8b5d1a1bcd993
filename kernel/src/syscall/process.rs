//! Process-state system calls: thread id address, robust list, identity,
//! prctl, resource limits, affinity, and the signal dispositions and mask
//! (kept as set; delivery is the process layer's).

use crate::process::Process;
use uprocess::context::IsolationContext;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::user::{UserAddr, UserMemory};

/// set_tid_address(tidptr): remembered for exit; returns the caller's tid.
pub fn set_tid_address(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    p.clear_child_tid = a.u64(0);
    Ok(u64::from(p.tid))
}

fn write_ids(p: &mut Process, a: &SyscallArgs, ids: [u32; 3]) -> Result<u64, Errno> {
    for (i, id) in ids.into_iter().enumerate() {
        p.space.lock().write_u32(a.addr(i), id)?;
    }
    Ok(0)
}

/// getresuid(ruid, euid, suid).
pub fn getresuid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let ids = p.credentials.uid;
    write_ids(p, a, ids)
}

/// getresgid(rgid, egid, sgid).
pub fn getresgid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let ids = p.credentials.gid;
    write_ids(p, a, ids)
}

/// getgroups(size, list).
pub fn getgroups(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let groups = p.credentials.groups.clone();
    let size = a.i32(0);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    for (i, g) in groups.iter().enumerate() {
        p.space.lock().write_u32(a.addr(1).offset(4 * i as u64)?, *g)?;
    }
    Ok(groups.len() as u64)
}

/// A privileged process may take any ids; others only ids they hold.
fn may_take(p: &Process, held: [u32; 3], id: u32) -> bool {
    p.credentials.uid[1] == 0 || held.contains(&id)
}

/// setuid(uid): root sets all three; others the effective one.
pub fn setuid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let privileged = p.credentials.uid[1] == 0;
    set_one(privileged, &mut p.credentials.uid, a.u32(0))
}

/// setgid(gid): as setuid, for the group ids.
pub fn setgid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let privileged = p.credentials.uid[1] == 0;
    set_one(privileged, &mut p.credentials.gid, a.u32(0))
}

/// The setuid/setgid rule on real, effective and saved `ids`: a privileged
/// caller sets all three to `id`; others may set the effective one to an id
/// they already hold.
fn set_one(privileged: bool, ids: &mut [u32; 3], id: u32) -> Result<u64, Errno> {
    if privileged {
        *ids = [id; 3];
    } else if ids.contains(&id) {
        ids[1] = id;
    } else {
        return Err(Errno::EPERM);
    }
    Ok(0)
}

fn set_three(p: &Process, held: [u32; 3], a: &SyscallArgs) -> Result<[u32; 3], Errno> {
    let mut ids = held;
    for (i, slot) in ids.iter_mut().enumerate() {
        let id = a.u32(i);
        if id != u32::MAX {
            if !may_take(p, held, id) {
                return Err(Errno::EPERM);
            }
            *slot = id;
        }
    }
    Ok(ids)
}

/// setresuid(ruid, euid, suid); -1 keeps a value.
pub fn setresuid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    p.credentials.uid = set_three(p, p.credentials.uid, a)?;
    Ok(0)
}

/// setresgid(rgid, egid, sgid).
pub fn setresgid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    p.credentials.gid = set_three(p, p.credentials.gid, a)?;
    Ok(0)
}

/// setgroups(size, list): root only.
pub fn setgroups(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if p.credentials.uid[1] != 0 {
        return Err(Errno::EPERM);
    }
    let size = a.u64(0);
    if size > 65536 {
        return Err(Errno::EINVAL);
    }
    let mut groups = alloc::vec::Vec::new();
    for i in 0..size {
        groups.push(p.space.lock().read_u32(a.addr(1).offset(4 * i)?)?);
    }
    p.credentials.groups = groups;
    Ok(0)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_CAPBSET_READ: u64 = 23;
/// CAP_LAST_CAP on Linux 6.1.
const CAP_LAST_CAP: u64 = 40;

/// prctl(option, ...).
pub fn prctl(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    match a.u64(0) {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            p.space.lock().read_bytes(a.addr(1), &mut name)?;
            let len = name.iter().position(|&b| b == 0).unwrap_or(15).min(15);
            p.name = name[..len].to_vec();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            name[..p.name.len()].copy_from_slice(&p.name);
            p.space.lock().write_bytes(a.addr(1), &name)?;
            Ok(0)
        }
        PR_SET_DUMPABLE => match a.u64(1) {
            0 | 1 => {
                p.dumpable = a.u64(1) == 1;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        PR_GET_DUMPABLE => Ok(u64::from(p.dumpable)),
        PR_CAPBSET_READ => if a.u64(1) <= CAP_LAST_CAP { Ok(1) } else { Err(Errno::EINVAL) },
        PR_SET_PDEATHSIG => if a.u64(1) <= 64 { Ok(0) } else { Err(Errno::EINVAL) },
        PR_GET_PDEATHSIG => p.space.lock().write_u32(a.addr(1), 0).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// Resource numbers (asm-generic).
const RLIMIT_NLIMITS: u32 = 16;
const RLIMIT_NOFILE: u32 = 7;

fn read_limit(p: &Process, addr: UserAddr) -> Result<[u64; 2], Errno> {
    let space = p.space.lock();
    Ok([space.read_u64(addr)?, space.read_u64(addr.offset(8)?)?])
}

/// prlimit64(pid, resource, new, old).
pub fn prlimit64(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let pid = a.i32(0);
    if pid != 0 && pid as u32 != p.pid {
        return Err(Errno::ESRCH);
    }
    let resource = a.u32(1);
    if resource >= RLIMIT_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let old = p.group.lock().limits[resource as usize];
    let new = if a.addr(2).is_null() { None } else { Some(read_limit(p, a.addr(2))?) };
    if let Some([soft, hard]) = new {
        if soft > hard || (hard > old[1] && p.credentials.uid[1] != 0) {
            return Err(if soft > hard { Errno::EINVAL } else { Errno::EPERM });
        }
    }
    if !a.addr(3).is_null() {
        let mut space = p.space.lock();
        space.write_u64(a.addr(3), old[0])?;
        space.write_u64(a.addr(3).offset(8)?, old[1])?;
    }
    if let Some(limit) = new {
        if resource == RLIMIT_NOFILE {
            p.files.lock().fds.set_limit(usize::try_from(limit[0]).unwrap_or(usize::MAX).min(1 << 20))?;
        }
        p.group.lock().limits[resource as usize] = limit;
    }
    Ok(0)
}

/// getrlimit(resource, rlim): rlim is required (EFAULT when NULL).
pub fn getrlimit(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.addr(1).is_null() {
        return Err(Errno::EFAULT);
    }
    let args = SyscallArgs::new([0, a.u64(0), 0, a.u64(1), 0, 0]);
    prlimit64(p, &args)
}

/// setrlimit(resource, rlim).
pub fn setrlimit(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let args = SyscallArgs::new([0, a.u64(0), a.u64(1), 0, 0, 0]);
    prlimit64(p, &args)
}

/// The machine's cores as an affinity mask.
fn all_cores() -> u64 {
    let cores = crate::platform::platform().machine.cpus.clamp(1, 64);
    if cores == 64 { u64::MAX } else { (1 << cores) - 1 }
}

/// Whether `id` (sched_*affinity's pid argument) names the caller: 0 or
/// its tid. Another live thread or process is Ok(false); ESRCH otherwise.
fn names_caller(p: &Process, id: i32) -> Result<bool, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    if id == 0 || id as u32 == p.tid {
        return Ok(true);
    }
    crate::process::group::group_of_thread(id as u32).map(|_| false).ok_or(Errno::ESRCH)
}

/// sched_getaffinity(pid, size, mask): the cores the thread may run on
/// (another thread's: every core).
pub fn sched_getaffinity(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let caller = names_caller(p, a.i32(0))?;
    let size = a.u64(1);
    if size < 8 || size % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let mask = if caller { p.affinity } else { all_cores() };
    p.space.lock().write_u64(a.addr(2), mask)?;
    Ok(8)
}

/// sched_setaffinity(pid, size, mask): the caller's cores; EINVAL when the
/// mask holds none of the machine's. Setting another thread's is EPERM.
pub fn sched_setaffinity(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let caller = names_caller(p, a.i32(0))?;
    let mut raw = [0u8; 8];
    let length = (a.u64(1) as usize).min(8);
    p.space.lock().read_bytes(a.addr(2), &mut raw[..length])?;
    let mask = u64::from_le_bytes(raw) & all_cores();
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    if !caller {
        return Err(Errno::EPERM);
    }
    p.affinity = mask;
    Ok(0)
}

/// getcpu(cpu, node, cache).
pub fn getcpu(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    for i in 0..2 {
        if !a.addr(i).is_null() {
            p.space.lock().write_u32(a.addr(i), 0)?;
        }
    }
    Ok(0)
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// getrusage(who, usage): the user and system time of the process, of its
/// reaped children or of the calling thread, and the process's resident
/// size in KiB (ru_maxrss: the size now, the most Morsel knows); the
/// other fields are 0.
pub fn getrusage(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (user, system, resident) = match a.i32(0) {
        RUSAGE_SELF => {
            let cpu = p.process_cpu();
            (cpu.user, cpu.system, p.space.lock().resident_pages() as u64 * 4)
        }
        RUSAGE_CHILDREN => {
            let cpu = p.process_cpu();
            (cpu.children_user, cpu.children_system, 0)
        }
        RUSAGE_THREAD => (p.cpu.user, p.cpu.system, p.space.lock().resident_pages() as u64 * 4),
        _ => return Err(Errno::EINVAL),
    };
    let mut usage = [0u8; 144];
    usage[..16].copy_from_slice(&crate::syscall::timeval(user));
    usage[16..32].copy_from_slice(&crate::syscall::timeval(system));
    usage[32..40].copy_from_slice(&resident.to_le_bytes());
    p.space.lock().write_bytes(a.addr(1), &usage)?;
    Ok(0)
}

const PRIO_PROCESS: u32 = 0;
const PRIO_PGRP: u32 = 1;
const PRIO_USER: u32 = 2;

/// The μprocesses getpriority and setpriority name: (pid, nice) of each.
fn priority_targets(p: &Process, which: u32, who: u32) -> Result<alloc::vec::Vec<(u32, i8)>, Errno> {
    let me = p.pid;
    let targets = match which {
        PRIO_PROCESS => {
            let pid = if who == 0 { me } else { crate::process::group::group_of_thread(who).unwrap_or(who) };
            crate::process::table::nice_values(|candidate, _| candidate == pid)
        }
        PRIO_PGRP => {
            let group = if who == 0 { crate::process::table::group_of(me).unwrap_or(me) } else { who };
            crate::process::table::nice_values(|_, candidate_group| candidate_group == group)
        }
        // Every μprocess has the caller's user in this model only if it is
        // root's: uids are per μprocess, but the table does not keep them.
        PRIO_USER if who == 0 || who == p.credentials.uid[0] => crate::process::table::nice_values(|_, _| true),
        PRIO_USER => alloc::vec::Vec::new(),
        _ => return Err(Errno::EINVAL),
    };
    if targets.is_empty() { Err(Errno::ESRCH) } else { Ok(targets) }
}

/// getpriority(which, who): 20 minus the lowest nice value among the
/// μprocesses named (the raw system call's encoding; glibc turns it back).
pub fn getpriority(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let targets = priority_targets(p, a.u32(0), a.u32(1))?;
    let lowest = targets.iter().map(|&(_, nice)| nice).min().unwrap_or(0);
    Ok((20 - i64::from(lowest)) as u64)
}

/// setpriority(which, who, nice): clamped to -20..=19; lowering it needs
/// root (EACCES).
pub fn setpriority(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let nice = a.i32(2).clamp(-20, 19) as i8;
    let targets = priority_targets(p, a.u32(0), a.u32(1))?;
    let root = p.credentials.uid[1] == 0;
    for (pid, old) in targets {
        if nice < old && !root {
            return Err(Errno::EACCES);
        }
        crate::process::table::set_nice(pid, nice);
    }
    Ok(0)
}

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;
/// SCHED_RESET_ON_FORK, accepted with any policy.
const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// The process sched_*'s pid argument names (0: the caller's); ESRCH.
fn sched_target(p: &Process, pid: i32) -> Result<u32, Errno> {
    match pid {
        pid if pid < 0 => Err(Errno::EINVAL),
        0 => Ok(p.pid),
        pid => crate::process::group::group_of_thread(pid as u32).ok_or(Errno::ESRCH),
    }
}

/// The real-time priorities `policy` allows.
fn priority_range(policy: u32) -> Result<(u32, u32), Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok((1, 99)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

/// sched_get_priority_max(policy).
pub fn sched_get_priority_max(a: &SyscallArgs) -> Result<u64, Errno> {
    priority_range(a.u32(0)).map(|(_, max)| u64::from(max))
}

/// sched_get_priority_min(policy).
pub fn sched_get_priority_min(a: &SyscallArgs) -> Result<u64, Errno> {
    priority_range(a.u32(0)).map(|(min, _)| u64::from(min))
}

/// sched_getscheduler(pid).
pub fn sched_getscheduler(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let pid = sched_target(p, a.i32(0))?;
    crate::process::table::policy_of(pid).map(|(policy, _)| u64::from(policy)).ok_or(Errno::ESRCH)
}

/// sched_getparam(pid, param).
pub fn sched_getparam(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.addr(1).is_null() {
        return Err(Errno::EINVAL);
    }
    let pid = sched_target(p, a.i32(0))?;
    let (_, priority) = crate::process::table::policy_of(pid).ok_or(Errno::ESRCH)?;
    p.space.lock().write_u32(a.addr(1), priority)?;
    Ok(0)
}

/// sched_setscheduler(pid, policy, param): the policy and priority are
/// recorded (every thread still shares the cores round-robin); real-time
/// policies need root (EPERM).
pub fn sched_setscheduler(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let policy = a.u32(1) & !SCHED_RESET_ON_FORK;
    set_scheduling(p, a.i32(0), Some(policy), a.addr(2))
}

/// sched_setparam(pid, param): the priority within the current policy.
pub fn sched_setparam(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    set_scheduling(p, a.i32(0), None, a.addr(1))
}

fn set_scheduling(p: &mut Process, pid: i32, policy: Option<u32>, param: UserAddr) -> Result<u64, Errno> {
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    let pid = sched_target(p, pid)?;
    let (current, _) = crate::process::table::policy_of(pid).ok_or(Errno::ESRCH)?;
    let policy = policy.unwrap_or(current);
    let priority = p.space.lock().read_u32(param)?;
    let (min, max) = priority_range(policy)?;
    if !(min..=max).contains(&priority) {
        return Err(Errno::EINVAL);
    }
    if max > 0 && p.credentials.uid[1] != 0 {
        return Err(Errno::EPERM);
    }
    crate::process::table::set_policy(pid, (policy, priority));
    Ok(0)
}
