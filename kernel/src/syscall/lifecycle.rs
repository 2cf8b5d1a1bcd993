//! Process creation and ending: clone (fork, vfork and clone for a new
//! process), execve, wait4, getppid.

use crate::process::signals::{SigInfo, code};
use crate::process::table::{self, Change, Selector, WaitFor, Waited};
use crate::process::group::{ThreadGroup, shared};
use crate::process::{Process, signal};
use crate::syscall::Outcome;
use uprocess::context::IsolationContext;
use alloc::boxed::Box;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::syscall::args::{AtFlags, DirFd, SyscallArgs};
use posix_shim::user::{UserAddr, UserMemory};

const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x1_0000;
const CLONE_SETTLS: u64 = 0x8_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;

/// Flags clone accepts without acting on them: CLONE_SYSVSEM (no System V
/// semaphores to undo) and CLONE_DETACHED (ignored by Linux too).
const CLONE_SYSVSEM: u64 = 0x4_0000;
const CLONE_DETACHED: u64 = 0x40_0000;

/// clone(flags, stack, parent_tid, tls, child_tid): a new process (fork:
/// CHILD_SETTID|CHILD_CLEARTID|SIGCHLD; vfork: VM|VFORK|SIGCHLD, whose
/// child gets a copy of the memory, which a correct vfork user cannot tell
/// apart) or a new thread (glibc's pthread_create:
/// VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID).
/// As Linux: THREAD needs SIGHAND, SIGHAND needs VM (EINVAL). Not offered
/// (EINVAL): CLONE_VM without THREAD or VFORK, and sharing the files but
/// not the file system state or the reverse.
pub fn clone(p: &mut Process, a: &SyscallArgs) -> Outcome {
    let flags = a.u64(0);
    let known = CSIGNAL
        | CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_VFORK
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_DETACHED
        | CLONE_CHILD_SETTID;
    let has = |flag: u64| flags & flag != 0;
    let invalid = flags & !known != 0
        || (has(CLONE_THREAD) && !has(CLONE_SIGHAND))
        || (has(CLONE_SIGHAND) && !has(CLONE_VM))
        || (has(CLONE_VM) && !has(CLONE_THREAD) && !has(CLONE_VFORK))
        || has(CLONE_FS) != has(CLONE_FILES);
    if invalid {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    let ids = ChildIds { flags, parent_tid: a.addr(2), child_tid: a.addr(4) };
    let created = if has(CLONE_THREAD) { new_thread(p, a.u64(1), a.u64(3), ids).map(Outcome::Thread) } else { fork(p, a.u64(1), a.u64(3), ids).map(Outcome::Fork) };
    created.unwrap_or_else(|e| Outcome::Return(Err(e)))
}

/// Where clone writes and clears the new thread's id.
#[derive(Debug, Clone, Copy)]
struct ChildIds {
    flags: u64,
    parent_tid: UserAddr,
    child_tid: UserAddr,
}

/// Starts `child` (a fork's or a new thread) as clone's flags say: its
/// stack, TLS, and the thread id written where CLONE_*_SETTID ask.
fn start_child(p: &mut Process, child: &mut Process, stack: u64, tls: u64, ids: ChildIds) -> Result<(), Errno> {
    child.context.x[0] = 0;
    if stack != 0 {
        child.context.sp = stack;
    }
    if ids.flags & CLONE_SETTLS != 0 {
        child.context.tpidr = tls;
    }
    if ids.flags & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid = ids.child_tid.value();
    }
    if ids.flags & CLONE_CHILD_SETTID != 0 {
        child.space.lock().write_u32(ids.child_tid, child.tid)?;
    }
    if ids.flags & CLONE_PARENT_SETTID != 0 {
        p.space.lock().write_u32(ids.parent_tid, child.tid)?;
    }
    Ok(())
}

fn fork(p: &mut Process, stack: u64, tls: u64, ids: ChildIds) -> Result<Box<Process>, Errno> {
    let space = p.space.lock().fork().map_err(|_| Errno::ENOMEM)?;
    let files = p.files.lock().fork();
    let pid = crate::process::next_pid();
    let group = {
        let state = p.group.lock();
        ThreadGroup::new(pid, state.actions, state.brk, state.limits)
    };
    let mut child = Box::new(p.child(pid, pid, group, shared(space), shared(files)));
    child.altstack = p.altstack;
    start_child(p, &mut child, stack, tls, ids)?;
    Ok(child)
}

/// A new thread in the caller's group, sharing its memory, files and
/// signal handlers.
fn new_thread(p: &mut Process, stack: u64, tls: u64, ids: ChildIds) -> Result<Box<Process>, Errno> {
    let tid = crate::process::next_pid();
    let mut child = Box::new(p.child(p.pid, tid, p.group.clone(), p.space.clone(), p.files.clone()));
    p.group.lock().threads.push(tid);
    start_child(p, &mut child, stack, tls, ids)?;
    Ok(child)
}

