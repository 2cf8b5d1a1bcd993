//! Process creation and ending: clone (fork, vfork and clone for a new
//! process), execve, wait4, getppid.

use crate::process::table::{self, Selector, Waited};
use crate::process::{Exit, Process};
use crate::syscall::Outcome;
use alloc::boxed::Box;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
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

/// clone(flags, stack, parent_tid, tls, child_tid) for a new process: the
/// flags glibc's fork (CHILD_SETTID|CHILD_CLEARTID|SIGCHLD) and vfork
/// (VM|VFORK|SIGCHLD) use. The child gets a copy of the caller's memory
/// (also for vfork: the parent may run on, which a correct vfork user cannot
/// tell apart). Threads (CLONE_THREAD, shared files or handlers) are EINVAL
/// until they exist.
pub fn clone(p: &mut Process, a: &SyscallArgs) -> Outcome {
    let flags = a.u64(0);
    let allowed = CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID;
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS) != 0 || flags & !allowed != 0 {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    match fork(p, flags, a.u64(1), a.addr(2), a.u64(3), a.addr(4)) {
        Ok(child) => Outcome::Fork(child),
        Err(e) => Outcome::Return(Err(e)),
    }
}

fn fork(p: &mut Process, flags: u64, stack: u64, parent_tid: UserAddr, tls: u64, child_tid: UserAddr) -> Result<Box<Process>, Errno> {
    let space = p.space.fork().map_err(|_| Errno::ENOMEM)?;
    let pid = crate::process::next_pid();
    let mut child = Box::new(Process {
        pid,
        space,
        context: p.context.clone(),
        brk: p.brk,
        name: p.name.clone(),
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 { child_tid.value() } else { 0 },
        signal_mask: p.signal_mask,
        signal_actions: p.signal_actions,
        files: p.files.fork(),
        credentials: p.credentials.clone(),
        dumpable: p.dumpable,
        limits: p.limits,
        started_ns: arch_morello::timer::uptime_ns(),
        in_blocked_call: false,
        sleep_deadline: None,
        wakeup: crate::process::Wakeup::Anything,
        exe: p.exe.clone(),
        cmdline: p.cmdline.clone(),
        environ: p.environ.clone(),
        pending_signals: 0,
        suspended_mask: None,
    });
    child.context.x[0] = 0;
    if stack != 0 {
        child.context.sp = stack;
    }
    if flags & CLONE_SETTLS != 0 {
        child.context.tpidr = tls;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        child.space.write_u32(child_tid, pid)?;
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        p.space.write_u32(parent_tid, pid)?;
    }
    Ok(child)
}

/// clone3(args, size): the same, from a `struct clone_args`.
pub fn clone3(p: &mut Process, a: &SyscallArgs) -> Outcome {
    let size = a.u64(1);
    if !(64..=4096).contains(&size) {
        return Outcome::Return(Err(Errno::EINVAL));
    }
    let mut raw = [0u8; 64];
    if let Err(e) = p.space.read_bytes(a.addr(0), &mut raw) {
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

/// wait4(pid, wstatus, options, rusage).
pub fn wait4(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    const WNOHANG: u64 = 1;
    const KNOWN: u64 = WNOHANG | 2 | 8 | 0x4000_0000 | 0x8000_0000 | 0x2000_0000;
    let (pid, status_at, options) = (a.i32(0), a.addr(1), a.u64(2));
    if options & !KNOWN != 0 {
        return Err(Errno::EINVAL);
    }
    let selector = if pid > 0 { Selector::Pid(pid as u32) } else { Selector::Any };
    match table::wait(p.pid, selector) {
        Waited::NoChild => Err(Errno::ECHILD),
        Waited::Running if options & WNOHANG != 0 => Ok(0),
        Waited::Running => {
            p.wakeup = crate::process::Wakeup::SignalOr(None);
            Err(Errno::ERESTART)
        }
        Waited::Reaped(child, exit) => {
            if !status_at.is_null() {
                let status: u32 = match exit {
                    Exit::Status(code) => u32::from(code) << 8,
                    Exit::Signal(signal) => u32::from(signal),
                };
                p.space.write_u32(status_at, status)?;
            }
            if !a.addr(3).is_null() {
                p.space.write_bytes(a.addr(3), &[0u8; 144])?;
            }
            Ok(u64::from(child))
        }
    }
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
        let pointer = p.space.read_u64(at.offset(8 * i)?)?;
        if pointer == 0 {
            break;
        }
        strings.push(p.space.read_c_string(UserAddr::new(pointer), loader::stack::MAX_ARG_STRLEN as usize)?);
    }
    Ok(strings)
}

/// execve(path, argv, envp): replaces the program; the pid, files (less
/// the close-on-exec ones), cwd, credentials, signal mask and ignored
/// signals stay; handled signals return to their default. `#!` scripts run
/// their interpreter with its optional argument.
pub fn execve(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let path = p.space.read_path(a.addr(0))?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let argv = read_string_array(p, a.addr(1))?;
    let envp = read_string_array(p, a.addr(2))?;
    let (image, argv) = crate::files::executable(p, &path, argv)?;
    p.exec(&path, &image, argv, envp)?;
    Ok(0)
}
