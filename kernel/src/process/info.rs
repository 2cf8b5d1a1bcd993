//! What /proc shows of μprocesses: a snapshot per μprocess, read by /proc
//! while any μprocess — the one described included — makes a system call.
//! Snapshots are made when they are needed, not after every time slice:
//! a μprocess publishes its own before it opens a /proc path, /proc asks the
//! scheduler to refresh the one it reads ([`super::scheduler::refresh`]:
//! a μprocess that is not running, or whose memory or files are in use
//! elsewhere, keeps its last snapshot), and the scheduler publishes at
//! fork, stop and continue, and when a μprocess's time slice runs out (so
//! a running one lags by at most a slice).

use super::Process;
use uprocess::areas::AreaKind;
use uprocess::context::IsolationContext;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use loader::Protection;
use posix_shim::fd::FileObject;
use posix_shim::procfs::{FdInfo, MemoryArea, ProcessInfo, SignalMasks, TaskState};
use spin::Mutex;

static SNAPSHOTS: Mutex<BTreeMap<u32, ProcessInfo>> = Mutex::new(BTreeMap::new());
/// The μprocess each core runs (by core id), for /proc/self.
static CURRENT: [AtomicU32; arch_morello::cpu::MAX_CORES] = [const { AtomicU32::new(1) }; arch_morello::cpu::MAX_CORES];

fn current() -> &'static AtomicU32 {
    &CURRENT[arch_morello::cpu::core_id()]
}

/// Installs the /proc sources: call once at boot.
pub fn install() {
    crate::procfs::install(crate::procfs::Sources {
        process: &|pid| {
            super::scheduler::refresh(pid);
            SNAPSHOTS.lock().get(&pid).cloned()
        },
        processes: &|| SNAPSHOTS.lock().keys().copied().collect(),
        current_pid: &|| current().load(Ordering::Relaxed),
    });
}

/// The μprocess this core runs now.
pub fn set_current(pid: u32) {
    current().store(pid, Ordering::Relaxed);
}

/// Pages each μprocess had resident when last published, for choosing
/// whom to end when memory runs out.
static RESIDENT: Mutex<BTreeMap<u32, usize>> = Mutex::new(BTreeMap::new());

/// The μprocess that holds the most memory, pid 1 left out (Linux's OOM
/// killer spares init too).
pub fn largest() -> Option<u32> {
    RESIDENT.lock().iter().filter(|&(&pid, _)| pid != 1).max_by_key(|&(_, &pages)| pages).map(|(&pid, _)| pid)
}

/// Forgets an ended μprocess.
pub fn remove(pid: u32) {
    RESIDENT.lock().remove(&pid);
    SNAPSHOTS.lock().remove(&pid);
}


/// Publishes `p`'s current state.
/// Publishes `p`'s current state, if `p` is the oldest thread of its
/// process (the others' slices change what the process shows too, but
/// only one thread speaks for it). For the running thread itself.
pub fn publish(p: &Process) {
    let group = p.group.lock();
    let (files, space) = (p.files.lock(), p.space.lock());
    publish_locked(p, &group, &files, &space);
}

/// [`publish`] for a thread that does not run, from where blocking on its
/// memory or files could deadlock (the scheduler's lock is held): it does
/// nothing if another thread uses them now.
pub fn try_publish(p: &Process) {
    let Some(group) = p.group.try_lock() else { return };
    let Some(files) = p.files.try_lock() else { return };
    let Some(space) = p.space.try_lock() else { return };
    publish_locked(p, &group, &files, &space);
}

