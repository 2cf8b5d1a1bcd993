//! Signal system calls: dispositions, masks, waiting for signals, sending
//! them with data, the alternate stack and interval timers. Delivery and
//! the pending queues are [`crate::process::signals`]'s.

use crate::process::signal::{SIGKILL, SIGSTOP};
use crate::process::signals::{self, SIG_IGN, Target, Timer, UNBLOCKABLE};
use crate::process::{Process, group};
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::user::{UserAddr, UserMemory};


/// rt_sigaction(signal, act, oldact, sigsetsize).
pub fn rt_sigaction(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let signal = a.u64(0);
    if !(1..=64).contains(&signal) || a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let slot = (signal - 1) as usize;
    let old = p.group.lock().actions[slot];
    let new = if a.addr(1).is_null() {
        None
    } else {
        if signal == u64::from(SIGKILL) || signal == u64::from(SIGSTOP) {
            return Err(Errno::EINVAL);
        }
        let mut action = [0u64; 4];
        for (i, field) in action.iter_mut().enumerate() {
            *field = p.space.lock().read_u64(a.addr(1).offset(8 * i as u64)?)?;
        }
        Some(action)
    };
    if !a.addr(2).is_null() {
        for (i, field) in old.iter().enumerate() {
            p.space.lock().write_u64(a.addr(2).offset(8 * i as u64)?, *field)?;
        }
    }
    if let Some(action) = new {
        p.group.lock().actions[slot] = action;
        // Setting a signal to be ignored discards it if pending (POSIX).
        if action[0] == SIG_IGN {
            signals::discard(p, 1 << slot);
        }
    }
    Ok(0)
}

/// rt_sigsuspend(mask, size): waits with `mask` until a handler runs; the
/// call then fails with EINTR and the handler's return restores the mask
/// it replaced.
pub fn rt_sigsuspend(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.u64(1) != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = p.space.lock().read_u64(a.addr(0))?;
    if p.suspended_mask.is_none() {
        p.suspended_mask = Some(p.signal_mask);
    }
    p.signal_mask = mask & !UNBLOCKABLE;
    p.wakeup = crate::process::Wakeup::SignalOr(None);
    Err(Errno::ERESTART)
}

/// rt_sigpending(set, size).
pub fn rt_sigpending(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.u64(1) != 8 {
        return Err(Errno::EINVAL);
    }
    crate::process::signals::collect(p);
    let pending = signals::pending_bits(p) & p.signal_mask;
    p.space.lock().write_u64(a.addr(0), pending)?;
    Ok(0)
}

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

/// rt_sigprocmask(how, set, oldset, sigsetsize).
pub fn rt_sigprocmask(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let old = p.signal_mask;
    if !a.addr(1).is_null() {
        let set = p.space.lock().read_u64(a.addr(1))?;
        p.signal_mask = match a.u64(0) {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        } & !UNBLOCKABLE;
    }
    if !a.addr(2).is_null() {
        p.space.lock().write_u64(a.addr(2), old)?;
    }
    Ok(0)
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize): takes a pending signal
/// of `set` (writing its siginfo), waiting for one until the timeout
/// (EAGAIN then; a zero timeout only polls). Other handled signals
/// interrupt it with EINTR.
pub fn rt_sigtimedwait(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let set = p.space.lock().read_u64(a.addr(0))? & !UNBLOCKABLE;
    let timeout = if a.addr(2).is_null() { None } else { Some(crate::syscall::time::read_timespec(p, a.addr(2))?) };
    signals::collect(p);
    if let Some(info) = signals::take(p, set) {
        p.waited_signals = 0;
        p.sleep_deadline = None;
        if !a.addr(1).is_null() {
            p.space.lock().write_bytes(a.addr(1), info.bytes())?;
        }
        return Ok(u64::from(info.signo()));
    }
    let now = arch_morello::timer::uptime_ns();
    let deadline = timeout.map(|ns| *p.sleep_deadline.get_or_insert(now.saturating_add(ns)));
    if deadline.is_some_and(|d| now >= d) {
        p.waited_signals = 0;
        p.sleep_deadline = None;
        return Err(Errno::EAGAIN);
    }
    p.waited_signals = set;
    p.wakeup = crate::process::Wakeup::SignalOr(deadline);
    Err(Errno::ERESTART)
}

/// rt_sigqueueinfo(pid, signal, info).
pub fn rt_sigqueueinfo(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    signals::queue_info(p, Target::Process(a.i32(0)), a.u64(1), a.addr(2))
}

