//! System call entry: the number in x8 and arguments in x0..x5 of the saved
//! context, decoded into typed arguments by each family's handlers; the
//! result (a value or an `Errno`) goes back in x0 as Linux returns it.
//! With `morsel.strace=1` on the command line every call is logged with its
//! arguments and result.
//!
//! One file per family: memory, process (identity, limits), lifecycle
//! (fork, exec, wait), signal, time, info; files and devices are
//! posix-shim's, reached through [`crate::files`].

mod futex;
mod info;
mod lifecycle;
mod memory;
mod process;
mod signal;
mod time;

pub use futex::thread_ended;
pub use time::{read_timespec, timespec, timeval};

use crate::process::{Event, Exit, Process};
use alloc::collections::BTreeSet;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::syscall::numbers::Sysno;
use spin::Mutex;

/// What a handler asks of the process loop.
#[derive(Debug)]
pub enum Outcome {
    /// Return this to the μprocess (`Err(ERESTART)`: the call would block
    /// and runs again later).
    Return(Result<u64, Errno>),
    /// The μprocess ends: all its threads.
    Exit(Exit),
    /// The calling thread ends with this status (exit).
    ThreadExit(u8),
    /// The μprocess created this child; the caller gets its pid.
    Fork(alloc::boxed::Box<Process>),
    /// The μprocess created this thread; the caller gets its tid.
    Thread(alloc::boxed::Box<Process>),
    /// The caller returns 0 and gives up the rest of its time slice.
    Yield,
    /// The registers were replaced (rt_sigreturn): x0 is not a result.
    Resumed,
}

impl From<Result<u64, Errno>> for Outcome {
    fn from(result: Result<u64, Errno>) -> Outcome {
        Outcome::Return(result)
    }
}

/// Syscall numbers already reported as unimplemented (each is reported once).
static REPORTED: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

fn strace_enabled() -> bool {
    static ENABLED: spin::Once<bool> = spin::Once::new();
    *ENABLED.call_once(|| crate::platform::platform().machine.boot_arg("morsel.strace") == Some("1"))
}

/// Handles the system call the μprocess made; `None` when it simply
/// continues, otherwise what the scheduler must do.
pub fn handle(process: &mut Process) -> Option<Event> {
    let x = &process.context.x;
    let number = x[8];
    let args = SyscallArgs::new([x[0], x[1], x[2], x[3], x[4], x[5]]);
    let sysno = Sysno::from_number(number);
    let traced = strace_enabled().then(|| crate::strace::describe_call(sysno, number, &args.regs, &*process.space.lock()));
    // A handler that blocks waits for a readiness change unless it says
    // otherwise; the count is taken before it looks.
    process.wakeup = crate::process::Wakeup::Readiness { seen: posix_shim::readiness::changes() };
    let outcome = match sysno {
        Some(sysno) => dispatch(process, sysno, &args),
        None => Outcome::Return(Err(Errno::ENOSYS)),
    };
    if let Some(call) = traced {
        match &outcome {
            Outcome::Return(Err(Errno::ERESTART)) => {}
            Outcome::Return(result) => log::info!("[pid {}] {call}{}", process.tid, crate::strace::describe_result(sysno, result)),
            Outcome::Exit(_) | Outcome::ThreadExit(_) => log::info!("[pid {}] {call} = ?", process.tid),
            Outcome::Fork(child) => log::info!("[pid {}] {call} = {}", process.tid, child.pid),
            Outcome::Thread(child) => log::info!("[pid {}] {call} = {}", process.tid, child.tid),
            Outcome::Yield => log::info!("[pid {}] {call} = 0", process.tid),
            Outcome::Resumed => log::info!("[pid {}] {call} = ? (resumed)", process.tid),
        }
    }
    match outcome {
        Outcome::Return(Err(Errno::ERESTART)) => Some(Event::Blocked),
        Outcome::Resumed => None,
        Outcome::Fork(child) => {
            process.context.x[0] = u64::from(child.pid);
            Some(Event::Forked(child))
        }
        Outcome::Thread(child) => {
            process.context.x[0] = u64::from(child.tid);
            Some(Event::NewThread(child))
        }
        Outcome::Yield => {
            process.context.x[0] = 0;
            Some(Event::Preempted)
        }
        Outcome::ThreadExit(status) => Some(Event::ThreadExit(status)),
        Outcome::Return(result) => {
            process.context.x[0] = match result {
                Ok(value) => value,
                Err(Errno::ENOSYS) => {
                    if REPORTED.lock().insert(number) {
                        log::warn!("unimplemented system call {} ({number})", sysno.map_or("unknown", Sysno::name));
                    }
                    Errno::ENOSYS.as_return_value()
                }
                Err(e) => e.as_return_value(),
            };
            None
        }
        Outcome::Exit(exit) => Some(Event::Exit(exit)),
    }
}