fn publish_locked(p: &Process, group: &super::group::GroupState, files: &crate::files::FileState, space: &super::Space) {
    if group.threads.first() != Some(&p.tid) {
        return;
    }
    let (actions, limits, tids) = (group.actions, group.limits, group.threads.clone());
    let vfs = crate::files::vfs();
    let fds = files
        .fds
        .iter()
        .map(|(fd, entry)| {
            let file = &entry.file;
            let target = match (file.object(), file.path()) {
                (FileObject::Pipe(inode, _), _) => alloc::format!("pipe:[{}]", inode.ino()).into_bytes(),
                (FileObject::EventFd(..), _) => b"anon_inode:[eventfd]".to_vec(),
                // Opened by a path: the path it was opened by.
                (_, Some(path)) => path.to_vec(),
                (FileObject::Device(_, dev), None) if *dev == posix_shim::vfs::DevNumber::CONSOLE => b"/dev/console".to_vec(),
                (FileObject::Device(..), None) => b"/dev/tty".to_vec(),
                (object, None) if object.inode().is_dir() => vfs.path_of(object.inode()).unwrap_or_default(),
                (object, None) => alloc::format!("anon_inode:[{}]", object.inode().ino()).into_bytes(),
            };
            // As Linux shows them: O_LARGEFILE on every 64-bit open, and
            // O_CLOEXEC for a close-on-exec descriptor.
            const O_LARGEFILE: u32 = 0o100000;
            const O_CLOEXEC: u32 = 0o2000000;
            let flags = file.flags().bits() | O_LARGEFILE | if entry.cloexec { O_CLOEXEC } else { 0 };
            FdInfo {
                fd: fd.raw() as u32,
                target,
                readable: file.flags().readable(),
                writable: file.flags().writable(),
                position: *file.position(),
                flags,
                ino: file.inode().ino(),
            }
        })
        .collect();
    let areas = space
        .areas()
        .iter()
        .map(|area| {
            let perm = |bit: Protection, c: u8| if area.protection.contains(bit) { c } else { b'-' };
            let sharing = if area.is_shared() { b's' } else { b'p' };
            let perms = [perm(Protection::READ, b'r'), perm(Protection::WRITE, b'w'), perm(Protection::EXEC, b'x'), sharing];
            let mut shown = MemoryArea { start: area.start, end: area.end, perms, ..MemoryArea::default() };
            match (&area.backing, area.kind) {
                (_, AreaKind::Vdso) => shown.path = b"[vdso]".to_vec(),
                (_, AreaKind::Vvar) => shown.path = b"[vvar]".to_vec(),
                (Some(backing), _) => {
                    shown.offset = backing.offset;
                    shown.dev = posix_shim::syscall::TMPFS_DEV;
                    shown.inode = backing.file.inode.ino();
                    // A file in no directory is shared anonymous memory,
                    // which Linux shows as a deleted /dev/zero.
                    shown.path = match &backing.file.path {
                        Some(path) => path.to_vec(),
                        None if backing.file.inode.metadata().nlink == 0 => b"/dev/zero (deleted)".to_vec(),
                        None => Vec::new(),
                    };
                }
                (None, AreaKind::Heap) => shown.path = b"[heap]".to_vec(),
                (None, AreaKind::Stack) => shown.path = b"[stack]".to_vec(),
                (None, AreaKind::Private) => {}
            }
            shown
        })
        .collect();
    let uid = p.credentials.uid;
    let gid = p.credentials.gid;
    let tick = 1_000_000_000 / posix_shim::procfs::USER_HZ;
    let dispositions = |wanted: fn(u64) -> bool| {
        actions.iter().enumerate().filter(|(_, action)| wanted(action[0])).fold(0u64, |set, (i, _)| set | 1 << i)
    };
    let state = if p.stopped {
        TaskState::Stopped
    } else if p.in_blocked_call {
        TaskState::Sleeping
    } else {
        TaskState::Running
    };
    let info = ProcessInfo {
        pid: p.pid,
        ppid: super::table::parent_of(p.pid),
        pgrp: super::table::group_of(p.pid).unwrap_or(p.pid),
        session: super::table::session_of(p.pid).unwrap_or(p.pid),
        state,
        comm: p.name.clone(),
        exe: p.exe.clone(),
        cwd: vfs.path_of(&files.fs.cwd).unwrap_or_default(),
        cmdline: p.cmdline.clone(),
        environ: p.environ.clone(),
        fds,
        areas,
        uids: [uid[0], uid[1], uid[2], uid[1]],
        gids: [gid[0], gid[1], gid[2], gid[1]],
        groups: p.credentials.groups.clone(),
        umask: files.fs.umask,
        threads: tids.len() as u32,
        nice: super::table::nice_values(|pid, _| pid == p.pid).first().map_or(0, |&(_, nice)| nice),
        tids,
        start_ticks: p.started_ns / tick,
        limits,
        utime_ticks: p.cpu.user / tick,
        stime_ticks: p.cpu.system / tick,
        cutime_ticks: p.cpu.children_user / tick,
        cstime_ticks: p.cpu.children_system / tick,
        signals: SignalMasks {
            pending: p.pending.bits() | group.pending.bits(),
            blocked: p.signal_mask,
            ignored: dispositions(|handler| handler == super::signals::SIG_IGN),
            caught: dispositions(|handler| handler > super::signals::SIG_IGN),
        },
        ..ProcessInfo::default()
    };
    SNAPSHOTS.lock().insert(p.pid, info);
    RESIDENT.lock().insert(p.pid, space.resident_pages());
}