/// rt_tgsigqueueinfo(tgid, tid, signal, info).
pub fn rt_tgsigqueueinfo(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let tid = thread_of(a.i32(0), a.i32(1))?;
    signals::queue_info(p, Target::Thread(tid), a.u64(2), a.addr(3))
}

/// The thread `tid` of the thread group `tgid`, as tgkill and
/// rt_tgsigqueueinfo name it: EINVAL for ids that are not positive, ESRCH
/// for a thread that does not live in that group.
fn thread_of(tgid: i32, tid: i32) -> Result<u32, Errno> {
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    match group::group_of_thread(tid as u32) {
        Some(group) if group == tgid as u32 => Ok(tid as u32),
        _ => Err(Errno::ESRCH),
    }
}

/// kill(pid, signal).
pub fn kill(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    signals::kill(p, a.i32(0), a.u64(1), signals::code::SI_USER)
}

/// tkill(tid, signal).
pub fn tkill(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let tid = a.i32(0);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    group::group_of_thread(tid as u32).ok_or(Errno::ESRCH)?;
    signals::kill_thread(p, tid as u32, a.u64(1))
}

/// tgkill(tgid, tid, signal): the thread `tid` of process `tgid`.
pub fn tgkill(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let tid = thread_of(a.i32(0), a.i32(1))?;
    signals::kill_thread(p, tid, a.u64(2))
}

/// sigaltstack(ss, old_ss).
pub fn sigaltstack(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    signals::sigaltstack(p, a.addr(0), a.addr(1))
}

const ITIMER_REAL: u64 = 0;
const ITIMER_VIRTUAL: u64 = 1;
const ITIMER_PROF: u64 = 2;

/// A timer as `struct itimerval` shows it: interval, then value (what is
/// left), each a timeval. An armed timer never shows less than 1 µs left.
fn encode_itimerval(interval: u64, left: Option<u64>) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&crate::syscall::timeval(interval));
    out[16..].copy_from_slice(&crate::syscall::timeval(left.map_or(0, |ns| ns.max(1000))));
    out
}

/// Reads a `struct itimerval`: (interval, value) in ns; EINVAL for a
/// negative or out-of-range field.
fn decode_itimerval(p: &Process, at: UserAddr) -> Result<(u64, u64), Errno> {
    let mut raw = [0u8; 32];
    p.space.lock().read_bytes(at, &mut raw)?;
    let field = |i: usize| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let ns = |sec: i64, usec: i64| -> Result<u64, Errno> {
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(Errno::EINVAL);
        }
        Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(usec as u64 * 1000))
    };
    Ok((ns(field(0), field(1))?, ns(field(2), field(3))?))
}

/// The timer `which` as (interval, time left).
fn itimer(p: &Process, which: u64) -> Result<(u64, Option<u64>), Errno> {
    let left = |value: u64| (value != 0).then_some(value);
    match which {
        ITIMER_REAL => {
            let timer = signals::real_timer(p.pid);
            let now = arch_morello::timer::uptime_ns();
            Ok((timer.interval, left(timer.value).map(|deadline| deadline.saturating_sub(now))))
        }
        ITIMER_VIRTUAL | ITIMER_PROF => {
            let timer = p.cpu_timers[(which - 1) as usize];
            Ok((timer.interval, left(timer.value)))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// getitimer(which, value).
pub fn getitimer(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (interval, left) = itimer(p, a.u64(0))?;
    p.space.lock().write_bytes(a.addr(1), &encode_itimerval(interval, left))?;
    Ok(0)
}

/// setitimer(which, new, old): a zero value disarms; ITIMER_REAL sends
/// SIGALRM, ITIMER_VIRTUAL SIGVTALRM (EL0 time), ITIMER_PROF SIGPROF (all
/// CPU time).
pub fn setitimer(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let which = a.u64(0);
    let (old_interval, old_left) = itimer(p, which)?;
    let new = if a.addr(1).is_null() { (0, 0) } else { decode_itimerval(p, a.addr(1))? };
    if !a.addr(2).is_null() {
        p.space.lock().write_bytes(a.addr(2), &encode_itimerval(old_interval, old_left))?;
    }
    let (interval, value) = new;
    if which == ITIMER_REAL {
        let deadline = if value == 0 { 0 } else { arch_morello::timer::uptime_ns().saturating_add(value) };
        signals::set_real_timer(p.pid, Timer { value: deadline, interval });
    } else {
        p.cpu_timers[(which - 1) as usize] = Timer { value, interval };
    }
    Ok(0)
}