fn dispatch(p: &mut Process, sysno: Sysno, a: &SyscallArgs) -> Outcome {
    use Sysno as S;
    match sysno {
        S::exit => Outcome::ThreadExit(a.u64(0) as u8),
        S::exit_group => Outcome::Exit(Exit::Status(a.u64(0) as u8)),
        S::brk => memory::brk(p, a).into(),
        S::mmap => memory::mmap(p, a).into(),
        S::munmap => memory::munmap(p, a).into(),
        S::mprotect => memory::mprotect(p, a).into(),
        S::madvise => memory::madvise(p, a).into(),
        S::mincore => memory::mincore(p, a).into(),
        S::msync => memory::msync(p, a).into(),
        S::mremap => memory::mremap(p, a).into(),
        S::getpid => Ok(u64::from(p.pid)).into(),
        S::gettid => Ok(u64::from(p.tid)).into(),
        S::getppid => Ok(lifecycle::getppid(p)).into(),
        S::setpgid => lifecycle::setpgid(p, a).into(),
        S::getpgid => lifecycle::getpgid(p, a).into(),
        S::setsid => lifecycle::setsid(p).into(),
        S::getsid => lifecycle::getsid(p, a).into(),
        S::clone => lifecycle::clone(p, a),
        S::clone3 => lifecycle::clone3(p, a),
        S::execve => lifecycle::execve(p, a).into(),
        S::execveat => lifecycle::execveat(p, a).into(),
        S::wait4 => lifecycle::wait4(p, a).into(),
        S::waitid => lifecycle::waitid(p, a).into(),
        S::set_tid_address => process::set_tid_address(p, a).into(),
        S::set_robust_list => futex::set_robust_list(p, a).into(),
        S::get_robust_list => futex::get_robust_list(p, a).into(),
        S::futex => futex::futex(p, a).into(),
        S::getuid => Ok(u64::from(p.credentials.uid[0])).into(),
        S::geteuid => Ok(u64::from(p.credentials.uid[1])).into(),
        S::getgid => Ok(u64::from(p.credentials.gid[0])).into(),
        S::getegid => Ok(u64::from(p.credentials.gid[1])).into(),
        S::getresuid => process::getresuid(p, a).into(),
        S::getresgid => process::getresgid(p, a).into(),
        S::getgroups => process::getgroups(p, a).into(),
        S::setuid => process::setuid(p, a).into(),
        S::setgid => process::setgid(p, a).into(),
        S::setresuid => process::setresuid(p, a).into(),
        S::setresgid => process::setresgid(p, a).into(),
        S::setgroups => process::setgroups(p, a).into(),
        S::prctl => process::prctl(p, a).into(),
        S::prlimit64 => process::prlimit64(p, a).into(),
        S::getrlimit => process::getrlimit(p, a).into(),
        S::setrlimit => process::setrlimit(p, a).into(),
        S::sched_getaffinity => process::sched_getaffinity(p, a).into(),
        S::sched_setaffinity => process::sched_setaffinity(p, a).into(),
        S::sched_getscheduler => process::sched_getscheduler(p, a).into(),
        S::sched_setscheduler => process::sched_setscheduler(p, a).into(),
        S::sched_getparam => process::sched_getparam(p, a).into(),
        S::sched_setparam => process::sched_setparam(p, a).into(),
        S::sched_get_priority_max => process::sched_get_priority_max(a).into(),
        S::sched_get_priority_min => process::sched_get_priority_min(a).into(),
        S::getpriority => process::getpriority(p, a).into(),
        S::setpriority => process::setpriority(p, a).into(),
        S::getrusage => process::getrusage(p, a).into(),
        S::sched_yield => Outcome::Yield,
        S::getcpu => process::getcpu(p, a).into(),
        S::rt_sigaction => signal::rt_sigaction(p, a).into(),
        S::rt_sigprocmask => signal::rt_sigprocmask(p, a).into(),
        S::rt_sigreturn => match crate::process::signals::sigreturn(p) {
            Ok(()) => Outcome::Resumed,
            Err(exit) => Outcome::Exit(exit),
        },
        S::rt_sigsuspend => signal::rt_sigsuspend(p, a).into(),
        S::rt_sigpending => signal::rt_sigpending(p, a).into(),
        S::rt_sigtimedwait => signal::rt_sigtimedwait(p, a).into(),
        S::rt_sigqueueinfo => signal::rt_sigqueueinfo(p, a).into(),
        S::rt_tgsigqueueinfo => signal::rt_tgsigqueueinfo(p, a).into(),
        S::kill => signal::kill(p, a).into(),
        S::tkill => signal::tkill(p, a).into(),
        S::tgkill => signal::tgkill(p, a).into(),
        S::sigaltstack => signal::sigaltstack(p, a).into(),
        S::getitimer => signal::getitimer(p, a).into(),
        S::setitimer => signal::setitimer(p, a).into(),
        S::uname => info::uname(p, a).into(),
        S::sysinfo => info::sysinfo(p, a).into(),
        S::getrandom => info::getrandom(p, a).into(),
        S::clock_gettime => time::clock_gettime(p, a).into(),
        S::clock_getres => time::clock_getres(p, a).into(),
        S::gettimeofday => time::gettimeofday(p, a).into(),
        S::nanosleep => time::nanosleep(p, a).into(),
        S::clock_nanosleep => time::clock_nanosleep(p, a).into(),
        S::times => time::times(p, a).into(),
        S::ppoll => crate::files::ppoll(p, a).into(),
        S::pselect6 => crate::files::pselect6(p, a).into(),
        S::openat | S::openat2 | S::readlinkat => {
            // /proc/self shows the caller as it is now, not as the scheduler
            // last published it (absolute paths elsewhere cannot reach /proc).
            let path = posix_shim::user::UserMemory::read_path(&*p.space.lock(), a.addr(1)).unwrap_or_default();
            if !path.starts_with(b"/") || path.starts_with(b"/proc") {
                crate::process::info::publish(p);
            }
            crate::files::dispatch(p, sysno, a)
        }
        other => crate::files::dispatch(p, other, a),
    }
}