/// clone3(args, size): the same, from a `struct clone_args`.
pub fn clone3(p: &mut Process, a: &SyscallArgs) -> Outcome {
    let size = a.u64(1);
    if !(64..=4096).contains(&size) {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    let mut raw = [0u8; 64];
    if let Err(e) = p.space.lock().read_bytes(a.addr(0), &mut raw) {
        return Outcome::Return(Err(e));
    }
    let field = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    // flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls
    let (flags, child_tid, parent_tid, exit_signal, stack, stack_size, tls) =
        (field(0), field(2), field(3), field(4), field(5), field(6), field(7));
    if flags & CSIGNAL != 0 || exit_signal > 64 {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    let top = if stack != 0 { stack.saturating_add(stack_size) } else { 0 };
    let registers = SyscallArgs::new([flags | exit_signal, top, parent_tid, tls, child_tid, 0]);
    clone(p, &registers)
}

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WEXITED: u64 = 4;
const WCONTINUED: u64 = 8;
const WNOWAIT: u64 = 0x0100_0000;
/// __WNOTHREAD, __WALL, __WCLONE: accepted (threads are never waited for).
const THREAD_OPTIONS: u64 = 0x2000_0000 | 0x4000_0000 | 0x8000_0000;

/// Waits for a child change: `Ok(None)` when there is none and `nohang`;
/// blocks (ERESTART) until one comes otherwise. A reaped child's CPU time
/// joins the caller's children's.
fn wait_for_child(p: &mut Process, selector: Selector, what: WaitFor, nohang: bool) -> Result<Option<(u32, Change)>, Errno> {
    match table::wait(p.pid, selector, what) {
        Waited::NoChild => Err(Errno::ECHILD),
        Waited::Running if nohang => Ok(None),
        Waited::Running => {
            p.wakeup = crate::process::Wakeup::SignalOr(None);
            Err(Errno::ERESTART)
        }
        Waited::Found(child, change) => {
            if let (Change::Exited(_, (user, system)), false) = (change, what.keep) {
                p.cpu.children_user += user;
                p.cpu.children_system += system;
            }
            Ok(Some((child, change)))
        }
    }
}

/// `struct rusage` with only the user and system times filled in.
fn rusage(user_ns: u64, system_ns: u64) -> [u8; 144] {
    let mut out = [0u8; 144];
    out[..16].copy_from_slice(&crate::syscall::timeval(user_ns));
    out[16..32].copy_from_slice(&crate::syscall::timeval(system_ns));
    out
}

fn child_cpu(change: Change) -> (u64, u64) {
    match change {
        Change::Exited(_, cpu) => cpu,
        Change::Stopped(_) | Change::Continued => (0, 0),
    }
}

/// wait4(pid, wstatus, options, rusage): pid > 0 that child, -1 any, 0 the
/// caller's process group, < -1 group -pid.
pub fn wait4(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (pid, status_at, options) = (a.i32(0), a.addr(1), a.u64(2));
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | THREAD_OPTIONS) != 0 {
        return Err(Errno::EINVAL);
    }
    let selector = match pid {
        -1 => Selector::Any,
        0 => Selector::Group(table::group_of(p.pid).unwrap_or(p.pid)),
        i32::MIN => return Err(Errno::ESRCH),
        pid if pid < 0 => Selector::Group(pid.unsigned_abs()),
        pid => Selector::Pid(pid as u32),
    };
    let what = WaitFor { exited: true, stopped: options & WUNTRACED != 0, continued: options & WCONTINUED != 0, keep: false };
    let Some((child, change)) = wait_for_child(p, selector, what, options & WNOHANG != 0)? else {
        return Ok(0);
    };
    if !status_at.is_null() {
        let status = match change {
            Change::Exited(exit, _) => exit.wait_status(),
            Change::Stopped(signal) => u32::from(signal) << 8 | 0x7f,
            Change::Continued => 0xffff,
        };
        p.space.lock().write_u32(status_at, status)?;
    }
    if !a.addr(3).is_null() {
        let (user, system) = child_cpu(change);
        p.space.lock().write_bytes(a.addr(3), &rusage(user, system))?;
    }
    Ok(u64::from(child))
}

/// waitid(idtype, id, infop, options, rusage): P_ALL, P_PID, P_PGID (0:
/// the caller's group); the change is reported in a siginfo.
pub fn waitid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    let (id_type, id, info_at, options) = (a.u64(0), a.i32(1), a.addr(2), a.u64(3));
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | THREAD_OPTIONS) != 0
        || options & (WUNTRACED | WEXITED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let selector = match id_type {
        P_ALL => Selector::Any,
        P_PID if id > 0 => Selector::Pid(id as u32),
        P_PGID if id == 0 => Selector::Group(table::group_of(p.pid).unwrap_or(p.pid)),
        P_PGID if id > 0 => Selector::Group(id as u32),
        _ => return Err(Errno::EINVAL),
    };
    let what = WaitFor {
        exited: options & WEXITED != 0,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        keep: options & WNOWAIT != 0,
    };
    let found = wait_for_child(p, selector, what, options & WNOHANG != 0)?;
    if !info_at.is_null() {
        let info = match found {
            Some((child, change)) => {
                let (code, status) = match change {
                    Change::Exited(exit, _) => exit.child_code(),
                    Change::Stopped(signal) => (code::CLD_STOPPED, i32::from(signal)),
                    Change::Continued => (code::CLD_CONTINUED, i32::from(signal::SIGCONT)),
                };
                *SigInfo::child(code, child, p.credentials.uid[0], status).bytes()
            }
            None => [0u8; 128],
        };
        p.space.lock().write_bytes(info_at, &info)?;
    }
    if !a.addr(4).is_null() {
        let (user, system) = found.map_or((0, 0), |(_, change)| child_cpu(change));
        p.space.lock().write_bytes(a.addr(4), &rusage(user, system))?;
    }
    Ok(0)
}

fn group_error(error: table::GroupError) -> Errno {
    match error {
        table::GroupError::NoProcess => Errno::ESRCH,
        table::GroupError::Refused => Errno::EPERM,
    }
}

/// setpgid(pid, pgid): 0 means the caller, and a pgid of 0 its own pid.
pub fn setpgid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (pid, group) = (a.i32(0), a.i32(1));
    if pid < 0 || group < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = if pid == 0 { p.pid } else { pid as u32 };
    let group = if group == 0 { pid } else { group as u32 };
    table::set_group(p.pid, pid, group).map(|()| 0).map_err(group_error)
}

/// getpgid(pid).
pub fn getpgid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let pid = if a.i32(0) == 0 { p.pid } else { a.i32(0) as u32 };
    table::group_of(pid).map(u64::from).ok_or(Errno::ESRCH)
}

/// setsid().
pub fn setsid(p: &mut Process) -> Result<u64, Errno> {
    table::new_session(p.pid).map(u64::from).map_err(group_error)
}

/// getsid(pid).
pub fn getsid(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let pid = if a.i32(0) == 0 { p.pid } else { a.i32(0) as u32 };
    table::session_of(pid).map(u64::from).ok_or(Errno::ESRCH)
}

/// getppid().
pub fn getppid(p: &Process) -> u64 {
    u64::from(table::parent_of(p.pid))
}

/// Reads a NULL-terminated array of string pointers (argv, envp).
fn read_string_array(p: &Process, at: UserAddr) -> Result<Vec<Vec<u8>>, Errno> {
    let mut strings = Vec::new();
    if at.is_null() {
        return Ok(strings);
    }
    for i in 0.. {
        if i > 0x2_0000 {
            return Err(Errno::E2BIG);
        }
        let pointer = p.space.lock().read_u64(at.offset(8 * i)?)?;
        if pointer == 0 {
            break;
        }
        strings.push(p.space.lock().read_c_string(UserAddr::new(pointer), loader::stack::MAX_ARG_STRLEN as usize)?);
    }
    Ok(strings)
}

/// execve(path, argv, envp): replaces the program; the pid, files (less
/// the close-on-exec ones), cwd, credentials, signal mask and ignored
/// signals stay; handled signals return to their default. `#!` scripts run
/// their interpreter with its optional argument.
pub fn execve(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    exec(p, DirFd::Cwd, a.addr(0), AtFlags::empty(), a.addr(1), a.addr(2))
}

/// execveat(dirfd, path, argv, envp, flags): as execve, with the path found
/// from `dirfd` (AT_EMPTY_PATH: the descriptor itself, as fexecve uses).
pub fn execveat(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    exec(p, a.dirfd(0), a.addr(1), a.at_flags(4), a.addr(2), a.addr(3))
}

/// The program is found (ENOENT, EACCES... leave every thread running),
/// then the group's other threads end (the call waits for them), then it
/// is loaded.
fn exec(p: &mut Process, dirfd: DirFd, path: UserAddr, flags: AtFlags, argv: UserAddr, envp: UserAddr) -> Result<u64, Errno> {
    let argv = read_string_array(p, argv)?;
    let envp = read_string_array(p, envp)?;
    let found = crate::files::executable(p, dirfd, path, flags, argv)?;
    if !p.end_other_threads() {
        return Err(Errno::ERESTART);
    }
    p.exec(found, envp)?;
    Ok(0)
}
